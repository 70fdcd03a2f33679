//! A container's cgroups: created before the clone (P1), joined at birth through
//! clone3's CLONE_INTO_CGROUP on the unified hierarchy or by the parent writing
//! cgroup.procs before GO (P3), read for accounting and torn down after the container
//! ends (P7, and on every error path through Drop).
//!
//! Each controller is used where it is mounted: v1 hierarchies, the unified one, or
//! both (hybrid hosts like one with cgroup2 at /sys/fs/cgroup/unified beside v1 memory,
//! cpu and pids). In every hierarchy the container's cgroup is `husk/<name>` below the
//! cgroup husk runs in, or `<--cgroup-parent>/<name>`. The paths are recorded in the
//! state directory before they are created, and every live cgroup is held open with a
//! shared flock, so that `collect_garbage` can tell a dead launcher's cgroups (lock
//! free) from a live one's, whatever state root it used.

mod detect;
mod devices;
mod gc;
pub mod limits;
pub mod recorded;
mod stats;
mod v1;
mod v2;

pub use gc::collect_garbage;
pub use stats::{Stats, cpu_nanos, memory_usage, pids};

use crate::error::{Context, Error, Result};
use crate::spec::{DeviceRule, Spec};
use detect::{Hierarchy, Layout, Mode};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{FlockOperation, Mode as FileMode, OFlags};
use rustix::io::Errno;
use rustix::process::Pid;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// husk's parent cgroup below the one it runs in; it never holds processes itself.
pub const PARENT: &str = "husk";
/// The file in the state directory listing the container's cgroups, one per line.
pub const RECORD: &str = "cgroups";

struct Dir {
    path: PathBuf,
    /// v1 controllers of its hierarchy; empty for the unified hierarchy.
    controllers: Vec<String>,
    /// Held with a shared flock while husk owns the cgroup; for the unified cgroup also
    /// the CLONE_INTO_CGROUP target.
    fd: OwnedFd,
}

impl Dir {
    fn unified(&self) -> bool {
        self.controllers.is_empty()
    }
}

/// The container's cgroup hierarchies, for its /sys/fs/cgroup (rootfs plan): whether it
/// has a cgroup2 cgroup, and the controllers of each v1 hierarchy it joined ("memory",
/// "cpu,cpuacct"). With its own cgroup namespace each mount shows its cgroup as the root.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct View {
    pub unified: bool,
    pub v1: Vec<String>,
    /// The container has a cgroup namespace of its own (set by the rootfs plan).
    pub own_namespace: bool,
}

pub struct Cgroups {
    dirs: Vec<Dir>,
    memory_limit: Option<u64>,
    /// The launcher; a forked child's copy must never tear the cgroups down.
    owner: Pid,
}

/// Where one of the container's cgroups goes.
struct Target {
    hierarchy: Hierarchy,
    parent: PathBuf,
    path: PathBuf,
    /// v2 controllers to enable along the way (unified hierarchy only).
    enable: Vec<&'static str>,
}

impl Cgroups {
    /// No cgroups: rootless without a delegated subtree, or a host without cgroups.
    fn none(spec: &Spec) -> Cgroups {
        Cgroups { dirs: Vec::new(), memory_limit: spec.resources.memory, owner: rustix::process::getpid() }
    }

    /// P1: creates the container's cgroups with their limits. Rootless, where the user
    /// may not create cgroups, the container runs without them (and says so once when
    /// limits were asked for).
    pub fn create(spec: &Spec, state_dir: &Path) -> Result<Cgroups> {
        let rootless = !crate::privilege::full();
        let wants_limits = !spec.resources.is_empty();
        let layout = Layout::read();
        if layout.mode() == Mode::None {
            if wants_limits && !rootless {
                return Err(Error::msg("resource limits", "no cgroup filesystem is mounted"));
            }
            if wants_limits {
                warn_unlimited("no cgroup filesystem is mounted");
            }
            return Ok(Cgroups::none(spec));
        }
        match Cgroups::build(spec, &layout, state_dir) {
            Ok(cg) => Ok(cg),
            Err(e) if rootless && is_denied(&e) => {
                // Nothing was made: the record must not send `husk exec` to join them.
                let _ = std::fs::remove_file(state_dir.join(RECORD));
                if wants_limits {
                    warn_unlimited(&e.to_string());
                }
                Ok(Cgroups::none(spec))
            }
            Err(e) => Err(e),
        }
    }

    fn build(spec: &Spec, layout: &Layout, state_dir: &Path) -> Result<Cgroups> {
        let res = &spec.resources;
        let targets = plan(spec, layout)?;
        // Which controller is served where: v1 wins where it is mounted.
        let v1_served = |c: &str| layout.v1_with(c).is_some();
        let unified_avail: Vec<String> = targets
            .iter()
            .find(|t| t.hierarchy.controllers.is_empty())
            .map(|t| v2::available(&nearest_existing(&t.parent)))
            .unwrap_or_default();
        let served = |c: &str| v1_served(c) || unified_avail.iter().any(|a| a == c);
        for (limit, controller, wanted) in requested(res) {
            if wanted && !served(controller) {
                return Err(Error::msg(
                    limit,
                    format!("needs the {controller} cgroup controller, which this host does not offer husk"),
                ));
            }
        }
        let explicit_swap = res.memory_swap.is_some_and(|s| s >= 0);
        let memsw = layout.v1_with("memory").is_some_and(|h| v1::has_memsw(&h.current));
        if explicit_swap && v1_served("memory") && !memsw {
            return Err(Error::msg(
                "memory+swap limit",
                "swap accounting is off on this host (no memory.memsw.limit_in_bytes; boot with swapaccount=1)",
            ));
        }

        // Recorded before they exist, so that a launcher killed half-way leaves a trail.
        if !targets.is_empty() {
            let record: String = targets.iter().map(|t| format!("{}\n", t.path.display())).collect();
            let record_path = state_dir.join(RECORD);
            std::fs::write(&record_path, record).ctx("write", record_path.display())?;
        }

        let mut cg = Cgroups::none(spec);
        for t in &targets {
            cg.dirs.push(make(t)?);
        }
        if spec.user_namespace()
            && let Some(dir) = cg.unified_dir()
        {
            delegate(dir, spec)?;
        }
        // Before the child is placed (P3), so that nothing runs under a partial list.
        if let Some(dir) = cg.v1_dir("devices") {
            v1::write_device_rules(dir, &res.devices)?;
        }
        let skip = |path: &Path| limits::OPTIONAL.iter().any(|f| path.ends_with(f)) && !path.exists();
        for (controller, file, value) in limits::v1_settings(res, memsw) {
            if let Some(dir) = cg.v1_dir(controller)
                && !skip(&dir.join(file))
            {
                write(&dir.join(file), &value)?;
            }
        }
        if let Some(dir) = cg.unified_dir().map(Path::to_path_buf) {
            let swap_file = dir.join("memory.swap.max").exists();
            if explicit_swap && !v1_served("memory") && !swap_file {
                return Err(Error::msg(
                    "memory+swap limit",
                    "swap accounting is off on this host (no memory.swap.max)",
                ));
            }
            for (controller, file, value) in limits::v2_settings(res, swap_file) {
                if !v1_served(controller) && !skip(&dir.join(file)) {
                    write(&dir.join(file), &value)?;
                }
            }
        }
        Ok(cg)
    }

    /// P1, before the clone: the device policy of the container's cgroup2 cgroup, where
    /// husk is root (rootless, the container's nodes are binds of the host's, mknod is
    /// refused in a user namespace, and loading a program is not allowed anyway). A host
    /// with no cgroup2 hierarchy uses the v1 devices controller instead (`build`).
    ///
    /// The default policy under husk's own parent cgroup is shared: attached once to the
    /// parent (replaceable below it), every container's cgroup inherits it from birth,
    /// and a run only checks by name that it is still this policy. Loading a program
    /// (the kernel's verifier) was the largest step of a container's start. Any other
    /// policy is the container's own, attached to its cgroup; so is --privileged's, which
    /// allows every device: under husk's parent it must override the shared default.
    /// No policy has to allow the root's loop devices: as root, the launcher (outside
    /// the container's cgroup) mounts an image itself (image.rs).
    pub fn attach_device_policy(&self, spec: &Spec) -> Result<()> {
        let Some(dir) = self.dirs.iter().find(|d| d.unified()) else { return Ok(()) };
        let under_parent = spec.cgroups_path.is_none();
        if !crate::privilege::full() || (spec.resources.devices.is_empty() && !under_parent) {
            return Ok(());
        }
        let every = DeviceRule { allow: true, kind: 'a', major: None, minor: None, access: 7 };
        let rules: Vec<DeviceRule> = match spec.resources.devices.is_empty() {
            true => vec![every],
            false => spec.resources.devices.clone(),
        };
        let program = devices::program(&rules);
        let name = devices::name(&program);
        let default = under_parent && program == devices::program(&crate::spec::default_device_rules());
        let parent = dir.path.parent().filter(|_| default);
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let parent = match parent.map(|p| rustix::fs::open(p, flags, FileMode::empty())) {
            Some(Ok(fd)) => {
                if husk_init::sys::bpf_device_program_name(fd.as_fd()) == Ok(name) {
                    return Ok(());
                }
                Some(fd)
            }
            _ => None,
        };
        let fd = husk_init::sys::bpf_load_device_program(&program, &name).ctx("load the device policy (bpf)", "")?;
        if let Some(p) = &parent
            && husk_init::sys::bpf_attach_device_program(p.as_fd(), fd.as_fd(), true).is_ok()
        {
            return Ok(());
        }
        husk_init::sys::bpf_attach_device_program(dir.fd.as_fd(), fd.as_fd(), false)
            .ctx("attach the device policy to", dir.path.display())
    }

    /// What the container's /sys/fs/cgroup shows: the hierarchies it was placed in.
    pub fn view(&self) -> View {
        View {
            unified: self.unified_dir().is_some(),
            v1: self.dirs.iter().filter(|d| !d.unified()).map(|d| d.controllers.join(",")).collect(),
            own_namespace: true,
        }
    }

    /// The unified cgroup's directory for clone3's CLONE_INTO_CGROUP.
    pub fn clone_target(&self) -> Option<BorrowedFd<'_>> {
        self.dirs.iter().find(|d| d.unified()).map(|d| d.fd.as_fd())
    }

    /// Whether P3 has a cgroup to put the child in (one it did not join at birth).
    pub fn need_placing(&self, placed_in_cgroup: bool) -> bool {
        self.dirs.iter().any(|d| !(d.unified() && placed_in_cgroup))
    }

    /// P3: puts the child into every cgroup it did not join at birth.
    pub fn place(&self, pid: Pid, placed_in_cgroup: bool) -> Result<()> {
        for d in &self.dirs {
            if d.unified() && placed_in_cgroup {
                continue;
            }
            write(&d.path.join("cgroup.procs"), &pid.as_raw_nonzero().to_string())?;
        }
        Ok(())
    }

    pub fn stats(&self) -> Stats {
        let mut s = Stats::default();
        let unified = self.unified_dir();
        match (self.v1_dir("memory"), unified) {
            (Some(d), _) => s.read_v1_memory(d),
            (None, Some(u)) => s.read_v2_memory(u),
            _ => {}
        }
        match (self.v1_dir("cpuacct"), unified) {
            (Some(d), _) => s.read_v1_cpuacct(d),
            (None, Some(u)) => s.read_v2_cpu(u),
            _ => {}
        }
        if let Some(d) = self.v1_dir("pids").or(unified) {
            s.read_pids(d);
        }
        s
    }

    /// P7: reports an OOM kill (always) and the accounting (when asked), then tears the
    /// cgroups down. Returns the status to exit with.
    pub fn finish(&mut self, status: u8, print_stats: bool) -> u8 {
        // Read only when something is shown: a killed command's OOM report, or --stats.
        if status == 137 || print_stats {
            let stats = self.stats();
            if status == 137 && stats.oom_kills.unwrap_or(0) > 0 {
                let limit =
                    self.memory_limit.map(|m| format!(" (limit {})", limits::human_size(m))).unwrap_or_default();
                eprintln!("husk: killed: out of memory{limit}");
            }
            if print_stats {
                for line in stats.lines() {
                    eprintln!("husk: stats: {line}");
                }
            }
        }
        self.destroy();
        status
    }

    /// Lets go of the cgroups without removing them: an OCI container's stay until
    /// `husk delete` (or the garbage pass once its processes are gone).
    pub fn leave(&mut self) {
        self.dirs.clear();
    }

    /// Kills whatever is left in the cgroups and removes them.
    pub fn destroy(&mut self) {
        // Usually nothing is left: the end of the container's PID namespace killed every
        // process with its init. Then each cgroup simply goes; only a busy one (a process
        // moved in from outside, a nested runtime's cgroups) takes the long way below.
        self.dirs.retain(|d| rustix::fs::rmdir(&d.path).is_err());
        let v1: Vec<&Path> = self.dirs.iter().filter(|d| !d.unified()).map(|d| d.path.as_path()).collect();
        if !v1.is_empty() {
            v1::kill_all(&v1, self.v1_dir("freezer"));
        }
        if let Some(u) = self.unified_dir() {
            v2::kill_all(u);
        }
        for d in self.dirs.drain(..).rev() {
            drop(d.fd);
            // Cgroups a nested runtime made inside the container's go first.
            for sub in subtree(&d.path) {
                remove(&sub);
            }
        }
    }

    fn v1_dir(&self, controller: &str) -> Option<&Path> {
        self.dirs.iter().find(|d| d.controllers.iter().any(|c| c == controller)).map(|d| d.path.as_path())
    }

    fn unified_dir(&self) -> Option<&Path> {
        self.dirs.iter().find(|d| d.unified()).map(|d| d.path.as_path())
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        if !self.dirs.is_empty() && rustix::process::getpid() == self.owner {
            self.destroy();
        }
    }
}

/// The limits that need a controller, and whether each was given.
fn requested(res: &crate::spec::Resources) -> [(&'static str, &'static str, bool); 6] {
    [
        ("memory limit", "memory", res.memory.is_some()),
        ("CPU quota", "cpu", res.cpu_quota.is_some()),
        ("CPU shares", "cpu", res.cpu_shares.is_some()),
        ("cpuset CPUs", "cpuset", res.cpuset_cpus.is_some()),
        ("cpuset memory nodes", "cpuset", res.cpuset_mems.is_some()),
        ("pids limit", "pids", res.pids_limit.is_some()),
    ]
}

/// One target per hierarchy husk uses.
fn plan(spec: &Spec, layout: &Layout) -> Result<Vec<Target>> {
    let given = |h: &Hierarchy, p: &str| {
        if p.starts_with('/') { detect::join(&h.mount, p) } else { detect::join(&h.current, p) }
    };
    // (parent, the container's cgroup): config.json's cgroupsPath is the container's
    // own; --cgroup-parent the parent of one named after the container.
    let paths = |h: &Hierarchy| match spec.cgroups_path.as_deref() {
        Some(p) if spec.resources.exact_cgroup => {
            let path = given(h, p);
            (path.parent().unwrap_or(&h.mount).to_path_buf(), path)
        }
        Some(p) => (given(h, p), given(h, p).join(&spec.name)),
        None => (h.current.join(PARENT), h.current.join(PARENT).join(&spec.name)),
    };
    // A v1 hierarchy costs a migration (cgroup.procs after the clone), and the first one
    // waits for an RCU grace period (about 8 ms here): only hierarchies whose controller a
    // limit or --stats needs are used, with the freezer to stop them at teardown.
    let res = &spec.resources;
    let accounting = spec.accounting;
    // The device policy falls back to the v1 devices controller only where no cgroup2
    // hierarchy can carry the device program (and the run pays that migration).
    let v1_devices = layout.unified.is_none() && !res.devices.is_empty() && crate::privilege::full();
    let wanted = |h: &Hierarchy| {
        (h.has("devices") && v1_devices)
            || (h.has("memory") && (res.memory.is_some() || res.memory_swap.is_some() || accounting))
            || (h.has("cpu") && (res.cpu_quota.is_some() || res.cpu_shares.is_some()))
            || (h.has("cpuacct") && accounting)
            || (h.has("cpuset") && (res.cpuset_cpus.is_some() || res.cpuset_mems.is_some()))
            || (h.has("pids") && (res.pids_limit.is_some() || accounting))
            || (h.has("blkio") && res.blkio_weight.is_some())
    };
    let mut v1: Vec<&Hierarchy> = layout.v1.iter().filter(|h| wanted(h)).collect();
    if !v1.is_empty()
        && let Some(freezer) = layout.v1_with("freezer")
        && !v1.iter().any(|h| h.has("freezer"))
    {
        v1.push(freezer);
    }
    let mut out = Vec::new();
    for h in v1 {
        let (parent, path) = paths(h);
        out.push(Target { path, parent, hierarchy: h.clone(), enable: Vec::new() });
    }
    if let Some(h) = &layout.unified {
        let (parent, path) = paths(h);
        let avail = v2::available(&nearest_existing(&parent));
        // io only for a weight: enabling it costs every container a little for nothing.
        let io = res.blkio_weight.map(|_| "io");
        let enable = detect::V2_CONTROLLERS
            .into_iter()
            .chain(io)
            .filter(|c| layout.v1_with(c).is_none() && avail.iter().any(|a| a == c))
            .collect();
        out.push(Target { path, parent, hierarchy: h.clone(), enable });
    }
    Ok(out)
}

fn nearest_existing(path: &Path) -> PathBuf {
    path.ancestors().find(|p| p.exists()).unwrap_or(path).to_path_buf()
}

/// Creates one cgroup: parents as needed (cpuset filled, v2 controllers enabled), then
/// the container's own, locked, under the parent's lock so that garbage collection
/// never sees it unlocked.
fn make(t: &Target) -> Result<Dir> {
    let cpuset = t.hierarchy.has("cpuset");
    let mut dir = t.hierarchy.mount.clone();
    for part in t.parent.strip_prefix(&t.hierarchy.mount).unwrap_or(Path::new("")).components() {
        dir.push(part);
        match rustix::fs::mkdir(&dir, FileMode::from(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(Error::sys("create cgroup", dir.display(), e)),
        }
        if cpuset {
            v1::fill_cpuset(&dir)?;
        }
    }
    if t.hierarchy.controllers.is_empty() {
        v2::enable(&t.hierarchy.mount, &t.parent, &t.enable)?;
    }
    let parent = open_dir(&t.parent)?;
    rustix::fs::flock(&parent, FlockOperation::LockShared).ctx("lock", t.parent.display())?;
    match rustix::fs::mkdir(&t.path, FileMode::from(0o755)) {
        Ok(()) => {}
        Err(Errno::EXIST) => {
            return Err(Error::msg(
                format!("create cgroup {}", t.path.display()),
                "it exists already (a container of that name under another state root?)",
            ));
        }
        Err(e) => return Err(Error::sys("create cgroup", t.path.display(), e)),
    }
    let fd = open_dir(&t.path)?;
    rustix::fs::flock(&fd, FlockOperation::LockShared).ctx("lock", t.path.display())?;
    let dir = Dir { path: t.path.clone(), controllers: t.hierarchy.controllers.clone(), fd };
    if cpuset {
        v1::fill_cpuset(&dir.path)?;
    }
    Ok(dir)
}

/// The container's cgroup2 cgroup is delegated to its root, as systemd delegates one:
/// the directory and the files that create and fill children (cgroup.procs,
/// cgroup.threads, cgroup.subtree_control) belong to the root's host ids. The limits'
/// files stay root's; and the kernel refuses writes to them from inside the cgroup
/// namespace anyway, so the container can neither raise its limits nor leave its cgroup.
fn delegate(dir: &Path, spec: &Spec) -> Result<()> {
    let (uid, gid) = spec.root_host_ids();
    if uid.is_root() {
        return Ok(());
    }
    for path in ["", "cgroup.procs", "cgroup.threads", "cgroup.subtree_control"].map(|f| dir.join(f)) {
        match rustix::fs::chown(&path, Some(uid), Some(gid)) {
            Ok(()) | Err(Errno::NOENT) => {}
            Err(e) => return Err(Error::sys("chown", path.display(), e)),
        }
    }
    Ok(())
}

/// `dir` and every cgroup below it, deepest first (the order they can be removed in).
fn subtree(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(subtree(&e.path()));
            }
        }
    }
    out.push(dir.to_path_buf());
    out
}

fn open_dir(path: &Path) -> Result<OwnedFd> {
    rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, FileMode::empty())
        .ctx("open cgroup", path.display())
}

/// rmdir, retrying briefly while the last processes finish exiting.
fn remove(path: &Path) {
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        match rustix::fs::rmdir(path) {
            Ok(()) | Err(Errno::NOENT) => return,
            Err(Errno::BUSY) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => {
                eprintln!("husk: warning: {}", Error::sys("remove cgroup", path.display(), e));
                return;
            }
        }
    }
}

fn is_denied(e: &Error) -> bool {
    matches!(e.errno, Some(Errno::ACCESS | Errno::PERM | Errno::ROFS | Errno::BUSY | Errno::NOENT))
}

static WARNED: AtomicBool = AtomicBool::new(false);

/// Rootless without a cgroup of its own: say once that the limits do not apply.
fn warn_unlimited(why: &str) {
    if !WARNED.swap(true, Ordering::Relaxed) {
        eprintln!("husk: warning: running without resource limits: rootless husk cannot create cgroups here ({why})");
    }
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

fn write(path: &Path, value: &str) -> Result<()> {
    let fd = rustix::fs::open(path, OFlags::WRONLY | OFlags::CLOEXEC, FileMode::empty()).ctx("open", path.display())?;
    rustix::io::write(&fd, value.as_bytes()).ctx(&format!("write \"{value}\" to"), path.display())?;
    Ok(())
}

/// The pids in a cgroup.
fn procs(dir: &Path) -> Vec<i32> {
    read(&dir.join("cgroup.procs")).lines().filter_map(|l| l.trim_ascii().parse().ok()).collect()
}

fn kill(pid: i32) {
    if let Some(pid) = Pid::from_raw(pid) {
        let _ = rustix::process::kill_process(pid, rustix::process::Signal::KILL);
    }
}

/// The cgroup directories recorded for the container whose state directory is `state_dir`.
pub fn recorded(state_dir: &Path) -> Vec<PathBuf> {
    let text = std::fs::read_to_string(state_dir.join(RECORD)).unwrap_or_default();
    text.lines().filter(|l| !l.is_empty()).map(PathBuf::from).collect()
}
