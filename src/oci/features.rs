//! `features` (the runtime-spec's features document: what this husk supports) and
//! `spec` (a starting config.json, as `runc spec` writes one).

use crate::cli::{self, Command, flag, on};
use crate::error::{Context, Error, Result};
use crate::json::{Obj, Value};
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

fn strings(items: &[&str]) -> Value {
    Value::Arr(items.iter().map(|s| Value::str(*s)).collect())
}

/// Mount options config.json may use (oci/config.rs accepts these).
const MOUNT_OPTIONS: &[&str] = &[
    "async",
    "atime",
    "bind",
    "defaults",
    "dev",
    "diratime",
    "dirsync",
    "exec",
    "mand",
    "noatime",
    "nodev",
    "nodiratime",
    "noexec",
    "nomand",
    "norelatime",
    "nostrictatime",
    "nosuid",
    "nosymfollow",
    "private",
    "rbind",
    "relatime",
    "remount",
    "ro",
    "rprivate",
    "rshared",
    "rslave",
    "runbindable",
    "rw",
    "shared",
    "slave",
    "strictatime",
    "suid",
    "symfollow",
    "sync",
    "unbindable",
];

pub fn features(args: Vec<OsString>) -> Result<u8> {
    let Some(_) = cli::parse(&FEATURES, args)? else { return Ok(0) };
    let namespaces: Vec<&str> = NamespaceKind::ALL.iter().map(|k| k.name()).collect();
    let caps: Vec<String> = (0..=40).filter_map(crate::spec::capability_name).map(|c| format!("CAP_{c}")).collect();
    let arch = if cfg!(target_arch = "x86_64") { "SCMP_ARCH_X86_64" } else { "SCMP_ARCH_AARCH64" };
    let actions = [
        "SCMP_ACT_ALLOW",
        "SCMP_ACT_ERRNO",
        "SCMP_ACT_KILL",
        "SCMP_ACT_KILL_PROCESS",
        "SCMP_ACT_KILL_THREAD",
        "SCMP_ACT_LOG",
        "SCMP_ACT_TRAP",
    ];
    let ops: Vec<&str> = crate::spec::CmpOp::ALL.iter().map(|o| o.name()).collect();
    let enabled = |on: bool| Value::from(Obj::new().put("enabled", on));
    let linux = Obj::new()
        .put("namespaces", strings(&namespaces))
        .put("capabilities", Value::from(caps))
        .put("cgroup", Obj::new().put("v1", true).put("v2", true).put("systemd", false).put("systemdUser", false))
        .put(
            "seccomp",
            Obj::new()
                .put("enabled", true)
                .put("actions", strings(&actions))
                .put("operators", strings(&ops))
                .put("archs", strings(&[arch])),
        )
        .put("apparmor", enabled(false))
        .put("selinux", enabled(false))
        .put("intelRdt", enabled(false))
        .put("mountExtensions", Obj::new().put("idmap", enabled(false)));
    let doc = Obj::new()
        .put("ociVersionMin", "1.0.0")
        .put("ociVersionMax", super::SPEC_VERSION)
        .put(
            "hooks",
            strings(&["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"]),
        )
        .put("mountOptions", strings(MOUNT_OPTIONS))
        .put("linux", linux)
        .put("annotations", Obj::new());
    println!("{}", Value::from(doc));
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

fn mount(dest: &str, kind: &str, source: &str, options: &[&str]) -> Value {
    Obj::new().put("destination", dest).put("type", kind).put("source", source).put("options", strings(options)).into()
}

fn default_config(rootless: bool) -> Value {
    let caps = strings(&["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]);
    let cap_sets = Obj::new()
        .put("bounding", caps.clone())
        .put("effective", caps.clone())
        .put("permitted", caps.clone())
        .put("ambient", caps);
    let process = Obj::new()
        .put("terminal", true)
        .put("user", Obj::new().put("uid", 0u32).put("gid", 0u32))
        .put("args", strings(&["sh"]))
        .put("env", strings(&[&format!("PATH={}", crate::spec::DEFAULT_PATH), "TERM=xterm"]))
        .put("cwd", "/")
        .put("capabilities", cap_sets)
        .put(
            "rlimits",
            Value::Arr(vec![Obj::new().put("type", "RLIMIT_NOFILE").put("hard", 1024u32).put("soft", 1024u32).into()]),
        )
        .put("noNewPrivileges", true);
    let mut mounts = vec![
        mount("/proc", "proc", "proc", &[]),
        mount("/dev", "tmpfs", "tmpfs", &["nosuid", "strictatime", "mode=755", "size=65536k"]),
        mount("/dev/pts", "devpts", "devpts", &["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"]),
        mount("/dev/shm", "tmpfs", "shm", &["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]),
        mount("/dev/mqueue", "mqueue", "mqueue", &["nosuid", "noexec", "nodev"]),
    ];
    let mut namespaces = vec!["pid", "ipc", "uts", "mount", "cgroup"];
    if rootless {
        mounts.push(mount("/sys", "none", "/sys", &["rbind", "nosuid", "noexec", "nodev", "ro"]));
        namespaces.push("user");
    } else {
        mounts.push(mount("/sys", "sysfs", "sysfs", &["nosuid", "noexec", "nodev", "ro"]));
        mounts.push(mount("/sys/fs/cgroup", "cgroup", "cgroup", &["nosuid", "noexec", "nodev", "relatime", "ro"]));
        namespaces.push("network");
    }
    let namespaces: Vec<Value> = namespaces.iter().map(|n| Obj::new().put("type", *n).into()).collect();
    let mut linux = Obj::new();
    if rootless {
        let map =
            |id: u32| Value::Arr(vec![Obj::new().put("containerID", 0u32).put("hostID", id).put("size", 1u32).into()]);
        linux = linux
            .put("uidMappings", map(rustix::process::geteuid().as_raw()))
            .put("gidMappings", map(rustix::process::getegid().as_raw()));
    } else {
        let deny = Obj::new().put("allow", false).put("access", "rwm");
        linux = linux.put("resources", Obj::new().put("devices", Value::Arr(vec![deny.into()])));
    }
    let linux = linux
        .put("namespaces", Value::Arr(namespaces))
        .put("maskedPaths", strings(&crate::spec::DEFAULT_MASKED_PATHS))
        .put("readonlyPaths", strings(&crate::spec::DEFAULT_READONLY_PATHS));
    Obj::new()
        .put("ociVersion", super::SPEC_VERSION)
        .put("process", process)
        .put("root", Obj::new().put("path", "rootfs").put("readonly", true))
        .put("hostname", "husk")
        .put("mounts", Value::Arr(mounts))
        .put("linux", linux)
        .into()
}
