//! Where husk runs: hosts that are not a writable, ordinary machine. Each odd host is
//! made for the test in a private mount namespace of its own (`unshare -m`), so the
//! machine itself is never changed.

mod common;
use common::*;
use std::process::{Command, Output};

/// Runs `script` under sh in a private mount namespace, with husk as $HUSK and the
/// Alpine tree as $ALP, without HUSK_ROOT (the default state root is what is tested).
fn in_namespace(script: &str, tmpdir: &std::path::Path) -> Output {
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-ec", script])
        .env("HUSK", husk())
        .env("ALP", alpine())
        .env("TMPDIR", tmpdir)
        .env_remove("HUSK_ROOT")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn with_a_read_only_run_the_state_moves_to_dev_shm_then_tmpdir_and_commands_find_it() {
    if !can_run("ro-run") {
        return;
    }
    let tmp = temp_dir("ro-run");
    let name = format!("ro-run-{}", std::process::id());
    // /run read-only; /dev/shm a private tmpfs (so nothing lands in the host's).
    let lifecycle = format!(
        "$HUSK run -d --name {name} --rootfs $ALP -- sleep 60 >/dev/null; $HUSK ps | grep -c {name}; \
         $HUSK stop -t 1 {name} >/dev/null; $HUSK ps -a | grep {name} | grep -c exited; $HUSK rm {name} >/dev/null; \
         $HUSK ps -a | grep -c {name} || true"
    );
    let script = format!(
        "mount --bind /run /run; mount -o remount,bind,ro /run; mount -t tmpfs tmpfs /dev/shm; {lifecycle}; \
         ls -d /dev/shm/husk"
    );
    let out = in_namespace(&script, &tmp);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n1\n0\n/dev/shm/husk\n", "{stderr}");
    assert_eq!(
        stderr.lines().filter(|l| l.contains("keeping container state in /dev/shm/husk")).count(),
        1,
        "said once, by the first command: {stderr}"
    );

    // /dev/shm read-only too: $TMPDIR.
    let script = format!(
        "mount --bind /run /run; mount -o remount,bind,ro /run; mount -t tmpfs -o ro tmpfs /dev/shm; {lifecycle}"
    );
    let out = in_namespace(&script, &tmp);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "1\n1\n0\n", "{stderr}");
    let fallback = tmp.join("husk");
    assert!(stderr.contains(&format!("keeping container state in {}", fallback.display())), "{stderr}");
    assert_eq!(std::fs::read_dir(&fallback).unwrap().count(), 0, "state left behind");
}

/// husk inside a husk container that has docker's 14 capabilities (husk's default): as
/// a CI job container runs. Each outer setting that blocks it is named in one line; with
/// both lifted the inner husk makes its own user namespace and runs.
#[test]
fn inside_a_container_with_dockers_capabilities_husk_uses_a_user_namespace_or_says_why_not() {
    if !can_run("nested-unpriv") {
        return;
    }
    let state = state_root("nested-unpriv");
    let empty = temp_dir("nested-unpriv");
    let husk_vol = format!("{}:/husk:ro", husk().display());
    let alp_vol = format!("{}:/alp:ro", alpine().display());
    let alp2_vol = format!("{}:/alp2:ro", alpine().display());
    let sub_vol = format!("{}:/alp/mnt:ro", empty.display());
    let outer = |flags: &[&str], script: &str| -> (String, String) {
        let out = Command::new(husk())
            .env("HUSK_ROOT", &state)
            .args(["run", "--rootfs"])
            .arg(alpine())
            .args(["-v", &husk_vol, "-v", &alp_vol, "-v", &alp2_vol, "-v", &sub_vol])
            .args(flags)
            .args(["--", "sh", "-c", script])
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let inner = "/husk run --rootfs /alp2 -- true 2>&1; echo rc=$?";
    // Default outer container: /proc is masked there.
    let (out, err) = outer(&[], inner);
    assert!(out.contains("--security-opt systempaths=unconfined") && out.ends_with("rc=125\n"), "{out}{err}");
    assert_eq!(out.lines().filter(|l| l.starts_with("husk: /proc")).count(), 1, "one line: {out}");
    // /proc unmasked, the seccomp filter still on: it refuses namespaces.
    let (out, err) = outer(&["--security-opt", "systempaths=unconfined"], inner);
    assert!(out.contains("--security-opt seccomp=unconfined") && out.ends_with("rc=125\n"), "{out}{err}");
    // Both lifted: a user namespace of its own, ids mapped as held. The outer container
    // has no memory controller to delegate: the limit is refused in one line.
    let script = "/husk run --memory 64m --rootfs /alp2 -- true 2>&1; echo rc=$?; \
                  /husk run --rootfs /alp2 -- sh -c 'id -u; cat /proc/self/uid_map; echo x > /f && cat /f'; \
                  echo rc=$?; /husk run --rootfs /alp -- true 2>&1; echo rc=$?; \
                  /husk run -d --name n --rootfs /alp2 -- sleep 30 2>/dev/null >&2; /husk exec n id -u; \
                  /husk stop -t 1 n >/dev/null; /husk rm n >/dev/null; /husk ps -a | grep -c running";
    let (out, err) =
        outer(&["--security-opt", "systempaths=unconfined", "--security-opt", "seccomp=unconfined"], script);
    let runs: Vec<&str> = out.split_inclusive("rc=").collect();
    assert!(runs[0].contains("husk: memory limit: needs the memory cgroup controller"), "{out}{err}");
    assert!(runs[1].starts_with("125\n"), "{out}");
    let lines: Vec<&str> = runs[1].lines().skip(1).collect();
    assert_eq!(lines[0], "0", "root inside: {out}{err}");
    assert_eq!(lines[1].split_whitespace().collect::<Vec<_>>(), ["0", "0", "4294967295"], "{out}");
    assert_eq!(lines[2], "x", "overlay written: {out}");
    assert!(err.contains("root without CAP_SYS_ADMIN"), "said: {err}");
    assert!(runs[2].starts_with("0\n"), "{out}");
    // A lower directory with a mount below it (/alp/mnt): refused with the reason and the fix.
    assert!(runs[2].contains("/alp (mount at /alp/mnt)") && runs[2].contains("--rootfs-rw"), "{out}");
    // The lifecycle as rootless husk has it: detached, exec (as the container's root), stop, rm.
    assert_eq!(runs[3], "125\n0\n0\n", "{out}{err}");
}
