//! The one description of a container, shared by every front end. Its shape follows the
//! OCI runtime-spec's config.json (process, root, hostname, mounts, linux.namespaces, id
//! mappings, resources, cgroupsPath, maskedPaths, readonlyPaths, sysctl, hooks) so that
//! `husk run`'s flags and a bundle's config.json build the same thing; husk's own choices
//! (image layers, the overlay, the network) sit beside it.
//!
//! A front end builds a `Spec` from its input (parsing sizes, CIDRs and flag syntax
//! itself), then calls `Spec::validate`, which is pure and names spec fields in its
//! errors. Nothing is created before it passes. The validated spec is saved in the
//! container's state directory (`save.rs`) so that `husk exec`, `inspect` and the
//! lifecycle read what the container was started with.

mod network;
mod save;
mod security;
pub mod validate;

pub use network::*;
pub use save::Saved;
pub use security::*;
pub use validate::{Host, check_env, parse_list};

use std::path::PathBuf;

#[derive(Debug, Clone, PartialEq)]
pub struct Spec {
    /// Unique short name; also the state directory's name.
    pub name: String,
    pub hostname: String,
    pub process: Process,
    pub root: Root,
    /// Mounted in order after the root, each at a destination resolved inside it.
    pub mounts: Vec<Mount>,
    pub namespaces: Vec<Namespace>,
    pub uid_mappings: Vec<IdMap>,
    pub gid_mappings: Vec<IdMap>,
    pub resources: Resources,
    /// Keep memory, CPU and pids accounting even without limits.
    pub accounting: bool,
    /// runtime-spec's linux.cgroupsPath: the parent of the container's cgroups
    /// (absolute: from each hierarchy's root; relative: below husk's own cgroup).
    pub cgroups_path: Option<String>,
    pub network: Network,
    /// Device nodes made in the container (runtime-spec's linux.devices), beside the
    /// standard ones; the device policy must allow them too.
    pub devices: Vec<DeviceNode>,
    /// Paths hidden from the container (files: /dev/null over them; directories: an
    /// empty read-only tmpfs). Missing ones are skipped.
    pub masked_paths: Vec<String>,
    /// Paths made read-only inside the container. Missing ones are skipped.
    pub readonly_paths: Vec<String>,
    /// Namespaced kernel parameters written inside the container (key, value).
    pub sysctl: Vec<(String, String)>,
    pub hooks: Hooks,
    /// The seccomp filter of the command and every exec.
    pub seccomp: Seccomp,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Process {
    /// argv; argv[0] is looked up in the container's PATH when it has no slash.
    pub args: Vec<String>,
    /// KEY=VALUE, one per key.
    pub env: Vec<String>,
    /// Absolute; created if missing.
    pub cwd: String,
    /// A pseudo-terminal for the command.
    pub terminal: bool,
    /// Relay the caller's stdin; meaningful with a terminal.
    pub stdin: bool,
    pub user: User,
    pub rlimits: Vec<Rlimit>,
    /// None: the capabilities husk's caller has (today's default).
    pub capabilities: Option<Capabilities>,
    pub no_new_privileges: bool,
    /// The file mode creation mask the command starts with (None: inherited, 022).
    pub umask: Option<u32>,
    /// Written to /proc/self/oom_score_adj before exec (-1000..=1000).
    pub oom_score_adj: Option<i32>,
    /// The terminal's (rows, columns) when it is made; None: the caller's terminal size.
    pub console_size: Option<(u16, u16)>,
    /// personality(2) set before exec (config.json's linux.personality: PER_LINUX or
    /// PER_LINUX32), for 32-bit userlands.
    pub personality: Option<u32>,
}

/// runtime-spec's process.user, plus a docker-style `USER[:GROUP]` that is resolved in
/// the container's own /etc/passwd and /etc/group when the command starts (users.rs).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct User {
    pub uid: u32,
    pub gid: u32,
    pub additional_gids: Vec<u32>,
    /// When set, it wins over the numbers above.
    pub name: Option<String>,
    /// Groups added to the user's (docker's --group-add): numbers, or names looked up in
    /// the container's /etc/group when the command starts.
    pub extra_groups: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Rlimit {
    /// The kernel's name, e.g. RLIMIT_NOFILE.
    pub kind: String,
    pub soft: u64,
    pub hard: u64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Root {
    pub source: RootSource,
    /// Read-only lower layers stacked under the root (first = lowest after the root).
    pub layers: Vec<PathBuf>,
    pub write: RootWrite,
    /// runtime-spec's root.readonly: the root is remounted read-only before pivot.
    pub readonly: bool,
    /// runtime-spec's linux.rootfsPropagation for the container's mount tree (None:
    /// private, husk's own choice: nothing crosses between host and container).
    pub propagation: Option<Propagation>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum RootSource {
    Dir(PathBuf),
    Image(PathBuf),
}

impl RootSource {
    pub fn path(&self) -> &std::path::Path {
        match self {
            RootSource::Dir(p) | RootSource::Image(p) => p,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum RootWrite {
    /// An overlay with a tmpfs upper layer that vanishes with the container.
    Ephemeral,
    /// An overlay whose upper and work directories live in this directory.
    Persist(PathBuf),
    /// No overlay: writes go straight to the directory or image.
    Direct,
}

/// A mount as config.json's `mounts` entries describe one, with its options typed.
#[derive(Debug, Clone, PartialEq)]
pub struct Mount {
    pub kind: MountKind,
    /// A host path for binds; the filesystem's source name otherwise.
    pub source: String,
    /// Absolute, resolved inside the root (a symlink cannot lead it out).
    pub destination: String,
    pub options: MountOptions,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountKind {
    Proc,
    Sysfs,
    Tmpfs,
    Devpts,
    Mqueue,
    Bind,
    /// The container's own cgroups (config.json's cgroup or cgroup2): see rootfs/plan.rs.
    Cgroup,
    /// Any other filesystem (overlay, ramfs, securityfs...), mounted by its type name
    /// with the mount's data, as config.json lists it.
    Other(String),
}

impl MountKind {
    const KNOWN: [MountKind; 7] = [
        MountKind::Proc,
        MountKind::Sysfs,
        MountKind::Tmpfs,
        MountKind::Devpts,
        MountKind::Mqueue,
        MountKind::Bind,
        MountKind::Cgroup,
    ];

    /// The filesystem type the kernel knows it by (config.json's `type`).
    pub fn fstype(&self) -> &str {
        match self {
            MountKind::Proc => "proc",
            MountKind::Sysfs => "sysfs",
            MountKind::Tmpfs => "tmpfs",
            MountKind::Devpts => "devpts",
            MountKind::Mqueue => "mqueue",
            MountKind::Bind => "bind",
            MountKind::Cgroup => "cgroup",
            MountKind::Other(name) => name,
        }
    }

    /// cgroup2 is the container's cgroups as well; unknown names are other filesystems.
    pub fn from_fstype(name: &str) -> MountKind {
        if name == "cgroup2" {
            return MountKind::Cgroup;
        }
        MountKind::KNOWN.into_iter().find(|k| k.fstype() == name).unwrap_or_else(|| MountKind::Other(name.into()))
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct MountOptions {
    pub readonly: bool,
    pub nosuid: bool,
    pub nodev: bool,
    pub noexec: bool,
    pub strictatime: bool,
    pub noatime: bool,
    pub nodiratime: bool,
    pub relatime: bool,
    pub sync: bool,
    pub dirsync: bool,
    pub nosymfollow: bool,
    /// rbind: the submounts of a bind's source come along.
    pub recursive: bool,
    pub propagation: Option<Propagation>,
    /// Filesystem data ("mode=755", "size=65536k"), comma-joined for mount(2).
    pub data: Vec<String>,
}

/// A mount flag option of config.json: the name that sets it, the one that clears it,
/// its field and its mount(2) flag.
pub type FlagOption = (&'static str, &'static str, fn(&mut MountOptions) -> &mut bool, rustix::mount::MountFlags);

/// Every flag option, in the order they are written back.
pub const FLAG_OPTIONS: [FlagOption; 11] = {
    use rustix::mount::MountFlags as F;
    [
        ("ro", "rw", |o| &mut o.readonly, F::RDONLY),
        ("nosuid", "suid", |o| &mut o.nosuid, F::NOSUID),
        ("nodev", "dev", |o| &mut o.nodev, F::NODEV),
        ("noexec", "exec", |o| &mut o.noexec, F::NOEXEC),
        ("strictatime", "nostrictatime", |o| &mut o.strictatime, F::STRICTATIME),
        ("noatime", "atime", |o| &mut o.noatime, F::NOATIME),
        ("nodiratime", "diratime", |o| &mut o.nodiratime, F::NODIRATIME),
        ("relatime", "norelatime", |o| &mut o.relatime, F::RELATIME),
        ("sync", "async", |o| &mut o.sync, F::SYNCHRONOUS),
        ("dirsync", "nodirsync", |o| &mut o.dirsync, F::DIRSYNC),
        ("nosymfollow", "symfollow", |o| &mut o.nosymfollow, F::NOSYMFOLLOW),
    ]
};

impl MountOptions {
    /// The mount(2) flags the options set.
    pub fn flags(&self) -> rustix::mount::MountFlags {
        let mut copy = self.clone();
        FLAG_OPTIONS.iter().filter(|f| *(f.2)(&mut copy)).fold(rustix::mount::MountFlags::empty(), |a, f| a | f.3)
    }
}

/// Applied to the mount and everything below it (config.json's private and rprivate
/// alike: a fresh mount has nothing below it yet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    Private,
    Shared,
    Slave,
    Unbindable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NamespaceKind {
    Pid,
    Network,
    Mount,
    Ipc,
    Uts,
    User,
    Cgroup,
    /// Created by clone3 only (clone(2) has no bit left for it): Linux 5.6 or later.
    Time,
}

impl NamespaceKind {
    pub const ALL: [NamespaceKind; 8] = [
        NamespaceKind::Pid,
        NamespaceKind::Network,
        NamespaceKind::Mount,
        NamespaceKind::Ipc,
        NamespaceKind::Uts,
        NamespaceKind::User,
        NamespaceKind::Cgroup,
        NamespaceKind::Time,
    ];

    /// config.json's name for it.
    pub fn name(self) -> &'static str {
        match self {
            NamespaceKind::Pid => "pid",
            NamespaceKind::Network => "network",
            NamespaceKind::Mount => "mount",
            NamespaceKind::Ipc => "ipc",
            NamespaceKind::Uts => "uts",
            NamespaceKind::User => "user",
            NamespaceKind::Cgroup => "cgroup",
            NamespaceKind::Time => "time",
        }
    }

    pub fn from_name(name: &str) -> Option<NamespaceKind> {
        NamespaceKind::ALL.into_iter().find(|k| k.name() == name)
    }
}

/// A namespace the container gets: a new one, or an existing one joined by its path.
#[derive(Debug, Clone, PartialEq)]
pub struct Namespace {
    pub kind: NamespaceKind,
    pub path: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IdMap {
    pub inside: u32,
    pub outside: u32,
    pub count: u32,
}

/// runtime-spec's linux.resources, in the units the kernel files use.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Resources {
    pub memory: Option<u64>,
    /// The soft limit reclaim pushes back to under memory pressure (v2 memory.low, v1
    /// memory.soft_limit_in_bytes).
    pub memory_reservation: Option<u64>,
    /// Memory plus swap; -1 means unlimited swap.
    pub memory_swap: Option<i64>,
    /// Microseconds of CPU time per `cpu_period`.
    pub cpu_quota: Option<u64>,
    pub cpu_period: Option<u64>,
    pub cpu_shares: Option<u64>,
    pub pids_limit: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
    /// The block I/O weight, 10..=1000 (v2 io.weight, v1 blkio.weight), where the host has it.
    pub blkio_weight: Option<u16>,
    /// `Spec::cgroups_path` is the container's own cgroup (config.json's cgroupsPath)
    /// rather than the parent its named cgroup goes in (`husk run --cgroup-parent`).
    /// Here, not in `Spec`, so that every front end's Spec stays as it was.
    pub exact_cgroup: bool,
    /// The device policy (last matching rule wins; none matching: denied). Empty: no
    /// policy at all.
    pub devices: Vec<DeviceRule>,
}

impl Resources {
    /// Whether no limit is asked for (the device policy is not a limit).
    pub fn is_empty(&self) -> bool {
        Resources { devices: Vec::new(), exact_cgroup: false, ..self.clone() } == Resources::default()
    }
}

/// Hook commands run by the runtime (runtime-spec's hooks); only carried for now.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hooks {
    pub prestart: Vec<Hook>,
    pub create_runtime: Vec<Hook>,
    pub create_container: Vec<Hook>,
    pub start_container: Vec<Hook>,
    pub poststart: Vec<Hook>,
    pub poststop: Vec<Hook>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Hook {
    pub path: String,
    pub args: Vec<String>,
    pub env: Vec<String>,
    pub timeout: Option<u32>,
}

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

impl Spec {
    /// The namespace of `kind`, if the container has one (new or joined).
    pub fn namespace(&self, kind: NamespaceKind) -> Option<&Namespace> {
        self.namespaces.iter().find(|n| n.kind == kind)
    }

    /// Whether the container gets a new namespace of `kind`.
    pub fn new_namespace(&self, kind: NamespaceKind) -> bool {
        self.namespace(kind).is_some_and(|n| n.path.is_none())
    }

    /// Whether the container has its own user namespace (id maps, userxattr, binds for
    /// device nodes).
    pub fn user_namespace(&self) -> bool {
        self.new_namespace(NamespaceKind::User)
    }

    /// Whether the root's layers are mounted idmapped (see image.rs): a user namespace
    /// whose root is not the launcher's own id, made by real root (only it may idmap a
    /// host filesystem; a rootless launcher's files are its own id, mapped to root).
    pub fn idmapped_root(&self) -> bool {
        self.user_namespace() && crate::privilege::full() && self.root_host_ids().0.as_raw() != 0
    }

    /// The host ids the container's root runs as: what the maps give inside id 0 (the
    /// launcher's own ids without a user namespace).
    pub fn root_host_ids(&self) -> (rustix::fs::Uid, rustix::fs::Gid) {
        let host = |maps: &[IdMap], own: u32| maps.iter().find(|m| m.inside == 0).map_or(own, |m| m.outside);
        let uid = host(&self.uid_mappings, rustix::process::geteuid().as_raw());
        let gid = host(&self.gid_mappings, rustix::process::getegid().as_raw());
        (rustix::fs::Uid::from_raw(uid), rustix::fs::Gid::from_raw(gid))
    }
}

/// The namespaces `husk run` gives every container: new mount, PID, UTS, IPC and cgroup
/// namespaces; a network namespace of its own unless `network` joins or shares one; a
/// user namespace when asked (or when not root).
pub fn default_namespaces(network: &NetworkMode, user: bool) -> Vec<Namespace> {
    let mut kinds = vec![NamespaceKind::Mount, NamespaceKind::Pid, NamespaceKind::Uts, NamespaceKind::Ipc];
    if network.new_namespace() {
        kinds.push(NamespaceKind::Network);
    }
    if user {
        kinds.push(NamespaceKind::User);
    }
    kinds.push(NamespaceKind::Cgroup);
    kinds.into_iter().map(|kind| Namespace { kind, path: None }).collect()
}

/// The filesystems every `husk run` container gets, in mount order: a new /proc,
/// read-only /sys, its cgroups at /sys/fs/cgroup, a small tmpfs /dev (filled with the standard nodes by the runtime),
/// its own devpts, /dev/shm and /dev/mqueue. In a user namespace gid 5 (tty) may not be
/// mapped, so devpts does not ask for it there.
pub fn default_mounts(user_namespace: bool, writable_sys: bool) -> Vec<Mount> {
    let m = |kind: MountKind, dest: &str, data: &[&str], set: fn(&mut MountOptions)| {
        let mut options = MountOptions { data: data.iter().map(|s| s.to_string()).collect(), ..Default::default() };
        set(&mut options);
        Mount { source: kind.fstype().to_string(), kind, destination: dest.to_string(), options }
    };
    let pts: &[&str] = if user_namespace {
        &["newinstance", "ptmxmode=0666", "mode=0620"]
    } else {
        &["newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]
    };
    vec![
        m(MountKind::Proc, "/proc", &[], |o| (o.nosuid, o.nodev, o.noexec) = (true, true, true)),
        m(MountKind::Sysfs, "/sys", &[], |o| (o.nosuid, o.nodev, o.noexec) = (true, true, true)),
        m(MountKind::Cgroup, "/sys/fs/cgroup", &[], |o| (o.nosuid, o.nodev, o.noexec) = (true, true, true)),
        m(MountKind::Tmpfs, "/dev", &["mode=755", "size=65536k"], |o| (o.nosuid, o.strictatime) = (true, true)),
        m(MountKind::Devpts, "/dev/pts", pts, |o| (o.nosuid, o.noexec) = (true, true)),
        m(MountKind::Tmpfs, "/dev/shm", &["mode=1777", "size=65536k"], |o| {
            (o.nosuid, o.nodev, o.noexec) = (true, true, true)
        }),
        m(MountKind::Mqueue, "/dev/mqueue", &[], |o| (o.nosuid, o.nodev, o.noexec) = (true, true, true)),
    ]
    .into_iter()
    .map(|mut mount| {
        mount.options.readonly |= mount.kind == MountKind::Sysfs && !writable_sys;
        // The container's own cgroups: read-only as docker mounts them, writable when
        // privileged, and in a user namespace, where the cgroup is delegated to the
        // container's root (cgroups/mod.rs) so that a runtime inside can use it.
        mount.options.readonly |= mount.kind == MountKind::Cgroup && !writable_sys && !user_namespace;
        mount
    })
    .collect()
}

/// A bind mount of a host path (`-v SRC:DST[:ro]`).
pub fn bind_mount(source: &std::path::Path, destination: &str, readonly: bool) -> Mount {
    Mount {
        kind: MountKind::Bind,
        source: source.display().to_string(),
        destination: destination.to_string(),
        options: MountOptions { readonly, recursive: true, ..Default::default() },
    }
}

/// The environment every container starts from, then `extra` (later entries replace
/// earlier ones with the same key). Without a named user HOME is /root; with one it
/// comes from the user's passwd entry at start, unless `extra` sets it. `husk run` and
/// `husk exec` share this policy.
pub fn default_env(hostname: &str, terminal: bool, named_user: bool, extra: &[String]) -> Vec<String> {
    let mut env = vec![format!("PATH={DEFAULT_PATH}")];
    if !named_user {
        env.push("HOME=/root".to_string());
    }
    env.push(format!("HOSTNAME={hostname}"));
    if terminal {
        env.push("TERM=xterm".to_string());
    }
    merge_env(&mut env, extra);
    env
}

/// Adds `extra` to `env`, each entry replacing one with the same key.
pub fn merge_env(env: &mut Vec<String>, extra: &[String]) {
    for kv in extra {
        let key = env_key(kv);
        env.retain(|e| env_key(e) != key);
        env.push(kv.clone());
    }
}

pub fn env_key(kv: &str) -> &str {
    kv.split_once('=').map_or(kv, |(k, _)| k)
}

/// A small valid spec for unit tests: Alpine in a directory, `true`, default mounts.
#[cfg(test)]
pub fn example() -> Spec {
    Spec {
        name: "web".into(),
        hostname: "web".into(),
        process: Process { args: vec!["true".into()], cwd: "/".into(), ..Default::default() },
        root: Root {
            source: RootSource::Dir("/srv/alpine".into()),
            layers: vec![],
            write: RootWrite::Ephemeral,
            readonly: false,
            propagation: None,
        },
        mounts: default_mounts(false, false),
        namespaces: default_namespaces(&NetworkMode::None, false),
        uid_mappings: vec![],
        gid_mappings: vec![],
        resources: Resources::default(),
        accounting: false,
        cgroups_path: None,
        network: Network::default(),
        devices: vec![],
        masked_paths: vec![],
        readonly_paths: vec![],
        sysctl: vec![],
        hooks: Hooks::default(),
        seccomp: Seccomp::Unconfined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_env_entries_replace_earlier_ones() {
        let env = default_env("h", false, false, &["PATH=/x".into(), "A=1".into(), "A=2".into()]);
        assert!(env.contains(&"PATH=/x".to_string()));
        assert_eq!(env.iter().filter(|e| e.starts_with("A=")).count(), 1);
        assert!(env.contains(&"A=2".to_string()));
        assert!(env.contains(&"HOME=/root".to_string()));
    }

    #[test]
    fn a_named_user_gets_home_at_start_unless_given() {
        assert!(!default_env("h", false, true, &[]).iter().any(|e| e.starts_with("HOME=")));
        assert!(default_env("h", false, true, &["HOME=/x".into()]).contains(&"HOME=/x".to_string()));
    }

    #[test]
    fn default_namespaces_follow_the_network_and_user_choice() {
        let kinds = |ns: Vec<Namespace>| ns.into_iter().map(|n| n.kind.name()).collect::<Vec<_>>().join(",");
        assert_eq!(kinds(default_namespaces(&NetworkMode::None, false)), "mount,pid,uts,ipc,network,cgroup");
        assert_eq!(kinds(default_namespaces(&NetworkMode::Host, true)), "mount,pid,uts,ipc,user,cgroup");
    }
}
