//! The OCI runtime interface: the verbs podman (through conmon) and containerd (through
//! its runc shim) call, with runc's flags, over a bundle's config.json read into the one
//! container model (`config.rs`).
//!
//! The process model differs from `husk run` in one way: the caller reaps the container.
//! `husk create` does the whole start-up (plan.rs, `Stop::HandOver`) and exits once the
//! init waits, before the command's exec, on the `start` fifo in the state entry; the
//! init, no longer bound to husk by its parent-death signal, is re-parented to the
//! caller (conmon and the shim are subreapers) and the pid file names it. `husk start`
//! writes one byte into the fifo. The entry and the cgroups stay until `husk delete`;
//! the garbage pass leaves an OCI entry alone while its init lives and only marks it
//! stopped afterwards (lifecycle.rs).
//!
//! husk's own verbs and the OCI ones share one binary and one state root: `create` and
//! `run` take the OCI form when given `--bundle` (or no `--rootfs`/`--image`), `exec`
//! when given `--process`, `ps` when given a container, `kill` when its last argument is
//! a signal; `state`, `delete`, `pause`, `resume`, `list`, `features` and `spec` are
//! OCI verbs (docs/OCI.md).

// Flag handlers assign and return Ok in one expression, as in commands/.
#![allow(clippy::unit_arg)]

pub mod config;
pub mod create;
pub mod exec;
pub mod features;
pub mod hooks;
pub mod verbs;

use crate::error::{Context, Error};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// The runtime-spec version husk implements.
pub const SPEC_VERSION: &str = "1.2.0";

/// The global `--log FILE` and `--log-format` options, set before any command runs.
#[derive(Debug, Default)]
pub struct Global {
    pub log: Option<PathBuf>,
    pub json: bool,
    pub debug: bool,
}

static GLOBAL: OnceLock<Global> = OnceLock::new();

static RUNTIME_CALL: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Marks this invocation as an OCI client's (an OCI verb or form, or `--log`): failures
/// exit 1, as runc's do.
pub fn set_runtime_call() {
    RUNTIME_CALL.store(true, std::sync::atomic::Ordering::Relaxed);
}

pub fn called_as_runtime() -> bool {
    RUNTIME_CALL.load(std::sync::atomic::Ordering::Relaxed)
}

pub fn set_global(g: Global) {
    let _ = GLOBAL.set(g);
}

fn global() -> Option<&'static Global> {
    GLOBAL.get()
}

/// Records a failure in the `--log` file, as runc does: a JSON line
/// `{"level":"error","msg":...,"time":...}` (or text). conmon and the shim read the
/// reason from there.
pub fn log_error(e: &Error) {
    log("error", &e.to_string());
}

/// A debug line (with `--debug`): what husk ignored of a config.json, and why.
pub fn debug(msg: &str) {
    if global().is_some_and(|g| g.debug) {
        log("debug", msg);
    }
}

fn log(level: &str, msg: &str) {
    let Some(g) = global() else { return };
    let Some(path) = &g.log else {
        if level == "debug" {
            eprintln!("husk: debug: {msg}");
        }
        return;
    };
    let time = rfc3339(std::time::SystemTime::now());
    let line = if g.json {
        crate::json::Writer::default()
            .open("", '{')
            .str("level", level)
            .str("msg", msg)
            .str("time", &time)
            .close('}')
            .finish()
    } else {
        // logfmt quotes as JSON does.
        let mut quoted = String::new();
        let _ = crate::json::write_str(&mut quoted, msg);
        format!("time=\"{time}\" level={level} msg={quoted}")
    };
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
        let _ = f.write_all(format!("{line}\n").as_bytes());
    }
}

/// UTC time as RFC 3339 ("2026-12-02T10:30:00Z"), for logs and `state`.
pub fn rfc3339(t: std::time::SystemTime) -> String {
    let secs = t.duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let (days, rem) = (secs / 86400, secs % 86400);
    // Howard Hinnant's days-to-civil algorithm.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// In an OCI container's init, after READY: blocks until `husk start` writes into the
/// fifo (true), or the fifo's writer went away without a word (false). A signal that
/// would end a process (`husk kill`, `podman stop` of a created container) ends the init
/// here with 128+N, as it would end runc's waiting init.
pub fn wait_for_start(fifo: &OwnedFd, signals: &OwnedFd) -> bool {
    use rustix::event::{PollFd, PollFlags, poll};
    use rustix::process::Signal;
    loop {
        let mut fds = [PollFd::new(fifo, PollFlags::IN), PollFd::new(signals, PollFlags::IN)];
        match poll(&mut fds, None) {
            Ok(_) => {}
            Err(Errno::INTR) => continue,
            Err(_) => return false,
        }
        let (fifo_ready, signalled) = (fds[0].revents(), fds[1].revents());
        if fifo_ready.contains(PollFlags::IN) {
            let mut byte = [0u8; 1];
            match rustix::io::read(fifo, &mut byte) {
                Ok(1) => return true,
                Err(Errno::INTR | Errno::AGAIN) => continue,
                _ => return false,
            }
        }
        if fifo_ready.intersects(PollFlags::HUP | PollFlags::ERR) {
            return false;
        }
        if signalled.contains(PollFlags::IN) {
            let mut buf = [0u8; husk_init::sys::SIGINFO_SIZE];
            if rustix::io::read(signals, &mut buf) == Ok(buf.len()) {
                let signo = u32::from_ne_bytes([buf[0], buf[1], buf[2], buf[3]]);
                let harmless = [Signal::CHILD, Signal::WINCH, Signal::URG, Signal::CONT];
                if !harmless.iter().any(|s| s.as_raw() as u32 == signo) {
                    husk_init::sys::exit_group(128 + signo as i32);
                }
            }
        }
    }
}

/// The caller's console socket, connected before husk enters a container (its path is
/// the host's): the terminal's master goes over it as SCM_RIGHTS.
pub struct ConsoleSocket {
    sock: OwnedFd,
    path: PathBuf,
}

impl ConsoleSocket {
    pub fn connect(path: &Path) -> crate::error::Result<ConsoleSocket> {
        use rustix::net::{AddressFamily, SocketAddrUnix, SocketFlags, SocketType};
        let sock = rustix::net::socket_with(AddressFamily::UNIX, SocketType::STREAM, SocketFlags::CLOEXEC, None)
            .ctx("socket", "")?;
        let addr = SocketAddrUnix::new(path).ctx("--console-socket", path.display())?;
        rustix::net::connect(&sock, &addr).ctx("connect to the console socket", path.display())?;
        Ok(ConsoleSocket { sock, path: path.to_path_buf() })
    }

    pub fn send(&self, master: &OwnedFd) -> crate::error::Result<()> {
        // runc sends the terminal's name as the payload; clients ignore it but need a byte.
        crate::sync::send_fd(&self.sock, b"/dev/pts/0", master).ctx("send the terminal to", self.path.display())
    }
}

/// A pid file, its directory opened before husk enters a container (the path is the
/// host's); written whole (write, rename) as the clients read it: the pid in decimal,
/// no newline.
pub struct PidFile {
    dir: OwnedFd,
    name: String,
    path: PathBuf,
}

impl PidFile {
    pub fn open(path: &Path) -> crate::error::Result<PidFile> {
        let parent = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let flags = rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC;
        let dir = rustix::fs::open(parent, flags, rustix::fs::Mode::empty()).ctx("--pid-file", parent.display())?;
        Ok(PidFile { dir, name, path: path.to_path_buf() })
    }

    pub fn write(&self, pid: rustix::process::Pid) -> crate::error::Result<()> {
        use rustix::fs::{Mode, OFlags};
        let tmp = format!(".{}.husk-{}", self.name, rustix::process::getpid().as_raw_nonzero());
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&self.dir, &tmp, flags, Mode::from(0o644)).ctx("create", self.path.display())?;
        rustix::io::write(&fd, pid.as_raw_nonzero().to_string().as_bytes()).ctx("write", self.path.display())?;
        rustix::fs::renameat(&self.dir, &tmp, &self.dir, &self.name).ctx("rename onto", self.path.display())
    }
}
