//! Resource limits and accounting, proven on the real kernel with real containers.
//! Run under the machine-wide lock: `flock /tmp/husk-priv.lock cargo test --test cgroups`.

mod common;

use common::{alpine_rootfs, husk_run, is_root, temp_dir};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The cgroups husk would create for `name` on this host, one per hierarchy husk uses
/// (`<this process's cgroup>/husk/<name>`), read the way husk reads them.
fn cgroup_dirs(name: &str) -> Vec<PathBuf> {
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let proc_cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let mut out = Vec::new();
    for line in proc_cgroup.lines() {
        let parts: Vec<&str> = line.splitn(3, ':').collect();
        let (ctrls, path) = (parts[1], parts[2]);
        let used = ctrls.is_empty()
            || ctrls.split(',').any(|c| ["memory", "cpu", "cpuacct", "cpuset", "pids", "freezer"].contains(&c));
        if !used {
            continue;
        }
        let mount = mountinfo.lines().find_map(|m| {
            let (left, right) = m.split_once(" - ")?;
            let right: Vec<&str> = right.split(' ').collect();
            let fields: Vec<&str> = left.split(' ').collect();
            let matches = if ctrls.is_empty() {
                right[0] == "cgroup2"
            } else {
                right[0] == "cgroup" && ctrls.split(',').all(|c| right[2].split(',').any(|o| o == c))
            };
            matches.then(|| PathBuf::from(fields[4]))
        });
        if let Some(mount) = mount {
            out.push(mount.join(path.trim_start_matches('/')).join("husk").join(name));
        }
    }
    out
}

/// The cgroup whose pids.current counts the container's processes.
fn pids_dir(name: &str) -> Option<PathBuf> {
    cgroup_dirs(name).into_iter().find(|d| d.join("pids.current").exists() || d.join("pids.max").exists())
}

fn unique(tag: &str) -> String {
    format!("cg-{tag}-{}", std::process::id())
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The value after `key` in husk's `--stats` lines ("husk: stats: KEY VALUE ...").
fn stat<'a>(err: &'a str, key: &str) -> Option<&'a str> {
    err.lines().find_map(|l| l.strip_prefix("husk: stats: ")?.strip_prefix(key)).map(str::trim)
}

macro_rules! setup {
    ($test:expr) => {{
        if !is_root() {
            eprintln!("SKIPPED: {}: needs root to create cgroups", $test);
            return;
        }
        let Some(rootfs) = alpine_rootfs($test) else { return };
        (rootfs, temp_dir($test))
    }};
}

#[test]
fn fork_bomb_never_exceeds_the_pids_limit_and_the_host_stays_responsive() {
    let (rootfs, state) = setup!("fork_bomb");
    let name = unique("bomb");
    // Every process forks two more and then waits 3 s (a builtin read: no fork), so the
    // container stays full while new forks keep failing. After 2 s the main shell (which
    // waits with builtins too, so it needs no free pid) raises a flag that stops the
    // forking. The refusals are counted with builtins too: the bomb's last processes may
    // still hold every pid (busybox restarts `read -t` when a child's SIGCHLD interrupts it).
    let bomb = "mkfifo /tmp/p; exec 3<>/tmp/p; \
                f() { [ -e /tmp/stop ] && return; f & f & read -t 3 x <&3; }; f 2>/tmp/err & \
                read -t 2 x <&3; : > /tmp/stop; read -t 2 x <&3; n=0; \
                while read -r l; do case $l in *\"can't fork\"*) n=$((n+1));; esac; done </tmp/err; \
                echo forks-refused=$n";
    let child = husk_run(&state, &rootfs)
        .args(["--name", &name, "--pids-limit", "20", "--stats", "--", "timeout", "-s", "KILL", "8", "sh", "-c", bomb])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let mut most = 0u64;
    let mut samples = 0;
    let mut host_slowest = Duration::ZERO;
    while started.elapsed() < Duration::from_secs(4) {
        if let Some(dir) = pids_dir(&name)
            && let Ok(n) = std::fs::read_to_string(dir.join("pids.current"))
        {
            most = most.max(n.trim().parse().unwrap());
            samples += 1;
        }
        let t = Instant::now();
        let ok = Command::new("sh").args(["-c", "ls /proc >/dev/null"]).status().unwrap().success();
        assert!(ok);
        host_slowest = host_slowest.max(t.elapsed());
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    let (out_text, err) = (stdout(&out), stderr(&out));
    eprintln!(
        "fork bomb: {samples} samples, most pids seen {most}, slowest host command {host_slowest:?}; {out_text}{err}"
    );
    assert!(samples > 10, "the container's pids cgroup was never seen");
    assert!(most <= 20, "{most} processes under --pids-limit 20");
    assert!(most >= 15, "the bomb never filled the container ({most})");
    let refused: u64 = out_text.trim().strip_prefix("forks-refused=").and_then(|n| n.parse().ok()).unwrap_or(0);
    assert!(refused > 0, "no \"can't fork\" inside: {out_text}");
    let peak: u64 = stat(&err, "pids peak:").and_then(|p| p.parse().ok()).expect("pids peak in --stats");
    assert!(peak <= 20, "pids peak {peak}");
    assert!(host_slowest < Duration::from_millis(500), "host command took {host_slowest:?}");
}

#[test]
fn memory_hog_is_oom_killed_and_reported() {
    let (rootfs, state) = setup!("memory_hog");
    let hog = r#"x=$(head -c 200m /dev/zero | tr "\0" a); echo survived"#;
    let t = Instant::now();
    let out = husk_run(&state, &rootfs)
        .args(["--memory", "64m", "--memory-swap", "64m", "--", "sh", "-c", hog])
        .output()
        .unwrap();
    let err = stderr(&out);
    eprintln!("memory hog: exit {:?} after {:?}; stderr {err:?}", out.status.code(), t.elapsed());
    assert_eq!(out.status.code(), Some(137));
    assert!(!stdout(&out).contains("survived"));
    assert!(err.contains("husk: killed: out of memory (limit 64 MiB)"), "{err}");
    // The host is unaffected: it still runs things.
    assert!(Command::new("true").status().unwrap().success());
}

#[test]
fn half_a_cpu_gets_half_a_core_of_cpu_time() {
    let (rootfs, state) = setup!("cpus");
    let t = Instant::now();
    let out = husk_run(&state, &rootfs)
        .args(["--cpus", "0.5", "--stats", "--", "timeout", "5", "sh", "-c", "while :; do :; done"])
        .output()
        .unwrap();
    let wall = t.elapsed();
    let err = stderr(&out);
    let cpu: f64 = stat(&err, "cpu time:")
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no cpu time in {err}"));
    eprintln!("--cpus 0.5: {cpu:.3} s of CPU in {wall:?} (ideal 2.5 s over 5 s)");
    assert!((2.25..=2.75).contains(&cpu), "{cpu} s of CPU over 5 s");
}

#[test]
fn cpu_percent_is_the_same_quota_as_cpus() {
    let (rootfs, state) = setup!("cpu_percent");
    let name = unique("pct");
    let out = husk_run(&state, &rootfs)
        .args(["--name", &name, "--cpu-percent", "50", "--cpu-shares", "512", "--", "sleep", "0.3"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(150));
    let dirs = cgroup_dirs(&name);
    let read =
        |file: &str| dirs.iter().find_map(|d| std::fs::read_to_string(d.join(file)).ok()).map(|s| s.trim().to_string());
    let quota = read("cpu.cfs_quota_us").or_else(|| read("cpu.max"));
    let shares = read("cpu.shares").or_else(|| read("cpu.weight"));
    let _ = out.wait_with_output();
    let quota = quota.expect("cpu quota file");
    assert!(quota == "50000" || quota == "50000 100000", "{quota}");
    assert!(shares.as_deref() == Some("512") || shares.as_deref() == Some("59"), "{shares:?}");
}

#[test]
fn cpuset_cpus_restricts_the_affinity_inside() {
    let (rootfs, state) = setup!("cpuset");
    let out =
        husk_run(&state, &rootfs).args(["--cpuset-cpus", "0", "--", "cat", "/proc/self/status"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).lines().any(|l| l == "Cpus_allowed_list:\t0"), "{}", stdout(&out));
}

#[test]
fn the_container_sees_its_own_cgroups_as_root() {
    let (rootfs, state) = setup!("cgroupns");
    let out = husk_run(&state, &rootfs).args(["--memory", "32m", "--", "cat", "/proc/self/cgroup"]).output().unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!text.is_empty());
    for line in text.lines() {
        assert!(line.ends_with(":/"), "not a root path: {line}");
    }
    assert!(text.lines().any(|l| l == "0::/"), "{text}");
}

#[test]
fn the_containers_sys_fs_cgroup_shows_its_limits_read_only() {
    let (rootfs, state) = setup!("cgroupfs");
    // cgroup2 (memory.max) or the v1 memory hierarchy, whichever carries the limit here.
    let script = "cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes; \
                  grep -c ' /sys/fs/cgroup[ /].* ro,' /proc/self/mountinfo | grep -qv '^0$' && echo ro; \
                  mkdir /sys/fs/cgroup/x 2>&1";
    let out = husk_run(&state, &rootfs).args(["--memory", "64m", "--", "sh", "-c", script]).output().unwrap();
    let text = stdout(&out);
    assert_eq!(text.lines().next(), Some("67108864"), "the limit, seen from inside: {text}{}", stderr(&out));
    assert_eq!(text.lines().nth(1), Some("ro"), "{text}");
    assert!(text.contains("Read-only file system"), "{text}");
}

/// husk inside a (privileged) husk container: the inner one finds its cgroups under
/// the outer container's, applies its limit there, and what it leaves behind goes with
/// the outer container.
#[test]
fn a_nested_husk_applies_limits_in_its_cgroup_and_the_outer_removes_them() {
    let (rootfs, state) = setup!("nested");
    let outer = unique("outer");
    let husk_vol = format!("{}:/husk:ro", common::husk().display());
    let alp_vol = format!("{}:/alp:ro", rootfs.display());
    let script = "cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max; \
                  /husk run --pids-limit 7 --rootfs /alp -- sh -c \
                  'cat /sys/fs/cgroup/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids/pids.max' && \
                  /husk run -d --name left --pids-limit 7 --rootfs /alp -- sleep 60 >/dev/null && echo detached";
    let out = husk_run(&state, &rootfs)
        .args(["--name", &outer, "--privileged", "--pids-limit", "50", "-v", &husk_vol, "-v", &alp_vol])
        .args(["--", "sh", "-c", script])
        .output()
        .unwrap();
    assert_eq!(stdout(&out), "50\n7\ndetached\n", "outer limit, inner limit inside it: {}", stderr(&out));
    for dir in cgroup_dirs(&outer) {
        assert!(!dir.exists(), "left {} (and the inner container's below it)", dir.display());
    }
}

#[test]
fn no_cgroup_remains_after_100_runs() {
    let (rootfs, state) = setup!("100_runs");
    let t = Instant::now();
    for i in 0..100 {
        let name = format!("{}-{i}", unique("many"));
        let out = husk_run(&state, &rootfs)
            .args(["--name", &name, "--memory", "32m", "--pids-limit", "10", "--", "true"])
            .output()
            .unwrap();
        assert!(out.status.success(), "run {i}: {}", stderr(&out));
        for dir in cgroup_dirs(&name) {
            assert!(!dir.exists(), "run {i} left {}", dir.display());
        }
    }
    eprintln!("100 runs with cgroups in {:?}", t.elapsed());
}

#[test]
fn cgroups_of_a_sigkilled_launcher_go_at_the_next_run() {
    let (rootfs, state) = setup!("sigkill");
    let name = unique("killed");
    let mut child =
        husk_run(&state, &rootfs).args(["--name", &name, "--memory", "32m", "--", "sleep", "30"]).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    // Only hierarchies a limit needs are used (here memory, with the freezer).
    let in_cgroup = || {
        cgroup_dirs(&name)
            .iter()
            .any(|d| std::fs::read_to_string(d.join("cgroup.procs")).is_ok_and(|p| !p.trim().is_empty()))
    };
    while !in_cgroup() {
        assert!(Instant::now() < deadline, "the container never showed up in its cgroup");
        std::thread::sleep(Duration::from_millis(20));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let left: Vec<PathBuf> = cgroup_dirs(&name).into_iter().filter(|d| d.exists()).collect();
    assert!(!left.is_empty(), "nothing was left behind to collect");
    let out = husk_run(&state, &rootfs).args(["--", "true"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    for dir in cgroup_dirs(&name) {
        assert!(!dir.exists(), "{} survived the next run", dir.display());
    }
}

#[test]
fn nonsense_values_are_refused_before_anything_is_created() {
    let (rootfs, state) = setup!("bad_values");
    let cases: &[&[&str]] = &[
        &["--memory", "-5"],
        &["--memory", "12qq"],
        &["--memory", "0"],
        &["--cpus", "0"],
        &["--cpus", "-1"],
        &["--cpus", "999"],
        &["--cpus", "half"],
        &["--cpu-percent", "0"],
        &["--cpu-percent", "50", "--cpus", "0.5"],
        &["--cpu-shares", "1"],
        &["--pids-limit", "-5"],
        &["--cpuset-cpus", "0-"],
        &["--cpuset-cpus", "1-0"],
        &["--cpuset-cpus", "64"],
        &["--cpuset-cpus", "a,b"],
        &["--cpuset-mems", "9"],
        &["--memory-swap", "64m"],
        &["--memory", "64m", "--memory-swap", "32m"],
        &["--memory-swap", "-5", "--memory", "64m"],
        &["--cgroup-parent", "../escape"],
    ];
    for (i, args) in cases.iter().enumerate() {
        let name = format!("{}-{i}", unique("bad"));
        let out = husk_run(&state, &rootfs).args(["--name", &name]).args(*args).args(["--", "true"]).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(125), "{args:?} accepted: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: not one line: {err}");
        assert!(err.starts_with("husk: "), "{args:?}: {err}");
        eprintln!("{args:?} -> {}", err.trim());
        assert!(!state.join(&name).exists(), "{args:?} created a state directory");
        for dir in cgroup_dirs(&name) {
            assert!(!dir.exists(), "{args:?} created {}", dir.display());
        }
    }
}

#[test]
fn stats_report_memory_cpu_oom_and_pids() {
    let (rootfs, state) = setup!("stats");
    let out = husk_run(&state, &rootfs)
        .args(["--stats", "--", "sh", "-c", "head -c 20m /dev/zero | tr '\\0' a >/dev/null"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    let peak: u64 = stat(&err, "memory peak:").and_then(|s| s.split_whitespace().next()?.parse().ok()).expect(&err);
    assert!(peak > 0, "{err}");
    assert!(stat(&err, "cpu time:").is_some_and(|s| !s.starts_with("n/a")), "{err}");
    assert_eq!(stat(&err, "oom kills:"), Some("0"), "{err}");
    let pids: u64 = stat(&err, "pids peak:").and_then(|s| s.parse().ok()).expect(&err);
    assert!(pids >= 3, "sh, head and tr ran: {err}");
}

#[test]
fn the_cgroup_paths_are_recorded_in_the_state_directory() {
    let (rootfs, state) = setup!("record");
    let name = unique("rec");
    let child = husk_run(&state, &rootfs).args(["--name", &name, "--", "sleep", "0.5"]).spawn().unwrap();
    let record = state.join(&name).join("cgroups");
    let deadline = Instant::now() + Duration::from_secs(3);
    // Created, then written: wait for its contents, not only its name.
    let text = loop {
        match std::fs::read_to_string(&record) {
            Ok(text) if !text.is_empty() => break text,
            _ => {}
        }
        assert!(Instant::now() < deadline, "no record");
        std::thread::sleep(Duration::from_millis(10));
    };
    let _ = child.wait_with_output();
    let listed: Vec<PathBuf> = text.lines().map(PathBuf::from).collect();
    assert!(!listed.is_empty(), "nothing recorded");
    for dir in cgroup_dirs(&name).into_iter().filter(|d| d.exists()) {
        assert!(listed.iter().any(|l| l == &dir), "{} not recorded in {text}", dir.display());
    }
}

#[test]
fn rootless_without_a_cgroup_says_once_that_limits_do_not_apply() {
    let (rootfs, state) = setup!("rootless");
    if Command::new("setpriv").arg("--version").output().is_err() {
        eprintln!("SKIPPED: rootless: setpriv is not installed");
        return;
    }
    // nobody owns no cgroup on this host. Only the cgroup part is checked here: the
    // rest of a rootless start depends on the rootless work of other issues.
    std::fs::set_permissions(&state, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let run = |limits: &[&str]| {
        let out = Command::new("setpriv")
            .args(["--reuid", "65534", "--regid", "65534", "--clear-groups", "env"])
            .arg(format!("HUSK_ROOT={}", state.join("nobody").display()))
            .arg(common::husk())
            .args(["run", "--rootfs"])
            .arg(&rootfs)
            .args(limits)
            .args(["--", "true"])
            .output()
            .unwrap();
        stderr(&out)
    };
    let warning = "running without resource limits";
    let err = run(&["--memory", "64m", "--pids-limit", "5", "--cpus", "0.5"]);
    assert_eq!(err.matches(warning).count(), 1, "{err}");
    let err = run(&[]);
    assert_eq!(err.matches(warning).count(), 0, "warned without limits: {err}");
}
