//! The OCI runtime interface on bundles of the Alpine image: the lifecycle (create,
//! state, start, kill, delete) with the container's init re-parented to the caller,
//! hooks, the console socket, run, exec --process, pause/resume, and bad bundles refused
//! with nothing left behind. config.json's settings checked from inside:
//! tests/oci_config.rs.

mod common;

use common::bundle::*;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

#[test]
fn create_stops_before_the_command_and_start_kill_delete_follow_the_lifecycle() {
    let Some(b) = setup("oci-lifecycle") else { return };
    let out = common::temp_dir("lifecycle-out");
    let cfg = config(&["sh", "-c", "echo started > /out/marker; exec sleep 100"], "", "", "");
    b.write(&with_mounts(cfg, &bind(&out, "/out")));
    let pid_file = b.dir.join("pid");
    let (code, err) = b.create("life", &["--pid-file", pid_file.to_str().unwrap()], &out.join("stdout"));
    assert_eq!(code, 0, "create: {err}");
    let pid_text = std::fs::read_to_string(&pid_file).unwrap();
    assert!(!pid_text.ends_with('\n'), "the pid file has no newline: {pid_text:?}");
    let pid: i32 = pid_text.parse().unwrap();
    let (_, state, _) = b.verb(&["state", "life"]);
    assert_eq!(field(&state, "status"), "created", "{state}");
    assert_eq!(field(&state, "pid"), pid_text);
    assert_eq!(field(&state, "bundle"), b.dir.to_str().unwrap());
    std::thread::sleep(Duration::from_millis(100));
    assert!(!out.join("marker").exists(), "the command must not run before start");
    // The init is our child now: `husk create` has gone.
    let ppid = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let ppid: i32 = ppid[ppid.rfind(')').unwrap() + 4..].split(' ').next().unwrap().parse().unwrap();
    assert_eq!(ppid, std::process::id() as i32, "the init is re-parented to the caller");
    let (code, _, err) = b.verb(&["start", "life"]);
    assert_eq!(code, 0, "start: {err}");
    assert!(wait_for(&out.join("marker")), "the command ran after start");
    assert_eq!(b.status("life"), "running");
    let (code, _, err) = b.verb(&["start", "life"]);
    assert_eq!(code, 1, "a second start fails: {err}");
    let (code, _, err) = b.verb(&["delete", "life"]);
    assert_eq!(code, 1, "a running container is not deleted without --force: {err}");
    let (code, _, err) = b.verb(&["kill", "life", "TERM"]);
    assert_eq!(code, 0, "kill: {err}");
    assert_eq!(reap(pid), 128 + 15, "the command's end by SIGTERM is the init's status");
    assert_eq!(b.status("life"), "stopped");
    let (code, _, err) = b.verb(&["delete", "life"]);
    assert_eq!(code, 0, "delete: {err}");
    let (code, _, err) = b.verb(&["state", "life"]);
    assert_eq!(code, 1, "gone after delete: {err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert_eq!(b.verb(&["delete", "--force", "life"]).0, 0, "delete --force of a missing container is no error");
    assert!(std::fs::read_dir(&b.root).unwrap().next().is_none(), "nothing is left in the state root");
}

#[test]
fn hooks_run_in_order_with_the_state_on_stdin() {
    let Some(b) = setup("oci-hooks") else { return };
    let logs = common::temp_dir("hooks-log");
    std::fs::set_permissions(&logs, std::fs::Permissions::from_mode(0o777)).unwrap();
    let log = logs.join("log");
    let hook = |name: &str| {
        let script = format!("read -r state; echo \"{name} $state\" >> {}", log.display());
        format!(r#"[{{"path": "/bin/sh", "args": ["sh", "-c", {script:?}], "timeout": 5}}]"#)
    };
    let kinds = ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"];
    let hooks: Vec<String> = kinds.iter().map(|k| format!("{k:?}: {}", hook(k))).collect();
    let top = format!(r#", "hooks": {{ {} }}"#, hooks.join(", "));
    // The container's hooks write the same log: it is bound at the same path inside.
    let cfg = config(&["true"], &top, "", "");
    b.write(&with_mounts(cfg, &bind(&logs, logs.to_str().unwrap())));
    let (code, err) = b.create("hooked", &[], &logs.join("out"));
    assert_eq!(code, 0, "create: {err}");
    let pid: i32 = field(&b.verb(&["state", "hooked"]).1, "pid").parse().unwrap();
    assert_eq!(b.verb(&["start", "hooked"]).0, 0);
    assert_eq!(reap(pid), 0);
    assert_eq!(b.verb(&["delete", "hooked"]).0, 0);
    let text = std::fs::read_to_string(&log).unwrap();
    let order: Vec<&str> = text.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(order, kinds, "{text}");
    for line in text.lines() {
        assert!(line.contains(r#""id":"hooked""#) && line.contains(r#""ociVersion""#), "state on stdin: {line}");
    }
    assert!(text.lines().last().unwrap().contains(r#""status":"stopped""#), "{text}");
}

#[test]
fn a_failing_prestart_hook_fails_create_and_leaves_nothing() {
    let Some(b) = setup("oci-hook-fails") else { return };
    let top = r#", "hooks": {"prestart": [{"path": "/bin/false"}]}"#;
    b.write(&config(&["true"], top, "", ""));
    let (code, err) = b.create("nohook", &[], &b.dir.join("out"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("prestart hook /bin/false"), "{err}");
    assert!(std::fs::read_dir(&b.root).unwrap().next().is_none(), "nothing is left in the state root");
}

#[test]
fn a_hook_past_its_timeout_is_killed_and_fails_create() {
    let Some(b) = setup("oci-hook-timeout") else { return };
    let top = r#", "hooks": {"createRuntime": [{"path": "/bin/sleep", "args": ["sleep", "30"], "timeout": 1}]}"#;
    b.write(&config(&["true"], top, "", ""));
    let started = Instant::now();
    let (code, err) = b.create("slowhook", &[], &b.dir.join("out"));
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("createRuntime hook /bin/sleep") && err.contains("timed out"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(10), "the hook was not stopped at its timeout");
    assert!(std::fs::read_dir(&b.root).unwrap().next().is_none(), "nothing is left in the state root");
}

#[test]
fn the_console_socket_receives_a_working_terminal() {
    use rustix::net::{
        AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SocketAddrUnix, SocketType,
    };
    let Some(b) = setup("oci-console") else { return };
    b.write(
        &config(
            &["sh", "-c", "tty; [ /dev/console -ef \"$(tty)\" ] && echo console-too; test -t 0 && echo is-a-tty"],
            "",
            r#", "terminal": true"#,
            "",
        )
        .replace(r#""terminal": false, "#, ""),
    );
    let sock_path = b.dir.join("console.sock");
    let listener = rustix::net::socket(AddressFamily::UNIX, SocketType::STREAM, None).unwrap();
    rustix::net::bind(&listener, &SocketAddrUnix::new(&sock_path).unwrap()).unwrap();
    rustix::net::listen(&listener, 1).unwrap();
    let accept = std::thread::spawn(move || {
        let conn = rustix::net::accept(&listener).unwrap();
        let mut buf = [0u8; 64];
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        rustix::net::recvmsg(&conn, &mut [std::io::IoSliceMut::new(&mut buf)], &mut control, RecvFlags::empty())
            .unwrap();
        control.drain().find_map(|m| match m {
            RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
            _ => None,
        })
    });
    let (code, err) = b.create("tty", &["--console-socket", sock_path.to_str().unwrap()], &b.dir.join("out"));
    assert_eq!(code, 0, "create: {err}");
    let master = accept.join().unwrap().expect("a descriptor over SCM_RIGHTS");
    let pid: i32 = field(&b.verb(&["state", "tty"]).1, "pid").parse().unwrap();
    assert_eq!(b.verb(&["start", "tty"]).0, 0);
    let mut text = String::new();
    let mut file = std::fs::File::from(master);
    let mut buf = [0u8; 256];
    // EIO once the terminal's last user has gone.
    while let Ok(n) = file.read(&mut buf) {
        if n == 0 {
            break;
        }
        text.push_str(&String::from_utf8_lossy(&buf[..n]));
        if text.contains("is-a-tty") {
            break;
        }
    }
    assert_eq!(reap(pid), 0);
    assert!(text.contains("/dev/pts/0") && text.contains("is-a-tty"), "{text:?}");
    assert!(text.contains("console-too"), "/dev/console is the terminal: {text:?}");
    assert_eq!(b.verb(&["delete", "tty"]).0, 0);
}

#[test]
fn run_runs_the_bundle_in_the_foreground_and_deletes_it() {
    let Some(b) = setup("oci-run") else { return };
    b.write(&config(&["sh", "-c", "test -e /proc/$$/fd/3 && echo fd3-leaked; echo ran; exit 7"], "", "", ""));
    let out = b.dir.join("out");
    // As containerd's shim does, husk is given a descriptor 3 it must not pass on.
    let husk = format!(
        "exec 3</dev/null; exec {} --root {} run --bundle {} fg",
        common::husk().display(),
        b.root.display(),
        b.dir.display()
    );
    let status = Command::new("sh")
        .args(["-c", &husk])
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out).unwrap())
        .status()
        .unwrap();
    assert_eq!(status.code(), Some(7));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), "ran\n", "the process has stdio only");
    assert!(std::fs::read_dir(&b.root).unwrap().next().is_none(), "run deletes the container");
}

#[test]
fn exec_runs_a_process_json_detached_and_writes_its_pid() {
    let Some(b) = setup("oci-exec") else { return };
    let out = common::temp_dir("exec-out");
    // The exec'd process runs as nobody.
    std::fs::set_permissions(&out, std::fs::Permissions::from_mode(0o777)).unwrap();
    b.write(&with_mounts(config(&["sleep", "100"], "", "", ""), &bind(&out, "/out")));
    let (code, err) = b.create("ex", &[], &b.dir.join("out"));
    assert_eq!(code, 0, "create: {err}");
    let init: i32 = field(&b.verb(&["state", "ex"]).1, "pid").parse().unwrap();
    assert_eq!(b.verb(&["start", "ex"]).0, 0);
    let process = b.dir.join("process.json");
    std::fs::write(
        &process,
        r#"{"args": ["sh", "-c", "id -u > /out/id; echo $FOO > /out/env; pwd > /out/cwd"], "env": ["FOO=bar", "PATH=/bin:/usr/bin"],
            "cwd": "/tmp", "user": {"uid": 65534, "gid": 65534}, "terminal": false}"#,
    )
    .unwrap();
    let pid_file = b.dir.join("exec.pid");
    let args =
        ["exec", "--process", process.to_str().unwrap(), "--detach", "--pid-file", pid_file.to_str().unwrap(), "ex"];
    let (code, _, err) = b.verb(&args);
    assert_eq!(code, 0, "exec: {err}");
    let pid: i32 = std::fs::read_to_string(&pid_file).unwrap().parse().unwrap();
    assert_eq!(reap(pid), 0, "the exec'd process is the caller's child");
    assert_eq!(std::fs::read_to_string(out.join("id")).unwrap(), "65534\n");
    assert_eq!(std::fs::read_to_string(out.join("env")).unwrap(), "bar\n");
    assert_eq!(std::fs::read_to_string(out.join("cwd")).unwrap(), "/tmp\n");
    let (code, _, err) = b.verb(&["ps", "--format", "json", "ex"]);
    assert_eq!(code, 0, "{err}");
    assert!(b.verb(&["ps", "--format", "json", "ex"]).1.contains(&init.to_string()));
    assert_eq!(b.verb(&["kill", "--all", "ex", "KILL"]).0, 0);
    assert_eq!(reap(init), 137);
    assert_eq!(b.verb(&["delete", "ex"]).0, 0);
}

#[test]
fn pause_freezes_the_container_and_resume_thaws_it() {
    let Some(b) = setup("oci-pause") else { return };
    let out = common::temp_dir("pause-out");
    let counter = "i=0; while true; do i=$((i+1)); echo $i > /out/n; sleep 0.05; done";
    b.write(&with_mounts(config(&["sh", "-c", counter], "", "", ""), &bind(&out, "/out")));
    let (code, err) = b.create("frozen", &[], &b.dir.join("out"));
    assert_eq!(code, 0, "create: {err}");
    let pid: i32 = field(&b.verb(&["state", "frozen"]).1, "pid").parse().unwrap();
    assert_eq!(b.verb(&["start", "frozen"]).0, 0);
    assert!(wait_for(&out.join("n")));
    let (code, _, err) = b.verb(&["pause", "frozen"]);
    assert_eq!(code, 0, "pause: {err}");
    assert_eq!(b.status("frozen"), "paused");
    let read = || std::fs::read_to_string(out.join("n")).unwrap();
    let before = read();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(read(), before, "a paused container does not advance");
    assert_eq!(b.verb(&["resume", "frozen"]).0, 0);
    std::thread::sleep(Duration::from_millis(300));
    assert_ne!(read(), before, "a resumed container advances");
    assert_eq!(b.verb(&["delete", "--force", "frozen"]).0, 0);
    assert_eq!(reap(pid), 137);
}

#[test]
fn bad_bundles_are_refused_in_one_line_and_leave_nothing() {
    let Some(b) = setup("oci-bad") else { return };
    let good = config(&["true"], "", "", "");
    let cases: Vec<(&str, Option<String>, &str)> = vec![
        ("missing config.json", None, "config.json"),
        ("invalid JSON", Some("{\"ociVersion\": ".into()), "config.json"),
        ("unknown namespace", Some(good.replace(r#"{"type": "cgroup"}"#, r#"{"type": "bogus"}"#)), "bogus"),
        (
            "unknown bind option",
            Some(good.replace(
                r#""type": "tmpfs", "source": "tmpfs", "options": ["nosuid","nodev"]"#,
                r#""type": "bind", "source": "/tmp", "options": ["rbind","frobnicate"]"#,
            )),
            "frobnicate",
        ),
        (
            "unknown tmpfs option",
            Some(good.replace(r#""options": ["nosuid","nodev"]"#, r#""options": ["nosuid","frobnicate"]"#)),
            "frobnicate",
        ),
        ("unsupported ociVersion", Some(good.replace("1.0.2-dev", "2.0.0")), "2.0.0"),
        ("missing root", Some(good.replace(r#""path": "rootfs""#, r#""path": "nowhere""#)), "nowhere"),
    ];
    for (what, text, named) in cases {
        match &text {
            Some(t) => b.write(t),
            None => {
                let _ = std::fs::remove_file(b.dir.join("config.json"));
            }
        }
        let (code, err) = b.create("bad", &[], &b.dir.join("out"));
        assert_eq!(code, 1, "{what}: {err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{what}: one line: {err}");
        assert!(err.contains(named), "{what}: the line names {named:?}: {err}");
        assert!(std::fs::read_dir(&b.root).unwrap().next().is_none(), "{what}: nothing is left");
    }
}

#[test]
fn a_create_killed_midway_leaves_a_state_that_delete_force_cleans() {
    let Some(b) = setup("oci-killed") else { return };
    b.write(&config(&["sleep", "100"], "", "", ""));
    for (i, delay) in [0u64, 2, 5, 10, 20].into_iter().enumerate() {
        let id = format!("k{i}");
        let mut child = b
            .husk(&["create", "--bundle", b.dir.to_str().unwrap(), &id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let _ = child.wait();
        let (code, _, err) = b.verb(&["delete", "--force", &id]);
        assert_eq!(code, 0, "delay {delay} ms: {err}");
        assert!(b.verb(&["state", &id]).0 != 0, "delay {delay} ms: gone");
        // Whatever init was made is killed: reap what was re-parented to us.
        while let Ok(Some(_)) = rustix::process::waitpid(None, rustix::process::WaitOptions::NOHANG) {}
    }
    let left = common::host("ls /sys/fs/cgroup/*/husk 2>/dev/null | grep -c '^k[0-9]$' || true");
    assert_eq!(left.trim(), "0", "no cgroup is left");
}

#[test]
fn features_and_spec_describe_what_husk_accepts() {
    let Some(b) = setup("oci-features") else { return };
    let (code, features, _) = b.verb(&["features"]);
    assert_eq!(code, 0);
    assert!(features.contains(r#""ociVersionMax":"1.2.0""#) && features.contains(r#""namespaces""#), "{features}");
    let (code, version, _) = b.verb(&["--version"]);
    assert_eq!(code, 0);
    assert!(version.starts_with("husk version ") && version.contains("\nspec: 1.2.0"), "{version}");
    let (code, _, err) = b.verb(&["spec", "--bundle", b.dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let text = std::fs::read_to_string(b.dir.join("config.json")).unwrap();
    // The starting config, with `true` instead of an interactive shell, runs.
    b.write(&text.replace(r#""terminal": true"#, r#""terminal": false"#).replace(r#"["sh"]"#, r#"["true"]"#));
    let out: Output = b.husk(&["run", "--bundle", b.dir.to_str().unwrap(), "fromspec"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let (code, _, _) = b.verb(&["spec", "--bundle", b.dir.to_str().unwrap()]);
    assert_eq!(code, 1, "spec does not overwrite config.json");
}

#[test]
fn run_forwards_its_signals_to_the_container_and_deletes_it() {
    let Some(b) = setup("oci-run-signal") else { return };
    b.write(&config(&["sleep", "100"], "", "", ""));
    let mut run = b
        .husk(&["run", "--bundle", b.dir.to_str().unwrap(), "fwd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while b.status("fwd") != "running" {
        assert!(Instant::now() < deadline, "the container did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    let pid = rustix::process::Pid::from_raw(run.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = run.wait().unwrap();
    assert_eq!(status.code(), Some(143), "the container's end by the forwarded SIGTERM");
    assert!(std::fs::read_dir(&b.root).unwrap().next().is_none(), "run deletes the container");
}
