//! The launcher's side of a running container: it forwards the signals it receives to
//! the container's init (which passes them to the command), relays a pseudo-terminal,
//! and waits for the init's exit status through its pidfd.

use crate::error::{Context, Result};
use crate::log::Log;
use crate::terminal::{self, RawMode};
use husk_init::sys::{self, SigSet, sigbit};
use linux_raw_sys::general as g;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::process::{Pid, WaitIdOptions, WaitOptions};

/// What the launcher intercepts: the signals docker users expect to reach the container,
/// plus SIGCHLD for kernels without pidfds.
pub const FORWARDED: [u32; 8] =
    [g::SIGTERM, g::SIGINT, g::SIGHUP, g::SIGQUIT, g::SIGUSR1, g::SIGUSR2, g::SIGWINCH, g::SIGCONT];

fn launcher_set() -> SigSet {
    FORWARDED.iter().fold(sigbit(g::SIGCHLD), |set, &s| set | sigbit(s))
}

/// Blocks the launcher's signals and reads them through a signalfd. Taken before the
/// clone so that a signal arriving during set-up is queued, not lost or fatal.
pub struct Signals {
    fd: OwnedFd,
}

impl Signals {
    pub fn take() -> Result<Signals> {
        sys::set_signal_mask(launcher_set()).ctx("block signals", "")?;
        Ok(Signals { fd: sys::signalfd(launcher_set(), true).ctx("signalfd", "")? })
    }

    /// Reads one pending signal, if any (the fd is polled first).
    fn read(&self) -> Option<u32> {
        let mut buf = [0u8; sys::SIGINFO_SIZE];
        match rustix::io::read(&self.fd, &mut buf) {
            Ok(n) if n == sys::SIGINFO_SIZE => Some(sys::SigInfo::parse(&buf).signo),
            _ => None,
        }
    }
}

pub struct Container<'a> {
    pub pid: Pid,
    pub pidfd: Option<&'a OwnedFd>,
}

impl Container<'_> {
    pub fn signal(&self, sig: u32) {
        match (self.pidfd, sys::signal(sig)) {
            (Some(fd), Some(signal)) => {
                let _ = rustix::process::pidfd_send_signal(fd, signal);
            }
            _ => {
                let _ = sys::kill(self.pid.as_raw_nonzero().get(), sig);
            }
        }
    }

    /// The init's status if it has exited (never blocks).
    fn try_status(&self) -> Option<Exit> {
        let lost = Exit { code: 255, signal: None };
        if let Some(fd) = self.pidfd {
            let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG;
            return match rustix::process::waitid(rustix::process::WaitId::PidFd(fd.as_fd()), options) {
                Ok(Some(st)) => Some(match (st.exit_status(), st.terminating_signal()) {
                    (Some(code), _) => Exit { code: code as u8, signal: None },
                    (None, sig) => Exit { code: (128 + sig.unwrap_or(0)) as u8, signal: sig },
                }),
                Ok(None) | Err(Errno::INTR) => None,
                // Before 5.4 waitid has no P_PIDFD (EINVAL): the init is our child, so
                // waitpid below reaps it just as well.
                Err(Errno::INVAL | Errno::NOSYS) => self.try_waitpid(lost),
                Err(_) => Some(lost),
            };
        }
        self.try_waitpid(lost)
    }

    fn try_waitpid(&self, lost: Exit) -> Option<Exit> {
        match rustix::process::waitpid(Some(self.pid), WaitOptions::NOHANG) {
            Ok(Some((_, st))) => Some(Exit { code: husk_init::shell_status(st), signal: st.terminating_signal() }),
            Ok(None) => None,
            Err(_) => Some(lost),
        }
    }

    /// Kills the container and reaps its init: for set-up failures.
    pub fn kill_and_reap(&self) {
        self.signal(g::SIGKILL);
        let _ = rustix::process::waitpid(Some(self.pid), WaitOptions::empty());
    }
}

/// How the container's init ended: the status a shell would report, and the signal when
/// the init itself was killed (docker's "killed" state).
#[derive(Debug, Clone, Copy)]
pub struct Exit {
    pub code: u8,
    pub signal: Option<i32>,
}

/// Runs until the container's init exits.
pub fn wait(
    container: &Container,
    signals: &Signals,
    master: Option<&OwnedFd>,
    relay_stdin: bool,
    mut log: Option<(&OwnedFd, &mut Log)>,
) -> Exit {
    let pty = master;
    let stdin = sys::stdin();
    let _raw = match (pty, relay_stdin) {
        (Some(_), true) => RawMode::enter(stdin),
        _ => None,
    };
    let tty_out = rustix::termios::isatty(rustix::stdio::stdout()).then(rustix::stdio::stdout);
    if let (Some(pty), Some(out)) = (pty, tty_out.or_else(|| rustix::termios::isatty(stdin).then_some(stdin))) {
        terminal::copy_window_size(out, pty.as_fd());
    }
    let mut master_open = pty.is_some();
    let mut stdin_open = pty.is_some() && relay_stdin;
    let mut log_open = log.is_some();
    let mut buf = vec![0u8; 65536];
    loop {
        if let Some(exit) = container.try_status() {
            if let Some(pty) = pty.filter(|_| master_open) {
                drain(pty.as_fd(), &mut buf);
            }
            if let Some((output, log)) = log.as_mut() {
                // Every writer is gone with the container: read to the end.
                while let Ok(n @ 1..) = rustix::io::read(*output, &mut buf) {
                    log.write(&buf[..n]);
                }
            }
            return exit;
        }
        let mut fds = vec![PollFd::new(&signals.fd, PollFlags::IN)];
        if let Some(fd) = container.pidfd {
            fds.push(PollFd::new(fd, PollFlags::IN));
        }
        let master_at = fds.len();
        if let Some(pty) = pty.filter(|_| master_open) {
            fds.push(PollFd::new(pty, PollFlags::IN));
        }
        let stdin_at = fds.len();
        if stdin_open {
            fds.push(PollFd::from_borrowed_fd(stdin, PollFlags::IN));
        }
        let log_at = fds.len();
        if let Some((output, _)) = log.as_ref().filter(|_| log_open) {
            fds.push(PollFd::new(*output, PollFlags::IN));
        }
        match poll(&mut fds, None) {
            Ok(_) | Err(Errno::INTR) => {}
            Err(_) => return Exit { code: 255, signal: None },
        }
        let ready = |i: usize| fds.get(i).is_some_and(|f| !f.revents().is_empty());
        let (signal_ready, master_ready, stdin_ready) =
            (ready(0), master_open && ready(master_at), stdin_open && ready(stdin_at));
        let log_ready = log_open && ready(log_at);
        drop(fds);
        if signal_ready {
            while let Some(sig) = signals.read() {
                match (sig, pty) {
                    (g::SIGCHLD, _) => {}
                    (g::SIGWINCH, Some(pty)) => {
                        if let Some(out) = tty_out {
                            terminal::copy_window_size(out, pty.as_fd());
                        }
                    }
                    _ => container.signal(sig),
                }
            }
        }
        if let Some((output, log)) = log.as_mut().filter(|_| log_ready) {
            match rustix::io::read(*output, &mut buf) {
                Ok(n @ 1..) => log.write(&buf[..n]),
                // Every writer closed its output while the init lives on.
                Ok(0) => log_open = false,
                Err(Errno::INTR | Errno::AGAIN) => {}
                Err(_) => log_open = false,
            }
        }
        if let Some(pty) = pty {
            if master_ready && !copy(pty.as_fd(), rustix::stdio::stdout(), &mut buf) {
                master_open = false;
            }
            if stdin_ready && !copy(stdin, pty.as_fd(), &mut buf) {
                stdin_open = false;
                // End of piped input: the terminal's EOF character, as a typed Ctrl-D.
                let _ = rustix::io::write(pty, &[4]);
            }
        }
    }
}

/// One read and a full write; false at end of input or on an error.
fn copy(from: BorrowedFd<'_>, to: BorrowedFd<'_>, buf: &mut [u8]) -> bool {
    let n = match rustix::io::read(from, &mut *buf) {
        Ok(0) => return false,
        Ok(n) => n,
        Err(Errno::INTR | Errno::AGAIN) => return true,
        Err(_) => return false,
    };
    write_all(to, &buf[..n])
}

pub fn write_all(to: BorrowedFd<'_>, mut data: &[u8]) -> bool {
    while !data.is_empty() {
        match rustix::io::write(to, data) {
            Ok(n) => data = &data[n..],
            Err(Errno::INTR) => {}
            Err(_) => return false,
        }
    }
    true
}

/// Whatever the command printed just before it exited.
fn drain(master: BorrowedFd<'_>, buf: &mut [u8]) {
    loop {
        let mut fds = [PollFd::from_borrowed_fd(master, PollFlags::IN)];
        let zero = rustix::time::Timespec { tv_sec: 0, tv_nsec: 0 };
        if !matches!(poll(&mut fds, Some(&zero)), Ok(n) if n > 0) || !copy(master, rustix::stdio::stdout(), buf) {
            return;
        }
    }
}
