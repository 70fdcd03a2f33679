//! A container's network, in the steps of `plan`:
//! - P1 `prepare`: check the mode, lease an address (bridge) or open the namespace to
//!   join (ns:PATH, container:NAME), so bad input fails before any process exists;
//! - P3 `Prepared::attach`: the parent creates the bridge if needed and the veth pair,
//!   its peer born inside the child's namespace as eth0;
//! - C3 `Prepared::enter` then `Prepared::configure_inside`: the child joins a namespace,
//!   or brings up lo (and eth0 with its address and default route) in its own;
//! - P7 dropping `Prepared`: the host end of the veth is deleted (which takes the pair
//!   and the container's eth0 with it) and the lease is given back.
//!
//! The bridge stays for the next container; `husk network rm` removes it.

pub mod addr;
pub mod lease;
pub mod link;

use crate::error::{Context, Error, Result};
use crate::netlink::{self, Socket};
use crate::spec::{NetworkMode, Spec};
use addr::Cidr;
use lease::{Lease, Registry};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use std::net::Ipv4Addr;
use std::path::Path;

pub const DEFAULT_BRIDGE: &str = "husk0";
/// The container's end of the veth pair.
const CONTAINER_IF: &str = "eth0";

pub fn default_subnet() -> Cidr {
    Cidr { addr: Ipv4Addr::new(10, 88, 0, 0), prefix: 16 }
}

/// What P1 settled for the container's network.
pub enum Prepared {
    /// A namespace of its own with lo only (`none`), or the host's (`host`).
    Own,
    Host,
    Bridge(Box<Attachment>),
    /// An existing namespace, opened (and checked) in P1.
    Join {
        fd: OwnedFd,
        what: String,
    },
}

pub struct Attachment {
    lease: Lease,
    host_if: String,
    mac: Option<[u8; 6]>,
    mtu: Option<u32>,
}

/// P1, for a validated spec. `dir` is the container's state directory, which records
/// the lease.
pub fn prepare(spec: &Spec, dir: &Path) -> Result<Prepared> {
    let net = &spec.network;
    Ok(match &net.mode {
        NetworkMode::None => Prepared::Own,
        NetworkMode::Host => Prepared::Host,
        NetworkMode::Bridge(bridge) => {
            match link::kind_of(&mut Socket::open()?, bridge)? {
                Some(kind) if kind != "bridge" => {
                    return Err(Error::msg(
                        format!("network bridge:{bridge}"),
                        "a link of that name exists and is not a bridge",
                    ));
                }
                _ => {}
            }
            let lease = Lease::take(bridge, net.subnet, net.ip, &spec.name)?;
            let host_if = link::host_name();
            let text = format!("bridge {bridge}\nip {}\nveth {host_if}\n", lease.ip);
            let path = dir.join("network");
            std::fs::write(&path, text).ctx("write", path.display())?;
            Prepared::Bridge(Box::new(Attachment { lease, host_if, mac: net.mac, mtu: net.mtu }))
        }
        NetworkMode::Path(path) => {
            let what = format!("network namespace {}", path.display());
            Prepared::Join { fd: open_netns(&what, path)?, what }
        }
        NetworkMode::Container(name) => {
            let what = format!("network of container {name}");
            let pid = running_pid(name).ok_or_else(|| {
                Error::msg(format!("network container:{name}"), format!("no running container named {name}"))
            })?;
            Prepared::Join { fd: open_netns(&what, Path::new(&format!("/proc/{pid}/ns/net")))?, what }
        }
    })
}

fn open_netns(what: &str, path: &Path) -> Result<OwnedFd> {
    let fd = rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty()).ctx(what, "")?;
    let fs = rustix::fs::fstatfs(&fd).ctx(what, "")?;
    if fs.f_type as u64 != u64::from(linux_raw_sys::general::NSFS_MAGIC) {
        return Err(Error::msg(what.to_string(), "is not a namespace file (like /run/netns/NAME)"));
    }
    Ok(fd)
}

/// The host pid of a running container's init, from its state entry.
fn running_pid(name: &str) -> Option<i32> {
    if name.contains('/') || name.starts_with('.') {
        return None;
    }
    crate::state::find_running(name).ok().map(|(_, st)| st.init.pid)
}

impl Prepared {
    /// The container's address, for /etc/hosts.
    pub fn ip(&self) -> Option<String> {
        match self {
            Prepared::Bridge(a) => Some(a.lease.ip.addr.to_string()),
            _ => None,
        }
    }

    /// P3, in the parent: the bridge and the veth pair, peer inside the child's namespace.
    pub fn attach(&self, pid: rustix::process::Pid) -> Result<()> {
        let Prepared::Bridge(a) = self else { return Ok(()) };
        let mut sock = Socket::open()?;
        let master = link::ensure_bridge(&mut sock, &a.lease.bridge)?;
        addr::add_address(&mut sock, master, a.lease.gateway_cidr(), &a.lease.bridge)?;
        let peer = link::Peer { name: CONTAINER_IF, pid: pid.as_raw_nonzero().get(), mac: a.mac, mtu: a.mtu };
        link::create_veth(&mut sock, &a.host_if, master, &peer)
    }

    /// Whether P3 has a veth to hand over (bridge mode).
    pub fn needs_attach(&self) -> bool {
        matches!(self, Prepared::Bridge(_))
    }

    /// C3, in the child, first: join the chosen namespace.
    pub fn enter(&self) -> Result<()> {
        if let Prepared::Join { fd, what } = self {
            rustix::thread::move_into_link_name_space(fd.as_fd(), Some(rustix::thread::LinkNameSpaceType::Network))
                .ctx("join the", what)?;
        }
        Ok(())
    }

    /// C3, in the child's own namespace: lo up; on a bridge, eth0 with its address, up,
    /// and the default route through the gateway.
    pub fn configure_inside(&self) -> Result<()> {
        if matches!(self, Prepared::Host | Prepared::Join { .. }) {
            return Ok(());
        }
        let mut sock = Socket::open()?;
        netlink::link_up(&mut sock, 1, "lo")?;
        if let Prepared::Bridge(a) = self {
            let index = netlink::index_of(&sock, CONTAINER_IF)?;
            addr::add_address(&mut sock, index, a.lease.ip, CONTAINER_IF)?;
            netlink::link_up(&mut sock, index, CONTAINER_IF)?;
            addr::add_default_route(&mut sock, index, a.lease.gateway)?;
        }
        Ok(())
    }
}

impl Drop for Attachment {
    /// The container's namespace takes the pair with it when it dies, but asynchronously;
    /// deleting the host end makes the teardown happen before husk exits. The lease goes
    /// right after (its own Drop).
    fn drop(&mut self) {
        if let Ok(mut sock) = Socket::open() {
            let _ = link::delete(&mut sock, &self.host_if);
        }
    }
}

/// For the lifecycle's gc: frees the leases of containers that are gone.
pub fn collect_garbage() -> Result<usize> {
    lease::collect_garbage()
}

/// One line per bridge husk manages: name, subnet, gateway, leases in use.
pub fn list() -> Result<Vec<(String, Cidr, Ipv4Addr, usize)>> {
    if !lease::dir().is_dir() {
        return Ok(Vec::new());
    }
    let reg = Registry::lock()?;
    let mut out = Vec::new();
    for bridge in reg.bridges()? {
        if let Some(record) = reg.record(&bridge)? {
            let live = reg.leases(&bridge)?.iter().filter(|e| lease::in_use(&e.container)).count();
            out.push((bridge, record.subnet, record.gateway().addr, live));
        }
    }
    Ok(out)
}

/// Deletes a bridge husk created and forgets it; refuses while containers use it,
/// unless `force`.
pub fn remove(bridge: &str, force: bool) -> Result<()> {
    link::check_name("network", bridge)?;
    let reg = Registry::lock()?;
    if reg.record(bridge)?.is_none() {
        return Err(Error::msg(format!("network {bridge}"), "no such network (see 'husk network ls')"));
    }
    let live: Vec<String> =
        reg.leases(bridge)?.into_iter().filter(|e| lease::in_use(&e.container)).map(|e| e.container).collect();
    if !live.is_empty() && !force {
        return Err(Error::msg(
            format!("network {bridge}"),
            format!("in use by {} (use -f to remove anyway)", live.join(", ")),
        ));
    }
    let mut sock = Socket::open()?;
    link::delete(&mut sock, bridge)?;
    reg.forget(bridge)
}
