#!/usr/bin/env python3
"""Wall-clock timing for bench/run, with a monotonic nanosecond clock.

  timeit.py rounds N OUT.tsv LABEL=CMD ...    run every command once per round, in order,
                                              N rounds (alternation shares the machine's
                                              conditions between the commands)
  timeit.py parallel N RUNS OUT.tsv LABEL=CMD ...
                                              start N copies of each command at once and
                                              time until the last exits; RUNS rounds
  timeit.py rounds --soft FAILS N OUT.tsv LABEL=CMD ...
                                              as rounds, but a command that fails is dropped
                                              from the later rounds and its error's last line
                                              goes to FAILS (LABEL<TAB>LINE) instead of ending
                                              the measurement: for contenders still in the
                                              making, so the others are measured all the same
  timeit.py stats IN.tsv                      label, runs, median, min, max per label

CMD is a shell-free argument string split with shlex; "{id}" in it becomes a unique id
(crun and runc need a fresh container id per run). Samples are seconds, one per line:
LABEL<TAB>SECONDS. Any command that exits non-zero fails the whole measurement (or, with
--soft, its own row), so a broken runtime cannot hide behind a fast error.
"""
import os
import shlex
import statistics
import subprocess
import sys
import time

_seq = 0


def argv(cmd):
    global _seq
    _seq += 1
    uid = f"b{os.getpid()}-{_seq}"
    return [a.replace("{id}", uid) for a in shlex.split(cmd)]


def parse(pairs):
    out = []
    for p in pairs:
        label, _, cmd = p.partition("=")
        out.append((label, cmd))
    return out


def check(label, procs):
    for p in procs:
        if p.returncode != 0:
            err = p.stderr.read().decode(errors="replace").strip() if p.stderr else ""
            sys.exit(f"timeit: {label}: {shlex.join(p.args)} exited {p.returncode}: {err[-500:]}")


def spawn(cmd):
    return subprocess.Popen(argv(cmd), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)


def rounds(n, out, cmds, fails=None):
    failed = set()
    with open(out, "a") as f:
        for _ in range(n):
            for label, cmd in cmds:
                if label in failed:
                    continue
                t0 = time.perf_counter_ns()
                p = spawn(cmd)
                p.wait()
                dt = time.perf_counter_ns() - t0
                if fails is not None and p.returncode != 0:
                    failed.add(label)
                    err = p.stderr.read().decode(errors="replace").strip().splitlines() if p.stderr else []
                    line = err[-1][:300] if err else f"exit {p.returncode}, nothing on stderr"
                    with open(fails, "a") as ff:
                        ff.write(f"{label}\t{line} (exit {p.returncode})\n")
                    continue
                check(label, [p])
                f.write(f"{label}\t{dt / 1e9:.6f}\n")


def parallel(n, runs, out, cmds):
    with open(out, "a") as f:
        for _ in range(runs):
            for label, cmd in cmds:
                t0 = time.perf_counter_ns()
                procs = [spawn(cmd) for _ in range(n)]
                for p in procs:
                    p.wait()
                dt = time.perf_counter_ns() - t0
                check(label, procs)
                f.write(f"{label}\t{dt / 1e9:.6f}\n")


def stats(path):
    samples = {}
    with open(path) as f:
        for line in f:
            label, value = line.split("\t")
            samples.setdefault(label, []).append(float(value))
    for label, v in samples.items():
        print(f"{label}\t{len(v)}\t{statistics.median(v):.6g}\t{min(v):.6g}\t{max(v):.6g}")


def main(a):
    if a[0] == "rounds" and a[1] == "--soft":
        rounds(int(a[3]), a[4], parse(a[5:]), fails=a[2])
    elif a[0] == "rounds":
        rounds(int(a[1]), a[2], parse(a[3:]))
    elif a[0] == "parallel":
        parallel(int(a[1]), int(a[2]), a[3], parse(a[4:]))
    elif a[0] == "stats":
        stats(a[1])
    else:
        sys.exit(f"timeit: unknown mode {a[0]}")


if __name__ == "__main__":
    main(sys.argv[1:])
