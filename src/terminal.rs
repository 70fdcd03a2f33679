//! Pseudo-terminals for `-t`: the pair is opened on the host before the clone, the
//! command gets the peer as its controlling terminal, and the launcher relays between
//! the master and its own terminal, which it puts in raw mode and always restores.

use crate::error::{Context, Result};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::pty::{self, OpenptFlags};
use rustix::termios::{self, OptionalActions, Termios};

pub struct Pty {
    pub master: OwnedFd,
    pub peer: OwnedFd,
}

impl Pty {
    pub fn open() -> Result<Pty> {
        let flags = OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC;
        let master = pty::openpt(flags).ctx("open", "/dev/ptmx")?;
        pty::unlockpt(&master).ctx("unlockpt", "/dev/ptmx")?;
        // TIOCGPTPEER instead of ptsname: the name could resolve in the wrong devpts.
        let peer = pty::ioctl_tiocgptpeer(&master, flags).ctx("open the pty peer of", "/dev/ptmx")?;
        Ok(Pty { master, peer })
    }

    /// In the container, after pivot_root: /dev/console is the terminal too, as the
    /// runtime-spec and docker have it (a bind of the peer onto an empty file in the
    /// container's /dev). Best effort: a /dev that cannot take it keeps what it has.
    pub fn bind_console(&self) {
        let console = std::path::Path::new("/dev/console");
        // Made only if missing (EXCL): an existing node is mounted over, never opened.
        let flags = rustix::fs::OFlags::CREATE | rustix::fs::OFlags::EXCL | rustix::fs::OFlags::WRONLY;
        let made = rustix::fs::open(console, flags | rustix::fs::OFlags::CLOEXEC, rustix::fs::Mode::from(0o600));
        if matches!(made, Ok(_) | Err(rustix::io::Errno::EXIST)) {
            let _ = crate::mounts::bind(std::path::Path::new(&crate::mounts::fd_path(&self.peer)), console, false);
        }
    }
}

/// Copies the window size of `from` (the user's terminal) to `to` (the pty master); the
/// kernel then sends SIGWINCH to the pty's foreground process group.
pub fn copy_window_size(from: BorrowedFd<'_>, to: BorrowedFd<'_>) {
    if let Ok(size) = termios::tcgetwinsize(from) {
        let _ = termios::tcsetwinsize(to, size);
    }
}

/// The user's terminal in raw mode for as long as this lives: keys, Ctrl-C included,
/// go to the container's terminal, whose own line discipline interprets them.
pub struct RawMode {
    fd: BorrowedFd<'static>,
    saved: Termios,
}

impl RawMode {
    /// None when stdin is not a terminal (piped input with -t).
    pub fn enter(fd: BorrowedFd<'static>) -> Option<RawMode> {
        let saved = termios::tcgetattr(fd).ok()?;
        let mut raw = saved.clone();
        raw.make_raw();
        termios::tcsetattr(fd, OptionalActions::Now, &raw).ok()?;
        Some(RawMode { fd, saved })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        let _ = termios::tcsetattr(self.fd.as_fd(), OptionalActions::Now, &self.saved);
    }
}
