//! Fallbacks for the system calls husk uses that are newer than Linux 5.4, each with the
//! behaviour of the call it stands in for: close_range (5.9; its CLOEXEC flag 5.11), pidfd_open
//! (5.3) and setns on a pidfd (5.8), waitid(P_PIDFD) (5.4, in attach.rs), clone3 and
//! CLONE_INTO_CGROUP (5.3/5.7, in namespaces.rs), openat2 (5.6, in resolve.rs) and
//! LOOP_CONFIGURE (5.8, in loopdev.rs). The newer call is always tried first; a failure
//! reports the errno of the call that failed first, not of its fallback.

use crate::error::{Error, Result};
use crate::state::ProcessId;
use husk_init::sys;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use rustix::thread::{LinkNameSpaceType as Link, ThreadNameSpaceType as Ns};
use std::time::{Duration, Instant};

/// Marks every descriptor from `first` up close-on-exec (see `close_range`).
pub fn cloexec_from(first: u32) -> Result<()> {
    close_range(first, u32::MAX, true)
}

/// close_range(2) over [first, last], marking instead of closing with `cloexec`; else
/// each open descriptor in that range in turn (listed by /proc/self/fd, or every number
/// below the descriptor limit where /proc is missing).
pub fn close_range(first: u32, last: u32, cloexec: bool) -> Result<()> {
    let errno = match sys::close_range(first, last, cloexec) {
        Ok(()) => return Ok(()),
        // ENOSYS before 5.9; EINVAL on 5.9 and 5.10, which lack the CLOEXEC flag.
        Err(e @ (Errno::NOSYS | Errno::INVAL | Errno::PERM)) => e,
        Err(e) => return Err(Error::sys("close_range", "", e)),
    };
    let fds: Vec<i32> = match std::fs::read_dir("/proc/self/fd") {
        Ok(dir) => dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect(),
        Err(_) => {
            let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(1 << 20);
            (0..limit.min(1 << 20) as i32).collect()
        }
    };
    // (The listing's own descriptor is closed by now: EBADF, skipped.)
    for fd in fds.into_iter().filter(|&fd| fd as u32 >= first && fd as u32 <= last) {
        let (done, what) = if cloexec { (sys::set_cloexec_raw(fd), "F_SETFD") } else { (sys::close_raw(fd), "close") };
        match done {
            Ok(()) | Err(Errno::BADF) => {}
            Err(e) => return Err(Error::sys("close_range", "", errno).and_fallback(format!("{what} {fd}"), e)),
        }
    }
    Ok(())
}

/// A process of another husk command (a container's init) to signal and wait for: its
/// pidfd, or where pidfd_open is missing its pid, checked against the start time that
/// was recorded with it before every use (a later process reusing the pid number has
/// another start time).
pub enum Target {
    PidFd(OwnedFd),
    Pid(ProcessId),
}

impl Target {
    /// ESRCH when the process has exited or its pid now names another process.
    pub fn open(id: ProcessId) -> Result<Target, Errno> {
        let pid = rustix::process::Pid::from_raw(id.pid).ok_or(Errno::SRCH)?;
        let target = match rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()) {
            Ok(fd) => Target::PidFd(fd),
            Err(Errno::NOSYS | Errno::PERM) => Target::Pid(id),
            Err(e) => return Err(e),
        };
        // Checked after the pidfd exists: it then pins the process the state file names.
        if !id.alive() {
            return Err(Errno::SRCH);
        }
        Ok(target)
    }

    pub fn signal(&self, sig: u32) -> Result<(), Errno> {
        match self {
            Target::PidFd(fd) => rustix::process::pidfd_send_signal(fd, sys::signal(sig).ok_or(Errno::INVAL)?),
            // The window between this check and kill is the one pidfds close; the pid
            // would have to be freed and reused within it.
            Target::Pid(id) if id.alive() => sys::kill(id.pid, sig),
            Target::Pid(_) => Err(Errno::SRCH),
        }
    }

    /// Whether the process exited within `timeout`.
    pub fn exited_within(&self, timeout: Duration) -> bool {
        match self {
            Target::PidFd(fd) => {
                let ts =
                    rustix::time::Timespec { tv_sec: timeout.as_secs() as i64, tv_nsec: timeout.subsec_nanos() as i64 };
                let mut fds = [PollFd::new(fd, PollFlags::IN)];
                loop {
                    match poll(&mut fds, Some(&ts)) {
                        Ok(n) => return n > 0,
                        Err(Errno::INTR) => continue,
                        Err(_) => return true,
                    }
                }
            }
            // Not our child, so no wait: its /proc entry says when it has gone (a zombie
            // counts as gone).
            Target::Pid(id) => {
                let end = Instant::now() + timeout;
                while id.alive() {
                    if Instant::now() >= end {
                        return false;
                    }
                    std::thread::sleep(Duration::from_millis(20));
                }
                true
            }
        }
    }
}

/// The order the namespace files are joined in when they are joined one by one: the
/// user namespace first (it grants the capabilities over the others it owns), the mount
/// namespace last.
const NAMESPACES: [(&str, Ns, Link); 7] = [
    ("user", Ns::USER, Link::User),
    ("ipc", Ns::INTER_PROCESS_COMMUNICATION, Link::InterProcessCommunication),
    ("uts", Ns::HOST_NAME_AND_NIS_DOMAIN_NAME, Link::HostNameAndNISDomainName),
    ("net", Ns::NETWORK, Link::Network),
    ("pid", Ns::PROCESS_ID, Link::ProcessID),
    ("cgroup", Ns::CONTROL_GROUP, Link::ControlGroup),
    ("mnt", Ns::MOUNT, Link::Mount),
];

/// Moves this (single-threaded) process into the `kinds` namespaces of process `id`:
/// setns on its pidfd, all at once (Linux 5.8); else every /proc/PID/ns file is opened,
/// then the process is checked to be still `id` (so every file opened is its), then
/// each is joined.
pub fn join_namespaces(id: ProcessId, kinds: Ns, name: &str) -> Result<()> {
    if kinds.is_empty() {
        return Ok(());
    }
    let first = match Target::open(id) {
        Ok(Target::PidFd(fd)) => match rustix::thread::move_into_thread_name_spaces(fd.as_fd(), kinds) {
            Ok(()) => return Ok(()),
            // Before 5.8 a pidfd is no namespace file: EINVAL.
            Err(e @ Errno::INVAL) => ("setns into container", e),
            Err(e) => return Err(Error::sys("setns into container", name, e)),
        },
        Ok(Target::Pid(_)) => ("pidfd_open for", Errno::NOSYS),
        Err(e) => return Err(Error::sys("pidfd_open for", name, e)),
    };
    let fail = |what: &str, e| Error::sys(first.0, name, first.1).and_fallback(what, e);
    let mut files = Vec::new();
    for (file, _, link) in NAMESPACES.into_iter().filter(|(_, kind, _)| kinds.contains(*kind)) {
        let path = format!("/proc/{}/ns/{file}", id.pid);
        let fd = rustix::fs::open(&path, rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC, 0.into())
            .map_err(|e| fail(&format!("open {path}"), e))?;
        files.push((fd, file, link));
    }
    if !id.alive() {
        return Err(Error::sys("join container", name, Errno::SRCH));
    }
    for (fd, file, link) in files {
        rustix::thread::move_into_link_name_space(fd.as_fd(), Some(link))
            .map_err(|e| fail(&format!("setns {file}"), e))?;
    }
    Ok(())
}

/// Pins the calling process (and what it will fork) to `--cpuset-cpus`'s CPUs. The
/// cpuset cgroup should do this by itself, but 5.10 leaves the affinity of a child born
/// in its cgroup (CLONE_INTO_CGROUP) at its parent's, so husk sets it on every kernel.
pub fn follow_cpuset(cpus: &str) -> Result<()> {
    let list = crate::spec::validate::parse_list(cpus)
        .ok_or_else(|| Error::msg(format!("cpuset CPUs \"{cpus}\""), "expected a list like 0-2,4"))?;
    let mut set = rustix::thread::CpuSet::new();
    for cpu in list {
        set.set(cpu as usize);
    }
    rustix::thread::sched_setaffinity(None, &set).map_err(|e| Error::sys("sched_setaffinity", cpus, e))
}
