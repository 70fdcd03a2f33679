//! Links: the bridge containers share, and the veth pair whose peer is created directly
//! inside the container's network namespace (no window where it sits on the host).

use crate::error::{Error, Result};
use crate::netlink::{self, Message, Socket, ifinfomsg};
use linux_raw_sys::netlink as nl;
use rustix::io::Errno;

/// Not bound by linux-raw-sys (linux/veth.h).
const VETH_INFO_PEER: u16 = 1;
const IFF_UP: u32 = linux_raw_sys::net::net_device_flags::IFF_UP as u32;
/// IFNAMSIZ minus the NUL.
pub const MAX_NAME: usize = 15;

/// Creates the bridge `name` unless it exists, and brings it up. Returns its index.
pub fn ensure_bridge(sock: &mut Socket, name: &str) -> Result<i32> {
    let mut msg = Message::new(nl::RTM_NEWLINK as u16, (nl::NLM_F_CREATE | nl::NLM_F_EXCL) as u16);
    msg.body(&ifinfomsg(0, IFF_UP, IFF_UP));
    msg.attr_str(nl::IFLA_IFNAME as u16, name);
    msg.begin_nest(nl::IFLA_LINKINFO as u16).attr_str(nl::IFLA_INFO_KIND as u16, "bridge").end_nest();
    match sock.request(&mut msg, &format!("create bridge {name}")) {
        // Another run made it first, or it was left from an earlier container.
        Ok(()) | Err(Error { errno: Some(Errno::EXIST), .. }) => {}
        Err(e) => return Err(e),
    }
    let index = netlink::index_of(sock, name)?;
    netlink::link_up(sock, index, name)?;
    Ok(index)
}

/// The kind of link `name` ("bridge", "veth"; "" for plain devices like lo), or None
/// when there is no such link.
pub fn kind_of(sock: &mut Socket, name: &str) -> Result<Option<String>> {
    let mut msg = Message::new(nl::RTM_GETLINK as u16, nl::NLM_F_ACK as u16);
    msg.body(&ifinfomsg(0, 0, 0));
    msg.attr_str(nl::IFLA_IFNAME as u16, name);
    let mut kind = None;
    let found = sock.dump(&mut msg, &format!("look up link {name}"), |msg_kind, payload| {
        if msg_kind != nl::RTM_NEWLINK as u16 || payload.len() < 16 {
            return;
        }
        let mut k = String::new();
        for (attr, data) in netlink::Attrs::new(&payload[16..]) {
            if attr == nl::IFLA_LINKINFO as u16 {
                for (inner, value) in netlink::Attrs::new(data) {
                    if inner == nl::IFLA_INFO_KIND as u16 {
                        k = String::from_utf8_lossy(value.split(|&b| b == 0).next().unwrap_or_default()).into_owned();
                    }
                }
            }
        }
        kind = Some(k);
    });
    match found {
        Ok(()) => Ok(kind),
        Err(Error { errno: Some(Errno::NODEV), .. }) => Ok(None),
        Err(e) => Err(e),
    }
}

/// What the container's end of a veth pair looks like.
pub struct Peer<'a> {
    pub name: &'a str,
    /// The container's init: its network namespace receives the peer.
    pub pid: i32,
    pub mac: Option<[u8; 6]>,
    pub mtu: Option<u32>,
}

/// Creates `host` (attached to bridge `master`, up) and its peer inside the namespace of
/// `peer.pid`, in one request: either both exist afterwards or neither does.
pub fn create_veth(sock: &mut Socket, host: &str, master: i32, peer: &Peer<'_>) -> Result<()> {
    let mut msg = Message::new(nl::RTM_NEWLINK as u16, (nl::NLM_F_CREATE | nl::NLM_F_EXCL) as u16);
    msg.body(&ifinfomsg(0, IFF_UP, IFF_UP));
    msg.attr_str(nl::IFLA_IFNAME as u16, host);
    msg.attr_u32(nl::IFLA_MASTER as u16, master as u32);
    if let Some(mtu) = peer.mtu {
        msg.attr_u32(nl::IFLA_MTU as u16, mtu);
    }
    msg.begin_nest(nl::IFLA_LINKINFO as u16);
    msg.attr_str(nl::IFLA_INFO_KIND as u16, "veth");
    msg.begin_nest(nl::IFLA_INFO_DATA as u16);
    // The peer is an ifinfomsg followed by attributes, not a plain nest: iproute2 sends it
    // without NLA_F_NESTED, and so does husk.
    msg.begin_plain(VETH_INFO_PEER);
    msg.body(&ifinfomsg(0, 0, 0));
    msg.attr_str(nl::IFLA_IFNAME as u16, peer.name);
    msg.attr_u32(nl::IFLA_NET_NS_PID as u16, peer.pid as u32);
    if let Some(mac) = peer.mac {
        msg.attr(nl::IFLA_ADDRESS as u16, &mac);
    }
    if let Some(mtu) = peer.mtu {
        msg.attr_u32(nl::IFLA_MTU as u16, mtu);
    }
    msg.end_nest().end_nest().end_nest();
    sock.request(&mut msg, &format!("create veth {host}"))
}

/// Deletes a link by name; one that is already gone is not an error.
pub fn delete(sock: &mut Socket, name: &str) -> Result<()> {
    let mut msg = Message::new(nl::RTM_DELLINK as u16, 0);
    msg.body(&ifinfomsg(0, 0, 0));
    msg.attr_str(nl::IFLA_IFNAME as u16, name);
    match sock.request(&mut msg, &format!("delete link {name}")) {
        Err(Error { errno: Some(Errno::NODEV), .. }) => Ok(()),
        other => other,
    }
}

/// A fresh host-side name: "husk" and 8 random hex digits (12 of the 15 allowed bytes).
pub fn host_name() -> String {
    format!("husk{}", crate::ids::hex(4))
}

/// Interface names: 1-15 bytes, no '/', whitespace or ':' (the kernel's dev_valid_name).
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name != "."
        && name != ".."
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b'/' && b != b':');
    if !ok {
        return Err(Error::msg(
            format!("{what} \"{name}\""),
            "an interface name is 1-15 characters without '/', ':' or spaces",
        ));
    }
    Ok(())
}
