//! A small rtnetlink client over a NETLINK_ROUTE raw socket: messages are built as bytes
//! with the kernel's 4-byte alignment, every change asks for an ACK, and errors come back
//! decoded from nlmsgerr with the extended-ack text when the kernel sends one.
//! `network` builds links, addresses and routes on top of it.

use crate::error::{Error, Result};
use linux_raw_sys::netlink as nl;
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{self, AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType};

const NLMSG_HDRLEN: usize = 16;
/// Not exported by linux-raw-sys's netlink module.
const SOL_NETLINK: u32 = 270;
const NLMSG_ERROR: u16 = nl::NLMSG_ERROR as u16;
const NLMSG_DONE: u16 = nl::NLMSG_DONE as u16;

pub const fn align(len: usize) -> usize {
    (len + 3) & !3
}

/// One request being built: header, fixed body, then attributes (possibly nested).
pub struct Message {
    buf: Vec<u8>,
    nests: Vec<usize>,
}

impl Message {
    pub fn new(kind: u16, flags: u16) -> Message {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&[0; 4]); // length, patched in `finish`
        buf.extend_from_slice(&kind.to_ne_bytes());
        buf.extend_from_slice(&(flags | nl::NLM_F_REQUEST as u16).to_ne_bytes());
        buf.extend_from_slice(&[0; 8]); // sequence and port id, set when sent
        Message { buf, nests: Vec::new() }
    }

    /// The fixed struct after the header (ifinfomsg, ifaddrmsg, rtmsg), as bytes.
    pub fn body(&mut self, bytes: &[u8]) -> &mut Message {
        self.buf.extend_from_slice(bytes);
        self.pad();
        self
    }

    pub fn attr(&mut self, kind: u16, data: &[u8]) -> &mut Message {
        let len = 4 + data.len();
        self.buf.extend_from_slice(&(len as u16).to_ne_bytes());
        self.buf.extend_from_slice(&kind.to_ne_bytes());
        self.buf.extend_from_slice(data);
        self.pad();
        self
    }

    pub fn attr_u32(&mut self, kind: u16, value: u32) -> &mut Message {
        self.attr(kind, &value.to_ne_bytes())
    }

    /// A NUL-terminated string attribute (interface names, link kinds).
    pub fn attr_str(&mut self, kind: u16, value: &str) -> &mut Message {
        let mut data = value.as_bytes().to_vec();
        data.push(0);
        self.attr(kind, &data)
    }

    pub fn begin_nest(&mut self, kind: u16) -> &mut Message {
        self.nests.push(self.buf.len());
        self.attr(kind | nl::NLA_F_NESTED as u16, &[])
    }

    /// An attribute holding a struct and attributes (veth's VETH_INFO_PEER): closed with
    /// `end_nest` like a nest, but sent without NLA_F_NESTED, as iproute2 does.
    pub fn begin_plain(&mut self, kind: u16) -> &mut Message {
        self.nests.push(self.buf.len());
        self.attr(kind, &[])
    }

    pub fn end_nest(&mut self) -> &mut Message {
        let start = self.nests.pop().expect("end_nest without begin_nest");
        let len = (self.buf.len() - start) as u16;
        self.buf[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        self
    }

    fn pad(&mut self) {
        self.buf.resize(align(self.buf.len()), 0);
    }

    fn finish(&mut self, seq: u32) -> &[u8] {
        let len = self.buf.len() as u32;
        self.buf[0..4].copy_from_slice(&len.to_ne_bytes());
        self.buf[8..12].copy_from_slice(&seq.to_ne_bytes());
        &self.buf
    }
}

/// ifinfomsg as bytes: family, pad, type, index, flags, change.
pub fn ifinfomsg(index: i32, flags: u32, change: u32) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[4..8].copy_from_slice(&index.to_ne_bytes());
    b[8..12].copy_from_slice(&flags.to_ne_bytes());
    b[12..16].copy_from_slice(&change.to_ne_bytes());
    b
}

pub struct Socket {
    fd: OwnedFd,
    seq: u32,
}

impl Socket {
    /// A NETLINK_ROUTE socket in the caller's network namespace.
    pub fn open() -> Result<Socket> {
        Socket::open_protocol(None)
    }

    /// A NETLINK_NETFILTER socket (nf_tables) in the caller's network namespace.
    pub fn open_netfilter() -> Result<Socket> {
        Socket::open_protocol(Some(net::netlink::NETFILTER))
    }

    fn open_protocol(protocol: Option<net::Protocol>) -> Result<Socket> {
        let fd = net::socket_with(AddressFamily::NETLINK, SocketType::RAW, SocketFlags::CLOEXEC, protocol)
            .map_err(|e| Error::sys("open netlink socket", "", e))?;
        // Extended acks carry the kernel's reason ("Invalid prefix for given prefix length")
        // in the error reply; older kernels refuse the option and just give errnos.
        let _ = husk_init::sys::setsockopt_u32(fd.as_fd(), SOL_NETLINK, nl::NETLINK_EXT_ACK, 1);
        net::bind(&fd, &net::netlink::SocketAddrNetlink::new(0, 0))
            .map_err(|e| Error::sys("bind netlink socket", "", e))?;
        Ok(Socket { fd, seq: 0 })
    }

    /// Sends `msg` with NLM_F_ACK and waits for the kernel's answer; `what` names the
    /// change in the error ("create veth husk-1a2b").
    pub fn request(&mut self, msg: &mut Message, what: &str) -> Result<()> {
        let flags = u16::from_ne_bytes([msg.buf[6], msg.buf[7]]) | nl::NLM_F_ACK as u16;
        msg.buf[6..8].copy_from_slice(&flags.to_ne_bytes());
        self.exchange(msg, what, |_, _| {})
    }

    /// Sends a dump request and hands each reply's payload (after the header) to `each`.
    pub fn dump(&mut self, msg: &mut Message, what: &str, each: impl FnMut(u16, &[u8])) -> Result<()> {
        self.exchange(msg, what, each)
    }

    /// Sends `msg` and reads replies to it until the kernel's ACK, error or end of dump.
    fn exchange(&mut self, msg: &mut Message, what: &str, mut each: impl FnMut(u16, &[u8])) -> Result<()> {
        self.seq = self.seq.wrapping_add(1);
        let seq = self.seq;
        let bytes = msg.finish(seq);
        net::sendto(&self.fd, bytes, SendFlags::empty(), &net::netlink::SocketAddrNetlink::new(0, 0))
            .map_err(|e| Error::sys(what, "", e))?;
        let mut reply = vec![0u8; 32768];
        loop {
            let (n, _) =
                net::recv(&self.fd, &mut reply[..], RecvFlags::empty()).map_err(|e| Error::sys(what, "", e))?;
            for (kind, seq_of, payload) in Messages::new(&reply[..n]) {
                if seq_of != seq {
                    continue;
                }
                match kind {
                    NLMSG_ERROR => return decode_ack(payload, what),
                    NLMSG_DONE => return Ok(()),
                    _ => each(kind, payload),
                }
            }
        }
    }

    /// Sends `msgs` as one nfnetlink batch of subsystem `subsys` (applied whole or not at
    /// all) and waits for each message's ACK; the first error is returned.
    pub fn batch(&mut self, msgs: &mut [Message], subsys: u8, what: &str) -> Result<()> {
        // NFNL_MSG_BATCH_BEGIN and _END, whose nfgenmsg names the subsystem.
        let marker = |kind: u16| {
            let mut m = Message::new(kind, 0);
            m.body(&[0, 0, 0, subsys]);
            m
        };
        let first = self.seq.wrapping_add(1);
        let mut bytes = marker(16).finish(first).to_vec();
        for (i, msg) in msgs.iter_mut().enumerate() {
            let flags = u16::from_ne_bytes([msg.buf[6], msg.buf[7]]) | nl::NLM_F_ACK as u16;
            msg.buf[6..8].copy_from_slice(&flags.to_ne_bytes());
            bytes.extend_from_slice(msg.finish(first.wrapping_add(1 + i as u32)));
        }
        let last = first.wrapping_add(1 + msgs.len() as u32);
        bytes.extend_from_slice(marker(17).finish(last));
        self.seq = last;
        net::sendto(&self.fd, &bytes, SendFlags::empty(), &net::netlink::SocketAddrNetlink::new(0, 0))
            .map_err(|e| Error::sys(what, "", e))?;
        let mut acked = 0;
        let mut reply = vec![0u8; 8192];
        while acked < msgs.len() {
            let (n, _) =
                net::recv(&self.fd, &mut reply[..], RecvFlags::empty()).map_err(|e| Error::sys(what, "", e))?;
            for (kind, seq, payload) in Messages::new(&reply[..n]) {
                if kind == NLMSG_ERROR && seq.wrapping_sub(first) <= last.wrapping_sub(first) {
                    decode_ack(payload, what)?;
                    acked += 1;
                }
            }
        }
        Ok(())
    }

    pub fn fd(&self) -> &OwnedFd {
        &self.fd
    }
}

/// nlmsgerr: an errno (0 for an ACK), the request's header, then (with NLM_F_ACK_TLVS)
/// attributes, of which NLMSGERR_ATTR_MSG is the kernel's explanation.
fn decode_ack(payload: &[u8], what: &str) -> Result<()> {
    if payload.len() < 4 {
        return Err(Error::msg(what.to_string(), "short netlink error message"));
    }
    let code = i32::from_ne_bytes([payload[0], payload[1], payload[2], payload[3]]);
    if code == 0 {
        return Ok(());
    }
    let mut err = Error::sys(what, "", Errno::from_raw_os_error(-code));
    // Without NETLINK_CAP_ACK the whole request follows the errno; its length is in it.
    if payload.len() >= 4 + NLMSG_HDRLEN {
        let req_len = u32::from_ne_bytes([payload[4], payload[5], payload[6], payload[7]]) as usize;
        let attrs_at = 4 + align(req_len.max(NLMSG_HDRLEN));
        if let Some(attrs) = payload.get(attrs_at..) {
            for (kind, data) in Attrs::new(attrs) {
                if kind == nl::nlmsgerr_attrs::NLMSGERR_ATTR_MSG as u16 {
                    let text = String::from_utf8_lossy(data.split(|&b| b == 0).next().unwrap_or_default());
                    if !text.is_empty() {
                        err.why = Some(text.into_owned());
                    }
                }
            }
        }
    }
    Err(err)
}

/// Iterates the messages in one datagram: (type, sequence, payload after the header).
pub struct Messages<'a> {
    rest: &'a [u8],
}

impl<'a> Messages<'a> {
    pub fn new(buf: &'a [u8]) -> Messages<'a> {
        Messages { rest: buf }
    }
}

impl<'a> Iterator for Messages<'a> {
    type Item = (u16, u32, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.len() < NLMSG_HDRLEN {
            return None;
        }
        let len = u32::from_ne_bytes(self.rest[0..4].try_into().ok()?) as usize;
        if len < NLMSG_HDRLEN || len > self.rest.len() {
            return None;
        }
        let kind = u16::from_ne_bytes([self.rest[4], self.rest[5]]);
        let seq = u32::from_ne_bytes(self.rest[8..12].try_into().ok()?);
        let payload = &self.rest[NLMSG_HDRLEN..len];
        self.rest = &self.rest[align(len).min(self.rest.len())..];
        Some((kind, seq, payload))
    }
}

/// Iterates rtattrs: (type without the nested flag, data).
pub struct Attrs<'a> {
    rest: &'a [u8],
}

impl<'a> Attrs<'a> {
    pub fn new(buf: &'a [u8]) -> Attrs<'a> {
        Attrs { rest: buf }
    }
}

impl<'a> Iterator for Attrs<'a> {
    type Item = (u16, &'a [u8]);
    fn next(&mut self) -> Option<Self::Item> {
        if self.rest.len() < 4 {
            return None;
        }
        let len = u16::from_ne_bytes([self.rest[0], self.rest[1]]) as usize;
        if len < 4 || len > self.rest.len() {
            return None;
        }
        let kind = u16::from_ne_bytes([self.rest[2], self.rest[3]]) & !(nl::NLA_F_NESTED as u16);
        let data = &self.rest[4..len];
        self.rest = &self.rest[align(len).min(self.rest.len())..];
        Some((kind, data))
    }
}

/// Brings an interface up by index.
pub fn link_up(sock: &mut Socket, index: i32, name: &str) -> Result<()> {
    let up = linux_raw_sys::net::net_device_flags::IFF_UP as u32;
    let mut msg = Message::new(nl::RTM_NEWLINK as u16, 0);
    msg.body(&ifinfomsg(index, up, up));
    sock.request(&mut msg, &format!("bring up {name}"))
}

/// The index of an interface in the socket's namespace.
pub fn index_of(sock: &Socket, name: &str) -> Result<i32> {
    net::netdevice::name_to_index(sock.fd(), name).map(|i| i as i32).map_err(|e| Error::sys("find interface", name, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nested_attributes_are_aligned_and_sized() {
        let mut msg = Message::new(16, 0);
        msg.body(&ifinfomsg(0, 0, 0));
        msg.begin_nest(18).attr_str(1, "veth").end_nest();
        let bytes = msg.finish(7).to_vec();
        assert_eq!(bytes.len() % 4, 0);
        assert_eq!(u32::from_ne_bytes(bytes[0..4].try_into().unwrap()) as usize, bytes.len());
        let attrs: Vec<_> = Attrs::new(&bytes[32..]).collect();
        assert_eq!(attrs.len(), 1);
        assert_eq!(attrs[0].0, 18);
        let inner: Vec<_> = Attrs::new(attrs[0].1).collect();
        assert_eq!(inner, vec![(1, &b"veth\0"[..])]);
    }

    #[test]
    fn ack_errors_carry_the_kernel_text() {
        // errno -17, a 16-byte request header, then NLMSGERR_ATTR_MSG.
        let mut payload = (-17i32).to_ne_bytes().to_vec();
        payload.extend_from_slice(&16u32.to_ne_bytes());
        payload.extend_from_slice(&[0; 12]);
        payload.extend_from_slice(&(4u16 + 7).to_ne_bytes());
        payload.extend_from_slice(&1u16.to_ne_bytes());
        payload.extend_from_slice(b"exists\0\0");
        let err = decode_ack(&payload, "create veth x").unwrap_err();
        assert_eq!(err.to_string(), "create veth x: File exists: exists");
    }
}
