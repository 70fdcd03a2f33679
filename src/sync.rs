//! The channel between the launcher and the container's init while the container is being
//! set up: a SOCK_SEQPACKET socketpair (message boundaries for free). The parent sends
//! GO once it has done its side (id maps, cgroups, veth); the child answers only when
//! something failed, with the exit code and the one-line reason. End-of-file on the
//! parent's side means every copy of the child's end is closed: the init dropped its copy
//! and the command's exec closed the last one (close-on-exec), so the command runs.

use crate::error::{Error, Result};
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::net::{self, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

const GO: u8 = b'G';
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

    /// Waits until the command has started, or returns the child's reported failure. A
    /// child that died without a word gets a generic error.
    pub fn wait_started(&self) -> Result<()> {
        let mut buf = [0u8; MAX_MESSAGE];
        match retry(|| net::recv(&self.0, &mut buf[..], RecvFlags::empty())) {
            Ok((0, _)) => Ok(()),
            Ok((n, _)) => {
                let text = String::from_utf8_lossy(&buf[1..n]).into_owned();
                Err(Error { what: text, path: None, errno: None, why: None, code: buf[0] })
            }
            Err(e) => Err(Error::sys("wait for the container to start", "", e)),
        }
    }
}

impl ChildEnd {
    /// Blocks until the parent says GO. False when the parent went away instead.
    pub fn wait_go(&self) -> bool {
        let mut buf = [0u8; 1];
        matches!(retry(|| net::recv(&self.0, &mut buf[..], RecvFlags::empty())), Ok((1, _)) if buf[0] == GO)
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

fn retry<T>(mut f: impl FnMut() -> std::result::Result<T, Errno>) -> std::result::Result<T, Errno> {
    loop {
        match f() {
            Err(Errno::INTR) => continue,
            other => return other,
        }
    }
}
