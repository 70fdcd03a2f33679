//! Where husk keeps what it knows about containers: one directory per container under
//! the state root (/run/husk as root, /dev/shm/husk where /run is on disk,
//! $XDG_RUNTIME_DIR/husk otherwise, or --root; on a read-only /run, /dev/shm or $TMPDIR:
//! see `root`). The
//! directory is built under a temporary name and renamed into place without replacing,
//! which reserves the name atomically; the `state` file in it is replaced atomically
//! (write, rename) and exists before any resource it names is created, so a crash never
//! leaves something husk made without an entry pointing to it. The owner's flock on the
//! directory itself tells a live owner from a dead one.

use crate::error::{Context, Error, Result};
use rustix::fd::OwnedFd;
use rustix::fs::{FlockOperation, Mode, OFlags};
use rustix::io::Errno;
use std::io::Write;
use std::path::{Path, PathBuf};

pub use crate::state_root::{root, set_root};

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Status {
    /// The name is reserved and resources are being made; no container process yet.
    Creating,
    /// Everything is set up and the init waits, before the command's exec, for `start`.
    Created,
    Running,
    Exited,
}

impl Status {
    const ALL: [Status; 4] = [Status::Creating, Status::Created, Status::Running, Status::Exited];

    pub fn name(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
        }
    }
}

/// A process identified beyond its pid: the start time (clock ticks after boot, from
/// /proc/PID/stat) tells a live process from a later one that reuses the number.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessId {
    pub pid: i32,
    pub start: u64,
}

impl ProcessId {
    pub fn of(pid: i32) -> ProcessId {
        ProcessId { pid, start: start_time(pid).unwrap_or(0) }
    }

    /// Running (a zombie is not: it has exited, only its parent has not reaped it).
    pub fn alive(&self) -> bool {
        self.pid > 0
            && matches!(stat(self.pid), Some((state, start)) if start == self.start && state != 'Z' && state != 'X')
    }
}

fn start_time(pid: i32) -> Option<u64> {
    stat(pid).map(|(_, start)| start)
}

/// /proc/PID/stat (PID a number or "self") in one read into a buffer the line fits:
/// read_to_string's growing reads took six calls.
pub fn read_stat(pid: &str) -> Option<String> {
    let flags = rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC;
    let fd = rustix::fs::open(format!("/proc/{pid}/stat"), flags, rustix::fs::Mode::empty()).ok()?;
    let mut buf = [0u8; 1024];
    let n = rustix::io::read(&fd, &mut buf).ok()?;
    String::from_utf8(buf[..n].to_vec()).ok()
}

/// The state letter and start time of a process, from /proc/PID/stat.
fn stat(pid: i32) -> Option<(char, u64)> {
    let stat = read_stat(&pid.to_string())?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let mut fields = stat[stat.rfind(')')? + 2..].split(' ');
    let state = fields.next()?.chars().next()?;
    Some((state, fields.nth(18)?.parse().ok()?))
}

/// What a container's state file records.
#[derive(Debug, Clone)]
pub struct State {
    pub name: String,
    pub status: Status,
    /// The container's init, as seen from the host.
    pub init: ProcessId,
    /// The process that releases the container's resources: the foreground launcher or
    /// the detached supervisor.
    pub owner: ProcessId,
    pub exit_code: Option<i32>,
    /// Set when the init itself was killed by this signal.
    pub signal: Option<i32>,
    pub created: u64,
    pub started: u64,
    pub finished: u64,
    pub command: String,
    pub root: String,
    pub hostname: String,
    pub network: String,
    pub ip: String,
    pub detached: bool,
    /// Remove the entry when the container exits (--rm, and every foreground run).
    pub remove: bool,
    /// The validated spec the container was created with, as one line of JSON.
    pub spec: String,
    /// An OCI container's bundle directory (empty for husk's own containers). Its init
    /// is the caller's child (conmon's, the shim's), not husk's: see oci/mod.rs.
    pub bundle: String,
    /// An OCI container's config.json annotations, as one JSON object.
    pub annotations: String,
    /// What `husk start` runs again once the container has stopped (`Launch::rerun`).
    pub rerun: String,
}

impl State {
    pub fn new(name: &str) -> State {
        State {
            name: name.to_string(),
            status: Status::Creating,
            init: ProcessId::default(),
            owner: ProcessId::of(rustix::process::getpid().as_raw_nonzero().get()),
            exit_code: None,
            signal: None,
            created: now(),
            started: 0,
            finished: 0,
            command: String::new(),
            root: String::new(),
            hostname: String::new(),
            network: String::new(),
            ip: String::new(),
            detached: false,
            remove: true,
            spec: String::new(),
            bundle: String::new(),
            annotations: String::new(),
            rerun: String::new(),
        }
    }

    /// Whether the container was made through the OCI interface (oci/mod.rs).
    pub fn oci(&self) -> bool {
        !self.bundle.is_empty()
    }

    /// What `ps` shows: running, exited (CODE), killed (SIGNAL), or exited (unknown) when
    /// the processes vanished without husk seeing the end (killed supervisor, reboot).
    pub fn status_text(&self) -> String {
        match (self.status, self.exit_code, self.signal) {
            (Status::Creating, ..) => "creating".into(),
            (Status::Created, ..) => "created".into(),
            (Status::Running, ..) => "running".into(),
            (Status::Exited, _, Some(sig)) => format!("killed ({})", signal_name(sig)),
            (Status::Exited, Some(code), None) => format!("exited ({code})"),
            (Status::Exited, None, None) => "exited (unknown)".into(),
        }
    }

    fn to_text(&self) -> String {
        let status = self.status.name();
        let mut out = String::new();
        let mut put = |k: &str, v: &str| {
            out.push_str(k);
            out.push('=');
            out.push_str(&escape(v));
            out.push('\n');
        };
        put("name", &self.name);
        put("status", status);
        put("init", &format!("{} {}", self.init.pid, self.init.start));
        put("owner", &format!("{} {}", self.owner.pid, self.owner.start));
        put("exit_code", &self.exit_code.map(|c| c.to_string()).unwrap_or_default());
        put("signal", &self.signal.map(|c| c.to_string()).unwrap_or_default());
        put("created", &self.created.to_string());
        put("started", &self.started.to_string());
        put("finished", &self.finished.to_string());
        put("command", &self.command);
        put("root", &self.root);
        put("hostname", &self.hostname);
        put("network", &self.network);
        put("ip", &self.ip);
        put("detached", if self.detached { "1" } else { "0" });
        put("remove", if self.remove { "1" } else { "0" });
        put("spec", &self.spec);
        put("rerun", &self.rerun);
        if self.oci() {
            put("bundle", &self.bundle);
            put("annotations", &self.annotations);
        }
        out
    }

    fn parse(text: &str) -> Option<State> {
        let mut st = State::new("");
        st.owner = ProcessId::default();
        let mut seen_status = false;
        for line in text.lines() {
            let (key, value) = line.split_once('=')?;
            let value = unescape(value);
            let pid = |v: &str| -> Option<ProcessId> {
                let (p, s) = v.split_once(' ')?;
                Some(ProcessId { pid: p.parse().ok()?, start: s.parse().ok()? })
            };
            let opt = |v: &str| if v.is_empty() { Some(None) } else { v.parse().ok().map(Some) };
            match key {
                "name" => st.name = value,
                "status" => {
                    seen_status = true;
                    st.status = Status::ALL.into_iter().find(|s| s.name() == value)?;
                }
                "init" => st.init = pid(&value)?,
                "owner" => st.owner = pid(&value)?,
                "exit_code" => st.exit_code = opt(&value)?,
                "signal" => st.signal = opt(&value)?,
                "created" => st.created = value.parse().ok()?,
                "started" => st.started = value.parse().ok()?,
                "finished" => st.finished = value.parse().ok()?,
                "command" => st.command = value,
                "root" => st.root = value,
                "hostname" => st.hostname = value,
                "network" => st.network = value,
                "ip" => st.ip = value,
                "detached" => st.detached = value == "1",
                "remove" => st.remove = value == "1",
                "spec" => st.spec = value,
                "bundle" => st.bundle = value,
                "annotations" => st.annotations = value,
                "rerun" => st.rerun = value,
                _ => {}
            }
        }
        (seen_status && !st.name.is_empty()).then_some(st)
    }
}

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

fn unescape(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let mut chars = v.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some('n') => out.push('\n'),
                Some(other) => out.push(other),
                None => {}
            }
        } else {
            out.push(c);
        }
    }
    out
}

pub fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

pub fn signal_name(sig: i32) -> String {
    const NAMES: [&str; 32] = [
        "0",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    NAMES.get(sig as usize).map(|s| s.to_string()).unwrap_or_else(|| format!("signal {sig}"))
}

/// A container's directory. Dropping it removes the directory unless `keep` was called
/// (a container that stays listed after it exits).
///
/// Its owner (the foreground launcher, or the detached supervisor, which inherits the
/// launcher's descriptor) holds an exclusive flock on the directory itself from before
/// the name is visible until it exits: the kernel drops the lock with the owner, so
/// "owner alive" is never guessed from pids, and only one process at a time can take
/// over a dead owner's entry.
pub struct ContainerDir {
    pub path: PathBuf,
    keep: bool,
    lock: Option<OwnedFd>,
}

/// A dead owner's entry, held exclusively while it is collected.
pub struct Claim {
    _lock: OwnedFd,
}

impl ContainerDir {
    /// Reserves `name` with its first state already in it: the entry is built under a
    /// temporary name and renamed into place without replacing, so two runs cannot
    /// both win a name and no named entry ever lacks a state file or an owner lock.
    pub fn create(name: &str, state: &State) -> Result<ContainerDir> {
        let root = root();
        std::fs::create_dir_all(&root).ctx("create state directory", root.display())?;
        let tmp = root.join(format!(".new-{name}-{}", rustix::process::getpid().as_raw_nonzero()));
        rustix::fs::mkdir(&tmp, Mode::from(0o700)).ctx("mkdir", tmp.display())?;
        let mut building = ContainerDir { path: tmp, keep: false, lock: None };
        // The lock is on the directory itself: it moves with the rename, and an entry
        // costs no lock file (on a disk-backed /run every inode made and freed is
        // measurable in start-up).
        let lock =
            rustix::fs::open(&building.path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
                .ctx("open", building.path.display())?;
        rustix::fs::flock(&lock, FlockOperation::NonBlockingLockExclusive).ctx("lock", building.path.display())?;
        building.lock = Some(lock);
        // Nobody reads an entry before its rename: no need for write-and-rename here.
        let file = building.path.join("state");
        std::fs::write(&file, state.to_text()).ctx("write", file.display())?;
        if state.detached {
            std::fs::File::open(&file).and_then(|f| f.sync_all()).ctx("fsync", file.display())?;
        }
        let path = root.join(name);
        let cwd = rustix::fs::CWD;
        match rustix::fs::renameat_with(cwd, &building.path, cwd, &path, rustix::fs::RenameFlags::NOREPLACE) {
            Ok(()) => {
                building.keep = true;
                Ok(ContainerDir { path, keep: false, lock: building.lock.take() })
            }
            Err(Errno::EXIST) => Err(Error::msg(format!("container name \"{name}\""), "name already in use")),
            Err(e) => Err(Error::sys("rename", path.display(), e)),
        }
    }

    /// Takes the entry over if its owner is gone; None while the owner lives (or another
    /// process is collecting it), or when the entry has gone meanwhile.
    pub fn claim(&self) -> Option<Claim> {
        match self.try_lock(FlockOperation::NonBlockingLockExclusive) {
            Ok(Some(lock)) => Some(Claim { _lock: lock }),
            _ => None,
        }
    }

    /// One probe, no retries: enough where a collector's brief hold may count as an owner
    /// (a lease kept a moment longer), and the lease check runs under a lock.
    pub fn owner_busy(&self) -> bool {
        self.try_lock(FlockOperation::NonBlockingLockShared).is_err()
    }

    /// Whether the owner still holds the entry. A shared probe: checkers do not exclude
    /// each other, only a collector's brief exclusive hold can look like an owner, so a
    /// refusal is retried a few times before it counts.
    pub fn owner_alive(&self) -> bool {
        for _ in 0..3 {
            if self.try_lock(FlockOperation::NonBlockingLockShared).is_ok() {
                return false;
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        true
    }

    /// Ok(None) when the entry is gone.
    fn try_lock(&self, how: FlockOperation) -> std::result::Result<Option<OwnedFd>, Errno> {
        match rustix::fs::open(&self.path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()) {
            Ok(fd) => rustix::fs::flock(&fd, how).map(|()| Some(fd)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Removes entries being built, or being removed, by processes that died before
    /// finishing them.
    pub fn collect_unfinished() {
        let Ok(entries) = std::fs::read_dir(root()) else { return };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(pid) = (name.strip_prefix(".new-").or_else(|| name.strip_prefix(".old-")))
                .and_then(|rest| rest.rsplit_once('-'))
                .map(|(_, pid)| pid)
            else {
                continue;
            };
            if pid.parse::<i32>().is_ok_and(|pid| !std::path::Path::new(&format!("/proc/{pid}")).exists()) {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
    }

    pub fn open(name: &str) -> Result<ContainerDir> {
        let path = root().join(name);
        if !path.is_dir() {
            // docker's code for a management verb's failure.
            return Err(Error::container(name, "no such container").with_code(1));
        }
        Ok(ContainerDir { path, keep: true, lock: None })
    }

    /// The mount point of the container's staging tmpfs: the entry itself, covered only
    /// in the container's own mount namespace (no directory of its own to make and free).
    pub fn staging(&self) -> PathBuf {
        self.path.clone()
    }

    pub fn log(&self) -> PathBuf {
        self.path.join("log")
    }

    /// The descriptor holding the entry's lock, when this process holds it.
    pub fn lock_fd(&self) -> Option<rustix::fd::BorrowedFd<'_>> {
        self.lock.as_ref().map(rustix::fd::AsFd::as_fd)
    }

    pub fn keep(&mut self) {
        self.keep = true;
    }

    /// Removes the directory now (the --rm and `husk rm` path).
    pub fn remove(mut self) {
        self.keep = false;
    }

    /// Replaces the state file atomically (write, rename). A detached container's entry
    /// outlives husk's processes, so it is also fsynced before the rename; a foreground
    /// entry is gone when its run ends, and a machine crash ends the run anyway (the
    /// fsync would cost about a millisecond of every start-up on a disk-backed /run).
    pub fn save(&self, state: &State) -> Result<()> {
        save_atomically(&self.path.join("state"), state.to_text().as_bytes(), state.detached)
    }

    pub fn load(&self) -> Result<State> {
        let file = self.path.join("state");
        let text = std::fs::read_to_string(&file).ctx("read", file.display())?;
        State::parse(&text).ok_or_else(|| Error::msg(format!("state file {}", file.display()), "truncated or corrupt"))
    }
}

impl Drop for ContainerDir {
    fn drop(&mut self) {
        if self.keep {
            return;
        }
        // Out of the name space first, in one step: a removal cut short leaves a
        // `.old-` directory for `collect_unfinished`, never a named entry half gone.
        let name = self.path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let doomed = self.path.with_file_name(format!(".old-{name}-{}", rustix::process::getpid().as_raw_nonzero()));
        let path =
            if name.starts_with('.') || std::fs::rename(&self.path, &doomed).is_err() { &self.path } else { &doomed };
        let _ = std::fs::remove_dir_all(path);
    }
}

/// write, (fsync,) rename: readers see the old file or the new one, never half of one.
fn save_atomically(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    // Per writer: two writers never share (and truncate) one temporary file.
    let tmp = path.with_extension(format!("tmp-{}", rustix::process::getpid().as_raw_nonzero()));
    let mut file = std::fs::File::create(&tmp).ctx("create", tmp.display())?;
    file.write_all(bytes).ctx("write", tmp.display())?;
    if durable {
        file.sync_all().ctx("fsync", tmp.display())?;
        return std::fs::rename(&tmp, path).ctx("rename", path.display());
    }
    // Exchanged rather than renamed over: ext4 forces the blocks of a file renamed over
    // another to be allocated and written (auto_da_alloc), and freeing them again costs
    // a synchronous discard on a disk mounted with -o discard. An exchanged file stays
    // in the page cache until the entry goes. Readers see the old file or the new one.
    let cwd = rustix::fs::CWD;
    match rustix::fs::renameat_with(cwd, &tmp, cwd, path, rustix::fs::RenameFlags::EXCHANGE) {
        Ok(()) => {
            let _ = std::fs::remove_file(&tmp);
            Ok(())
        }
        // Filesystems without RENAME_EXCHANGE, or no file to exchange with yet.
        Err(Errno::INVAL | Errno::NOENT) => std::fs::rename(&tmp, path).ctx("rename", path.display()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(Error::sys("rename", path.display(), e))
        }
    }
}

/// Every container directory's name, sorted.
pub fn names() -> Vec<String> {
    let mut names: Vec<String> = match std::fs::read_dir(root()) {
        Ok(entries) => entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|n| !n.starts_with('.') && n != "networks")
            .collect(),
        Err(_) => Vec::new(),
    };
    crate::ids::sort_names(&mut names);
    names
}

/// The init of a running container: what `exec`, `stop` and a shared network act on.
pub fn find_running(name: &str) -> Result<(ContainerDir, State)> {
    find_live(name, &[Status::Running])
}

/// A container whose init lives and whose status is one of `statuses` (signals reach a
/// created container too).
pub fn find_live(name: &str, statuses: &[Status]) -> Result<(ContainerDir, State)> {
    let dir = ContainerDir::open(name)?;
    let state = dir.load()?;
    if !statuses.contains(&state.status) || !state.init.alive() {
        return Err(Error::container(name, "is not running").with_code(1));
    }
    Ok((dir, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_files_round_trip_and_garbage_is_refused() {
        let mut st = State::new("web");
        st.status = Status::Exited;
        st.exit_code = Some(3);
        st.command = "sh -c 'echo a\nb'".into();
        let back = State::parse(&st.to_text()).unwrap();
        assert_eq!(back.command, st.command);
        assert_eq!(back.status_text(), "exited (3)");
        assert!(State::parse("garbage").is_none());
        assert!(State::parse(&st.to_text()[..20]).is_none(), "a truncated file is refused");
    }
}
