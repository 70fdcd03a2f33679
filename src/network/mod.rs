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
//! The bridge stays for the next container; `husk network rm` removes it. Its NAT and,
//! for an internal network, its isolation live in husk's nf_tables table (`nft`).

pub mod addr;
pub mod lease;
pub mod link;
pub mod names;
pub mod nft;
pub mod publish;

use crate::error::{Context, Error, Result};
use crate::netlink::{self, Socket};
use crate::spec::{NetworkMode, Spec};
use addr::Cidr;
use lease::{Lease, Record, Registry};
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;
use std::net::Ipv4Addr;
use std::path::Path;

pub const DEFAULT_BRIDGE: &str = "husk0";
/// The container's end of the veth pair.
const CONTAINER_IF: &str = "eth0";

/// What P1 settled for the container's network.
pub enum Prepared {
    /// A namespace of its own with lo only (`none`), or the host's (`host`).
    Own,
    Host,
    Bridge(Box<Attachment>),
    /// Connected by pasta in P3, forwarding these ports; pasta is stopped with it.
    Pasta(Vec<crate::spec::Publish>, bool, PastaPid),
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
    ports: Vec<crate::spec::Publish>,
    /// Sockets bound to the published host ports, held while the container lives.
    _held: Vec<OwnedFd>,
}

/// P1, for a validated spec. `dir` is the container's state directory, which records
/// the lease.
pub fn prepare(spec: &Spec, dir: &Path) -> Result<Prepared> {
    let net = &spec.network;
    Ok(match &net.mode {
        NetworkMode::None => Prepared::Own,
        NetworkMode::Host => Prepared::Host,
        NetworkMode::Pasta => {
            Prepared::Pasta(net.publish.clone(), spec.user_namespace(), PastaPid(dir.join("pasta.pid")))
        }
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
            let held = publish::reserve(&net.publish)?;
            let routes = || addr::routes(&mut Socket::open()?);
            let managed = managed_hosts(spec);
            // The base is written under the lease's lock: a refresh that reads the leases
            // later finds it, and the lease's own generation covers it (one lock a start).
            let base = |ip: std::net::Ipv4Addr| match managed {
                true => names::write_base(
                    &spec.name,
                    &crate::etc_files::EtcFiles::for_spec(spec, Some(&ip.to_string())).hosts,
                ),
                false => Ok(()),
            };
            let lease = Lease::take(bridge, net.subnet, net.ip, &spec.name, &net.aliases, routes, base)?;
            if managed {
                names::sync(bridge, lease.generation)?;
            }
            let host_if = link::host_name();
            let text = format!("bridge {bridge}\nip {}\nveth {host_if}\n", lease.ip);
            let path = dir.join("network");
            std::fs::write(&path, text).ctx("write", path.display())?;
            let ports = net.publish.clone();
            Prepared::Bridge(Box::new(Attachment { lease, host_if, mac: net.mac, mtu: net.mtu, ports, _held: held }))
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

/// Whether husk keeps the container's /etc/hosts current with its network's members: on
/// a bridge, unless the engine (OCI) or a volume of the user's provides the file.
pub fn managed_hosts(spec: &Spec) -> bool {
    matches!(spec.network.mode, NetworkMode::Bridge(_))
        && !spec.network.image_etc
        && !spec.mounts.iter().any(|m| m.destination == "/etc/hosts")
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
        if let Prepared::Pasta(ports, userns, pidfile) = self {
            return pasta(pid.as_raw_nonzero().get(), ports, *userns, &pidfile.0);
        }
        let Prepared::Bridge(a) = self else { return Ok(()) };
        let mut sock = Socket::open()?;
        let master = set_up_bridge(&mut sock, &a.lease.bridge, &a.lease.record)?;
        // Unless given, the MAC follows from the address (02:42 and its four bytes, as
        // docker does): a neighbour's ARP cache still holding an address's previous
        // owner then still points at the right MAC when the address is handed out again.
        let [a0, a1, a2, a3] = a.lease.ip.addr.octets();
        let mac = a.mac.or(Some([2, 0x42, a0, a1, a2, a3]));
        let peer = link::Peer { name: CONTAINER_IF, pid: pid.as_raw_nonzero().get(), mac, mtu: a.mtu };
        link::create_veth(&mut sock, &a.host_if, master, &peer)?;
        if !a.ports.is_empty() {
            publish::add(&a.lease.container, a.lease.ip.addr, &a.ports)?;
        }
        Ok(())
    }

    /// Whether P3 has a veth to hand over (bridge mode).
    pub fn needs_attach(&self) -> bool {
        matches!(self, Prepared::Bridge(_) | Prepared::Pasta(..))
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
            addr::add_default_route(&mut sock, index, a.lease.record.gateway)?;
        }
        Ok(())
    }
}

impl Drop for Attachment {
    /// The published ports go; the lease goes right after (its own Drop). The veth pair
    /// is left to the kernel: the container's namespace takes it along as it dies, a few
    /// milliseconds after the init, batched with other namespaces. Deleting the host end
    /// here made every bridge run wait about 19 ms for RCU grace periods (3.5x the
    /// start-up of a run without a network); the address's next owner has the same MAC
    /// (derived from the address), so the dying port is harmless meanwhile.
    fn drop(&mut self) {
        if !self.ports.is_empty() {
            let _ = publish::remove(&self.lease.container);
        }
    }
}

/// For the lifecycle's gc: frees the leases of containers that are gone.
pub fn collect_garbage() -> Result<usize> {
    lease::collect_garbage()
}

/// pasta connects the namespace of `pid` (joining its user namespace too, when it has
/// one): it copies the host's addresses and routes into it, forwards the published
/// ports, and runs on in the background, its pid in `pidfile`. It holds the namespace
/// itself, so it does not notice the container's end: `PastaPid` stops it.
fn pasta(pid: i32, ports: &[crate::spec::Publish], userns: bool, pidfile: &Path) -> Result<()> {
    let mut args: Vec<String> = vec!["--config-net".into(), "--quiet".into(), "--ipv4-only".into()];
    args.extend(["-P".into(), pidfile.display().to_string()]);
    for p in ports {
        let ip = p.host_ip.map(|ip| format!("{ip}/")).unwrap_or_default();
        args.extend([if p.udp { "-u" } else { "-t" }.into(), format!("{ip}{}:{}", p.host_port, p.port)]);
    }
    args.extend(["--netns".into(), format!("/proc/{pid}/ns/net")]);
    if userns {
        args.extend(["--userns".into(), format!("/proc/{pid}/ns/user")]);
    }
    if crate::subids::run_helper("pasta", "passt", args)? {
        return Ok(());
    }
    Err(Error::msg("network pasta", "pasta could not connect the container's network namespace"))
}

/// The pid file of a container's pasta: dropping it stops that pasta, once its command
/// line shows it is the one started with this file (a pid may have been reused). The
/// garbage pass does the same for a container whose owner was killed.
pub struct PastaPid(pub std::path::PathBuf);

impl Drop for PastaPid {
    fn drop(&mut self) {
        let Some(pid) = std::fs::read_to_string(&self.0).ok().and_then(|t| t.trim_ascii().parse::<i32>().ok()) else {
            return;
        };
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if String::from_utf8_lossy(&cmdline).contains(&*self.0.to_string_lossy()) {
            let _ = husk_init::sys::kill(pid, linux_raw_sys::general::SIGTERM);
        }
    }
}

/// The bridge up with its gateway address, and its nf_tables chains in place (made
/// again if someone flushed them). Returns the bridge's index.
fn set_up_bridge(sock: &mut Socket, bridge: &str, record: &Record) -> Result<i32> {
    let master = link::ensure_bridge(sock, bridge)?;
    addr::add_address(sock, master, record.gateway_cidr(), bridge)?;
    if !nft::has_chain(&format!("nat-{bridge}"))? {
        firewall(bridge, record)?;
    }
    Ok(master)
}

/// The network's chains: masquerade out of the subnet (unless internal), masquerade of
/// the host's loopback into the bridge (published ports reached on 127.0.0.1, which
/// route_localnet lets onto the bridge), and a forward filter: an internal network's
/// traffic stays on its bridge; into any other, only replies and published ports (DNAT)
/// come from elsewhere, so networks are kept apart as docker keeps them.
fn firewall(bridge: &str, record: &Record) -> Result<()> {
    use nft::{Expr::*, Hook, META_IIFNAME, META_OIFNAME};
    let (nat, fwd) = (format!("nat-{bridge}"), format!("fwd-{bridge}"));
    let dev = nft::ifname(bridge);
    let subnet = record.subnet.network();
    let mut batch = nft::Batch::new();
    batch.chain(&nat, Hook::Postrouting).chain(&fwd, Hook::Forward);
    let into_bridge = [Meta(META_OIFNAME), Eq(&dev), Meta(META_IIFNAME), Ne(&dev)];
    if record.internal {
        batch.rule(&fwd, &[Meta(META_IIFNAME), Eq(&dev), Meta(META_OIFNAME), Ne(&dev), Drop]);
        batch.rule(&fwd, &[into_bridge[0], into_bridge[1], into_bridge[2], into_bridge[3], Drop]);
    } else {
        let mask = subnet.mask().to_be_bytes();
        let out = [Network(12, 4), Mask(&mask), Eq(&subnet.addr.octets()), Meta(META_OIFNAME), Ne(&dev), Masquerade];
        batch.rule(&nat, &out);
        // ct state new (bit 8), ct status not dnat (bit 32): conntrack's bits, host order.
        let (new, dnat, zero) = (8u32.to_ne_bytes(), 32u32.to_ne_bytes(), [0u8; 4]);
        let unsolicited = [Ct(0), Mask(&new), Ne(&zero), Ct(2), Mask(&dnat), Eq(&zero), Drop];
        batch.rule(&fwd, &[&into_bridge[..], &unsolicited[..]].concat());
        sysctl("/proc/sys/net/ipv4/ip_forward")?;
    }
    batch.rule(&nat, &[Meta(META_OIFNAME), Eq(&dev), Network(12, 1), Eq(&[127]), Masquerade]);
    sysctl(&format!("/proc/sys/net/ipv4/conf/{bridge}/route_localnet"))?;
    batch.commit(&format!("set up nf_tables chains for network {bridge}")).map_err(|e| match e.errno {
        // No nfnetlink, or an expression the kernel cannot load.
        Some(Errno::NOENT | Errno::PROTONOSUPPORT) => Error::msg(
            format!("network {bridge}"),
            "this kernel lacks nf_tables NAT (nf_tables, nft_chain_nat, nft_masq, nft_fib_ipv4)",
        ),
        _ => e,
    })
}

/// Sets a network sysctl to 1.
fn sysctl(path: &str) -> Result<()> {
    std::fs::write(path, "1").ctx("write 1 to", path)
}

/// `husk network create`: records the network and sets its bridge up now, so mistakes
/// show here and the first container starts as fast as the next.
pub fn create(name: &str, subnet: Option<Cidr>, gateway: Option<Ipv4Addr>, internal: bool) -> Result<Record> {
    link::check_name("network", name)?;
    let mut sock = Socket::open()?;
    if link::kind_of(&mut sock, name)?.is_some_and(|k| k != "bridge") {
        return Err(Error::msg(format!("network {name}"), "a link of that name exists and is not a bridge"));
    }
    let reg = Registry::lock()?;
    if reg.record(name)?.is_some() {
        return Err(Error::msg(format!("network {name}"), "exists already"));
    }
    let subnet = match subnet {
        Some(s) if s.prefix > 30 => return Err(Error::msg(format!("subnet {s}"), "is too small (at most /30)")),
        Some(s) => {
            reg.check_overlap(name, s.network())?;
            s.network()
        }
        None => reg.free_subnet(&addr::routes(&mut sock)?)?,
    };
    let mut record = Record::new(subnet);
    if let Some(gw) = gateway {
        let n = subnet.host_number(gw);
        if !subnet.contains(gw) || n == 0 || u64::from(n) == subnet.size() - 1 {
            return Err(Error::msg(format!("gateway {gw}"), format!("is not a host address of {subnet}")));
        }
        record.gateway = gw;
    }
    record.internal = internal;
    reg.write_record(name, &record)?;
    if let Err(e) = set_up_bridge(&mut sock, name, &record) {
        let _ = delete_bridge(&mut sock, name, &reg);
        return Err(e);
    }
    Ok(record)
}

/// Whether husk has a network of this name.
pub fn exists(name: &str) -> bool {
    lease::dir().join(format!("{name}.net")).is_file()
}

/// Every network husk manages, with the containers holding its leases.
pub fn list() -> Result<Vec<(String, Record, Vec<lease::Entry>)>> {
    if !lease::dir().is_dir() {
        return Ok(Vec::new());
    }
    let reg = Registry::lock()?;
    let mut out = Vec::new();
    for bridge in reg.bridges()? {
        if let Some(record) = reg.record(&bridge)? {
            let live = reg.leases(&bridge)?.into_iter().filter(|e| lease::in_use(&e.container)).collect();
            out.push((bridge, record, live));
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
        return Err(crate::commands::network::no_such(bridge));
    }
    let live: Vec<String> =
        reg.leases(bridge)?.into_iter().filter(|e| lease::in_use(&e.container)).map(|e| e.container).collect();
    if !live.is_empty() && !force {
        return Err(Error::msg(
            format!("network {bridge}"),
            format!("in use by {} (use -f to remove anyway)", live.join(", ")),
        ));
    }
    delete_bridge(&mut Socket::open()?, bridge, &reg)
}

/// The bridge, its chains and its record; husk's table too once no network is left.
fn delete_bridge(sock: &mut Socket, bridge: &str, reg: &Registry) -> Result<()> {
    match link::delete(sock, bridge) {
        Err(Error { errno: Some(rustix::io::Errno::NODEV), .. }) | Ok(()) => {}
        Err(e) => return Err(e),
    }
    reg.forget(bridge)?;
    if reg.bridges()?.is_empty() {
        return nft::delete_table();
    }
    let mut batch = nft::Batch::new();
    batch.delete_chain(&format!("nat-{bridge}")).delete_chain(&format!("fwd-{bridge}"));
    nft::gone_is_fine(batch.commit(&format!("remove network {bridge}'s nf_tables chains")))
}
