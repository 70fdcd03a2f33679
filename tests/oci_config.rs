//! config.json applied as written, checked from inside the container: user and groups,
//! rlimits, sysctl, masked and read-only paths, every mount type, rootfsPropagation,
//! and namespaces joined by path (network, ipc, uts, pid), as a pod's containers join
//! their sandbox's.

mod common;

use common::bundle::*;
use std::process::Command;
use std::time::Duration;

#[test]
fn config_json_is_applied_as_written_checked_from_inside() {
    let Some(b) = setup("oci-applied") else { return };
    let ns = format!("husk-oci-{}", std::process::id());
    let made = Command::new("ip").args(["netns", "add", &ns]).status().is_ok_and(|s| s.success())
        && Command::new("ip")
            .args(["-n", &ns, "link", "add", "d0", "type", "veth", "peer", "name", "d1"])
            .status()
            .is_ok_and(|s| s.success());
    if !made {
        let _ = Command::new("ip").args(["netns", "del", &ns]).status();
        eprintln!("SKIPPED config_json_is_applied_as_written_checked_from_inside: ip netns add or a veth in it failed");
        return;
    }
    let ro = common::temp_dir("applied-ro");
    let script = "id; ulimit -n; cat /proc/sys/net/ipv4/ip_forward; \
        (echo 1 > /proc/sys/net/ipv4/ip_forward) 2>/dev/null && echo procsys-rw || echo procsys-ro; \
        echo keys=$(wc -c < /proc/keys) timers=$(wc -c < /proc/timer_list); echo firmware=$(ls /sys/firmware | wc -l); \
        touch /ro/f 2>/dev/null && echo bind-rw || echo bind-ro; \
        echo data=$(stat -c %a /data) $(grep -c ' /data .*size=1024k' /proc/self/mountinfo); \
        echo root=$(awk '$5==\"/\" {print $7}' /proc/self/mountinfo | head -1)/; \
        echo dummy=$(grep -c d0: /proc/net/dev); echo host=$(hostname); echo init=$(tr '\\0' ' ' < /proc/1/cmdline); \
        for m in /proc /dev /dev/pts /dev/shm /dev/mqueue /sys /tmp; do \
          awk -v m=$m '$5==m {split($6,o,\",\"); print \"mount\", m, $(NF-2), o[1]}' /proc/self/mountinfo; done";
    let process = r#", "rlimits": [{"type": "RLIMIT_NOFILE", "soft": 1234, "hard": 1234}]"#;
    let linux = r#", "sysctl": {"net.ipv4.ip_forward": "1"}, "rootfsPropagation": "rprivate""#;
    let mut cfg = config(&["sh", "-c", script], "", process, linux)
        .replace(r#""user": {"uid": 0, "gid": 0}"#, r#""user": {"uid": 0, "gid": 0, "additionalGids": [10, 20]}"#)
        .replace(r#"{"type": "network"}"#, &format!(r#"{{"type": "network", "path": "/run/netns/{ns}"}}"#));
    let data = r#", {"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=700"]}"#;
    let ro_bind = format!(
        r#", {{"destination": "/ro", "type": "bind", "source": "{}", "options": ["bind", "ro"]}}"#,
        ro.display()
    );
    cfg = with_mounts(cfg, &format!("{data}{ro_bind}"));
    b.write(&cfg);
    let (code, text) = b.run("applied");
    let _ = Command::new("ip").args(["netns", "del", &ns]).status();
    assert_eq!(code, Some(0), "{text}");
    let has = |want: &str| assert!(text.contains(want), "expected {want:?} in:\n{text}");
    has("uid=0(root) gid=0(root) groups=10(wheel),20(dialout)");
    has("\n1234\n");
    has("\n1\nprocsys-ro\n");
    has("keys=0 timers=0");
    has("firmware=0");
    has("bind-ro");
    has("data=700 1");
    // rprivate: the root's mountinfo line has no shared: or master: tag.
    has("root=-/");
    has("dummy=1");
    has("host=oci");
    // PID 1 shows as husk's init, not as the `husk run --bundle ...` that made it.
    has("init=husk init\n");
    // Each mount type as config.json gives it: type and read-only or read-write.
    for line in [
        "mount /proc proc rw",
        "mount /dev tmpfs rw",
        "mount /dev/pts devpts rw",
        "mount /dev/shm tmpfs rw",
        "mount /dev/mqueue mqueue rw",
        "mount /sys sysfs ro",
        "mount /tmp tmpfs rw",
    ] {
        has(line);
    }
}

#[test]
fn ipc_and_uts_namespaces_named_by_path_are_joined() {
    let Some(b) = setup("oci-join") else { return };
    // A pod's sandbox, as containerd's CRI makes one: namespaces held by a process.
    let mut holder = Command::new("unshare")
        .args(["--ipc", "--uts", "sh", "-c", "hostname podhost; exec sleep 30"])
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let ns = |kind: &str| format!("/proc/{}/ns/{kind}", holder.id());
    let host_link = |kind: &str| std::fs::read_link(ns(kind)).unwrap().display().to_string();
    let (ipc, uts) = (host_link("ipc"), host_link("uts"));
    let cfg = config(&["sh", "-c", "hostname; readlink /proc/self/ns/ipc; readlink /proc/self/ns/uts"], "", "", "")
        .replace(
            r#"  "hostname": "oci",
"#,
            "",
        )
        .replace(r#"{"type": "ipc"}"#, &format!(r#"{{"type": "ipc", "path": "{}"}}"#, ns("ipc")))
        .replace(r#"{"type": "uts"}"#, &format!(r#"{{"type": "uts", "path": "{}"}}"#, ns("uts")));
    b.write(&cfg);
    let (code, text) = b.run("joined");
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(code, Some(0), "{text}");
    assert_eq!(text, format!("podhost\n{ipc}\n{uts}\n"));
}

#[test]
fn rootfs_propagation_slave_receives_the_hosts_mounts() {
    let Some(b) = setup("oci-propagation") else { return };
    // The root on a shared mount of the host's, as a distribution's / is.
    let shared = b.dir.join("shared-root");
    std::fs::create_dir_all(&shared).unwrap();
    let sh = |script: &str| Command::new("sh").args(["-c", script]).status().is_ok_and(|s| s.success());
    let (s, alpine) = (shared.display(), common::alpine());
    assert!(sh(&format!("mount --bind {} {s} && mount --make-shared {s}", alpine.display())));
    let wait = "for i in $(seq 100); do [ -e /mnt/from-host ] && echo propagated && break; sleep 0.05; done; \
        awk '$5==\"/\" {print $7}' /proc/self/mountinfo | head -1";
    let linux = r#", "rootfsPropagation": "rslave""#;
    b.write(&config(&["sh", "-c", wait], "", "", linux).replace(r#""path": "rootfs""#, &format!(r#""path": "{s}""#)));
    let out = b.dir.join("out");
    let (code, err) = b.create("slave", &[], &out);
    assert_eq!(code, 0, "create: {err}");
    let pid: i32 = field(&b.verb(&["state", "slave"]).1, "pid").parse().unwrap();
    assert_eq!(b.verb(&["start", "slave"]).0, 0);
    // Mounted on the host after the container started: it appears inside.
    let mounted = sh(&format!("mount -t tmpfs none {s}/mnt && touch {s}/mnt/from-host"));
    let code = reap(pid);
    sh(&format!("umount {s}/mnt; umount {s}"));
    assert!(mounted, "the host's mount");
    assert_eq!(code, 0);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("propagated\nmaster:"), "the root is a slave of the host's mount: {text:?}");
    assert_eq!(b.verb(&["delete", "slave"]).0, 0);
}

#[test]
fn a_pid_namespace_named_by_path_is_joined() {
    let Some(b) = setup("oci-join-pid") else { return };
    // A pod sharing its processes: the sandbox's init is PID 1 for every container.
    let mut holder = Command::new("unshare").args(["--pid", "--fork", "--kill-child", "sleep", "30"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(200));
    let ns = format!("/proc/{}/ns/pid_for_children", holder.id());
    let script = "tr '\\0' ' ' < /proc/1/cmdline; echo; echo me=$$";
    let cfg = config(&["sh", "-c", script], "", "", "")
        .replace(r#"{"type": "pid"}"#, &format!(r#"{{"type": "pid", "path": "{ns}"}}"#));
    b.write(&cfg);
    let (code, text) = b.run("podpid");
    let _ = holder.kill();
    let _ = holder.wait();
    assert_eq!(code, Some(0), "{text}");
    assert!(text.starts_with("sleep 30 \n"), "PID 1 is the sandbox's: {text:?}");
    assert!(!text.contains("me=1\n") && !text.contains("me=2\n"), "{text:?}");
}
