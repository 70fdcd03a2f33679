//! The one internal description of a container. Its shape follows the OCI runtime-spec's
//! config.json (process, root, hostname, mounts, linux.namespaces, id mappings,
//! resources) so that `husk run`'s flags build it today and a bundle's config.json can
//! build it later; husk-specific choices (image, overlay, network) sit beside it.

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Spec {
    /// Unique short name; also the state directory's name.
    pub name: String,
    pub hostname: String,
    pub process: Process,
    pub root: Root,
    pub mounts: Vec<Mount>,
    pub namespaces: Namespaces,
    pub uid_mappings: Vec<IdMap>,
    pub gid_mappings: Vec<IdMap>,
    pub resources: Resources,
    /// Keep memory, CPU and pids accounting (--stats) even without limits.
    pub accounting: bool,
    /// runtime-spec's linux.cgroupsPath: the parent of the container's cgroups
    /// (absolute: from each hierarchy's root; relative: below husk's own cgroup).
    pub cgroups_path: Option<String>,
    pub network: Network,
}

#[derive(Debug, Clone, Default)]
pub struct Process {
    /// argv; argv[0] is looked up in the container's PATH when it has no slash.
    pub args: Vec<String>,
    /// KEY=VALUE, later entries win.
    pub env: Vec<String>,
    pub cwd: String,
    /// A pseudo-terminal for the command (`-t`).
    pub terminal: bool,
    /// Relay the caller's stdin (`-i`); meaningful with a terminal or detached.
    pub stdin: bool,
    /// The numeric user and group (config.json's process.user)...
    pub uid: u32,
    pub gid: u32,
    /// ...unless `--user USER[:GROUP]` asked for one by name or number: resolved in the
    /// container's own /etc/passwd and /etc/group when the command starts (users.rs).
    pub user: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Root {
    pub source: RootSource,
    /// Read-only lower layers stacked under the root (first = lowest after the root).
    pub layers: Vec<PathBuf>,
    pub write: RootWrite,
}

#[derive(Debug, Clone)]
pub enum RootSource {
    Dir(PathBuf),
    Image(PathBuf),
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

#[derive(Debug, Clone)]
pub struct Mount {
    pub source: PathBuf,
    pub destination: String,
    pub readonly: bool,
}

/// Which namespaces the container gets. Mount, PID, UTS, IPC and cgroup namespaces are
/// always new; network and user depend on the options.
#[derive(Debug, Clone, Default)]
pub struct Namespaces {
    pub user: bool,
    pub cgroup: bool,
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
    /// memory + swap; -1 (None with `swap_unlimited`) means unlimited.
    pub memory_swap: Option<i64>,
    pub cpu_quota: Option<u64>,
    pub cpu_period: Option<u64>,
    pub cpu_shares: Option<u64>,
    pub pids_limit: Option<u64>,
    pub cpuset_cpus: Option<String>,
    pub cpuset_mems: Option<String>,
}

impl Resources {
    pub fn is_empty(&self) -> bool {
        *self == Resources::default()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Network {
    pub mode: NetworkMode,
    /// Address with prefix for bridge mode, e.g. 192.168.42.10/24.
    pub ip: Option<String>,
    pub subnet: Option<String>,
    pub mac: Option<String>,
    pub mtu: Option<u32>,
    pub dns: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub enum NetworkMode {
    /// A new network namespace with only lo, up.
    #[default]
    None,
    /// The host's network namespace.
    Host,
    /// A veth into the named bridge.
    Bridge(String),
    /// An existing namespace file, e.g. /run/netns/NAME.
    Path(PathBuf),
    /// The network namespace of another running container.
    Container(String),
}

impl NetworkMode {
    /// Whether the container gets a network namespace of its own.
    pub fn new_namespace(&self) -> bool {
        matches!(self, NetworkMode::None | NetworkMode::Bridge(_))
    }
}

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
