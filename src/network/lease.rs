//! What husk remembers about its bridges, under the state root's `networks/`:
//! `<bridge>.net` (the subnet, written when husk first uses the bridge) and
//! `<bridge>.leases` (one "ADDRESS CONTAINER" line per address handed out). Every read
//! and write happens under one flock on `networks/.lock`, so concurrent runs never hand
//! out the same address. A lease names its container: when that container's state
//! directory is gone, or its init is dead, the address is free again.

use super::addr::Cidr;
use crate::error::{Context, Error, Result};
use crate::state;
use rustix::fd::OwnedFd;
use rustix::fs::{FlockOperation, Mode, OFlags};
use std::net::Ipv4Addr;
use std::path::PathBuf;

pub fn dir() -> PathBuf {
    state::root().join("networks")
}

/// A network husk manages: its subnet, the bridge's address in it, and whether its
/// containers are kept from everything beyond the bridge (`--internal`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Record {
    pub subnet: Cidr,
    pub gateway: Ipv4Addr,
    pub internal: bool,
}

impl Record {
    /// A subnet with its first address as the gateway.
    pub fn new(subnet: Cidr) -> Record {
        Record { subnet, gateway: subnet.host(1), internal: false }
    }

    pub fn gateway_cidr(&self) -> Cidr {
        Cidr { addr: self.gateway, prefix: self.subnet.prefix }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub ip: Ipv4Addr,
    pub container: String,
    /// `--network-alias` names, resolvable beside the container's own.
    pub aliases: Vec<String>,
}

/// The registry, locked for as long as this value lives.
pub struct Registry {
    _lock: OwnedFd,
    dir: PathBuf,
}

impl Registry {
    pub fn lock() -> Result<Registry> {
        let dir = dir();
        Ok(Registry { _lock: lock_in(&dir)?, dir })
    }

    pub fn record(&self, bridge: &str) -> Result<Option<Record>> {
        let path = self.dir.join(format!("{bridge}.net"));
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e).ctx("read", path.display()),
        };
        let what = format!("{}:", path.display());
        let line = |key: &str| text.lines().find_map(|l| l.strip_prefix(key)).map(str::trim);
        let subnet = line("subnet ").ok_or_else(|| Error::msg(what.clone(), "no subnet line"))?;
        let mut record = Record::new(Cidr::parse(&what, subnet, None)?);
        if let Some(gateway) = line("gateway ").and_then(|g| g.parse().ok()) {
            record.gateway = gateway;
        }
        record.internal = line("internal").is_some();
        Ok(Some(record))
    }

    pub fn write_record(&self, bridge: &str, record: &Record) -> Result<()> {
        let internal = if record.internal { "internal\n" } else { "" };
        let text = format!("subnet {}\ngateway {}\n{internal}", record.subnet, record.gateway);
        self.write(&format!("{bridge}.net"), &text)
    }

    /// A /16 from 10.88.0.0 up to 10.255.0.0 that overlaps neither another husk network
    /// nor any route of the host (its own addresses included).
    pub fn free_subnet(&self, routes: &[Cidr]) -> Result<Cidr> {
        let mut used = routes.to_vec();
        for bridge in self.bridges()? {
            used.extend(self.record(&bridge)?.map(|r| r.subnet));
        }
        (88..=255u8)
            .map(|b| Cidr { addr: Ipv4Addr::new(10, b, 0, 0), prefix: 16 })
            .find(|c| !used.iter().any(|u| c.overlaps(*u)))
            .ok_or_else(|| Error::msg("choose a subnet", "10.88.0.0 to 10.255.0.0 are all in use; give --subnet"))
    }

    pub fn leases(&self, bridge: &str) -> Result<Vec<Entry>> {
        let path = self.dir.join(format!("{bridge}.leases"));
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e).ctx("read", path.display()),
        };
        Ok(text
            .lines()
            .filter_map(|l| {
                let mut words = l.split_ascii_whitespace();
                let (ip, container) = (words.next()?.parse().ok()?, words.next()?.to_string());
                Some(Entry { ip, container, aliases: words.map(String::from).collect() })
            })
            .collect())
    }

    /// Writes the leases and returns the network's new generation (see `bump`).
    pub fn write_leases(&self, bridge: &str, leases: &[Entry]) -> Result<u64> {
        let text: String =
            leases.iter().map(|e| format!("{} {} {}\n", e.ip, e.container, e.aliases.join(" "))).collect();
        self.write(&format!("{bridge}.leases"), &text)?;
        self.bump(bridge)
    }

    /// The count of changes to a network's members: names::sync brings the hosts files
    /// up to it.
    pub fn generation(&self, bridge: &str) -> u64 {
        std::fs::read_to_string(self.dir.join(format!("{bridge}.generation")))
            .ok()
            .and_then(|t| t.parse().ok())
            .unwrap_or(0)
    }

    fn bump(&self, bridge: &str) -> Result<u64> {
        let next = self.generation(bridge) + 1;
        self.write(&format!("{bridge}.generation"), &next.to_string())?;
        Ok(next)
    }

    /// The bridges with a record, sorted.
    pub fn bridges(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(&self.dir).ctx("read", self.dir.display())? {
            let name = entry.ctx("read", self.dir.display())?.file_name();
            if let Some(bridge) = name.to_str().and_then(|n| n.strip_suffix(".net")) {
                out.push(bridge.to_string());
            }
        }
        crate::ids::sort_names(&mut out);
        Ok(out)
    }

    /// Refuses a subnet that overlaps another husk network's.
    pub fn check_overlap(&self, bridge: &str, subnet: Cidr) -> Result<()> {
        for other in self.bridges()? {
            if let Some(r) = self.record(&other)?.filter(|r| other != bridge && r.subnet.overlaps(subnet)) {
                return Err(Error::msg(format!("subnet {subnet}"), format!("overlaps network {other}'s {}", r.subnet)));
            }
        }
        Ok(())
    }

    /// Forgets a bridge: its record and its leases.
    pub fn forget(&self, bridge: &str) -> Result<()> {
        for file in [
            format!("{bridge}.net"),
            format!("{bridge}.leases"),
            format!("{bridge}.generation"),
            format!("hosts/{bridge}.done"),
        ] {
            let path = self.dir.join(file);
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e).ctx("remove", path.display()),
                _ => {}
            }
        }
        Ok(())
    }

    /// Written beside and renamed over, so a crash never leaves half a file.
    fn write(&self, name: &str, text: &str) -> Result<()> {
        let path = self.dir.join(name);
        let tmp = self.dir.join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).ctx("write", tmp.display())?;
        std::fs::rename(&tmp, &path).ctx("rename", path.display())
    }
}

/// A number kept in a file; 0 when there is none.
pub fn read_number(path: &std::path::Path) -> u64 {
    std::fs::read_to_string(path).ok().and_then(|t| t.parse().ok()).unwrap_or(0)
}

/// Makes `dir` and holds the exclusive flock on its `.lock` while the result lives.
pub fn lock_in(dir: &std::path::Path) -> Result<OwnedFd> {
    std::fs::create_dir_all(dir).ctx("create state directory", dir.display())?;
    let path = dir.join(".lock");
    let fd = rustix::fs::open(&path, OFlags::RDWR | OFlags::CREATE | OFlags::CLOEXEC, Mode::from(0o600))
        .ctx("open", path.display())?;
    rustix::fs::flock(&fd, FlockOperation::LockExclusive).ctx("lock", path.display())?;
    Ok(fd)
}

/// Whether `container` still holds what it leased: its entry exists and its init or
/// the husk process that owns it is alive (an unreadable entry counts as in use). The
/// owner is probed once: this runs for every lease under the registry lock, and the
/// retrying probe's 6 ms per container being set up serialised parallel starts.
pub fn in_use(container: &str) -> bool {
    let Ok(dir) = state::ContainerDir::open(container) else { return false };
    match dir.load() {
        Ok(st) => st.status != state::Status::Exited && (st.init.alive() || dir.owner_busy()),
        Err(_) => true,
    }
}

/// An address held by a container, given back when dropped.
pub struct Lease {
    pub bridge: String,
    pub ip: Cidr,
    pub record: Record,
    pub container: String,
    /// The network's lease generation this lease was written at.
    pub generation: u64,
}

impl Lease {
    /// Takes `wanted` (checked to be in the subnet and free) or the lowest free address.
    /// A network met for the first time is recorded with `subnet`, or --ip's network, or
    /// a free one; `routes` are the host's, for that choice. `chosen` runs with the
    /// address, under the same lock, before the lease is written (so that the lease's
    /// own generation covers what it writes: the container's hosts base).
    #[allow(clippy::too_many_arguments)]
    pub fn take(
        bridge: &str,
        subnet: Option<Cidr>,
        wanted: Option<Cidr>,
        container: &str,
        aliases: &[String],
        routes: impl FnOnce() -> Result<Vec<Cidr>>,
        chosen: impl FnOnce(Ipv4Addr) -> Result<()>,
    ) -> Result<Lease> {
        let reg = Registry::lock()?;
        let existing = reg.record(bridge)?;
        let record = match (existing, subnet.or(wanted.filter(|ip| ip.prefix <= 30).map(Cidr::network))) {
            (Some(r), Some(s)) if subnet.is_some() && r.subnet != s => {
                return Err(Error::msg(
                    format!("subnet {s}"),
                    format!("bridge {bridge} already has subnet {}", r.subnet),
                ));
            }
            (Some(r), _) => r,
            (None, Some(s)) => {
                reg.check_overlap(bridge, s)?;
                Record::new(s)
            }
            (None, None) => Record::new(reg.free_subnet(&routes()?)?),
        };
        let subnet = record.subnet;
        let mut leases: Vec<Entry> = reg.leases(bridge)?.into_iter().filter(|e| in_use(&e.container)).collect();
        let taken = |ip: Ipv4Addr, leases: &[Entry]| leases.iter().any(|e| e.ip == ip);
        let ip = match wanted {
            Some(w) => {
                let what = format!("address {w}");
                if !subnet.contains(w.addr) || w.prefix != subnet.prefix {
                    return Err(Error::msg(what, format!("is outside bridge {bridge}'s subnet {subnet}")));
                }
                let n = subnet.host_number(w.addr);
                if n == 0 || u64::from(n) == subnet.size() - 1 {
                    return Err(Error::msg(what, format!("is the network or broadcast address of {subnet}")));
                }
                if w.addr == record.gateway {
                    return Err(Error::msg(what, format!("is bridge {bridge}'s gateway")));
                }
                if let Some(e) = leases.iter().find(|e| e.ip == w.addr) {
                    return Err(Error::msg(what, format!("is in use by container {}", e.container)));
                }
                w.addr
            }
            None => (1..subnet.size() - 1)
                .map(|n| subnet.host(n as u32))
                .find(|ip| *ip != record.gateway && !taken(*ip, &leases))
                .ok_or_else(|| Error::msg(format!("network {bridge}"), format!("no free address left in {subnet}")))?,
        };
        chosen(ip)?;
        leases.push(Entry { ip, container: container.to_string(), aliases: aliases.to_vec() });
        let created_record = existing.is_none();
        if created_record {
            reg.write_record(bridge, &record)?;
        }
        let generation = reg.write_leases(bridge, &leases)?;
        Ok(Lease {
            bridge: bridge.to_string(),
            ip: Cidr { addr: ip, prefix: subnet.prefix },
            record,
            container: container.to_string(),
            generation,
        })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let Ok(reg) = Registry::lock() else { return };
        let Ok(mut leases) = reg.leases(&self.bridge) else { return };
        leases.retain(|e| e.container != self.container);
        let generation = reg.write_leases(&self.bridge, &leases);
        super::names::forget(&self.container);
        drop(reg);
        if let Ok(generation) = generation {
            let _ = super::names::sync(&self.bridge, generation);
        }
    }
}

/// Drops every lease whose container is gone; returns how many were freed.
pub fn collect_garbage() -> Result<usize> {
    if !dir().is_dir() {
        return Ok(0);
    }
    let reg = Registry::lock()?;
    let mut freed = 0;
    let mut changed: Vec<String> = Vec::new();
    for bridge in reg.bridges()? {
        let leases = reg.leases(&bridge)?;
        let live: Vec<Entry> = leases.iter().filter(|e| in_use(&e.container)).cloned().collect();
        if live.len() != leases.len() {
            freed += leases.len() - live.len();
            reg.write_leases(&bridge, &live)?;
            changed.push(bridge.clone());
            for gone in leases.iter().filter(|e| !live.contains(e)) {
                super::names::forget(&gone.container);
                // Its published ports, if it had any (a SIGKILLed owner never removed them).
                let _ = super::publish::remove(&gone.container);
            }
        }
    }
    drop(reg);
    for bridge in changed {
        super::names::sync(&bridge, u64::MAX)?;
    }
    Ok(freed)
}
