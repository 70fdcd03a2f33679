//! Run by an unprivileged user: husk adds a user namespace that maps the caller to root
//! inside, and what the kernel allows unprivileged still works (overlay included).

mod common;
use common::*;
use std::process::Command;

const USER: &str = "husk-rootless";

/// The uid of the test user, created on first use.
fn test_user() -> Option<u32> {
    let id = |_: ()| Command::new("id").args(["-u", USER]).output().ok().filter(|o| o.status.success());
    let out = match id(()) {
        Some(out) => out,
        None => {
            let made = Command::new("useradd").args(["-r", "-M", "-s", "/usr/sbin/nologin", USER]).status();
            if !made.is_ok_and(|s| s.success()) {
                eprintln!("SKIPPED rootless: cannot create the user {USER} (useradd failed)");
                return None;
            }
            id(())?
        }
    };
    String::from_utf8_lossy(&out.stdout).trim().parse().ok()
}

fn as_user(uid: u32) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.arg(format!("--reuid={uid}")).arg(format!("--regid={uid}")).arg("--clear-groups");
    cmd
}

/// `WRAPPER husk run --rootfs ALPINE -- sh -c SCRIPT` with its own state root: stdout,
/// after asserting success.
fn run_sh(mut wrapper: Command, state: &std::path::Path, script: &str) -> String {
    let out = wrapper
        .env("HUSK_ROOT", state)
        .arg(husk())
        .args(["run", "--rootfs"])
        .arg(alpine())
        .args(["--", "sh", "-c", script])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// The test user and a state root it owns; None (said loudly) when the test cannot run.
fn setup(test: &str) -> Option<(u32, std::path::PathBuf)> {
    if !can_run(test) {
        return None;
    }
    let uid = test_user()?;
    let probe = as_user(uid).args(["unshare", "--user", "--map-root-user", "true"]).status().unwrap();
    if !probe.success() {
        eprintln!("SKIPPED {test}: the kernel refuses unprivileged user namespaces here");
        return None;
    }
    let state = state_root(test);
    Command::new("chown").arg(uid.to_string()).arg(&state).status().unwrap();
    Some((uid, state))
}

#[test]
fn an_unprivileged_user_runs_a_container_as_root_inside() {
    let Some((uid, state)) = setup("rootless") else { return };
    let out = as_user(uid)
        .env("HUSK_ROOT", &state)
        .arg(husk())
        .args(["run", "--hostname", "rootless", "--rootfs"])
        .arg(alpine())
        .args([
            "--",
            "sh",
            "-c",
            "id -u; hostname; p=$(ps -o pid,comm); echo \"$p\" | wc -l; echo x > /newfile && cat /newfile; ip -o link | wc -l; \
             echo > /dev/null && head -c 4 /dev/zero | wc -c",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        stdout, "0\nrootless\n4\nx\n1\n4\n",
        "uid 0 inside, own hostname, own PIDs (header, init, sh, ps: read whole first, as a pipe's wc may not \
         have been forked when ps reads /proc), overlay, only lo, devices (bound)"
    );
    assert!(!exists(&alpine().join("newfile")));
    assert_eq!(std::fs::read_dir(&state).unwrap().count(), 0, "state left behind");

    // Loop devices and ext4 mounts need root: said clearly, before anything is made.
    let out = as_user(uid)
        .env("HUSK_ROOT", &state)
        .arg(husk())
        .args(["run", "--image", "/etc/passwd", "--", "true"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(125));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--image: needs root"));
}

#[test]
fn rootless_containers_get_the_same_security_defaults() {
    let Some((uid, state)) = setup("rootless-sec") else { return };
    let script = "grep -E '^(CapEff|NoNewPrivs|Seccomp):' /proc/self/status; mount -t tmpfs none /mnt 2>&1; \
                  { echo x > /proc/sys/kernel/core_pattern; } 2>&1; exit 0";
    let stdout = run_sh(as_user(uid), &state, script);
    let mut lines = stdout.lines();
    assert_eq!(lines.next(), Some("CapEff:\t00000000a80425fb"), "{stdout}");
    assert_eq!(lines.next(), Some("NoNewPrivs:\t1"), "{stdout}");
    assert_eq!(lines.next(), Some("Seccomp:\t2"), "{stdout}");
    assert!(stdout.contains("mount: permission denied") || stdout.contains("Operation not permitted"), "{stdout}");
    assert!(stdout.contains("Read-only file system"), "core_pattern: {stdout}");
}

#[test]
fn a_subordinate_range_gives_the_container_65536_ids_through_newuidmap() {
    let Some((uid, state)) = setup("rootless-range") else { return };
    if host("command -v newuidmap; command -v newgidmap").lines().count() != 2 {
        eprintln!("SKIPPED rootless-range: newuidmap/newgidmap not installed (package uidmap)");
        return;
    }
    // The range lives in files bound over /etc/subuid and /etc/subgid in a mount
    // namespace of the test's own; the host's files are never touched.
    let dir = temp_dir("rootless-range");
    let ids = dir.join("subid");
    std::fs::write(&ids, format!("{USER}:200000:65536\n")).unwrap();
    let f = ids.display();
    let binds = format!("mount --bind {f} /etc/subuid && mount --bind {f} /etc/subgid && exec \"$@\"");
    let script = "cat /proc/self/uid_map /proc/self/gid_map | tr -s ' ' | sed 's/^ //'; \
                  touch /owned && chown 100:101 /owned && stat -c '%u:%g' /owned";
    // newuidmap insists on the user's own group, as a login would have it.
    let gid = host(&format!("id -g {USER}"));
    let gid = gid.trim();
    let mut wrapper = Command::new("unshare");
    wrapper.args(["-m", "--propagation", "private", "sh", "-c", &binds, "sh", "setpriv"]).args([
        format!("--reuid={uid}"),
        format!("--regid={gid}"),
        "--clear-groups".into(),
    ]);
    let stdout = run_sh(wrapper, &state, script);
    assert_eq!(
        stdout,
        format!("0 {uid} 1\n1 200000 65535\n0 {gid} 1\n1 200000 65535\n100:101\n"),
        "the caller is root inside, its range the other ids, written by the setuid helpers"
    );
    assert_eq!(std::fs::read_dir(&state).unwrap().count(), 0, "state left behind");
}

#[test]
fn an_unprivileged_user_can_exec_into_its_detached_container() {
    let Some((uid, state)) = setup("rootless-exec") else { return };
    let name = format!("rl-exec-{}", std::process::id());
    let husk_as_user = |args: &[&str]| as_user(uid).env("HUSK_ROOT", &state).arg(husk()).args(args).output().unwrap();
    let root = alpine();
    let out = husk_as_user(&["run", "-d", "--name", &name, "--rootfs", root.to_str().unwrap(), "--", "sleep", "30"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    // Without CAP_SYS_PTRACE the init must stay joinable; the host binary stays out of reach.
    let out = husk_as_user(&["exec", &name, "sh", "-c", "id -u; { echo x > /proc/1/exe; } 2>&1; exit 0"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.starts_with("0\n"), "{text}");
    assert!(text.contains("Permission denied") || text.contains("Text file busy"), "{text}");
    let out = husk_as_user(&["rm", "-f", &name]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read_dir(&state).unwrap().count(), 0, "state left behind");
}

#[test]
fn an_unprivileged_user_loads_and_runs_images_from_a_store_of_its_own() {
    let Some((uid, state)) = setup("rootless-images") else { return };
    use common::oci_image::*;
    let dir =
        std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("rootless-images-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let one = layer_one(&dir, &tarball().unwrap());
    let two = layer_two(&dir, "rootless");
    let layout = layout(&dir.join("layout"), &one, &two, "docker.io/test/greet:1", None);
    Command::new("chown").args(["-R", &uid.to_string()]).arg(&dir).status().unwrap();
    let store = dir.join("store");
    let husk_as = |args: &[&str]| {
        let out =
            as_user(uid).env("HUSK_ROOT", &state).env("HUSK_STORE", &store).arg(husk()).args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(husk_as(&["load", "-i", layout.dir.to_str().unwrap()]), "Loaded image: test/greet:1\n");
    // The store holds the image as a directory of the user's (no ext4: that needs root).
    let id = sha256(&layout.config);
    let root = store.join("images").join(&id);
    assert!(root.is_dir(), "{}", root.display());
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&std::fs::metadata(root.join("etc/hello")).unwrap()), uid);
    // (The image's user, nobody, needs an /etc/subuid range this user does not have.)
    assert_eq!(husk_as(&["run", "--rm", "-u", "0:0", "test/greet:1", "there"]), "hello there from /srv as root\n");
    let probe = "test -e /etc/motd || echo motd-gone; ls /opt/x; cat /etc/hello; stat -c %a /usr/local/bin/greet";
    assert_eq!(
        husk_as(&["run", "--rm", "-u", "0:0", "--entrypoint", "sh", "test/greet:1", "-c", probe]),
        "motd-gone\nmine\nrootless\n755\n"
    );
    // rmi takes the directory away, read-only directories and all.
    husk_as(&["rmi", "test/greet:1"]);
    assert_eq!(std::fs::read_dir(store.join("images")).unwrap().count(), 0);
    let _ = std::fs::remove_dir_all(&dir);
}
