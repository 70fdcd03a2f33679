//! IPv4 addresses with prefixes (parsed and checked before anything is created), and the
//! netlink requests that put an address on an interface and a default route through a
//! gateway.

use crate::error::{Error, Result};
use crate::netlink::{Message, Socket};
use linux_raw_sys::netlink as nl;
use std::fmt;
use std::net::Ipv4Addr;

/// An address with its prefix length: 10.88.0.5/16.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: Ipv4Addr,
    pub prefix: u8,
}

impl Cidr {
    /// "A.B.C.D/N"; `default_prefix` applies when the "/N" is left out (None: required).
    pub fn parse(what: &str, text: &str, default_prefix: Option<u8>) -> Result<Cidr> {
        let bad = |why: &str| Error::msg(format!("{what} {text}"), why.to_string());
        let (addr, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text, None),
        };
        let addr: Ipv4Addr = addr.parse().map_err(|_| bad("not an IPv4 address (expected A.B.C.D/N)"))?;
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= 32).ok_or_else(|| bad("the prefix must be 0-32"))?,
            None => default_prefix.ok_or_else(|| bad("a prefix length is needed (A.B.C.D/N)"))?,
        };
        Ok(Cidr { addr, prefix })
    }

    pub fn mask(self) -> u32 {
        if self.prefix == 0 { 0 } else { u32::MAX << (32 - self.prefix) }
    }

    /// The network this address lies in (host bits cleared).
    pub fn network(self) -> Cidr {
        Cidr { addr: Ipv4Addr::from(u32::from(self.addr) & self.mask()), prefix: self.prefix }
    }

    pub fn contains(self, addr: Ipv4Addr) -> bool {
        u32::from(addr) & self.mask() == u32::from(self.addr) & self.mask()
    }

    /// The n-th address of the network (0 is the network address itself).
    pub fn host(self, n: u32) -> Ipv4Addr {
        Ipv4Addr::from((u32::from(self.addr) & self.mask()) | n)
    }

    /// How many addresses the network spans, network and broadcast included.
    pub fn size(self) -> u64 {
        1u64 << (32 - self.prefix)
    }

    /// Whether the two networks share an address.
    pub fn overlaps(self, other: Cidr) -> bool {
        let prefix = self.prefix.min(other.prefix);
        let wide = Cidr { addr: self.addr, prefix };
        wide.contains(other.addr)
    }

    /// The host number of `addr` within the network.
    pub fn host_number(self, addr: Ipv4Addr) -> u32 {
        u32::from(addr) & !self.mask()
    }
}

impl fmt::Display for Cidr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

/// Adds `cidr` to the interface; an address already there counts as success (two runs
/// racing to set up the same bridge).
pub fn add_address(sock: &mut Socket, index: i32, cidr: Cidr, name: &str) -> Result<()> {
    let mut msg = Message::new(nl::RTM_NEWADDR as u16, (nl::NLM_F_CREATE | nl::NLM_F_EXCL) as u16);
    let mut body = [0u8; 8];
    body[0] = linux_raw_sys::net::AF_INET as u8;
    body[1] = cidr.prefix;
    body[4..8].copy_from_slice(&(index as u32).to_ne_bytes());
    msg.body(&body);
    msg.attr(nl::IFA_LOCAL as u16, &cidr.addr.octets());
    msg.attr(nl::IFA_ADDRESS as u16, &cidr.addr.octets());
    match sock.request(&mut msg, &format!("add address {cidr} to {name}")) {
        Err(Error { errno: Some(rustix::io::Errno::EXIST), .. }) => Ok(()),
        other => other,
    }
}

/// The default route through `gateway` out of interface `index`.
pub fn add_default_route(sock: &mut Socket, index: i32, gateway: Ipv4Addr) -> Result<()> {
    let mut msg = Message::new(nl::RTM_NEWROUTE as u16, (nl::NLM_F_CREATE | nl::NLM_F_EXCL) as u16);
    let body = [
        linux_raw_sys::net::AF_INET as u8,
        0, // dst_len: the default route
        0,
        0,
        nl::rt_class_t::RT_TABLE_MAIN as u8,
        nl::RTPROT_BOOT as u8,
        nl::rt_scope_t::RT_SCOPE_UNIVERSE as u8,
        nl::RTN_UNICAST as u8,
        0,
        0,
        0,
        0,
    ];
    msg.body(&body);
    msg.attr(nl::rtattr_type_t::RTA_GATEWAY as u16, &gateway.octets());
    msg.attr_u32(nl::rtattr_type_t::RTA_OIF as u16, index as u32);
    sock.request(&mut msg, &format!("add default route via {gateway}"))
}

/// The destinations of the host's IPv4 routes in every table (the local table holds its
/// own addresses), default routes left out: what a new network's subnet must avoid.
pub fn routes(sock: &mut Socket) -> Result<Vec<Cidr>> {
    let mut msg = Message::new(nl::RTM_GETROUTE as u16, nl::NLM_F_DUMP as u16);
    msg.body(&[linux_raw_sys::net::AF_INET as u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let mut out = Vec::new();
    sock.dump(&mut msg, "list routes", |kind, payload| {
        if kind != nl::RTM_NEWROUTE as u16 || payload.len() < 12 || payload[1] == 0 {
            return;
        }
        for (attr, data) in crate::netlink::Attrs::new(&payload[12..]) {
            if let (true, Ok(octets)) = (attr == nl::rtattr_type_t::RTA_DST as u16, <[u8; 4]>::try_from(data)) {
                out.push(Cidr { addr: Ipv4Addr::from(octets), prefix: payload[1] });
            }
        }
    })?;
    Ok(out)
}

/// "aa:bb:cc:dd:ee:ff", refusing multicast addresses (the kernel would too, later).
pub fn parse_mac(what: &str, text: &str) -> Result<[u8; 6]> {
    let bad = |why: &str| Error::msg(format!("{what} {text}"), why.to_string());
    let parts: Vec<&str> = text.split(':').collect();
    if parts.len() != 6 {
        return Err(bad("expected six hex bytes like 02:42:ac:11:00:02"));
    }
    let mut mac = [0u8; 6];
    for (b, p) in mac.iter_mut().zip(&parts) {
        if p.len() != 2 {
            return Err(bad("expected six hex bytes like 02:42:ac:11:00:02"));
        }
        *b = u8::from_str_radix(p, 16).map_err(|_| bad("expected six hex bytes like 02:42:ac:11:00:02"))?;
    }
    if mac[0] & 1 != 0 {
        return Err(bad("is a multicast address (the first byte must be even)"));
    }
    if mac == [0; 6] {
        return Err(bad("must not be all zeros"));
    }
    Ok(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_and_subnets_are_checked() {
        assert!(Cidr::parse("--ip", "300.1.1.1/24", None).is_err());
        assert!(Cidr::parse("--ip", "10.0.0.1/33", None).is_err());
        assert!(Cidr::parse("--ip", "10.0.0.1", None).is_err());
        let c = Cidr::parse("--ip", "192.168.42.10/24", None).unwrap();
        assert_eq!(c.network().to_string(), "192.168.42.0/24");
        assert!(c.contains("192.168.42.200".parse().unwrap()));
        assert!(!c.contains("192.168.43.1".parse().unwrap()));
        assert_eq!(c.host(1).to_string(), "192.168.42.1");
    }

    #[test]
    fn mac_addresses_are_checked() {
        assert_eq!(parse_mac("mac", "02:42:ac:11:00:02").unwrap(), [2, 0x42, 0xac, 0x11, 0, 2]);
        assert!(parse_mac("mac", "01:00:5e:00:00:01").is_err());
        assert!(parse_mac("mac", "02:42:ac:11:00").is_err());
        assert!(parse_mac("mac", "zz:42:ac:11:00:02").is_err());
    }
}
