//! `husk init` standalone: as PID 1 of a PID namespace made by unshare, and as a
//! subreaper when it is not PID 1 — the job tini does in other people's images.

mod common;
use common::*;
use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn root_or_skip(test: &str) -> bool {
    if !rustix::process::geteuid().is_root() {
        eprintln!("SKIPPED {test}: unshare --pid needs root");
        return false;
    }
    true
}

fn init_in_new_pid_ns(script: &str) -> Command {
    let mut cmd = Command::new("unshare");
    cmd.args(["--pid", "--fork", "--mount-proc"]).arg(husk()).args(["init", "--", "/bin/sh", "-c", script]);
    cmd
}

#[test]
fn as_pid_1_it_reaps_orphans_and_passes_the_status() {
    if !root_or_skip("init-reap") {
        return;
    }
    let script = "sh -c 'sleep 0.3 & exit 0'; sleep 1; echo pid1=$(cat /proc/1/comm); \
                  for s in /proc/[0-9]*/stat; do cut -d' ' -f3 $s; done; exit 4";
    let out = init_in_new_pid_ns(script).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{text}");
    assert!(text.contains("pid1=husk"), "{text}");
    assert!(!text.lines().any(|l| l.trim() == "Z"), "zombie left:\n{text}");
}

#[test]
fn as_pid_1_it_forwards_signals_to_the_command() {
    if !root_or_skip("init-signal") {
        return;
    }
    for sig in ["TERM", "INT", "HUP", "USR1"] {
        let script = format!("trap 'exit 7' {sig}; echo ready; sleep 1000 & wait");
        let mut child = init_in_new_pid_ns(&script).stdout(Stdio::piped()).spawn().unwrap();
        let mut ready = [0u8; 6];
        child.stdout.as_mut().unwrap().read_exact(&mut ready).unwrap();
        // The init is unshare's child; signal it from outside its namespace.
        let init = std::fs::read_to_string(format!("/proc/{}/task/{}/children", child.id(), child.id())).unwrap();
        let init = init.split_whitespace().next().unwrap().to_string();
        Command::new("kill").arg(format!("-{sig}")).arg(&init).status().unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(st) = child.try_wait().unwrap() {
                break st;
            }
            assert!(Instant::now() < deadline, "SIG{sig} was not forwarded");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(status.code(), Some(7), "SIG{sig}");
    }
}

#[test]
fn a_killed_command_reports_128_plus_the_signal_and_codes_can_be_remapped() {
    if !root_or_skip("init-codes") {
        return;
    }
    let out = init_in_new_pid_ns("kill -TERM $$").output().unwrap();
    assert_eq!(out.status.code(), Some(143));
    let out = Command::new(husk()).args(["init", "-e", "3", "--", "sh", "-c", "exit 3"]).output().unwrap();
    assert_eq!(out.status.code(), Some(0), "-e 3 maps 3 to 0");
    let out = Command::new(husk()).args(["init", "--", "no-such-program"]).output().unwrap();
    assert_eq!(out.status.code(), Some(127));
}

#[test]
fn not_pid_1_it_is_a_subreaper_and_reaps_orphans() {
    // The grandchild outlives its parent; once orphaned it reads its own parent from
    // /proc/self/stat (`read` is a builtin, so "self" is that shell): husk init, which
    // adopted it as a subreaper instead of the machine's init.
    let orphan = r#"sleep 0.3; read -r p c s pp r < /proc/self/stat; echo adopted-by=$pp"#;
    let script = format!("sh -c '{orphan}' & exit 0");
    let main = format!("sh -c \"{}\"; echo init=$PPID; sleep 0.8", script.replace('$', "\\$"));
    let out = Command::new(husk()).args(["init", "--", "sh", "-c", &main]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    let init = text.lines().find_map(|l| l.strip_prefix("init=")).expect("init pid").to_string();
    let adopted = text.lines().find_map(|l| l.strip_prefix("adopted-by=")).expect("orphan report").to_string();
    assert_eq!(adopted, init, "the orphan was not adopted by husk init:\n{text}");
}
