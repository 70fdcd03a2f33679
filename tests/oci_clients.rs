//! The OCI runtime interface proven with the real clients: podman (through conmon),
//! containerd's ctr (through the runc v2 shim) and dockerd drive the runtime under test
//! as they drive runc. The runtime is `$HUSK_OCI_RUNTIME`, default the husk binary
//! (`HUSK_OCI_RUNTIME=/usr/sbin/runc` proves the tests themselves against runc).
//!
//! The clients come from Debian's packages and run privately (tests/clients/setup.sh):
//! one scratch directory per test process holds podman's store, a containerd and a
//! dockerd of their own, removed by a watcher once this process has exited. The store
//! and daemons are shared by the tests through `OnceLock`s; each test's container work
//! holds the machine lock (/tmp/husk-priv.lock). A test that cannot run here says
//! SKIPPED and why on stderr, and returns.

mod common;

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const IMAGE: &str = "localhost/alpine:3.20.3";
const MIB_64: &str = "67108864";

/// The runtime the clients are given, as an absolute path (conmon and the shim run it
/// from directories of their own).
fn runtime() -> PathBuf {
    let rt = std::env::var_os("HUSK_OCI_RUNTIME").map(PathBuf::from).unwrap_or_else(common::husk);
    // Not canonicalize: podman picks its flags by the file name, which a symlink keeps.
    std::path::absolute(&rt).unwrap_or(rt)
}

fn setup_script() -> PathBuf {
    common::repo().join("tests/clients/setup.sh")
}

/// A unique container name: tests of several processes may share a daemon's namespace
/// only through their own scratch directories, but names also show in the host's cgroups.
fn name(tag: &str) -> String {
    format!("hk{}-{tag}", std::process::id())
}

/// Runs `cmd` to completion, killing it after `secs` (a hung client must not hold the
/// machine lock forever); stdout and stderr are collected.
fn output_within(cmd: &mut Command, secs: u64) -> Output {
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let child = child.unwrap_or_else(|e| panic!("spawning {cmd:?}: {e}"));
    finish_within(child, secs, &format!("{cmd:?}"))
}

fn finish_within(mut child: Child, secs: u64, what: &str) -> Output {
    let mut out = child.stdout.take().unwrap();
    let mut err = child.stderr.take().unwrap();
    let out_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out.read_to_end(&mut b);
        b
    });
    let err_reader = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err.read_to_end(&mut b);
        b
    });
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish in {secs} s");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Output { status, stdout: out_reader.join().unwrap(), stderr: err_reader.join().unwrap() }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

/// Asserts success and returns stdout.
fn ok(out: Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed ({}): {}{}", out.status, text(&out.stderr), text(&out.stdout));
    text(&out.stdout)
}

/// The scratch directory with the packages installed and podman's store ready, once per
/// process; Err says why the tests cannot run here.
fn scratch() -> Result<&'static Path, String> {
    static SCRATCH: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    SCRATCH
        .get_or_init(|| {
            if !common::is_root() {
                return Err("needs root (the clients make namespaces, mounts and cgroups)".into());
            }
            if common::tarball().is_none() {
                return Err(format!("no Alpine tarball (set {})", common::TARBALL_ENV));
            }
            let rt = runtime();
            if !rt.exists() {
                return Err(format!("no runtime at {} (build husk, or set HUSK_OCI_RUNTIME)", rt.display()));
            }
            // Until husk has the OCI verbs, say so instead of failing every test on it.
            let probe = output_within(Command::new(&rt).args(["state", "husk-oci-clients-probe"]), 30);
            if text(&probe.stderr).contains("unknown command") {
                return Err(format!(
                    "{} has no OCI `state` verb (the OCI runtime interface is not there yet): {}",
                    rt.display(),
                    text(&probe.stderr).trim()
                ));
            }
            let t0 = Instant::now();
            let install =
                output_within(Command::new("bash").arg(setup_script()).args(["install", "podman", "containerd"]), 900);
            if !install.status.success() {
                return Err(format!("podman and containerd could not be installed: {}", text(&install.stderr).trim()));
            }
            eprintln!("oci_clients: clients installed or present in {:.1} s", t0.elapsed().as_secs_f64());
            let dir = PathBuf::from(format!("/tmp/husk-clients-test-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            // Rust's harness has no hook at the end of a run: a watcher stops the daemons,
            // unmounts and removes the directory once this process has gone.
            let me = std::process::id().to_string();
            ok(output_within(Command::new("bash").arg(setup_script()).arg("watch").arg(&dir).arg(&me), 30), "watch");
            let _lock = common::machine_lock();
            let t0 = Instant::now();
            let podman = output_within(Command::new("bash").arg(setup_script()).arg("podman").arg(&dir).arg(&rt), 300);
            if !podman.status.success() {
                return Err(format!("podman's store could not be set up: {}", text(&podman.stderr).trim()));
            }
            eprintln!("oci_clients: podman store and image ready in {:.1} s", t0.elapsed().as_secs_f64());
            Ok(dir)
        })
        .as_deref()
        .map_err(Clone::clone)
}

/// The scratch directory, or None after a loud SKIPPED line.
fn ready(test: &str) -> Option<&'static Path> {
    match scratch() {
        Ok(dir) => Some(dir),
        Err(why) => {
            eprintln!("SKIPPED {test}: {why}");
            None
        }
    }
}

/// `podman` with the private store and configuration (from DIR/podman/env, written by
/// setup.sh) and the runtime under test.
fn podman(dir: &Path) -> Command {
    let env = std::fs::read_to_string(dir.join("podman/env")).unwrap();
    let mut cmd = Command::new("podman");
    // conmon writes a file named "oom" into its working directory when the container is
    // OOM-killed: not into the checkout.
    cmd.current_dir(dir);
    for line in env.lines() {
        if let Some((k, v)) = line.strip_prefix("export ").and_then(|l| l.split_once('=')) {
            cmd.env(k, v);
        } else if let Some(args) = line.strip_prefix("PODMAN_ARGS=") {
            cmd.args(args.trim_matches('"').split_whitespace());
        }
    }
    cmd.arg("--runtime").arg(runtime());
    cmd
}

fn podman_out(dir: &Path, args: &[&str]) -> Output {
    output_within(podman(dir).args(args), 120)
}

/// `podman run --rm --network none IMAGE ARGS...`.
fn podman_run(dir: &Path, extra: &[&str], args: &[&str]) -> Output {
    let mut cmd = podman(dir);
    cmd.args(["run", "--rm", "--network", "none"]).args(extra).arg(IMAGE).args(args);
    output_within(&mut cmd, 120)
}

/// Waits until `probe` returns Some, for at most `secs`.
fn wait_for<T>(secs: u64, what: &str, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn podman_run_prints_the_containers_output() {
    let Some(dir) = ready("podman_run_prints_the_containers_output") else { return };
    let _lock = common::machine_lock();
    let out = ok(podman_run(dir, &[], &["echo", "hello"]), "podman run echo hello");
    assert_eq!(out, "hello\n");
}

#[test]
fn podman_detached_container_takes_execs_with_and_without_a_tty_then_stops_on_sigterm() {
    let test = "podman_detached_container_takes_execs_with_and_without_a_tty_then_stops_on_sigterm";
    let Some(dir) = ready(test) else { return };
    let _lock = common::machine_lock();
    let c = name("detached");
    // A main process that ends on SIGTERM (PID 1 has no default action for it), so
    // `stop` finishing with exit code 0 shows the TERM reached it rather than a KILL.
    let script = "trap 'exit 0' TERM; while :; do sleep 0.1; done";
    ok(podman_out(dir, &["run", "-d", "--name", &c, "--network", "none", IMAGE, "sh", "-c", script]), "podman run -d");
    let out = podman_out(dir, &["exec", &c, "sh", "-c", "echo exec-ok; test -t 0 || echo no-tty"]);
    assert_eq!(ok(out, "podman exec"), "exec-ok\nno-tty\n");
    let out = ok(podman_out(dir, &["exec", "-t", &c, "sh", "-c", "test -t 0 && tty"]), "podman exec -t");
    assert!(out.trim_end().starts_with("/dev/pts/"), "exec -t gave no terminal: {out:?}");
    let out = podman_out(dir, &["exec", &c, "sh", "-c", "exit 3"]);
    assert_eq!(out.status.code(), Some(3), "an exec's exit code: {}", text(&out.stderr));
    let t0 = Instant::now();
    ok(podman_out(dir, &["stop", "-t", "10", &c]), "podman stop");
    assert!(t0.elapsed() < Duration::from_secs(8), "stop waited for the KILL: SIGTERM did not reach the container");
    let code = ok(podman_out(dir, &["inspect", "-f", "{{.State.ExitCode}}", &c]), "podman inspect");
    assert_eq!(code.trim(), "0", "the trap's exit code after stop");
    ok(podman_out(dir, &["rm", &c]), "podman rm");
    let left = ok(podman_out(dir, &["ps", "-a", "-q", "--filter", &format!("name={c}")]), "podman ps");
    assert!(left.trim().is_empty(), "the container is still listed after rm: {left}");
}

#[test]
fn podman_pause_freezes_the_container_and_unpause_resumes_it() {
    let Some(dir) = ready("podman_pause_freezes_the_container_and_unpause_resumes_it") else { return };
    let _lock = common::machine_lock();
    let c = name("pause");
    // A counter printed every 0.1 s; the log file is read while the container is paused.
    let script = "i=0; while :; do i=$((i+1)); echo $i; sleep 0.1; done";
    ok(podman_out(dir, &["run", "-d", "--name", &c, "--network", "none", IMAGE, "sh", "-c", script]), "podman run -d");
    let lines = || ok(podman_out(dir, &["logs", &c]), "podman logs").lines().count();
    wait_for(10, "the counter to start", || (lines() >= 2).then_some(()));
    ok(podman_out(dir, &["pause", &c]), "podman pause");
    let state = ok(podman_out(dir, &["inspect", "-f", "{{.State.Status}}", &c]), "podman inspect");
    assert_eq!(state.trim(), "paused");
    let frozen = lines();
    std::thread::sleep(Duration::from_millis(600));
    assert_eq!(lines(), frozen, "the counter advanced while paused");
    ok(podman_out(dir, &["unpause", &c]), "podman unpause");
    wait_for(10, "the counter to advance after unpause", || (lines() > frozen + 2).then_some(()));
    ok(podman_out(dir, &["rm", "-f", "-t", "0", &c]), "podman rm -f");
}

#[test]
fn podman_passes_exit_codes_through() {
    let Some(dir) = ready("podman_passes_exit_codes_through") else { return };
    let _lock = common::machine_lock();
    let code = |extra: &[&str], args: &[&str]| podman_run(dir, extra, args).status.code();
    assert_eq!(code(&[], &["sh", "-c", "exit 7"]), Some(7), "exit 7");
    // podman maps the runtime's error text: "permission denied" → 126, "no such file or
    // directory" → 127, as docker does.
    assert_eq!(code(&[], &["/etc/passwd"]), Some(126), "a file that is not executable");
    assert_eq!(code(&[], &["/no/such/command"]), Some(127), "a missing command");
    // Death by SIGKILL → 137. The kill comes from outside: a container's PID 1 cannot be
    // killed from inside its own PID namespace (the kernel drops the signal), so
    // `sh -c 'kill -9 $$'` exits 0 under runc, where sh is PID 1.
    let c = name("killed");
    let mut cmd = podman(dir);
    cmd.args(["run", "--rm", "--name", &c, "--network", "none", IMAGE, "sleep", "300"]);
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    wait_for(30, "the container to run", || {
        let s = podman_out(dir, &["inspect", "-f", "{{.State.Status}}", &c]);
        (text(&s.stdout).trim() == "running").then_some(())
    });
    ok(podman_out(dir, &["kill", "-s", "KILL", &c]), "podman kill -s KILL");
    let out = finish_within(child, 60, "podman run sleep 300");
    assert_eq!(out.status.code(), Some(137), "a SIGKILLed container: {}", text(&out.stderr));
}

#[test]
fn podman_memory_and_pids_limits_are_applied_and_enforced() {
    let Some(dir) = ready("podman_memory_and_pids_limits_are_applied_and_enforced") else { return };
    let _lock = common::machine_lock();
    let limits = ["--memory", "64m", "--memory-swap", "64m", "--pids-limit", "20"];
    // Read back inside, as the container sees its cgroups (v1 or v2 layout).
    let read = "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max; \
                cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max";
    let out = ok(podman_run(dir, &limits, &["sh", "-c", read]), "reading the limits inside");
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), [MIB_64, "20"], "limits read inside");

    // The shell keeps a command substitution's whole output in its own memory: 100 MiB
    // of it cannot fit under 64 MiB. The inner shell is the biggest process, so the OOM
    // killer picks it (137) and the outer one reads the cgroup's OOM kill count.
    let hog = "sh -c 'x=$(head -c 104857600 /dev/zero | tr \"\\0\" a); echo survived ${#x}'; echo inner=$?; \
               cat /sys/fs/cgroup/memory/memory.oom_control 2>/dev/null || cat /sys/fs/cgroup/memory.events";
    let out = podman_run(dir, &limits, &["sh", "-c", hog]);
    let stdout = ok(out, "the memory hog's container");
    assert!(!stdout.contains("survived"), "100 MiB held under a 64 MiB limit: {stdout}");
    assert!(stdout.contains("inner=137\n"), "the hog was not SIGKILLed: {stdout}");
    let kills = stdout.lines().find_map(|l| l.strip_prefix("oom_kill ")?.trim().parse::<u64>().ok());
    assert!(kills.is_some_and(|n| n >= 1), "the cgroup counted no OOM kill: {stdout}");

    // 30 background sleeps past a limit of 20 processes: the fork is refused.
    let forks = "i=0; while [ $i -lt 30 ]; do sleep 5 & i=$((i+1)); done; echo all-forked";
    let out = podman_run(dir, &limits, &["sh", "-c", forks]);
    let (stdout, stderr) = (text(&out.stdout), text(&out.stderr));
    assert_ne!(out.status.code(), Some(0), "the shell went on after a refused fork");
    assert!(!stdout.contains("all-forked"), "30 processes under --pids-limit 20");
    assert!(stderr.contains("can't fork"), "no refused fork: {stderr}");
}

/// The private containerd, started once (after podman's store, whose OCI archive it
/// imports); None after a SKIPPED line.
fn containerd(test: &str) -> Option<PathBuf> {
    static SOCK: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let dir = ready(test)?;
    let res = SOCK.get_or_init(|| {
        let _lock = common::machine_lock();
        let out = output_within(Command::new("bash").arg(setup_script()).arg("containerd-start").arg(dir), 120);
        if !out.status.success() {
            return Err(format!("the private containerd did not start: {}", text(&out.stderr).trim()));
        }
        Ok(dir.join("containerd/containerd.sock"))
    });
    match res {
        Ok(sock) => Some(sock.clone()),
        Err(why) => {
            eprintln!("SKIPPED {test}: {why}");
            None
        }
    }
}

/// `ctr` on the private containerd.
fn ctr(sock: &Path) -> Command {
    let mut cmd = Command::new("ctr");
    cmd.arg("--address").arg(sock);
    cmd
}

/// `ctr run --rm` with the runtime under test; its FIFOs in the scratch directory.
fn ctr_run(sock: &Path, extra: &[&str], id: &str, args: &[&str]) -> Command {
    let scratch = sock.parent().unwrap();
    let mut cmd = ctr(sock);
    cmd.args(["run", "--rm", "--runc-binary"]).arg(runtime());
    cmd.arg("--runc-root").arg(scratch.join("runc-root"));
    cmd.arg("--fifo-dir").arg(scratch.join("fifo"));
    cmd.args(extra).arg(IMAGE).arg(id).args(args);
    cmd
}

/// The host pid of a running task, from `ctr task ls`.
fn task_pid(sock: &Path, id: &str) -> Option<u32> {
    let out = output_within(ctr(sock).args(["task", "ls"]), 30);
    text(&out.stdout).lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.first() == Some(&id) && f.get(2) == Some(&"RUNNING")).then(|| f[1].parse().ok())?
    })
}

/// Starts `ctr run --rm ... ID ARGS` attached (its exit code is the task's) and waits
/// until the task runs; returns the child and the task's host pid.
fn ctr_start(sock: &Path, extra: &[&str], id: &str, args: &[&str]) -> (Child, u32) {
    let mut cmd = ctr_run(sock, extra, id, args);
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let pid = wait_for(30, &format!("task {id} to run"), || task_pid(sock, id));
    (child, pid)
}

#[test]
fn ctr_run_prints_the_containers_output() {
    let Some(sock) = containerd("ctr_run_prints_the_containers_output") else { return };
    let _lock = common::machine_lock();
    let out = ok(output_within(&mut ctr_run(&sock, &[], &name("c1"), &["echo", "hello"]), 120), "ctr run echo hello");
    assert_eq!(out, "hello\n");
    let out = output_within(&mut ctr_run(&sock, &[], &name("c1x"), &["sh", "-c", "exit 7"]), 120);
    assert_eq!(out.status.code(), Some(7), "ctr run's exit code: {}", text(&out.stderr));
}

#[test]
fn ctr_task_exec_ps_and_kill_reach_a_running_task() {
    let Some(sock) = containerd("ctr_task_exec_ps_and_kill_reach_a_running_task") else { return };
    let _lock = common::machine_lock();
    let id = name("c2");
    let script = "trap 'exit 0' TERM; sleep 300 & while :; do sleep 0.1; done";
    let (child, pid) = ctr_start(&sock, &[], &id, &["sh", "-c", script]);
    let fifo = sock.parent().unwrap().join("fifo");
    let exec = |exec_id: &str, args: &[&str]| {
        let mut cmd = ctr(&sock);
        cmd.args(["task", "exec", "--fifo-dir"]).arg(&fifo).args(["--exec-id", exec_id, &id]).args(args);
        output_within(&mut cmd, 60)
    };
    assert_eq!(ok(exec("e1", &["echo", "hi"]), "ctr task exec"), "hi\n");
    assert_eq!(exec("e2", &["sh", "-c", "exit 5"]).status.code(), Some(5), "an exec's exit code");
    // exec -t: the pty master comes back over --console-socket. ctr insists on a terminal
    // of its own, which script(1) gives it.
    if Path::new("/usr/bin/script").exists() {
        let inner = format!(
            "ctr --address {} task exec -t --fifo-dir {} --exec-id e3 {id} sh -c 'test -t 0 && tty; exit 4'",
            sock.display(),
            fifo.display()
        );
        let out = output_within(Command::new("script").args(["-qec", &inner, "/dev/null"]), 60);
        assert!(text(&out.stdout).contains("/dev/pts/"), "exec -t gave no terminal: {}", text(&out.stdout));
        assert_eq!(out.status.code(), Some(4), "exec -t's exit code: {}", text(&out.stdout));
    } else {
        eprintln!("SKIPPED (part of ctr_task_exec_ps_and_kill_reach_a_running_task): exec -t needs script(1)");
    }
    // ps: the runtime's `ps --format json` lists the task's processes by host pid: the
    // main process and its background sleep at least.
    let ps = ok(output_within(ctr(&sock).args(["task", "ps", &id]), 30), "ctr task ps");
    let pids: Vec<u32> = ps.lines().skip(1).filter_map(|l| l.split_whitespace().next()?.parse().ok()).collect();
    assert!(pids.contains(&pid), "task ps does not list the main process {pid}: {ps}");
    assert!(pids.len() >= 2, "task ps lists fewer than 2 processes: {ps}");
    // kill --all: SIGTERM to every process of the task; the trap ends it with 0.
    ok(output_within(ctr(&sock).args(["task", "kill", "-a", &id]), 30), "ctr task kill -a");
    let out = finish_within(child, 60, "ctr run after kill -a");
    assert_eq!(out.status.code(), Some(0), "the trap's exit after kill -a: {}", text(&out.stderr));
    assert!(!common::exists(Path::new(&format!("/proc/{pid}"))), "the main process outlived its task");

    let id = name("c3");
    let (child, _) = ctr_start(&sock, &[], &id, &["sleep", "300"]);
    ok(output_within(ctr(&sock).args(["task", "kill", "-s", "9", &id]), 30), "ctr task kill -s 9");
    let out = finish_within(child, 60, "ctr run after kill -s 9");
    assert_eq!(out.status.code(), Some(137), "a SIGKILLed task: {}", text(&out.stderr));
}

/// The memory limit of `pid`'s cgroup, read on the host: ctr's spec gives the container
/// no /sys/fs/cgroup of its own, and the path inside may be a cgroup namespace's `/`.
fn memory_limit_of(pid: u32) -> Option<String> {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).ok()?;
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount_of = |fstype: &str, opt: Option<&str>| {
        mountinfo.lines().find_map(|m| {
            let (left, right) = m.split_once(" - ")?;
            let right: Vec<&str> = right.split(' ').collect();
            let ok =
                right[0] == fstype && opt.is_none_or(|o| right.get(2).is_some_and(|x| x.split(',').any(|x| x == o)));
            ok.then(|| PathBuf::from(left.split(' ').nth(4).unwrap()))
        })
    };
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let rel = path.trim_start_matches('/');
        let file = if ctrls.split(',').any(|c| c == "memory") {
            mount_of("cgroup", Some("memory"))?.join(rel).join("memory.limit_in_bytes")
        } else if ctrls.is_empty() {
            match mount_of("cgroup2", None) {
                Some(m) => m.join(rel).join("memory.max"),
                None => continue,
            }
        } else {
            continue;
        };
        if let Ok(v) = std::fs::read_to_string(&file) {
            return Some(v.trim().to_string());
        }
    }
    None
}

#[test]
fn ctr_memory_limit_is_applied_to_the_tasks_cgroup() {
    let Some(sock) = containerd("ctr_memory_limit_is_applied_to_the_tasks_cgroup") else { return };
    let _lock = common::machine_lock();
    let id = name("c4");
    let (child, pid) = ctr_start(&sock, &["--memory-limit", MIB_64], &id, &["sleep", "300"]);
    let limit = memory_limit_of(pid);
    ok(output_within(ctr(&sock).args(["task", "kill", "-s", "9", &id]), 30), "ctr task kill -s 9");
    finish_within(child, 60, "ctr run after kill");
    assert_eq!(limit.as_deref(), Some(MIB_64), "the task's memory limit, read from its cgroup on the host");
}

/// The private dockerd, with the runtime under test registered as "husk".
fn dockerd(test: &str) -> Option<HashMap<String, String>> {
    static ENV: OnceLock<Result<HashMap<String, String>, String>> = OnceLock::new();
    let dir = ready(test)?;
    let res = ENV.get_or_init(|| {
        let install = output_within(Command::new("bash").arg(setup_script()).args(["install", "docker"]), 900);
        if !install.status.success() {
            return Err(format!("docker.io could not be installed: {}", text(&install.stderr).trim()));
        }
        let _lock = common::machine_lock();
        let out =
            output_within(Command::new("bash").arg(setup_script()).arg("dockerd-start").arg(dir).arg(runtime()), 120);
        if !out.status.success() {
            return Err(format!("the private dockerd did not start: {}", text(&out.stderr).trim()));
        }
        let env = std::fs::read_to_string(dir.join("docker/env")).unwrap();
        Ok(env
            .lines()
            .filter_map(|l| l.strip_prefix("export ")?.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect())
    });
    match res {
        Ok(env) => Some(env.clone()),
        Err(why) => {
            eprintln!("SKIPPED {test}: {why}");
            None
        }
    }
}

#[test]
fn docker_runs_the_image_with_the_runtime_under_test() {
    let Some(env) = dockerd("docker_runs_the_image_with_the_runtime_under_test") else { return };
    let _lock = common::machine_lock();
    // The package's client, matched to its daemon (another docker may come first in PATH).
    let mut cmd = Command::new("/usr/bin/docker");
    cmd.envs(&env).args(["run", "--rm", "--network", "none", "--runtime", "husk", IMAGE, "sh", "-c"]);
    cmd.arg("echo hello; exit 4");
    let out = output_within(&mut cmd, 120);
    assert_eq!(text(&out.stdout), "hello\n", "docker run: {}", text(&out.stderr));
    assert_eq!(out.status.code(), Some(4), "docker run's exit code");
}
