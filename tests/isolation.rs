//! What a container sees: its own PIDs, hostname, mounts, network and IPC. Every check
//! runs twice, through clone3 and through the forced clone(2) fallback.

mod common;
use common::*;

fn both(test: &str, check: impl Fn(&str, bool)) {
    if !can_run(test) {
        return;
    }
    check(&format!("{test}-clone3"), false);
    check(&format!("{test}-clone"), true);
}

#[test]
fn pid_namespace_shows_only_the_container_with_init_as_pid_1() {
    both("pid", |t, fb| {
        let (out, code) = sh_with(t, &[], "ps -o pid,comm; true", fb);
        assert_eq!(code, 0);
        let rows: Vec<Vec<&str>> = out.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
        assert_eq!(rows.len(), 3, "expected init, sh and ps only:\n{out}");
        assert_eq!(rows[0][0], "1", "{out}");
        assert_eq!(rows[0][1], "husk", "PID 1 is husk's init:\n{out}");
        assert_eq!(rows[1], vec!["2", "sh"], "the command's shell is PID 2:\n{out}");
    });
}

#[test]
fn hostname_is_the_containers_and_the_hosts_is_unchanged() {
    both("uts", |t, fb| {
        let before = host("hostname");
        let (out, code) = sh_with(t, &["--hostname", "box-one"], "hostname; cat /etc/hostname", fb);
        assert_eq!(code, 0);
        assert_eq!(out, "box-one\nbox-one\n");
        assert_eq!(host("hostname"), before);
        let (out, _) = sh_with(t, &["--name", "named-one"], "hostname", fb);
        assert_eq!(out, "named-one\n", "the name is the default hostname");
    });
}

#[test]
fn mounts_inside_stay_inside_and_the_old_root_is_gone() {
    both("mnt", |t, fb| {
        let script =
            "mount -t tmpfs none /mnt && echo secret > /mnt/file && cat /mnt/file && ls / && cat /proc/self/mountinfo";
        // Mounting needs what the security defaults take away (tests/security.rs).
        let may_mount = ["--cap-add", "SYS_ADMIN", "--security-opt", "seccomp=unconfined"];
        let (out, code) = sh_with(t, &may_mount, script, fb);
        assert_eq!(code, 0, "{out}");
        assert!(out.starts_with("secret\n"));
        assert!(!exists(&alpine().join("mnt/file")), "the tmpfs file leaked to the host's rootfs");
        let listing: Vec<&str> = out.lines().skip(1).take_while(|l| !l.contains(' ')).collect();
        let mut expected: Vec<String> = std::fs::read_dir(alpine())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        expected.sort();
        assert_eq!(listing, expected, "ls / inside is the Alpine tree");
        let allowed = ["/", "/proc", "/sys", "/dev", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/mnt"];
        for line in out.lines().filter(|l| l.contains(" - ")) {
            let point = line.split_whitespace().nth(4).unwrap();
            assert!(
                allowed.iter().any(|a| point == *a || (a.len() > 1 && point.starts_with(&format!("{a}/")))),
                "host mount visible inside: {line}"
            );
        }
    });
}

#[test]
fn network_namespace_has_only_lo_and_it_is_up() {
    both("net", |t, fb| {
        let (out, code) = sh_with(t, &[], "ip -o link", fb);
        assert_eq!(code, 0);
        let links: Vec<&str> = out.lines().collect();
        assert_eq!(links.len(), 1, "{out}");
        assert!(links[0].contains("lo:") && links[0].contains(",UP"), "{out}");
    });
}

#[test]
fn ipc_namespace_hides_the_hosts_shared_memory() {
    both("ipc", |t, fb| {
        let made = host("ipcmk -M 4096");
        let id = made.split_whitespace().last().unwrap_or_default().to_string();
        assert!(!id.is_empty(), "ipcmk failed: {made}");
        let (out, code) = sh_with(t, &[], "ipcs -m", fb);
        host(&format!("ipcrm -m {id}"));
        assert_eq!(code, 0);
        assert!(
            !out.lines().any(|l| l.split_whitespace().nth(1) == Some(id.as_str())),
            "host segment {id} visible:\n{out}"
        );
    });
}

#[test]
fn orphans_of_a_double_fork_are_reaped() {
    both("reap", |t, fb| {
        let script = "sh -c 'sleep 0.3 & exit 0'; sleep 1; for s in /proc/[0-9]*/stat; do cut -d' ' -f3 $s; done";
        let (out, code) = sh_with(t, &[], script, fb);
        assert_eq!(code, 0);
        assert!(!out.lines().any(|l| l.trim() == "Z"), "zombie left:\n{out}");
    });
}

#[test]
fn the_environment_starts_clean_and_workdir_is_created() {
    both("env", |t, fb| {
        let (out, code) = sh_with(t, &["-e", "FOO=bar", "-w", "/work/here"], "env | sort; pwd", fb);
        assert_eq!(code, 0);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines.contains(&"FOO=bar"), "{out}");
        assert!(lines.contains(&"HOME=/root"), "{out}");
        assert!(lines.iter().any(|l| l.starts_with("HOSTNAME=")), "{out}");
        assert!(lines.iter().any(|l| l.starts_with("PATH=/usr/local/sbin")), "{out}");
        assert!(!lines.iter().any(|l| l.starts_with("CARGO") || l.starts_with("HUSK_")), "host env leaked:\n{out}");
        assert_eq!(*lines.last().unwrap(), "/work/here");
    });
}

#[test]
fn dev_holds_the_usual_devices_and_any_user_may_use_them() {
    both("dev", |t, fb| {
        let script = "stat -c '%n %F %t:%T %a' /dev/null /dev/zero /dev/full /dev/random /dev/urandom /dev/tty; \
                      echo x > /dev/null && head -c 3 /dev/zero | wc -c && head -c 5 /dev/urandom | wc -c; \
                      echo x > /dev/full || echo full-refused; echo s > /dev/shm/f && cat /dev/shm/f; \
                      readlink /dev/ptmx; readlink /dev/fd";
        for user in [None, Some("nobody")] {
            let extra: Vec<&str> = user.map(|u| vec!["-u", u]).unwrap_or_default();
            let (out, code) = sh_with(t, &extra, script, fb);
            assert_eq!(code, 0, "{out}");
            let expected = "/dev/null character special file 1:3 666\n/dev/zero character special file 1:5 666\n\
                            /dev/full character special file 1:7 666\n/dev/random character special file 1:8 666\n\
                            /dev/urandom character special file 1:9 666\n/dev/tty character special file 5:0 666\n\
                            3\n5\nfull-refused\ns\npts/ptmx\n/proc/self/fd\n";
            assert_eq!(out, expected, "as {user:?}");
        }
    });
}

#[test]
fn no_descriptor_beyond_stdio_reaches_the_container() {
    both("fds", |t, fb| {
        let (out, code) = sh_with(t, &[], "ls /proc/self/fd", fb);
        assert_eq!(code, 0);
        // ls itself opens the directory it lists (3).
        let fds: Vec<&str> = out.split_whitespace().collect();
        assert!(fds.iter().all(|f| ["0", "1", "2", "3"].contains(f)), "leaked descriptors: {fds:?}");
    });
}

#[test]
fn volumes_are_bound_and_read_only_ones_refuse_writes() {
    both("vol", |t, fb| {
        let dir = std::path::PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("vol-{t}"));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("in"), "from host\n").unwrap();
        let rw = format!("{}:/data", dir.display());
        let ro = format!("{}:/ro:ro", dir.display());
        let (out, code) = sh_with(
            t,
            &["-v", &rw, "-v", &ro],
            "cat /data/in; echo back > /data/out; echo x > /ro/x || echo refused",
            fb,
        );
        assert_eq!(code, 0, "{out}");
        assert_eq!(out, "from host\nrefused\n");
        assert_eq!(std::fs::read_to_string(dir.join("out")).unwrap(), "back\n");
        assert!(!dir.join("x").exists());
    });
}

#[test]
fn the_rootfs_directory_is_untouched_by_writes_inside() {
    both("overlay", |t, fb| {
        let (_, code) = sh_with(t, &[], "echo x > /newfile && rm /etc/motd", fb);
        assert_eq!(code, 0);
        assert!(!exists(&alpine().join("newfile")));
        assert!(exists(&alpine().join("etc/motd")));
    });
}

#[test]
fn nothing_is_left_behind_after_a_run() {
    if !can_run("leftovers") {
        return;
    }
    let mounts_before = host("cat /proc/self/mountinfo | wc -l");
    let root = state_root("leftovers");
    for _ in 0..20 {
        let out = std::process::Command::new(husk())
            .env("HUSK_ROOT", &root)
            .args(["run", "--rootfs"])
            .arg(alpine())
            .args(["--", "/bin/sh", "-c", "true", "leftovers-marker"])
            .output()
            .unwrap();
        assert!(out.status.success());
    }
    assert_eq!(host("cat /proc/self/mountinfo | wc -l"), mounts_before, "mounts leaked");
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0, "state left in {}", root.display());
    let strays = host("pgrep -f leftovers-marke[r] | wc -l");
    assert_eq!(strays.trim(), "0", "stray processes");
}
