//! husk on kernels back to 5.4, proven on this one: tests/oldkernel.c installs a seccomp
//! filter that answers the calls newer than 5.4 with the errno the old kernels give
//! (inherited by husk and everything it starts), then execs husk. Each test forces one
//! family of fallbacks and runs the isolation and lifecycle checks through it; the last
//! forces everything 5.4 lacks at once.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// tests/oldkernel.c, built static once per test binary; None without a C compiler.
fn wrapper() -> Option<PathBuf> {
    static BUILT: OnceLock<Option<PathBuf>> = OnceLock::new();
    BUILT.get_or_init(|| build_static_c("oldkernel")).clone()
}

/// An ext4 image of the Alpine tarball, made once per test binary.
fn image() -> PathBuf {
    static IMAGE: OnceLock<PathBuf> = OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let out = temp_dir("oldkernel-image").join("alpine.ext4");
            build_image(&tarball().unwrap(), &out);
            out
        })
        .clone()
}

/// husk as an old kernel would let it run: every command through the wrapper with
/// `families` forced, from a shell that leaves descriptor 7 open (a leak the container
/// must not inherit).
struct Old {
    families: &'static str,
    root: PathBuf,
    wrapper: PathBuf,
    /// The detached container's name: cgroups are named after it, and other tests (of
    /// this binary or another) may run a "web" of their own meanwhile.
    name: String,
}

impl Old {
    fn new(test: &str, families: &'static str) -> Option<Old> {
        if !can_run(test) {
            return None;
        }
        let Some(wrapper) = wrapper() else {
            eprintln!("SKIPPED {test}: gcc -static could not build tests/oldkernel.c");
            return None;
        };
        Some(Old { families, root: state_root(test), wrapper, name: format!("{test}-{}", std::process::id()) })
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "exec 7</dev/null; exec \"$@\"", "sh"])
            .arg(&self.wrapper)
            .arg(self.families)
            .arg(husk())
            .args(args)
            .env("HUSK_ROOT", &self.root)
            .stdin(Stdio::null());
        cmd
    }

    fn out(&self, args: &[&str]) -> Output {
        self.cmd(args).output().unwrap()
    }

    /// stdout of a command that must succeed.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.out(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "[{}] husk {args:?}: {err}", self.families);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// `husk run --rootfs ALPINE EXTRA... -- sh -c SCRIPT`: (stdout, stderr, status).
    fn sh(&self, extra: &[&str], script: &str) -> (String, String, i32) {
        let rootfs = alpine();
        let mut args = vec!["run", "--rootfs", rootfs.to_str().unwrap()];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["--", "sh", "-c", script]);
        let out = self.out(&args);
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (text(&out.stdout), text(&out.stderr), out.status.code().unwrap_or(-1))
    }

    fn sh_ok(&self, extra: &[&str], script: &str) -> String {
        let (out, err, code) = self.sh(extra, script);
        assert_eq!(code, 0, "[{}] {script}: {err}", self.families);
        out
    }
}

/// The name the kernel gives husk's processes (its file name, at most 15 bytes).
fn comm() -> String {
    husk().file_name().unwrap().to_string_lossy().chars().take(15).collect()
}

fn wait_until(what: &str, within: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// What every family must keep working: a run's output and status, the namespaces,
/// docker's exit codes, the overlay, a volume, an image, no leaked descriptor, and a
/// detached container through run -d, ps, exec, stop and rm.
fn the_usual_checks(o: &Old) {
    let f = o.families;
    let (out, err, code) = o.sh(&[], "echo hello; exit 3");
    assert_eq!((out.as_str(), code), ("hello\n", 3), "[{f}] run: {err}");

    let seen = o.sh_ok(
        &["--hostname", "old"],
        "hostname; cat /proc/1/comm; for n in mnt pid net; do readlink /proc/self/ns/$n; done",
    );
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(lines[0], "old", "[{f}] UTS namespace");
    assert_eq!(lines[1], comm(), "[{f}] husk's init is PID 1");
    for (line, ns) in lines[2..].iter().zip(["mnt", "pid", "net"]) {
        let host = std::fs::read_link(format!("/proc/self/ns/{ns}")).unwrap();
        assert_ne!(*line, host.to_str().unwrap(), "[{f}] own {ns} namespace");
    }

    assert_eq!(o.sh(&[], "exec no-such-command").2, 127, "[{f}] not found");
    assert_eq!(o.sh(&[], "exec /etc/passwd").2, 126, "[{f}] cannot execute");

    // Only stdio (and ls's own directory) reach the command: descriptor 7 does not.
    assert_eq!(o.sh_ok(&[], "ls /proc/self/fd | tr '\\n' ' '"), "0 1 2 3 ", "[{f}] leaked descriptors");

    assert_eq!(o.sh_ok(&[], "echo x > /written; cat /written"), "x\n", "[{f}] overlay");
    assert!(!exists(&alpine().join("written")), "[{f}] the overlay's write reached the rootfs");

    let vol = temp_dir("oldkernel-vol");
    let bind = format!("{}:/data", vol.display());
    o.sh_ok(&["-v", &bind], "echo v > /data/f");
    assert_eq!(std::fs::read_to_string(vol.join("f")).unwrap(), "v\n", "[{f}] volume");

    let img = image();
    let out = o.ok(&["run", "--image", img.to_str().unwrap(), "--", "cat", "/etc/alpine-release"]);
    assert_eq!(out, "3.20.3\n", "[{f}] --image");

    detached_lifecycle(o);
}

fn detached_lifecycle(o: &Old) {
    let (f, web) = (o.families, o.name.as_str());
    let rootfs = alpine();
    let script = "trap 'exit 7' TERM; echo started; while :; do sleep 0.1; done";
    o.ok(&["run", "-d", "--name", web, "--rootfs", rootfs.to_str().unwrap(), "--", "sh", "-c", script]);
    wait_until("started", Duration::from_secs(5), || o.ok(&["logs", web]).contains("started"));
    assert_eq!(o.ok(&["ps", "-q"]), format!("{web}\n"), "[{f}] ps");
    let seen = o.ok(&["exec", web, "sh", "-c", "hostname; ps -o pid,comm | awk 'NR==2{print $1, $2}'"]);
    assert_eq!(seen, format!("{web}\n1 {}\n", comm()), "[{f}] exec joins the namespaces");
    assert_eq!(o.ok(&["exec", web, "sh", "-c", "ls /proc/self/fd | tr '\\n' ' '"]), "0 1 2 3 ", "[{f}] exec fds");
    assert_eq!(o.out(&["exec", web, "sh", "-c", "exit 9"]).status.code(), Some(9), "[{f}] exec status");
    assert_eq!(o.ok(&["stop", web]), format!("{web}\n"), "[{f}] stop");
    assert_eq!(o.ok(&["wait", web]), "7\n", "[{f}] SIGTERM reached the command");
    assert_eq!(o.ok(&["rm", web]), format!("{web}\n"), "[{f}] rm");
    assert_eq!(std::fs::read_dir(&o.root).unwrap().count(), 0, "[{f}] nothing left");
}

#[test]
fn clone3_refused_as_by_5_3_to_5_6_falls_back_to_clone_and_cgroup_procs() {
    for families in ["clone3-e2big", "clone3-enosys"] {
        let Some(o) = Old::new("old-clone3", families) else { return };
        the_usual_checks(&o);
        // Not born in its cgroup, the child is moved there, and its CPU affinity
        // follows --cpuset-cpus.
        let out = o.sh_ok(&["--cpuset-cpus", "0", "--pids-limit", "50"], "grep Cpus_allowed_list /proc/self/status");
        assert_eq!(out.split_whitespace().nth(1), Some("0"), "[{families}] {out}");
    }
}

#[test]
fn close_range_missing_or_without_its_cloexec_flag_still_leaks_no_descriptor() {
    for families in ["close_range", "cloexec-flag"] {
        let Some(o) = Old::new("old-close-range", families) else { return };
        the_usual_checks(&o);
    }
}

#[test]
fn openat2_missing_mounts_still_land_inside_the_root_through_symlinks() {
    let Some(o) = Old::new("old-openat2", "openat2") else { return };
    the_usual_checks(&o);
    // A root with symlinks pointing out of it: the volumes' mount points must be made
    // and mounted inside it all the same, as openat2(RESOLVE_IN_ROOT) would (written
    // straight into the directory, so that where they were made can be seen).
    let root = temp_dir("oldkernel-escape").join("root");
    let ok = Command::new("cp").arg("-a").arg(alpine()).arg(&root).status().unwrap().success();
    assert!(ok);
    std::os::unix::fs::symlink("/../../../../../../../tmp", root.join("escape")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../../etc", root.join("up")).unwrap();
    let tag = format!("husk-oldkernel-{}", std::process::id());
    let vol = temp_dir("oldkernel-vol");
    std::fs::write(vol.join("marker"), "m").unwrap();
    let (a, b) = (format!("{}:/escape/{tag}", vol.display()), format!("{}:/up/{tag}", vol.display()));
    let script = format!("cat /escape/{tag}/marker /up/{tag}/marker");
    let out = o.ok(&[
        "run",
        "--rootfs",
        root.to_str().unwrap(),
        "--rootfs-rw",
        "-v",
        &a,
        "-v",
        &b,
        "--",
        "sh",
        "-c",
        &script,
    ]);
    assert_eq!(out, "mm");
    for dir in ["tmp", "etc"] {
        assert!(!Path::new("/").join(dir).join(&tag).exists(), "a mount point was made in the host's /{dir}");
        assert!(exists(&root.join(dir).join(&tag)), "not made in the root's /{dir}");
    }
}

#[test]
fn pidfds_missing_exec_stop_and_rm_reach_the_container_by_its_checked_pid() {
    for families in ["pidfd_open", "pidfd-setns", "waitid-pidfd", "pidfd_open,pidfd-setns,waitid-pidfd"] {
        let Some(o) = Old::new("old-pidfd", families) else { return };
        the_usual_checks(&o);
    }
}

#[test]
fn a_recorded_pid_now_naming_another_process_is_never_signalled() {
    let Some(o) = Old::new("old-pid-reuse", "pidfd_open") else { return };
    let (rootfs, web) = (alpine(), o.name.as_str());
    // The entry will name a bystander's pid, with the start time its container's init
    // had: as if the init had died and the pid been reused. (Started a few clock ticks
    // before the container, so that the two start times differ.)
    let mut bystander = Command::new("sleep").arg("100").spawn().unwrap();
    std::thread::sleep(Duration::from_millis(50));
    o.ok(&["run", "-d", "--name", web, "--rootfs", rootfs.to_str().unwrap(), "--", "sleep", "100"]);
    let file = o.root.join(web).join("state");
    let text = std::fs::read_to_string(&file).unwrap();
    let init_line = text.lines().find(|l| l.starts_with("init=")).unwrap().to_string();
    let start = init_line.split_whitespace().last().unwrap();
    let fake = format!("init={} {start}", bystander.id());
    std::fs::write(&file, text.replace(&init_line, &fake)).unwrap();
    let answers: Vec<(String, Option<i32>, String)> = [&["stop", web][..], &["kill", web], &["exec", web, "true"]]
        .iter()
        .map(|verb| {
            let out = o.out(verb);
            (verb.join(" "), out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
        })
        .collect();
    let signalled = bystander.try_wait().unwrap();
    let _ = bystander.kill();
    let _ = bystander.wait();
    // Put back before asserting, so that a failure still removes the container.
    std::fs::write(&file, &text).unwrap();
    let removed = o.ok(&["rm", "-f", web]);
    assert_eq!(signalled, None, "the bystander was signalled: {answers:?}");
    for (verb, code, err) in answers {
        // stop of a container that is not running is done already (docker's exit 0),
        // without a signal; kill and exec refuse.
        if verb.starts_with("stop") {
            assert_eq!(code, Some(0), "{verb}: {err}");
            continue;
        }
        assert_ne!(code, Some(0), "{verb} acted on a pid that is not the container's");
        assert!(err.contains("not running"), "{verb}: {err}");
    }
    assert_eq!(removed, format!("{web}\n"));
}

#[test]
fn loop_configure_missing_images_attach_with_set_fd_and_set_status() {
    let Some(o) = Old::new("old-loop", "loop-configure") else { return };
    the_usual_checks(&o);
}

#[test]
fn every_call_linux_5_4_lacks_refused_at_once_and_husk_still_works() {
    let Some(o) = Old::new("old-5-4", "5.4") else { return };
    the_usual_checks(&o);
}

#[test]
fn idmapped_mounts_missing_userns_with_a_range_is_refused_in_one_line_before_anything_exists() {
    let Some(o) = Old::new("old-idmap", "mount_setattr") else { return };
    // /etc/subuid and /etc/subgid with a range for root, in a private mount namespace.
    let dir = temp_dir("oldkernel-subid");
    std::fs::write(dir.join("subid"), "root:100000:65536\n").unwrap();
    let f = dir.join("subid").display().to_string();
    let script = format!("mount --bind {f} /etc/subuid && mount --bind {f} /etc/subgid && exec \"$@\"");
    let persist = dir.join("persist");
    let rootfs = alpine();
    let out = Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"])
        .arg(&o.wrapper)
        .arg(o.families)
        .arg(husk())
        .args(["run", "--userns", "--persist", persist.to_str().unwrap(), "--rootfs", rootfs.to_str().unwrap()])
        .args(["--", "true"])
        .env("HUSK_ROOT", &o.root)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no idmapped mounts (mount_setattr, Linux 5.12)") && err.contains("without --userns"),
        "{err}"
    );
    assert!(!exists(&persist), "the --persist directory was made before the refusal");
    assert_eq!(std::fs::read_dir(&o.root).unwrap().count(), 0, "a state entry was left behind");
}
