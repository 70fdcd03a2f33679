//! The network part of the spec: the mode (none, host, a bridge, a namespace by path,
//! another container's) and a bridge's addresses, and what an OCI container's UTS and
//! /etc carry.

use crate::network::addr::Cidr;
use std::net::IpAddr;
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
    /// Nameservers for /etc/resolv.conf (default: the host's).
    pub dns: Vec<IpAddr>,
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
    /// An existing namespace file, e.g. /run/netns/NAME.
    Path(PathBuf),
    /// The network namespace of another running container.
    Container(String),
}

impl NetworkMode {
    /// Whether the container gets a network namespace of its own.
    pub fn new_namespace(&self) -> bool {
        matches!(self, NetworkMode::None | NetworkMode::Bridge(_))
    }
}

impl std::fmt::Display for NetworkMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NetworkMode::None => f.write_str("none"),
            NetworkMode::Host => f.write_str("host"),
            NetworkMode::Bridge(name) => write!(f, "bridge:{name}"),
            NetworkMode::Path(path) => write!(f, "ns:{}", path.display()),
            NetworkMode::Container(name) => write!(f, "container:{name}"),
        }
    }
}
