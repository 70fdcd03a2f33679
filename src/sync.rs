//! The channel between the launcher and the container's init while the container is being
//! set up: a SOCK_SEQPACKET socketpair (message boundaries for free). The parent sends
//! GO once it has done its side (id maps, cgroups, veth). A container that stops at
//! `created` says READY when everything up to the command's exec is done and waits for
//! START; a plain run waits for START only when the parent attaches a device policy
//! while the child builds its root. Otherwise the child answers only when something
//! failed, with the exit code and the one-line reason. End-of-file on the parent's side
//! means every copy of the child's end is closed: the init dropped its copy and the
//! command's exec closed the last one (close-on-exec), so the command runs.

use crate::error::{Error, Result};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::net::{
    self, AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketFlags, SocketType,
};
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;

const GO: u8 = b'G';
const READY: u8 = b'R';
const START: u8 = b'S';
/// Carries the master of the container's terminal (SCM_RIGHTS); failures carry their
/// exit code (125..=127) in the same first byte, so the two cannot be confused.
const TERMINAL: u8 = b'T';
const MAX_MESSAGE: usize = 1024;

pub struct ParentEnd(OwnedFd);
pub struct ChildEnd(OwnedFd);

pub fn pair() -> Result<(ParentEnd, ChildEnd)> {
    let (a, b) = net::socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)
        .map_err(|e| Error::sys("create sync socketpair", "", e))?;
    Ok((ParentEnd(a), ChildEnd(b)))
}

impl ParentEnd {
    pub fn go(&self) -> Result<()> {
        retry(|| net::send(&self.0, &[GO], SendFlags::NOSIGNAL))
            .map(|_| ())
            .map_err(|e| Error::sys("signal the container to proceed", "", e))
    }

    /// Receives the master of the terminal the child made in its own devpts, or the
    /// child's failure.
    pub fn recv_terminal(&self) -> Result<OwnedFd> {
        let mut buf = [0u8; MAX_MESSAGE];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
        let mut control = RecvAncillaryBuffer::new(&mut space);
        let got =
            retry(|| net::recvmsg(&self.0, &mut [IoSliceMut::new(&mut buf)], &mut control, RecvFlags::CMSG_CLOEXEC))
                .map_err(|e| Error::sys("receive the container's terminal", "", e))?;
        let mut fds = control.drain().filter_map(|m| match m {
            RecvAncillaryMessage::ScmRights(mut fds) => fds.next(),
            _ => None,
        });
        match (got.bytes, buf[0], fds.next()) {
            (1, TERMINAL, Some(fd)) => Ok(fd),
            (0, _, _) => Err(Error::msg("container setup", "the container's init exited before it made a terminal")),
            (n, code, _) => Err(failure(code, &buf[1..n])),
        }
    }

    /// Releases a created container: its init goes on to exec the command. An init
    /// that is gone already (it failed) is not an error here: its report is read next.
    pub fn start(&self) -> Result<()> {
        match retry(|| net::send(&self.0, &[START], SendFlags::NOSIGNAL)) {
            Ok(_) | Err(Errno::PIPE | Errno::CONNRESET) => Ok(()),
            Err(e) => Err(Error::sys("start the container", "", e)),
        }
    }

    /// Waits until the child is created (READY), or returns its reported failure.
    pub fn wait_ready(&self) -> Result<()> {
        let mut buf = [0u8; MAX_MESSAGE];
        match retry(|| net::recv(&self.0, &mut buf[..], RecvFlags::empty())) {
            Ok((1, _)) if buf[0] == READY => Ok(()),
            Ok((0, _)) => Err(Error::msg("container setup", "the container's init exited before it was ready")),
            Ok((n, _)) => Err(failure(buf[0], &buf[1..n])),
            Err(e) => Err(Error::sys("wait for the container to be created", "", e)),
        }
    }

    /// Waits until the command has started, or returns the child's reported failure. A
    /// child that died without a word gets a generic error.
    pub fn wait_started(&self) -> Result<()> {
        let mut buf = [0u8; MAX_MESSAGE];
        match retry(|| net::recv(&self.0, &mut buf[..], RecvFlags::empty())) {
            Ok((0, _)) => Ok(()),
            Ok((n, _)) => Err(failure(buf[0], &buf[1..n])),
            Err(e) => Err(Error::sys("wait for the container to start", "", e)),
        }
    }
}

impl ChildEnd {
    /// Whether the launcher has gone (its end closed): the check a child makes when it
    /// has no GO to wait for, right after arming its parent-death signal. A START already
    /// queued makes the socket readable too, so only a hang-up counts.
    pub fn parent_gone(&self) -> bool {
        use rustix::event::{PollFd, PollFlags, poll};
        let mut fds = [PollFd::new(&self.0, PollFlags::IN)];
        let zero = rustix::time::Timespec { tv_sec: 0, tv_nsec: 0 };
        match poll(&mut fds, Some(&zero)) {
            Ok(0) => false,
            Ok(_) => fds[0].revents().intersects(PollFlags::HUP | PollFlags::ERR),
            Err(_) => true,
        }
    }

    /// Says the container is created (when `ready`), then blocks until START. False
    /// when the parent went away instead.
    pub fn wait_start(&self, ready: bool) -> bool {
        if ready && retry(|| net::send(&self.0, &[READY], SendFlags::NOSIGNAL)).is_err() {
            return false;
        }
        let mut buf = [0u8; 1];
        matches!(retry(|| net::recv(&self.0, &mut buf[..], RecvFlags::empty())), Ok((1, _)) if buf[0] == START)
    }

    /// Says the container is created, without waiting for START (an OCI container's
    /// init waits on its fifo instead). False when the parent went away.
    pub fn say_ready(&self) -> bool {
        retry(|| net::send(&self.0, &[READY], SendFlags::NOSIGNAL)).is_ok()
    }

    /// Blocks until the parent says GO. False when the parent went away instead.
    pub fn wait_go(&self) -> bool {
        let mut buf = [0u8; 1];
        matches!(retry(|| net::recv(&self.0, &mut buf[..], RecvFlags::empty())), Ok((1, _)) if buf[0] == GO)
    }

    pub fn send_terminal(&self, master: &OwnedFd) -> Result<()> {
        send_fd(&self.0, &[TERMINAL], master).map_err(|e| Error::sys("send the terminal to the launcher", "", e))
    }

    pub fn fail(&self, code: u8, text: &str) {
        let mut msg = Vec::with_capacity(1 + text.len());
        msg.push(code);
        msg.extend_from_slice(&text.as_bytes()[..text.len().min(MAX_MESSAGE - 1)]);
        let _ = net::send(&self.0, &msg, SendFlags::NOSIGNAL);
    }

    pub fn raw(&self) -> &OwnedFd {
        &self.0
    }
}

/// Sends `fd` over the unix socket `sock` as SCM_RIGHTS, with `payload` (at least a
/// byte): the terminal to the launcher, and to an OCI caller's console socket.
pub fn send_fd(sock: &OwnedFd, payload: &[u8], fd: &OwnedFd) -> std::result::Result<(), Errno> {
    let fds = [rustix::fd::AsFd::as_fd(fd)];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    retry(|| net::sendmsg(sock, &[IoSlice::new(payload)], &mut control, SendFlags::NOSIGNAL)).map(|_| ())
}

/// A failure reported by the child: its exit code and its one-line text.
fn failure(code: u8, text: &[u8]) -> Error {
    Error { what: String::from_utf8_lossy(text).into_owned(), path: None, errno: None, why: None, code }
}

/// Retries interrupted calls. ECONNRESET is retried too: the kernel reports it once when
/// the child exits with a message of ours unread (a START it never got to), ahead of
/// the failure report the child sent before; the next call returns that report.
fn retry<T>(mut f: impl FnMut() -> std::result::Result<T, Errno>) -> std::result::Result<T, Errno> {
    let mut resets = 0;
    loop {
        match f() {
            Err(Errno::INTR) => continue,
            Err(Errno::CONNRESET) if resets == 0 => resets += 1,
            other => return other,
        }
    }
}
