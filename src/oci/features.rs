//! `features` (the runtime-spec's features document: what this husk supports) and
//! `spec` (a starting config.json, as `runc spec` writes one).

use crate::cli::{self, Command, flag, on};
use crate::error::{Context, Error, Result};
use crate::spec::NamespaceKind;
use std::ffi::OsString;

#[derive(Default)]
pub struct NoOpts;

pub static FEATURES: Command<NoOpts> = Command {
    name: "features",
    usage: "",
    about: "Print what this husk supports, as the OCI runtime-spec's features JSON.",
    flags: &[],
    command_follows: false,
};

/// The features document, fixed at build time but for the seccomp architecture.
const FEATURES_HEAD: &str = r#"{"ociVersionMin":"1.0.0","ociVersionMax":"1.2.0","hooks":["prestart","createRuntime","createContainer","startContainer","poststart","poststop"],"mountOptions":["async","atime","bind","defaults","dev","diratime","dirsync","exec","mand","noatime","nodev","nodiratime","noexec","nomand","norelatime","nostrictatime","nosuid","nosymfollow","private","rbind","relatime","remount","ro","rprivate","rshared","rslave","runbindable","rw","shared","slave","strictatime","suid","symfollow","sync","unbindable"],"linux":{"#;
/// After the namespaces and capabilities, which are listed from husk's own tables.
const FEATURES_MIDDLE: &str = r#""cgroup":{"v1":true,"v2":true,"systemd":false,"systemdUser":false},"seccomp":{"enabled":true,"actions":["SCMP_ACT_ALLOW","SCMP_ACT_ERRNO","SCMP_ACT_KILL","SCMP_ACT_KILL_PROCESS","SCMP_ACT_KILL_THREAD","SCMP_ACT_LOG","SCMP_ACT_TRAP"],"operators":["#;
const FEATURES_ARCHS: &str = r#"],"archs":["#;
const FEATURES_TAIL: &str = r#"]},"apparmor":{"enabled":false},"selinux":{"enabled":false},"intelRdt":{"enabled":false},"mountExtensions":{"idmap":{"enabled":false}}},"annotations":{}}"#;

pub fn features(args: Vec<OsString>) -> Result<u8> {
    let Some(_) = cli::parse(&FEATURES, args)? else { return Ok(0) };
    let arch = if cfg!(target_arch = "x86_64") { "\"SCMP_ARCH_X86_64\"" } else { "\"SCMP_ARCH_AARCH64\"" };
    let quoted = |names: Vec<String>| names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(",");
    let namespaces = quoted(NamespaceKind::ALL.iter().map(|k| k.name().to_string()).collect());
    let caps = quoted((0..64).map_while(crate::spec::capability_name).map(|c| format!("CAP_{c}")).collect());
    let ops = quoted(crate::spec::CmpOp::ALL.iter().map(|o| o.name().to_string()).collect());
    println!(
        "{FEATURES_HEAD}\"namespaces\":[{namespaces}],\"capabilities\":[{caps}],{FEATURES_MIDDLE}{ops}{FEATURES_ARCHS}{arch}{FEATURES_TAIL}"
    );
    Ok(0)
}

#[derive(Default)]
pub struct SpecOpts {
    bundle: Option<std::path::PathBuf>,
    rootless: bool,
}

pub static SPEC: Command<SpecOpts> = Command {
    name: "spec",
    usage: "[--bundle DIR] [--rootless]",
    about: "Write a starting config.json (root \"rootfs\", process \"sh\" on a terminal) into the bundle.",
    flags: &[
        flag("bundle", Some('b'), Some("DIR"), "Where config.json goes (default: .)", |o, v| {
            Ok(o.bundle = Some(v.into()))
        }),
        flag("rootless", None, None, "For a user without root: a user namespace mapping your ids", |o, _| {
            on(&mut o.rootless)
        }),
    ],
    command_follows: false,
};

pub fn spec(args: Vec<OsString>) -> Result<u8> {
    let Some((opts, rest)) = cli::parse(&SPEC, args)? else { return Ok(0) };
    if !rest.is_empty() {
        return Err(cli::usage_error(&SPEC, "takes no arguments"));
    }
    let path = opts.bundle.unwrap_or_default().join("config.json");
    if path.exists() {
        return Err(Error::msg(format!("{}", path.display()), "already exists; remove it first"));
    }
    let text = format!("{}\n", default_config(opts.rootless));
    std::fs::write(&path, text).ctx("write", path.display())?;
    Ok(0)
}

/// `runc spec`'s starting point, in husk's words: the root read-only, docker's masked
/// and read-only paths, the three capabilities runc starts with.
const CONFIG: &str = r#"{
  "ociVersion": "1.2.0",
  "process": {
    "terminal": true,
    "user": {"uid": 0, "gid": 0},
    "args": ["sh"],
    "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
    "cwd": "/",
    "capabilities": {
      "bounding": CAPS,
      "effective": CAPS,
      "permitted": CAPS
    },
    "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
    "noNewPrivileges": true
  },
  "root": {"path": "rootfs", "readonly": true},
  "hostname": "husk",
  "mounts": [
    {"destination": "/proc", "type": "proc", "source": "proc"},
    {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
    {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]},
    {"destination": "/dev/shm", "type": "tmpfs", "source": "shm", "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
    {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue", "options": ["nosuid", "noexec", "nodev"]},
    {"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]},
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
  ],
  "linux": {
    "resources": {"devices": [{"allow": false, "access": "rwm"}]},
    "namespaces": [{"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}, {"type": "network"}],
    "maskedPaths": MASKED,
    "readonlyPaths": READONLY
  }
}"#;
const NETWORK_NS: &str = r#"{"type": "network"}"#;
const USER_NS: &str = r#"{"type": "user"}"#;
const SYSFS: &str =
    r#"{"destination": "/sys", "type": "sysfs", "source": "sysfs", "options": ["nosuid", "noexec", "nodev", "ro"]}"#;
const SYSFS_BIND: &str = r#"{"destination": "/sys", "type": "none", "source": "/sys", "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]}"#;
const CGROUP_MOUNT: &str = r#",
    {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup", "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}"#;
const DEVICE_POLICY: &str = r#"
    "resources": {"devices": [{"allow": false, "access": "rwm"}]},"#;

/// The rootless variant: a user namespace mapping the caller's ids instead of a network
/// namespace and a device policy, /sys bound from the host (a new sysfs needs a network
/// namespace owned by the user namespace), no cgroup mount.
fn default_config(rootless: bool) -> String {
    // The lists come from husk's own defaults (docker's masked and read-only paths).
    let list =
        |items: &[&str]| format!("[{}]", items.iter().map(|i| format!("\"{i}\"")).collect::<Vec<_>>().join(", "));
    let config = CONFIG
        .replace("CAPS", r#"["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]"#)
        .replace("MASKED", &list(&crate::spec::DEFAULT_MASKED_PATHS))
        .replace("READONLY", &list(&crate::spec::DEFAULT_READONLY_PATHS));
    if !rootless {
        return config;
    }
    let map = |id: u32| format!(r#"[{{"containerID": 0, "hostID": {id}, "size": 1}}]"#);
    let maps = format!(
        r#""uidMappings": {},
    "gidMappings": {},
    "namespaces""#,
        map(rustix::process::geteuid().as_raw()),
        map(rustix::process::getegid().as_raw())
    );
    config
        .replace(NETWORK_NS, USER_NS)
        .replace(SYSFS, SYSFS_BIND)
        .replace(CGROUP_MOUNT, "")
        .replace(DEVICE_POLICY, "")
        .replace(r#""namespaces""#, &maps)
}
