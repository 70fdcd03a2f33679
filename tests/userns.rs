//! `--userns` as root: a 65,536-id range from /etc/subuid and /etc/subgid, with the
//! image's files mounted idmapped so that they keep their owners inside. The range comes
//! from files bind-mounted over the host's in a private mount namespace of the test's
//! own (`unshare -m`), so the host's /etc/subuid is never touched.

mod common;
use common::*;
use std::path::Path;
use std::process::{Command, Output};

/// Runs `husk ARGS...` in a mount namespace where /etc/subuid and /etc/subgid hold `ids`.
fn with_subids(test: &str, ids: &str, state: &Path, args: &[&str]) -> Output {
    let dir = temp_dir(test);
    let file = dir.join("subid");
    std::fs::write(&file, ids).unwrap();
    let f = file.display();
    let script = format!("mount --bind {f} /etc/subuid && mount --bind {f} /etc/subgid && exec \"$@\"");
    Command::new("unshare")
        .args(["-m", "--propagation", "private", "sh", "-c", &script, "sh"])
        .arg(husk())
        .args(args)
        .env("HUSK_ROOT", state)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap()
}

fn stdout_ok(out: &Output) -> String {
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

const SCRIPT: &str = "cat /proc/self/uid_map /proc/self/gid_map | tr -s ' ' | sed 's/^ //'; \
    stat -c '%u:%g %n' /etc/passwd /etc/shadow; touch /etc/new && stat -c '%u:%g %n' /etc/new; \
    chown 100:101 /tmp && stat -c '%u:%g %n' /tmp; adduser -D -u 1000 bob && su bob -c 'id -u'";

const EXPECTED: &str = "0 100000 65536\n0 100000 65536\n0:0 /etc/passwd\n0:42 /etc/shadow\n0:0 /etc/new\n\
    100:101 /tmp\n1000\n";

#[test]
fn a_range_maps_65536_ids_and_the_image_keeps_its_owners() {
    if !can_run("userns-range") {
        return;
    }
    let state = state_root("userns-range");
    let root = alpine();
    let out = with_subids(
        "userns-range",
        "root:100000:65536\n",
        &state,
        &["run", "--userns", "--rootfs", root.to_str().unwrap(), "sh", "-c", SCRIPT],
    );
    assert_eq!(stdout_ok(&out), EXPECTED, "a directory root, idmapped");
    assert!(!exists(&root.join("etc/new")), "the overlay kept the image untouched");

    // The same from an ext4 image: the launcher mounts it (fsmount) and idmaps it.
    let dir = temp_dir("userns-image");
    let image = dir.join("alpine.ext4");
    build_image(&tarball().unwrap(), &image);
    let out = with_subids(
        "userns-image",
        "root:100000:65536\n",
        &state,
        &["run", "--userns", "--image", image.to_str().unwrap(), "sh", "-c", SCRIPT],
    );
    assert_eq!(stdout_ok(&out), EXPECTED, "an image root, idmapped");

    // A persistent upper directory belongs to the container's root as the host sees it.
    let persist = dir.join("persist");
    let out = with_subids(
        "userns-persist",
        "root:100000:65536\n",
        &state,
        &[
            "run",
            "--userns",
            "--rootfs",
            root.to_str().unwrap(),
            "--persist",
            persist.to_str().unwrap(),
            "sh",
            "-c",
            "echo kept > /kept",
        ],
    );
    stdout_ok(&out);
    assert_eq!(host(&format!("stat -c '%u:%g' {}/upper/kept", persist.display())), "100000:100000\n");
    assert_eq!(std::fs::read_dir(&state).unwrap().count(), 0, "state left behind");
}

#[test]
fn exec_enters_as_the_containers_root_and_the_host_sees_the_range() {
    if !can_run("userns-exec") {
        return;
    }
    let state = state_root("userns-exec");
    let root = alpine();
    let name = format!("userns-exec-{}", std::process::id());
    let out = with_subids(
        "userns-exec",
        "root:100000:65536\n",
        &state,
        &["run", "-d", "--name", &name, "--userns", "--rootfs", root.to_str().unwrap(), "sleep", "60"],
    );
    stdout_ok(&out);
    let husk_state = |args: &[&str]| Command::new(husk()).env("HUSK_ROOT", &state).args(args).output().unwrap();
    let out = husk_state(&["exec", &name, "sh", "-c", "id -u; stat -c %u /proc/1"]);
    assert_eq!(stdout_ok(&out), "0\n0\n", "exec is the container's root, not nobody");
    let inspect = stdout_ok(&husk_state(&["inspect", "--raw", &name]));
    let pid: String = inspect.split("\"pid\":").nth(1).unwrap().chars().take_while(char::is_ascii_digit).collect();
    assert_eq!(host(&format!("stat -c %u /proc/{pid}")), "100000\n", "host id of the container's root");
    stdout_ok(&husk_state(&["rm", "-f", &name]));
}

#[test]
fn without_a_range_the_single_id_is_mapped_and_said() {
    if !can_run("userns-single") {
        return;
    }
    let state = state_root("userns-single");
    let root = alpine();
    let out = with_subids(
        "userns-single",
        "someone:100000:65536\n",
        &state,
        &["run", "--userns", "--rootfs", root.to_str().unwrap(), "cat", "/proc/self/uid_map"],
    );
    assert_eq!(stdout_ok(&out).split_whitespace().collect::<Vec<_>>(), ["0", "0", "1"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains("no range for 'root' in /etc/subuid"), "{stderr}");
}
