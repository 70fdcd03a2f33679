//! The network part of the spec: the mode (none, host, a bridge, a namespace by path,
//! another container's) and a bridge's addresses, and what an OCI container's UTS and
//! /etc carry.

use crate::error::{Error, Result};
use crate::network::addr::Cidr;
use std::net::Ipv4Addr;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Network {
    pub mode: NetworkMode,
    /// The container's address and prefix on a bridge (default: the next free one).
    pub ip: Option<Cidr>,
    /// The subnet of a bridge created for this container.
    pub subnet: Option<Cidr>,
    pub mac: Option<[u8; 6]>,
    pub mtu: Option<u32>,
    /// Host ports forwarded to the container's (`-p`).
    pub publish: Vec<Publish>,
    /// Further names of the container on its network (`--network-alias`).
    pub aliases: Vec<String>,
    /// `--add-host` entries, as /etc/hosts lines ("IP\tNAME").
    pub extra_hosts: Vec<String>,
    /// Nameservers for /etc/resolv.conf (default: the host's), checked to be IP
    /// addresses and kept as given (IPv6's formatting costs 0.6 KB of binary).
    pub dns: Vec<String>,
    /// Leave /etc/hostname, /etc/hosts and /etc/resolv.conf as the image and the mounts
    /// have them: an OCI engine binds its own there. `husk run` writes them.
    pub image_etc: bool,
    /// The NIS domain name set in the container's UTS namespace beside its hostname.
    pub domainname: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub enum NetworkMode {
    /// A new network namespace with only lo, up.
    #[default]
    None,
    /// The host's network namespace.
    Host,
    /// A veth into the named bridge.
    Bridge(String),
    /// A namespace of its own connected by pasta, a user-mode network stack (rootless).
    Pasta,
    /// An existing namespace file, e.g. /run/netns/NAME.
    Path(PathBuf),
    /// The network namespace of another running container.
    Container(String),
}

impl NetworkMode {
    /// Whether the container gets a network namespace of its own.
    pub fn new_namespace(&self) -> bool {
        matches!(self, NetworkMode::None | NetworkMode::Bridge(_) | NetworkMode::Pasta)
    }
}

impl std::fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetworkMode::None => f.write_str("none"),
            NetworkMode::Pasta => f.write_str("pasta"),
            NetworkMode::Host => f.write_str("host"),
            NetworkMode::Bridge(name) => write!(f, "bridge:{name}"),
            NetworkMode::Path(path) => write!(f, "ns:{}", path.display()),
            NetworkMode::Container(name) => write!(f, "container:{name}"),
        }
    }
}

/// A published port: what reaches the host's `host_port` (on `host_ip`, or on every
/// address of the host) is forwarded to the container's `port`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Publish {
    pub host_ip: Option<Ipv4Addr>,
    pub host_port: u16,
    pub port: u16,
    pub udp: bool,
}

impl Publish {
    /// `[IP:]HOST_PORT:CONTAINER_PORT[/tcp|/udp]`, each port possibly a range `A-B` of
    /// equal length on both sides: one entry per port.
    pub fn parse(text: &str) -> Result<Vec<Publish>> {
        let bad = |why: &str| Error::msg(format!("--publish {text}"), why.to_string());
        let (ports, proto) = text.split_once('/').unwrap_or((text, "tcp"));
        let udp = match proto {
            "tcp" => false,
            "udp" => true,
            _ => return Err(bad("the protocol must be tcp or udp")),
        };
        let mut parts = ports.rsplitn(3, ':');
        let (Some(inner), Some(outer)) = (parts.next(), parts.next()) else {
            return Err(bad("expected [IP:]HOST_PORT:CONTAINER_PORT[/tcp|/udp]"));
        };
        let host_ip = match parts.next() {
            Some(ip) => Some(ip.parse().map_err(|_| bad("the host address must be IPv4 (A.B.C.D)"))?),
            None => None,
        };
        let range = |t: &str| -> Result<(u16, u16)> {
            let (a, b) = t.split_once('-').unwrap_or((t, t));
            let port = |p: &str| p.parse::<u16>().ok().filter(|p| *p > 0);
            match (port(a), port(b)) {
                (Some(a), Some(b)) if a <= b => Ok((a, b)),
                _ => Err(bad("ports are 1-65535 (a range is A-B)")),
            }
        };
        let ((h0, h1), (c0, c1)) = (range(outer)?, range(inner)?);
        if h1 - h0 != c1 - c0 {
            return Err(bad("the host and container ranges differ in length"));
        }
        Ok((0..=h1 - h0).map(|i| Publish { host_ip, host_port: h0 + i, port: c0 + i, udp }).collect())
    }

    pub fn proto(&self) -> &'static str {
        if self.udp { "udp" } else { "tcp" }
    }
}

/// As docker prints it: `0.0.0.0:8080->80/tcp`.
impl std::fmt::Display for Publish {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ip = self.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED);
        write!(f, "{ip}:{}->{}/{}", self.host_port, self.port, self.proto())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_ports_parse_as_docker_writes_them() {
        let one = Publish::parse("8080:80").unwrap();
        assert_eq!(one, vec![Publish { host_ip: None, host_port: 8080, port: 80, udp: false }]);
        assert_eq!(one[0].to_string(), "0.0.0.0:8080->80/tcp");
        let range = Publish::parse("127.0.0.1:5000-5002:6000-6002/udp").unwrap();
        assert_eq!(range.len(), 3);
        assert_eq!(range[2].to_string(), "127.0.0.1:5002->6002/udp");
        for bad in ["80", "0:80", "8080:80/sctp", "1-3:1-2", "::1:80:80", "70000:80", "x:80:80", "5-3:5-3"] {
            let err = Publish::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with(&format!("--publish {bad}: ")), "{bad}: {err}");
        }
    }
}
