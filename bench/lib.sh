# Helpers shared by bench/run's sections: the lock, the private cgroup namespace for
# crun/runc, statistics, report fragments, targets and charts. Sourced, not run.

LOCK=/tmp/husk-priv.lock

log() { printf 'bench: %s\n' "$*" >&2; }

# Everything that mounts, makes loop devices or runs containers holds the machine-wide
# lock, one section at a time, so colleagues' tests are not starved for the whole run.
# The time spent waiting for it is logged and summed (others' tests hold it too), so a
# slow run can be told apart from a slow benchmark.
priv() { flock "$LOCK" "$BENCH_SELF" --fn lock_acquired "$EPOCHREALTIME" "$@"; }
lock_acquired() {
  local waited; waited=$(calc "${EPOCHREALTIME/,/.} - ${1/,/.}" 1)
  echo "$waited" >>"$BENCH_DATA/lock-waits"
  awk "BEGIN { exit !($waited >= 1) }" && log "waited ${waited} s for $LOCK"
  shift
  exec "$@"
}

# crun 1.8 refuses hybrid cgroups ("cgroups in hybrid mode not supported"): run a
# function of this script in a private mount namespace where the cgroup2 mount has moved
# from /sys/fs/cgroup/unified to $BENCH_WORK/cgroup2 (crun then sees v1 only; husk finds
# cgroup2 in mountinfo and uses it as on the host, device program included). husk and
# the floor run in the same namespace so all contenders share the conditions.
# unshare(1) makes the namespace's propagation private, so the host keeps its mount.
in_ns() { priv unshare --mount -- "$BENCH_SELF" --in-ns "$@"; }

# A function of this script under the lock, in the host's namespaces.
in_priv() { priv "$BENCH_SELF" --fn "$@"; }

timeit() { python3 "$BENCH_HERE/timeit.py" "$@"; }

# sample FILE LABEL FIELD: FIELD of {n, median, min, max} for LABEL's samples in FILE.
sample() {
  local col
  case $3 in n) col=2 ;; median) col=3 ;; min) col=4 ;; max) col=5 ;; esac
  timeit stats "$1" | awk -F'\t' -v l="$2" -v c="$col" '$1 == l { print $c }'
}

calc() { awk "BEGIN { printf \"%.${2:-3}f\", $1 }"; }


# Report fragments: each section writes its own markdown file, assembled at the end.
md() { printf '%s\n' "$*" >>"$SECTION_MD"; }
md_cat() { cat >>"$SECTION_MD"; }
code() { md '```'"${1:-}"; md_cat; md '```'; }

# Every command line that produced a number goes into the report verbatim.
cmdline() { printf '%s\n' "$*" >>"$BENCH_DATA/$SECTION.cmds"; }
md_cmds() {
  [[ -s $BENCH_DATA/$SECTION.cmds ]] || return 0
  md "<details><summary>Command lines</summary>"; md
  code sh <"$BENCH_DATA/$SECTION.cmds"
  md; md "</details>"; md
}

# target NAME MEASURED GOAL PASS(0/1): one row of the summary table.
target() {
  local verdict=FAIL
  [[ $4 == 1 ]] && verdict=PASS
  printf '| %s | %s | %s | **%s** |\n' "$1" "$2" "$3" "$verdict" >>"$BENCH_DATA/targets.md"
  md "- Target: $1: $2 (goal $3): **$verdict**"
}
le() { awk "BEGIN { exit !($1 <= $2) }" && echo 1 || echo 0; }

# bar_chart PNG TITLE YLABEL DATA: DATA has "label value" lines.
bar_chart() {
  gnuplot <<GP
set terminal pngcairo size 800,420 font "sans,10"
set output "$1"
set title "$2"
set ylabel "$3"
set style data histograms
set style fill solid 0.8 border -1
set boxwidth 0.7
set yrange [0:*]
set grid ytics
unset key
plot "$4" using 2:xtic(1) lc rgb "#4477aa", '' using 0:2:(sprintf("%.3g", \$2)) with labels offset 0,0.7 notitle
GP
}

# cluster_chart PNG TITLE YLABEL DATA: DATA has a header row of series names, then
# "group v1 v2 ..." rows.
cluster_chart() {
  local n; n=$(head -1 "$4" | awk '{ print NF }')
  gnuplot <<GP
set terminal pngcairo size 900,420 font "sans,10"
set output "$1"
set title "$2"
set ylabel "$3"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.8 border -1
set yrange [0:*]
set grid ytics
set key outside right
plot for [i=2:$n] "$4" using i:xtic(1) title columnheader(i)
GP
}

# make_bundle DIR ROOT ARG...: an OCI bundle from `crun spec`, edited to run ARG... on
# ROOT read-write, no terminal, in the pid, mount, uts, ipc, network and cgroup
# namespaces (no user namespace: we are root), like husk's.
make_bundle() {
  local dir=$1 root=$2; shift 2
  mkdir -p "$dir"
  rm -f "$dir/config.json"
  (cd "$dir" && crun spec)
  python3 - "$dir/config.json" "$root" "$@" <<'PY'
import json, sys
path, root, args = sys.argv[1], sys.argv[2], sys.argv[3:]
c = json.load(open(path))
c["process"]["args"] = args
c["process"]["terminal"] = False
c["root"] = {"path": root, "readonly": False}
c["linux"]["namespaces"] = [{"type": t} for t in ("pid", "mount", "uts", "ipc", "network", "cgroup")]
json.dump(c, open(path, "w"), indent=1)
PY
}
