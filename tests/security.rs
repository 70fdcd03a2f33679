//! Security defaults, proven by attacking them from inside containers: each attack must
//! fail with the errno the defaults give, and succeed (or fail differently) with
//! --privileged, so that a test cannot pass by accident. The attacks run as the
//! container's root through a static probe (tests/probe.c) bound in read-only.

mod common;
use common::*;
use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// tests/probe.c, built once per test binary; None (said loudly) without a C compiler.
fn probe() -> Option<PathBuf> {
    static PROBE: OnceLock<Option<PathBuf>> = OnceLock::new();
    PROBE.get_or_init(|| build_static_c("probe")).clone()
}

fn ready(test: &str) -> Option<PathBuf> {
    if !can_run(test) {
        return None;
    }
    let p = probe();
    if p.is_none() {
        eprintln!("SKIPPED {test}: gcc -static could not build tests/probe.c");
    }
    p
}

/// Runs `probe ARGS` in a container with `extra` flags; its one-line answer.
fn attack(test: &str, extra: &[&str], args: &[&str]) -> String {
    let probe = probe().unwrap();
    let volume = format!("{}:/probe:ro", probe.display());
    let mut flags = vec!["-v", &volume];
    flags.extend_from_slice(extra);
    let argv: Vec<&str> = std::iter::once("/probe").chain(args.iter().copied()).collect();
    let out = run(test, &flags, &argv);
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(!text.is_empty(), "{args:?}: no answer; stderr {}", String::from_utf8_lossy(&out.stderr));
    text
}

fn sh_out(test: &str, extra: &[&str], script: &str) -> String {
    let (out, code) = sh(test, extra, script);
    assert_eq!(code, 0, "{script}: {out}");
    out
}

#[test]
fn kernel_interfaces_are_refused_by_default_and_open_when_privileged() {
    let Some(_) = ready("sec-kernel") else { return };
    // (attack, default answer, what --privileged answers: when it differs by kernel build,
    // only "not the default")
    let cases: &[(&[&str], &str, &str)] = &[
        (&["init_module"], "EPERM", ""),
        (&["finit_module"], "EPERM", ""),
        (&["reboot"], "EPERM", "EINVAL"),
        (&["kexec_load"], "EPERM", ""),
        (&["keyctl"], "EPERM", ""),
        (&["add_key"], "EPERM", ""),
        (&["bpf"], "EPERM", ""),
        (&["perf_event_open"], "EPERM", ""),
        (&["settimeofday"], "EPERM", "ok"),
        (&["unshare_user"], "EPERM", "ok"),
        (&["clone_newns"], "EPERM", "ok"),
        (&["mount", "tmpfs"], "EPERM", "ok"),
        (&["mount", "proc"], "EPERM", "ok"),
        (&["mount", "cgroup2"], "EPERM", "ok"),
        (&["remount", "/sys"], "EPERM", "ok"),
        // Written back unchanged: the host's value never changes, even privileged.
        (&["rewrite", "/proc/sys/kernel/core_pattern"], "EROFS", "ok"),
        (&["openw", "/proc/sys/vm/drop_caches"], "EROFS", "ok"),
        (&["openw", "/proc/sysrq-trigger"], "EROFS", "ok"),
        (&["read", "/proc/kcore"], "read 0", ""),
        (&["read", "/proc/keys"], "read 0", "read"),
        (&["read", "/proc/timer_list"], "read 0", "read"),
    ];
    // The container's own binary is busy while it runs: writing it is refused.
    assert_eq!(attack("sec-kernel", &[], &["openw", "/proc/self/exe"]), "ETXTBSY");
    // Kernel addresses: without CAP_SYSLOG /proc/kallsyms shows zeros (unless the host
    // shows them to everyone: kptr_restrict 0 with perf_event_paranoid at most 1).
    let sysctl = |name: &str| std::fs::read_to_string(format!("/proc/sys/kernel/{name}")).unwrap_or_default();
    let open_to_all = sysctl("kptr_restrict").trim() == "0" && sysctl("perf_event_paranoid").trim() <= "1";
    if open_to_all {
        eprintln!("SKIPPED kallsyms: this host shows kernel addresses to every user");
    } else if std::path::Path::new("/proc/kallsyms").exists() {
        let count = "grep -c -v '^0000000000000000' /proc/kallsyms; exit 0";
        assert_eq!(sh_out("sec-kernel", &[], count).trim(), "0", "kernel addresses readable");
        let privileged = sh_out("sec-kernel", &["--privileged"], count);
        assert_ne!(privileged.trim(), "0", "privileged reads no address (kptr_restrict=2 here?)");
    }
    for (args, default, privileged) in cases {
        if let Some(path) = args.get(1).filter(|p| p.starts_with('/') && !std::path::Path::new(p).exists()) {
            eprintln!("SKIPPED {args:?}: this kernel has no {path}");
            continue;
        }
        let got = attack("sec-kernel", &[], args);
        assert_eq!(got, *default, "{args:?} by default");
        let got = attack("sec-kernel", &["--privileged"], args);
        assert!(got.starts_with(privileged) && got != *default, "{args:?} privileged: {got}");
    }
}

#[test]
fn every_refused_call_gets_eperm_and_ordinary_calls_work() {
    let Some(_) = ready("sec-seccomp") else { return };
    // Every call husk refuses, by the names of the C library's table, zero arguments.
    let probe = probe().unwrap();
    let volume = format!("{}:/probe:ro", probe.display());
    let out = sh_out("sec-seccomp", &["-v", &volume], "/probe refused; echo done");
    assert!(out.lines().count() > 40, "{out}");
    for line in out.lines().filter(|l| *l != "done") {
        assert!(line.ends_with(" EPERM"), "not refused: {line}");
    }
    // getpid; socket(0, 0, 0) reaches the kernel (which refuses the family); the shell
    // itself: fork, clone, execve, pipes, mmap, futex; a raw socket as NET_RAW allows.
    assert_eq!(attack("sec-seccomp", &[], &["sys", "39"]), "ok");
    assert_eq!(attack("sec-seccomp", &[], &["sys", "41"]), "EAFNOSUPPORT");
    assert_eq!(attack("sec-seccomp", &[], &["rawsock"]), "ok");
    let out = sh_out("sec-seccomp", &[], "echo a | cat; (sleep 0; echo b) & wait; echo c");
    assert_eq!(out, "a\nb\nc\n");
    // Unconfined: the same call reaches the kernel (and its capability check).
    assert_eq!(attack("sec-seccomp", &["--security-opt", "seccomp=unconfined"], &["settimeofday"]), "EPERM");
    assert_eq!(
        attack("sec-seccomp", &["--security-opt", "seccomp=unconfined", "--cap-add", "SYS_TIME"], &["settimeofday"]),
        "ok"
    );
}

#[test]
fn capabilities_are_dockers_fourteen_and_change_as_asked() {
    let Some(_) = ready("sec-caps") else { return };
    let caps = |extra: &[&str]| sh_out("sec-caps", extra, "grep -E '^Cap(Inh|Prm|Eff|Bnd|Amb)' /proc/self/status");
    let default = caps(&[]);
    for set in ["CapPrm", "CapEff", "CapBnd"] {
        assert!(default.contains(&format!("{set}:\t00000000a80425fb")), "{set}: {default}");
    }
    // The same through clone(2), the path taken where clone3 is missing or filtered.
    let (fallback, _) = sh_with("sec-caps", &[], "grep -E '^(CapEff|Seccomp):' /proc/self/status", true);
    assert_eq!(fallback, "CapEff:\t00000000a80425fb\nSeccomp:\t2\n");
    assert!(default.contains("CapAmb:\t0000000000000000"), "{default}");
    let changed = caps(&["--cap-drop", "NET_RAW", "--cap-add", "cap_sys_time"]);
    assert!(changed.contains("CapEff:\t00000000aa0405fb"), "NET_RAW (13) off, SYS_TIME (25) on: {changed}");
    assert!(caps(&["--cap-drop", "ALL"]).contains("CapBnd:\t0000000000000000"));
    assert!(caps(&["--cap-drop", "ALL", "--cap-add", "CHOWN"]).contains("CapEff:\t0000000000000001"));
    // A user other than root has no effective or permitted capabilities.
    let user = caps(&["-u", "1000"]);
    assert!(user.contains("CapEff:\t0000000000000000") && user.contains("CapPrm:\t0000000000000000"), "{user}");
    assert!(user.contains("CapBnd:\t00000000a80425fb"), "{user}");
    // Raw sockets follow NET_RAW.
    assert_eq!(attack("sec-caps", &[], &["rawsock"]), "ok");
    assert_eq!(attack("sec-caps", &["--cap-drop", "NET_RAW"], &["rawsock"]), "EPERM");
    assert!(sh_out("sec-caps", &[], "grep NoNewPrivs /proc/self/status").contains("1"));
    let lifted =
        sh_out("sec-caps", &["--security-opt", "no-new-privileges=false"], "grep NoNewPrivs /proc/self/status");
    assert!(lifted.contains("0"), "{lifted}");
    assert!(sh_out("sec-caps", &[], "grep Seccomp: /proc/self/status").contains("2"));
    assert!(
        sh_out("sec-caps", &["--privileged"], "grep -E 'Seccomp:|CapEff' /proc/self/status").contains("Seccomp:\t0")
    );
}

#[test]
fn a_setuid_binary_run_by_a_user_keeps_the_user() {
    let Some(probe) = ready("sec-setuid") else { return };
    // A setuid-root copy of the probe inside the container's root.
    let rootfs = alpine();
    let target = rootfs.join("probe-suid");
    std::fs::copy(&probe, &target).unwrap();
    assert!(Command::new("chmod").arg("4755").arg(&target).status().unwrap().success());
    assert_eq!(run_out("sec-setuid", &["-u", "1000"], &["/probe-suid", "euid"]), "1000");
    // Without no_new_privs the kernel honours the bit: the test can tell.
    let lifted = ["-u", "1000", "--security-opt", "no-new-privileges=false", "--cap-add", "SETUID"];
    assert_eq!(run_out("sec-setuid", &lifted, &["/probe-suid", "euid"]), "0");
    std::fs::remove_file(&target).unwrap();
}

fn run_out(test: &str, extra: &[&str], argv: &[&str]) -> String {
    let out = run(test, extra, argv);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[test]
fn the_host_binary_is_out_of_reach_and_exec_leaks_nothing() {
    let Some(_) = ready("sec-exe") else { return };
    let probe = probe().unwrap();
    let volume = format!("{}:/probe:ro", probe.display());
    let root = state_root("sec-exe");
    // stdout; a probe's refusal is its exit status 1, so only husk's own failures count.
    let husk_cmd = |args: &[&str]| {
        let out = Command::new(husk()).env("HUSK_ROOT", &root).args(args).output().unwrap();
        assert!(matches!(out.status.code(), Some(0 | 1)), "husk {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let rootfs = alpine();
    // Unique per test process: cgroups are named after containers, whatever the state root.
    let name = format!("sec-exe-{}", std::process::id());
    let x = name.as_str();
    husk_cmd(&["run", "-d", "--name", x, "-v", &volume, "--rootfs", rootfs.to_str().unwrap(), "--", "sleep", "1000"]);
    // Removed however the test ends.
    struct Remove<'a>(&'a dyn Fn(&[&str]) -> String, &'a str);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            (self.0)(&["rm", "-f", self.1]);
        }
    }
    let _remove = Remove(&husk_cmd, x);
    // PID 1 is a fork of the host's husk: not dumpable, so its exe and fds stay closed.
    for args in [["openw", "/proc/1/exe"], ["read", "/proc/1/exe"], ["read", "/proc/1/fd/0"]] {
        assert_eq!(husk_cmd(&["exec", x, "/probe", args[0], args[1]]), "EACCES", "{args:?}");
    }
    // An exec'd process: only its stdio and the directory ls opens; cwd and root inside.
    let fds = husk_cmd(&["exec", x, "ls", "/proc/self/fd"]);
    assert_eq!(fds.split_whitespace().collect::<Vec<_>>(), ["0", "1", "2", "3"], "{fds}");
    assert_eq!(husk_cmd(&["exec", x, "sh", "-c", "readlink /proc/self/cwd; readlink /proc/self/root"]), "/\n/");
    // An exec'd process gets the command's restrictions, from the saved spec.
    let status = husk_cmd(&["exec", x, "grep", "-E", "^(CapEff|NoNewPrivs|Seccomp):", "/proc/self/status"]);
    assert_eq!(status, "CapEff:\t00000000a80425fb\nNoNewPrivs:\t1\nSeccomp:\t2");
    assert_eq!(husk_cmd(&["exec", x, "/probe", "mount", "tmpfs"]), "EPERM");

    // The race: a process of the container watches every new process (each husk exec
    // is a fork of the host's binary until its exec) and tries to open its binary for
    // writing, directly and through an O_PATH descriptor reopened later.
    let watcher = std::thread::scope(|scope| {
        let watcher = scope.spawn(|| husk_cmd(&["exec", x, "/probe", "race", "3"]));
        std::thread::sleep(std::time::Duration::from_millis(200));
        let start = std::time::Instant::now();
        let mut execs = 0;
        while start.elapsed() < std::time::Duration::from_millis(2500) {
            husk_cmd(&["exec", x, "true"]);
            execs += 1;
        }
        assert!(execs > 10, "only {execs} execs raced");
        watcher.join().unwrap()
    });
    assert!(!watcher.contains("won") && !watcher.contains("reached"), "{watcher}");
    assert!(watcher.contains("tries"), "{watcher}");
}

#[test]
fn a_read_only_root_takes_writes_only_in_tmpfs_and_volumes() {
    let Some(_) = ready("sec-ro") else { return };
    let vol = temp_dir("sec-ro-vol");
    let volume = format!("{}:/data", vol.display());
    let flags = ["--read-only", "--tmpfs", "/tmp", "-v", &volume];
    let out = sh_out("sec-ro", &flags, "touch /x 2>&1; touch /tmp/y && echo tmp-ok; touch /data/z && echo vol-ok");
    assert!(out.contains("Read-only file system"), "{out}");
    assert!(out.contains("tmp-ok") && out.contains("vol-ok"), "{out}");
    assert!(vol.join("z").exists());
    let probe = probe().unwrap();
    let pv = format!("{}:/probe:ro", probe.display());
    assert_eq!(attack("sec-ro", &["--read-only", "-v", &pv], &["remount", "/"]), "EPERM");
}

#[test]
fn block_devices_can_be_neither_made_nor_opened() {
    let Some(_) = ready("sec-dev") else { return };
    device_policy_holds("sec-dev", &[]);
}

/// On a host with no cgroup2 hierarchy the policy is the v1 devices controller's. Such a
/// host is this one with its cgroup2 mount removed in a mount namespace of the test's
/// own: husk reads the hierarchies from /proc/self/mountinfo, the kernel enforces.
#[test]
fn without_cgroup2_the_v1_devices_controller_holds_the_same_policy() {
    let Some(_) = ready("sec-dev-v1") else { return };
    let unified = host("findmnt -n -o TARGET -t cgroup2 | head -1");
    let unified = unified.trim();
    let v1_devices = host("findmnt -n -o OPTIONS -t cgroup | grep -c devices");
    if unified.is_empty() || unified == "/sys/fs/cgroup" || v1_devices.trim() == "0" {
        eprintln!("SKIPPED sec-dev-v1: needs a hybrid host (a v1 devices hierarchy and cgroup2 beside it)");
        return;
    }
    let script = format!("umount {unified} && exec \"$@\"");
    device_policy_holds("sec-dev-v1", &["unshare", "-m", "--propagation", "private", "sh", "-c", &script, "sh"]);
}

/// The block-device attacks, run through `wrapper` (a command prefix before husk).
fn device_policy_holds(test: &str, wrapper: &[&str]) {
    // A loop device of the test's own, so the check does not depend on the machine's.
    let dir = temp_dir(test);
    let backing = dir.join("disk");
    std::fs::write(&backing, vec![7u8; 1 << 20]).unwrap();
    let out = Command::new("losetup").args(["-f", "--show"]).arg(&backing).output().unwrap();
    let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(out.status.success() && dev.starts_with("/dev/loop"), "losetup: {}", String::from_utf8_lossy(&out.stderr));
    struct Detach(String);
    impl Drop for Detach {
        fn drop(&mut self) {
            let _ = Command::new("losetup").args(["-d", &self.0]).status();
        }
    }
    let _detach = Detach(dev.clone());
    let root = state_root(test);
    let husk_cmd = || {
        let mut cmd = match wrapper.split_first() {
            Some((first, rest)) => {
                let mut c = Command::new(first);
                c.args(rest).arg(husk());
                c
            }
            None => Command::new(husk()),
        };
        cmd.env("HUSK_ROOT", &root);
        cmd
    };
    let run_sh = |extra: &[&str], script: &str| -> String {
        let out = husk_cmd()
            .args(["run", "--rootfs"])
            .arg(alpine())
            .args(extra)
            .args(["--", "sh", "-c", script])
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "{script}: {text}{}", String::from_utf8_lossy(&out.stderr));
        text
    };
    let minor = dev.trim_start_matches("/dev/loop");
    let script =
        format!("mknod /tmp/blk b 7 {minor} 2>&1; od -An -tu1 -N1 /blk 2>&1; echo x >/dev/null && echo null-ok");
    let volume = format!("{dev}:/blk");
    let out = run_sh(&["-v", &volume], &script);
    assert!(out.contains("mknod: /tmp/blk: Operation not permitted"), "{out}");
    assert!(out.contains("/blk: Operation not permitted"), "{out}");
    assert!(out.contains("null-ok"), "{out}");
    let out = run_sh(&["-v", &volume, "--privileged"], &script);
    assert!(!out.contains("not permitted") && out.contains(" 7"), "{out}");
    // --device gives exactly that node, with exactly the access asked for.
    let given = format!("{dev}:/dev/disk:r");
    let script = "ls -l /dev/disk | cut -c1; od -An -tu1 -N1 /dev/disk; { echo x > /dev/disk; } 2>&1; exit 0";
    let out = run_sh(&["--device", &given], script);
    assert_eq!(out.lines().next(), Some("b"), "{out}");
    assert!(out.contains("   7"), "readable: {out}");
    assert!(out.contains("/dev/disk: Operation not permitted"), "not writable: {out}");

    // Side by side: a default container keeps its policy while a --device and a
    // --privileged one start and run beside it (the default policy is shared through
    // husk's parent cgroup; each of the others overrides it for its own cgroup only).
    let beside = format!("{test}-beside");
    let started = husk_cmd()
        .args(["run", "-d", "--name", &beside, "--rootfs"])
        .arg(alpine())
        .args(["-v", &volume, "--", "sleep", "30"])
        .output()
        .unwrap();
    assert!(started.status.success(), "{}", String::from_utf8_lossy(&started.stderr));
    struct Remove<'a>(Command, &'a str);
    impl Drop for Remove<'_> {
        fn drop(&mut self) {
            let _ = self.0.args(["rm", "-f", self.1]).output();
        }
    }
    let _remove = Remove(husk_cmd(), &beside);
    let out = run_sh(&["--device", &given], "od -An -tu1 -N1 /dev/disk");
    assert!(out.contains("   7"), "--device beside a default container: {out}");
    let out = run_sh(&["-v", &volume, "--privileged"], "od -An -tu1 -N1 /blk");
    assert!(out.contains("   7"), "--privileged beside a default container: {out}");
    let out = husk_cmd()
        .args(["exec", &beside, "sh", "-c", "od -An -tu1 -N1 /blk 2>&1; mknod /tmp/b b 7 0 2>&1"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(text.contains("/blk: Operation not permitted"), "the default container beside: {text}{err}");
    assert!(text.contains("mknod: /tmp/b: Operation not permitted"), "the default container beside: {text}");
}

/// Docker's default seccomp profile: the installed golang-github-docker-docker-dev, or
/// the file taken out of that package's .deb (downloaded, not installed: the package
/// pulls in half a gigabyte of Go sources).
fn docker_profile() -> Option<PathBuf> {
    let installed = PathBuf::from("/usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json");
    if installed.exists() {
        return Some(installed);
    }
    let dir = temp_dir("docker-profile");
    let fetched = Command::new("apt-get")
        .args(["download", "-qq", "golang-github-docker-docker-dev"])
        .current_dir(&dir)
        .status()
        .is_ok_and(|s| s.success());
    let member = "./usr/share/gocode/src/github.com/docker/docker/profiles/seccomp/default.json";
    let extracted = fetched
        && Command::new("sh")
            .arg("-c")
            .arg(format!("dpkg-deb --fsys-tarfile *.deb | tar -xf - {member}"))
            .current_dir(&dir)
            .status()
            .is_ok_and(|s| s.success());
    let path = dir.join(member);
    (extracted && path.exists()).then_some(path)
}

#[test]
fn dockers_own_profile_is_read_and_applied_to_the_command_and_exec() {
    let Some(probe) = ready("sec-profile") else { return };
    let Some(profile) = docker_profile() else {
        eprintln!("SKIPPED sec-profile: Docker's default.json could not be had (golang-github-docker-docker-dev)");
        return;
    };
    let opt = format!("seccomp={}", profile.display());
    let with = |extra: &[&str], args: &[&str]| {
        let mut flags = vec!["--security-opt", opt.as_str()];
        flags.extend_from_slice(extra);
        attack("sec-profile", &flags, args)
    };
    assert_eq!(with(&[], &["mount", "tmpfs"]), "EPERM");
    assert_eq!(with(&[], &["unshare_user"]), "EPERM");
    assert_eq!(with(&[], &["sys", "435"]), "ENOSYS", "clone3, as the profile's errnoRet says");
    assert_eq!(with(&[], &["sys", "39"]), "ok");
    assert_eq!(with(&[], &["keyctl"]), "EPERM");
    // The profile's rules that depend on capabilities follow --cap-add.
    assert_eq!(with(&["--cap-add", "SYS_ADMIN"], &["mount", "tmpfs"]), "ok");
    let status = sh_out("sec-profile", &["--security-opt", &opt], "grep Seccomp: /proc/self/status");
    assert_eq!(status.trim(), "Seccomp:\t2");
    // Saved with the spec: husk exec gets the same filter.
    let root = state_root("sec-profile");
    let name = format!("sec-profile-{}", std::process::id());
    let volume = format!("{}:/probe:ro", probe.display());
    let husk_cmd = |args: &[&str]| {
        let out = Command::new(husk()).env("HUSK_ROOT", &root).args(args).output().unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let rootfs = alpine();
    let started = husk_cmd(&[
        "run",
        "-d",
        "--name",
        &name,
        "--security-opt",
        &opt,
        "-v",
        &volume,
        "--rootfs",
        rootfs.to_str().unwrap(),
        "--",
        "sleep",
        "100",
    ]);
    assert_eq!(started, name);
    assert_eq!(husk_cmd(&["exec", &name, "/probe", "sys", "435"]), "ENOSYS");
    assert!(husk_cmd(&["inspect", "--raw", &name]).contains("\"seccomp\":{\"defaultAction\":327681"));
    husk_cmd(&["rm", "-f", &name]);
    // A broken profile is refused before anything exists.
    let bad = temp_dir("bad-profile").join("p.json");
    std::fs::write(&bad, r#"{"defaultAction": "SCMP_ACT_NOTIFY"}"#).unwrap();
    let out = run("sec-profile", &["--security-opt", &format!("seccomp={}", bad.display())], &["true"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains("SCMP_ACT_NOTIFY is not supported") && err.lines().count() == 1, "{err}");
}

#[test]
fn systempaths_unconfined_unmasks_proc_and_keeps_the_rest() {
    let Some(_) = ready("sec-paths") else { return };
    let script = "grep -cE ' /proc/(kcore|keys|timer_list|sys|acpi|scsi) ' /proc/self/mountinfo; \
                  head -c 10 /proc/timer_list | wc -c; grep -E '^(CapEff|Seccomp):' /proc/self/status";
    let out = sh_out("sec-paths", &[], script);
    assert_ne!(out.lines().next(), Some("0"), "masked by default: {out}");
    assert_eq!(out.lines().nth(1), Some("0"), "timer_list reads nothing by default: {out}");
    let out = sh_out("sec-paths", &["--security-opt", "systempaths=unconfined"], script);
    assert_eq!(
        out, "0\n10\nCapEff:\t00000000a80425fb\nSeccomp:\t2\n",
        "nothing masked or read-only in /proc, capabilities and filter unchanged"
    );
}
