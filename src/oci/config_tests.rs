//! config.json as podman 4.3 and `ctr run` (containerd 1.6) write it, and each class of
//! error the loader reports. podman.json is what podman 4.3.1 gave a runtime for
//! `podman run --rm --network none alpine echo hello` (paths and id renamed). Pure parsing: nothing is mounted or created but a scratch
//! bundle directory.

use super::*;
use crate::spec::validate::Host;

const PODMAN: &str = include_str!("../../tests/oci/podman.json");
const CTR: &str = include_str!("../../tests/oci/ctr.json");
const PODMAN_ID: &str = "4f9c1a7e2b3d5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a";
const PODMAN_ROOT: &str =
    "/var/lib/containers/storage/overlay/4f9c1a7e2b3d5c6e8f0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a/merged";

/// A scratch bundle holding `config` and an empty rootfs/, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str, config: Option<&str>) -> Scratch {
        let dir = std::env::temp_dir().join(format!("husk-oci-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("rootfs")).unwrap();
        if let Some(text) = config {
            let text = text.replace(PODMAN_ROOT, &dir.join("rootfs").display().to_string());
            // The fixture is what podman wrote on x86_64; on arm64 it names arm64's.
            #[cfg(target_arch = "aarch64")]
            let text = text.replace(
                r#""architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86","SCMP_ARCH_X32"]"#,
                r#""architectures":["SCMP_ARCH_AARCH64","SCMP_ARCH_ARM"]"#,
            );
            std::fs::write(dir.join("config.json"), text).unwrap();
        }
        Scratch(dir)
    }

    fn load(&self, id: &str) -> Result<Bundle> {
        load(&self.0, id)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn host() -> Host {
    Host { online_cpus: vec![0, 1], online_mems: vec![0], rootless: false }
}

#[test]
fn podmans_config_loads_and_validates() {
    let dir = Scratch::new("podman", Some(PODMAN));
    let b = dir.load(PODMAN_ID).unwrap();
    b.spec.validate(&host()).unwrap();
    let s = &b.spec;
    assert_eq!((s.name.as_str(), s.hostname.as_str()), (PODMAN_ID, "4f9c1a7e2b3d"));
    assert_eq!(s.root.source, RootSource::Dir(dir.0.join("rootfs")));
    assert_eq!((s.root.write.clone(), s.root.readonly), (RootWrite::Direct, false));
    assert_eq!(s.process.umask, Some(0o022));
    assert_eq!(s.process.user.additional_gids.len(), 11);
    assert_eq!(s.process.rlimits[0], Rlimit { kind: "RLIMIT_NOFILE".into(), soft: 20000, hard: 20000 });
    let caps = s.process.capabilities.as_ref().unwrap();
    assert_eq!((caps.bounding.len(), caps.inheritable.len()), (14, 0), "empty sets are kept empty");
    assert!(!s.process.stdin && !s.process.terminal && s.process.oom_score_adj.is_none());
    // The engine's mounts and nothing else; its /etc files stay.
    assert_eq!(s.mounts.len(), 10);
    assert!(s.network.image_etc);
    let shm = s.mounts.iter().find(|m| m.destination == "/dev/shm").unwrap();
    assert_eq!(shm.kind, MountKind::Bind);
    assert!(shm.options.nosuid && shm.options.noexec && shm.options.nodev && !shm.options.recursive);
    assert_eq!(shm.options.propagation, Some(Propagation::Private));
    let cg = s.mounts.last().unwrap();
    assert_eq!((cg.kind.clone(), cg.options.readonly, cg.options.relatime), (MountKind::Cgroup, true, true));
    let pts = s.mounts.iter().find(|m| m.kind == MountKind::Devpts).unwrap();
    assert_eq!(pts.options.data, ["newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]);
    let kinds: Vec<&str> = s.namespaces.iter().map(|n| n.kind.name()).collect();
    assert_eq!(kinds, ["pid", "network", "ipc", "uts", "mount"]);
    assert_eq!(s.network.mode, NetworkMode::None);
    assert_eq!(s.cgroups_path.as_deref(), Some(format!("/libpod_parent/libpod-{PODMAN_ID}").as_str()));
    assert!(s.resources.exact_cgroup);
    assert_eq!(s.resources.pids_limit, Some(2048));
    // Deny everything, then the standard nodes husk makes.
    assert_eq!(s.resources.devices[0], DeviceRule { allow: false, kind: 'a', major: None, minor: None, access: 7 });
    assert!(s.resources.devices[1..].iter().all(|r| r.allow) && s.resources.devices.len() > 5);
    assert_eq!((s.masked_paths.len(), s.readonly_paths.len()), (11, 6));
    let Seccomp::Profile(p) = &s.seccomp else { panic!("{:?}", s.seccomp) };
    assert_eq!(p.default_action, linux_raw_sys::ptrace::SECCOMP_RET_ERRNO | 38);
    assert_eq!(p.rules.iter().filter(|r| r.args.len() == 1).count(), 5, "personality's values");
    assert!(p.rules.len() > 300);
    assert_eq!(b.annotations.len(), 8);
    assert_eq!(b.annotations[0], ("io.container.manager".into(), "libpod".into()));
    // What is saved in the state reads back the same.
    let saved = Spec::load("t", &s.to_json().to_string()).unwrap();
    assert_eq!((&saved.process, &saved.seccomp, &saved.hooks), (&s.process, &s.seccomp, &s.hooks));
}

#[test]
fn ctrs_config_loads_and_validates() {
    let dir = Scratch::new("ctr", Some(CTR));
    let b = dir.load("c1").unwrap();
    b.spec.validate(&host()).unwrap();
    let s = &b.spec;
    assert_eq!(s.root.source, RootSource::Dir(dir.0.join("rootfs")), "relative to the bundle");
    assert_eq!(s.cgroups_path.as_deref(), Some("/default/c1"));
    assert_eq!(s.process.rlimits, [Rlimit { kind: "RLIMIT_NOFILE".into(), soft: 1024, hard: 1024 }]);
    assert!(s.process.no_new_privileges);
    assert_eq!(s.seccomp, Seccomp::Unconfined);
    assert!(!s.hostname.is_empty(), "no hostname: the host's, as the new UTS namespace has it");
    assert_eq!(s.mounts.last().map(|m| m.destination.as_str()), Some("/run"));
    // 136:* (no minor) is every pty.
    assert!(s.resources.devices.iter().any(|r| r.major == Some(136) && r.minor.is_none() && r.allow));
    assert!(b.annotations.is_empty());
    // podman's default network adds a sysctl; 1.2's fields come on top.
    let ctr = crate::json::parse(CTR).unwrap().to_string();
    let more = r#""linux":{"sysctl":{"net.ipv4.ping_group_range":"0 0"},"personality":{"domain":"LINUX32"},"#;
    let dir = Scratch::new("ctr-more", Some(&ctr.replacen(r#""linux":{"#, more, 1)));
    let s = dir.load("c1").unwrap().spec;
    s.validate(&host()).unwrap();
    assert_eq!(s.sysctl, [("net.ipv4.ping_group_range".to_string(), "0 0".to_string())]);
    assert_eq!(s.process.personality, Some(8));
}

/// Each error is one line naming the field (and the value where it has one).
#[test]
fn each_error_names_its_field_on_one_line() {
    let err = |name: &str, config: Option<String>| {
        let dir = Scratch::new(name, config.as_deref());
        let e = dir.load("c1").expect_err(name).to_string();
        assert!(!e.contains('\n'), "{e}");
        (e, dir.0.clone())
    };
    // Edits on the compact text (one line, no spaces), where every pattern is unique.
    let ctr = crate::json::parse(CTR).unwrap().to_string();
    let swap = |from: &str, to: &str| {
        assert!(ctr.contains(from), "{from}");
        Some(ctr.replacen(from, to, 1))
    };
    let (e, dir) = err("missing", None);
    assert_eq!(e, format!("read {}/config.json: No such file or directory", dir.display()));
    assert!(err("json", Some("{\"ociVersion\": ".into())).0.starts_with("config.json: "));
    let cases = [
        (swap("\"1.0.2-dev\"", "\"2.0.0\""), "ociVersion \"2.0.0\" is not supported (1.0 to 1.2)"),
        (swap("{\"type\":\"ipc\"}", "{\"type\":\"ipcx\"}"), "linux.namespaces[1].type: unknown type \"ipcx\""),
        (swap("{\"type\":\"mount\"},", ""), "linux.namespaces: husk needs a mount namespace"),
        (
            swap(
                "\"mounts\":[",
                "\"mounts\":[{\"destination\":\"/data\",\"source\":\"/srv\",\"options\":[\"rbind\",\"frobnicate\"]},",
            ),
            "mounts[0] (/data): unknown option \"frobnicate\"",
        ),
        (swap("\"strictatime\",\"mode=755\"", "\"mand\""), "mounts[1] (/dev): option \"mand\""),
        (swap("\"type\":\"proc\",", ""), "mounts[0] (/proc): type is missing"),
        (swap("\"linux\":{", "\"linux\":{\"intelRdt\":{\"closID\":\"x\"},"), "linux.intelRdt is not supported"),
        (
            swap("\"/default/c1\"", "\"system.slice:ctr:c1\""),
            "linux.cgroupsPath: \"system.slice:ctr:c1\": systemd cgroup paths need --systemd-cgroup",
        ),
        (
            swap("\"linux\":{", "\"linux\":{\"rootfsPropagation\":\"sideways\", "),
            "linux.rootfsPropagation: \"sideways\" is not a propagation",
        ),
        (swap("\"args\":[\"echo\",\"hello\"]", "\"args\":[]"), "process.args: the command is missing"),
        (swap("\"hard\":1024", "\"hard\":-1"), "process.rlimits[0].hard: expected a whole number of at least 0"),
        (swap("\"allow\":false,", ""), "linux.resources.devices[0].allow: missing"),
    ];
    for (i, (config, want)) in cases.into_iter().enumerate() {
        let (e, _) = err(&format!("case{i}"), config);
        assert!(e.starts_with(&format!("config.json: {want}")), "{e:?} does not start with {want:?}");
    }
    let (e, dir) = err("root", swap("\"path\":\"rootfs\"", "\"path\":\"nope\""));
    assert_eq!(e, format!("config.json: root.path {}/nope: No such file or directory", dir.display()));
}

#[test]
fn versions_1_0_to_1_2_are_accepted() {
    for v in ["1.0.0", "1.0.2-dev", "1.0.0-rc5", "1.0.0-rc92", "1.1.0", "1.2.0", "1.2.1+dev", "1.0"] {
        assert!(supported_version(v), "{v}");
    }
    for v in ["2.0.0", "1.3.0", "0.6.0", "1.0.0-rc4", "1", "1.x.0", "", "1.0.0.0"] {
        assert!(!supported_version(v), "{v}");
    }
}

#[test]
fn mount_options_set_flags_clear_them_and_pass_data_on() {
    let dir = Path::new("/b");
    let last = Cell::new(String::new());
    let parse = |text: &str| mount(Node { v: &crate::json::parse(text).unwrap(), at: "mounts[0]", last: &last }, dir);
    let m = parse(r#"{"destination": "/t", "type": "tmpfs", "options": ["ro", "rw", "noatime", "atime", "nosymfollow", "sync", "rshared", "size=1m", "remount"]}"#)
        .unwrap();
    let o = &m.options;
    assert!(!o.readonly && !o.noatime && o.nosymfollow && o.sync, "later options win");
    assert_eq!((o.propagation, o.data.clone()), (Some(Propagation::Shared), vec!["size=1m".to_string()]));
    assert_eq!(m.source, "tmpfs", "no source: the type's name");
    let b = parse(r#"{"destination": "/d", "type": "none", "source": "data", "options": ["rbind", "ro"]}"#).unwrap();
    assert_eq!((b.kind, b.source.as_str(), b.options.recursive), (MountKind::Bind, "/b/data", true));
    let other = parse(r#"{"destination": "/s", "type": "securityfs", "source": "securityfs"}"#).unwrap();
    assert_eq!(other.kind, MountKind::Other("securityfs".into()));
    let cg2 = parse(r#"{"destination": "/sys/fs/cgroup", "type": "cgroup2", "source": "cgroup"}"#).unwrap();
    assert_eq!(cg2.kind, MountKind::Cgroup);
    assert!(parse(r#"{"destination": "/i", "type": "bind", "source": "/x", "options": ["idmap"]}"#).is_err());
}
