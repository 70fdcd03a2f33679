//! `husk run -d` and `husk create`: the launcher forks a supervisor (husk itself, in its
//! own session, detached from the terminal) that does the rest of the start-up, stays
//! the container's parent, relays its output into the log and records its exit. The
//! launcher returns as soon as the supervisor reports that the command has started (or,
//! for a container stopped at `created`, that it is created), printing the name.
//!
//! A created container's supervisor waits on the `start` fifo in the state directory:
//! `husk start` writes one byte into it. It also watches the init, so a container
//! killed while created is recorded as exited.

use crate::error::{Context, Error, Result};
use crate::log::Log;
use crate::namespaces::{self, Clone};
use crate::plan::{self, Launch};
use crate::spec::Spec;
use crate::state::{ContainerDir, ProcessId, State};
use husk_init::sys;
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use rustix::pipe::{PipeFlags, pipe_with};

/// What the supervisor hands to `plan::start`.
pub struct Detached {
    pub output_read: OwnedFd,
    /// The container's end; the supervisor drops its copy once the child has it, so the
    /// log sees end-of-file when the container is gone.
    pub output_write: Option<OwnedFd>,
    pub log: Log,
    notify: Option<OwnedFd>,
}

impl Detached {
    /// Tells the waiting launcher the command runs; it prints the name and exits.
    pub fn started(&mut self) {
        if let Some(fd) = self.notify.take() {
            let _ = rustix::io::write(&fd, b"ok\n");
        }
    }
}

/// The fifo a created container's supervisor waits on.
pub const START_FIFO: &str = "start";

pub fn start(spec: &Spec, mut dir: ContainerDir, state: State, opts: &Launch) -> Result<u8> {
    let (notify_read, notify_write) = pipe_with(PipeFlags::CLOEXEC).ctx("pipe", "")?;
    match namespaces::clone(0, None)? {
        Clone::Child { .. } => {
            drop(notify_read);
            // The caller's other descriptors (a lock a script holds, a pipe it waits on)
            // must not live on in a supervisor that outlives the caller.
            let notify = notify_write.as_raw_fd() as u32;
            let lock = dir.lock_fd().map_or(notify, |fd| fd.as_raw_fd() as u32);
            let _ = plan::close_fds_except(notify, lock);
            let code = supervise(spec, dir, state, notify_write, opts);
            sys::exit_group(code)
        }
        Clone::Parent { pid, .. } => {
            drop(notify_write);
            let report = read_line(&notify_read);
            if report == "ok" || report == "created" {
                dir.keep();
                println!("{}", spec.name);
                return Ok(0);
            }
            let _ = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
            // The supervisor removes the entry on a reported failure; if it died without a
            // word, nobody else will.
            if !report.is_empty() {
                dir.keep();
            }
            Err(if report.is_empty() {
                Error::msg("start the detached container", "its supervisor exited without a report")
            } else {
                let (code, text) = report.split_once(' ').unwrap_or(("125", &report));
                Error { what: text.to_string(), path: None, errno: None, why: None, code: code.parse().unwrap_or(125) }
            })
        }
    }
}

/// The supervisor's life: owns the container from here, reports start or failure.
fn supervise(spec: &Spec, dir: ContainerDir, mut state: State, notify: OwnedFd, opts: &Launch) -> i32 {
    std::panic::set_hook(Box::new(|_| sys::exit_group(125)));
    let _ = rustix::process::setsid();
    if let Ok(null) = rustix::fs::open("/dev/null", rustix::fs::OFlags::RDWR, rustix::fs::Mode::empty()) {
        let _ = rustix::stdio::dup2_stdin(&null);
        let _ = rustix::stdio::dup2_stdout(&null);
        let _ = rustix::stdio::dup2_stderr(&null);
    }
    let errors = rustix::io::dup(&notify).ok();
    let prepared = (|| {
        state.owner = ProcessId::of(rustix::process::getpid().as_raw_nonzero().get());
        dir.save(&state)?;
        let (output_read, output_write) = pipe_with(PipeFlags::CLOEXEC).ctx("pipe", "")?;
        // The final drain after the container's exit must not block on a stray writer.
        rustix::fs::fcntl_setfl(&output_read, rustix::fs::OFlags::NONBLOCK).ctx("fcntl O_NONBLOCK", "log pipe")?;
        let log = Log::create(dir.log(), opts.log_max)?;
        Ok(Detached { output_read, output_write: Some(output_write), log, notify: Some(notify) })
    })();
    let stop = opts.stop_at_created;
    let fifo = dir.path.join(START_FIFO);
    let log_path = dir.log();
    // The fifo is open before the launcher hears "created": a `husk start` right after
    // `husk create` returns must find a reader (else its open fails with ENXIO).
    let mut start_fd = None;
    let started = prepared
        .and_then(|detached| {
            if stop {
                rustix::fs::mkfifoat(rustix::fs::CWD, &fifo, rustix::fs::Mode::from(0o600))
                    .ctx("mkfifo", fifo.display())?;
                // Read-write: there is always a writer, so poll never reports a hang-up
                // between two `husk start` attempts.
                let flags = rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC;
                start_fd = Some(rustix::fs::open(&fifo, flags, rustix::fs::Mode::empty()).ctx("open", fifo.display())?);
            }
            plan::create(spec, dir, state, Some(detached), if stop { plan::Stop::AtCreated } else { plan::Stop::No })
        })
        .and_then(|created| {
            if let Some(fd) = &start_fd {
                if let Some(fd) = &errors {
                    let _ = rustix::io::write(fd, b"created\n");
                }
                wait_for_start(fd, created.pidfd())?;
            }
            created.start()
        });
    match started {
        Ok(started) => started.wait(opts.stats).code as i32,
        Err(e) => {
            if let Some(fd) = errors {
                let _ = rustix::io::write(fd.as_fd(), format!("{} {e}\n", e.code).as_bytes());
            }
            // A created container's launcher is gone: its log keeps the reason, for
            // `husk logs` (the entry stays when the failure was recorded).
            if stop && let Ok(mut log) = std::fs::OpenOptions::new().append(true).open(&log_path) {
                let _ = std::io::Write::write_all(&mut log, format!("husk: {e}\n").as_bytes());
            }
            e.code as i32
        }
    }
}

/// Blocks until `husk start` writes into the fifo, or the init dies (killed while
/// created: an error, so the container is torn down and recorded).
fn wait_for_start(fd: &OwnedFd, pidfd: Option<&OwnedFd>) -> Result<()> {
    use rustix::event::{PollFd, PollFlags, poll};
    loop {
        let mut fds = vec![PollFd::new(fd, PollFlags::IN)];
        if let Some(p) = pidfd {
            fds.push(PollFd::new(p, PollFlags::IN));
        }
        match poll(&mut fds, None) {
            Ok(_) if fds.get(1).is_some_and(|p| !p.revents().is_empty()) => {
                return Err(Error::msg("created container", "its init exited before it was started"));
            }
            Ok(_) if !fds[0].revents().is_empty() => {
                let mut byte = [0u8; 1];
                let _ = rustix::io::read(fd, &mut byte);
                return Ok(());
            }
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(Error::sys("poll", START_FIFO, e)),
        }
    }
}

fn read_line(fd: &OwnedFd) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 512];
    while !out.contains(&b'\n') {
        match rustix::io::read(fd, &mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => break,
        }
    }
    String::from_utf8_lossy(&out).trim_ascii_end().to_string()
}
