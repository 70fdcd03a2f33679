//! The command's life: exit codes, signals forwarded through the launcher and the init,
//! stdin passed through unchanged, bad input refused before anything exists.

mod common;
use common::*;
use std::io::{Read, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn exit_codes_follow_docker() {
    if !can_run("exit") {
        return;
    }
    let code = |argv: &[&str]| run("exit", &[], argv).status.code().unwrap();
    assert_eq!(code(&["/bin/true"]), 0);
    assert_eq!(code(&["sh", "-c", "exit 3"]), 3);
    assert_eq!(code(&["sh", "-c", "kill -9 $$"]), 137);
    assert_eq!(code(&["/etc/passwd"]), 126, "not executable");
    assert_eq!(code(&["no-such-command"]), 127, "not found");
    let out = run("exit", &["-w", "/etc/passwd"], &["/bin/true"]);
    assert_eq!(out.status.code(), Some(126), "cannot chdir");
    let out = run("exit", &[], &["no-such-command"]);
    assert_eq!(String::from_utf8_lossy(&out.stderr), "husk: exec no-such-command: No such file or directory\n");
}

#[test]
fn bad_input_is_refused_with_one_line_and_exit_125() {
    if !can_run("badinput") {
        return;
    }
    let root = state_root("badinput");
    let alpine = alpine();
    let rootfs = alpine.to_str().unwrap();
    let file = format!("{rootfs}/etc/passwd");
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["run", "--rootfs", "/no/such/dir", "true"], "--rootfs /no/such/dir: No such file or directory"),
        (vec!["run", "--rootfs", &file, "true"], "is not a directory"),
        (vec!["run", "--rootfs", rootfs], "no command given"),
        (vec!["run", "--rootfs", rootfs, "--bogus", "true"], "unknown flag --bogus"),
        (vec!["run", "--rootfs", rootfs, "-e", "=x", "true"], "expected KEY=VALUE or KEY"),
        (vec!["run", "--rootfs", rootfs, "-v", "da/ta:/x", "true"], "expected a host path or a volume name"),
        (vec!["run", "--rootfs", rootfs, "-v", "/tmp:/x:zz", "true"], "unknown option zz"),
        (vec!["run", "--rootfs", rootfs, "-m", "4m", "true"], "the minimum memory limit is 6m"),
        (vec!["run", "--memory", "1g"], "an IMAGE, --rootfs DIR or --image FILE is required"),
        (vec!["run", "true"], "image \"true\": not in the image store"),
        (vec!["frobnicate"], "unknown command"),
    ];
    for (args, expect) in cases {
        let out = Command::new(husk()).env("HUSK_ROOT", &root).args(&args).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "{args:?}: one line expected: {err}");
        assert!(err.starts_with("husk: ") && err.contains(expect), "{args:?}: {err}");
    }
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0, "bad input created state");
}

#[test]
fn every_subcommand_has_help() {
    let commands = [
        "run", "create", "start", "restart", "ps", "exec", "logs", "stop", "kill", "rm", "wait", "inspect", "port",
        "stats", "gc", "init", "network",
    ];
    // Every command named in the top-level help is in the list above.
    let top = Command::new(husk()).arg("--help").output().unwrap();
    let top = String::from_utf8_lossy(&top.stdout).into_owned();
    let listed: Vec<&str> = top
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .collect();
    assert_eq!(listed, commands, "the help's command list and this test's differ");
    // The image commands, which rootfs-builder answers as husk.
    let images = ["pull", "load", "import", "save", "images", "rmi", "tag", "export", "cp", "commit", "volume"];
    let line = top.lines().skip_while(|l| !l.starts_with("Images")).nth(1).unwrap_or_default();
    assert_eq!(line.trim().split(", ").collect::<Vec<_>>(), images, "the help's image commands");
    let each: Vec<[&str; 2]> = commands.iter().chain(&images).map(|c| [*c, "--help"]).collect();
    for cmd in [&["--help"][..], &["run", "--help"], &["init", "--help"]].into_iter().chain(each.iter().map(|c| &c[..]))
    {
        let out = Command::new(husk()).args(cmd).output().unwrap();
        assert!(out.status.success(), "{cmd:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("Usage: husk"), "{cmd:?}");
    }
}

/// Starts `sh -c 'trap "exit 7" SIG; echo ready; sleep 1000 & wait'`, waits for "ready",
/// sends SIG to the launcher and returns the exit code.
fn exit_code_after_signal(sig: &str) -> i32 {
    let script = format!("trap 'exit 7' {sig}; echo ready; sleep 1000 & wait");
    let mut child = run_cmd(&format!("sig-{sig}"), &[], &["sh", "-c", &script]).stdout(Stdio::piped()).spawn().unwrap();
    let mut ready = [0u8; 6];
    child.stdout.as_mut().unwrap().read_exact(&mut ready).unwrap();
    assert_eq!(&ready, b"ready\n");
    Command::new("kill").arg(format!("-{sig}")).arg(child.id().to_string()).status().unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().unwrap_or(-1);
        }
        assert!(Instant::now() < deadline, "SIG{sig} did not end the container");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn signals_to_the_launcher_reach_the_command() {
    if !can_run("signals") {
        return;
    }
    for sig in ["TERM", "INT", "HUP", "USR1", "USR2", "QUIT"] {
        assert_eq!(exit_code_after_signal(sig), 7, "SIG{sig}");
    }
}

#[test]
fn signals_ignored_where_husk_was_started_are_not_inherited_by_the_command() {
    if !can_run("signals-ignored") {
        return;
    }
    // As `nohup husk run ... &` from a script starts it: SIGHUP, SIGINT, SIGQUIT ignored.
    let script = format!(
        "trap '' HUP INT QUIT; exec {} run --rootfs {} -- grep SigIgn /proc/self/status",
        husk().display(),
        alpine().display()
    );
    let out =
        Command::new("sh").arg("-c").arg(script).env("HUSK_ROOT", state_root("signals-ignored")).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "SigIgn:\t0000000000000000\n");
}

#[test]
fn stdin_passes_through_unchanged() {
    if !can_run("stdin") {
        return;
    }
    let mut child = run_cmd("stdin", &[], &["cat"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(b"hi\n").unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.stdout, b"hi\n");

    let mut blob = vec![0u8; 10 << 20];
    std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut blob).unwrap();
    let mut child = run_cmd("stdin", &[], &["cat"]).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = {
        let blob = blob.clone();
        std::thread::spawn(move || stdin.write_all(&blob).unwrap())
    };
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    assert_eq!(out.stdout.len(), blob.len());
    assert!(out.stdout == blob, "10 MiB of random bytes changed on the way");
}

#[test]
fn the_binary_is_static() {
    let bin = husk();
    let file = Command::new("file").arg("-L").arg(&bin).output();
    let Ok(file) = file else {
        eprintln!("SKIPPED the_binary_is_static: `file` is not installed");
        return;
    };
    let text = String::from_utf8_lossy(&file.stdout);
    assert!(text.contains("statically linked") || text.contains("static-pie linked"), "{text}");
    let ldd = Command::new("ldd").arg(&bin).output().unwrap();
    let ldd = String::from_utf8_lossy(&ldd.stdout).to_string() + &String::from_utf8_lossy(&ldd.stderr);
    assert!(
        ldd.contains("not a dynamic executable") || ldd.contains("statically linked"),
        "ldd found dependencies: {ldd}"
    );
}

#[test]
fn the_command_runs_as_the_requested_user() {
    if !can_run("user") {
        return;
    }
    let ids = "echo $(id -u) $(id -g) $(id -G) $HOME";
    let out = run("user", &["-u", "1000:100"], &["sh", "-c", ids]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1000 100 100 /\n", "no supplementary groups");
    // Names come from the container's /etc/passwd and /etc/group (Alpine's daemon is
    // 2:2, home /sbin, and a member of bin (1) and adm (4)), as docker resolves them.
    let out = run("user", &["-u", "daemon"], &["sh", "-c", ids]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 2 2 1 4 /sbin\n", "{}", String::from_utf8_lossy(&out.stderr));
    let out = run("user", &["-u", "daemon:wheel"], &["sh", "-c", ids]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 10 10 /sbin\n");
    // A number without an entry: group 0, like docker; -e HOME wins over the passwd home.
    let out = run("user", &["-u", "4242", "-e", "HOME=/tmp"], &["sh", "-c", ids]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "4242 0 0 /tmp\n");
    let out = run("user", &["-u", "ghost"], &["true"]);
    assert_eq!(out.status.code(), Some(125));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unable to find user ghost"), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
    let out = run("user", &["-u", "a:b:c"], &["true"]);
    assert_eq!(out.status.code(), Some(125));
}

#[test]
fn group_add_gives_extra_groups_by_name_or_number() {
    if !can_run("group-add") {
        return;
    }
    let flags = ["-u", "1000:100", "--group-add", "audio", "--group-add", "4321"];
    let out = run("group-add", &flags, &["sh", "-c", "id -G"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "100 18 4321\n", "alpine's audio group is 18");
    let out = run("group-add", &["--group-add", "nosuchgroup"], &["true"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains("unable to find group nosuchgroup"));
    assert_ne!(out.status.code(), Some(0));
}
