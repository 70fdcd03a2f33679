//! `Spec::validate`: every check a spec must pass before anything is created, shared by
//! every front end. It is pure: the few host facts it needs (online CPUs and memory
//! nodes, whether husk runs as root) come in a `Host` the caller reads once. Errors name
//! the spec's fields and values, never a front end's flags.

use super::*;
use crate::error::{Error, Result};

/// What validation needs to know about the machine.
#[derive(Debug, Clone)]
pub struct Host {
    pub online_cpus: Vec<u32>,
    pub online_mems: Vec<u32>,
    pub rootless: bool,
}

impl Host {
    /// What validating `spec` needs of the host: the online lists only for a cpuset.
    pub fn read(spec: &Spec) -> Host {
        let cpuset = spec.resources.cpuset_cpus.is_some() || spec.resources.cpuset_mems.is_some();
        let list = |path: &str| {
            let text = if cpuset { std::fs::read_to_string(path).ok() } else { None };
            text.and_then(|t| parse_list(&t)).unwrap_or_else(|| vec![0])
        };
        Host {
            online_cpus: list("/sys/devices/system/cpu/online"),
            online_mems: list("/sys/devices/system/node/online"),
            rootless: !crate::privilege::full(),
        }
    }
}

/// The kernel refuses CFS quotas under 1 ms and periods outside 1 ms..1 s.
const MIN_QUOTA: u64 = 1_000;
const PERIODS: std::ops::RangeInclusive<u64> = 1_000..=1_000_000;

fn bad(what: impl Into<String>, why: impl Into<String>) -> Error {
    Error::msg(what, why)
}

impl Spec {
    pub fn validate(&self, host: &Host) -> Result<()> {
        check_name(&self.name)?;
        check_hostname(&self.hostname)?;
        self.check_process()?;
        self.check_root(host)?;
        for m in &self.mounts {
            check_mount(m)?;
        }
        self.check_namespaces()?;
        check_resources(&self.resources, host)?;
        if let Some(path) = &self.cgroups_path {
            check_cgroups_path(path)?;
        }
        self.check_network(host)?;
        for node in &self.devices {
            check_inside_path("device", &node.path)?;
            // Without a host node to bind, mknod must work: not in a user namespace.
            let source_ok = node.source.starts_with('/') || (node.source.is_empty() && !self.user_namespace());
            if !matches!(node.kind, 'c' | 'b') || !source_ok {
                return Err(bad(
                    format!("device {}", node.path),
                    "expected a character or block device with a host path",
                ));
            }
        }
        for path in self.masked_paths.iter().chain(&self.readonly_paths) {
            check_inside_path("masked or read-only path", path)?;
        }
        for (key, _) in &self.sysctl {
            if key.is_empty() || key.contains(['/', '\0']) || key.split('.').any(|c| c.is_empty() || c == "..") {
                return Err(bad(
                    format!("sysctl \"{key}\""),
                    "expected a dotted kernel parameter like net.ipv4.ip_forward",
                ));
            }
        }
        let hooks = &self.hooks;
        let all = [
            &hooks.prestart,
            &hooks.create_runtime,
            &hooks.create_container,
            &hooks.start_container,
            &hooks.poststart,
            &hooks.poststop,
        ];
        if let Some(hook) = all.into_iter().flatten().find(|h| !h.path.starts_with('/')) {
            return Err(bad(format!("hook \"{}\"", hook.path), "the path must be absolute"));
        }
        if let Some(name) = &self.network.domainname {
            check_hostname(name)
                .map_err(|_| bad(format!("domainname \"{name}\""), "use 1-64 letters, digits, '-' or '.'"))?;
            if !self.new_namespace(NamespaceKind::Uts) {
                return Err(bad(format!("domainname \"{name}\""), "needs a UTS namespace of the container's own"));
            }
        }
        Ok(())
    }

    fn check_process(&self) -> Result<()> {
        let p = &self.process;
        if p.args.is_empty() {
            return Err(bad("process", "no command given"));
        }
        if let Some(arg) = p.args.iter().find(|a| a.contains('\0')) {
            return Err(bad(format!("command argument \"{arg}\""), "contains a NUL byte"));
        }
        for kv in &p.env {
            check_env(kv)?;
        }
        check_inside_path("working directory", &p.cwd)?;
        if let Some(name) = &p.user.name {
            crate::users::check(name)?;
        }
        for r in &p.rlimits {
            if !RLIMITS.contains(&r.kind.as_str()) {
                return Err(bad(format!("rlimit {}", r.kind), "unknown resource (e.g. RLIMIT_NOFILE)"));
            }
            if r.soft > r.hard {
                return Err(bad(format!("rlimit {}", r.kind), format!("soft {} is above hard {}", r.soft, r.hard)));
            }
        }
        if let Some(mask) = p.umask.filter(|&m| m > 0o777) {
            // In decimal: octal formatting would cost the binary its own code.
            return Err(bad(format!("umask {mask}"), "expected at most 511 (octal 777)"));
        }
        if let Some(adj) = p.oom_score_adj.filter(|a| !(-1000..=1000).contains(a)) {
            return Err(bad(format!("oom_score_adj {adj}"), "expected -1000 to 1000"));
        }
        // PER_LINUX and PER_LINUX32: the domains config.json names.
        if let Some(persona) = p.personality.filter(|&d| d != 0 && d != 8) {
            return Err(bad(format!("personality {persona}"), "expected LINUX (0) or LINUX32 (8)"));
        }
        if let Some(caps) = &p.capabilities {
            for name in [&caps.bounding, &caps.effective, &caps.inheritable, &caps.permitted, &caps.ambient]
                .into_iter()
                .flatten()
            {
                if capability_number(name).is_none() {
                    return Err(bad(format!("capability \"{name}\""), "unknown capability"));
                }
            }
        }
        Ok(())
    }

    fn check_root(&self, host: &Host) -> Result<()> {
        let root = &self.root;
        let image = matches!(root.source, RootSource::Image(_));
        if !root.source.path().is_absolute() {
            return Err(bad(format!("root {}", root.source.path().display()), "must be an absolute path"));
        }
        if image && host.rootless {
            return Err(bad(
                format!("root image {}", root.source.path().display()),
                "needs root: loop devices and ext4 mounts are privileged",
            ));
        }
        match &root.write {
            RootWrite::Direct if !root.layers.is_empty() => {
                return Err(bad("root layers", "need the overlay; a root written directly has none"));
            }
            RootWrite::Persist(dir) if !dir.is_absolute() => {
                return Err(bad(format!("overlay directory {}", dir.display()), "must be an absolute path"));
            }
            _ => {}
        }
        if let Some(layer) = root.layers.iter().find(|l| !l.is_absolute()) {
            return Err(bad(format!("root layer {}", layer.display()), "must be an absolute path"));
        }
        Ok(())
    }

    fn check_namespaces(&self) -> Result<()> {
        for (i, ns) in self.namespaces.iter().enumerate() {
            if self.namespaces[..i].iter().any(|o| o.kind == ns.kind) {
                return Err(bad(format!("namespace {}", ns.kind.name()), "is listed twice"));
            }
            // What a pod's containers share: ipc, uts and cgroup are joined in the child
            // before its root is built (plan.rs, C3), pid by the launcher around the
            // clone. Joining mount, user or time namespaces would change what husk itself
            // builds on.
            let joinable =
                matches!(ns.kind, NamespaceKind::Ipc | NamespaceKind::Uts | NamespaceKind::Cgroup | NamespaceKind::Pid);
            match &ns.path {
                Some(path) if !joinable => {
                    return Err(bad(
                        format!("namespace {} {}", ns.kind.name(), path.display()),
                        "husk joins pid, ipc, uts, cgroup and network namespaces by path, not this one",
                    ));
                }
                Some(path) if !path.is_absolute() => {
                    return Err(bad(format!("namespace {} {}", ns.kind.name(), path.display()), "must be absolute"));
                }
                _ => {}
            }
        }
        for needed in [NamespaceKind::Mount, NamespaceKind::Pid] {
            let joined = needed == NamespaceKind::Pid && self.namespace(needed).is_some_and(|n| n.path.is_some());
            if !self.new_namespace(needed) && !joined {
                return Err(bad(format!("namespace {}", needed.name()), "husk containers always get a new one"));
            }
        }
        let maps = !self.uid_mappings.is_empty() || !self.gid_mappings.is_empty();
        if self.user_namespace() != maps || (maps && (self.uid_mappings.is_empty() || self.gid_mappings.is_empty())) {
            return Err(bad("id mappings", "uid and gid mappings go with a new user namespace, and it needs both"));
        }
        for m in self.uid_mappings.iter().chain(&self.gid_mappings) {
            if m.count == 0
                || m.inside.checked_add(m.count - 1).is_none()
                || m.outside.checked_add(m.count - 1).is_none()
            {
                return Err(bad(format!("id mapping {} {} {}", m.inside, m.outside, m.count), "is empty or overflows"));
            }
        }
        if self.network.mode.new_namespace() != self.new_namespace(NamespaceKind::Network) {
            return Err(bad(
                format!("network {}", self.network.mode),
                "does not agree with the namespace list (a new network namespace is needed exactly for none and bridge)",
            ));
        }
        Ok(())
    }

    fn check_network(&self, host: &Host) -> Result<()> {
        let net = &self.network;
        let bridge = matches!(net.mode, NetworkMode::Bridge(_));
        for (what, given) in [
            ("address", net.ip.is_some()),
            ("subnet", net.subnet.is_some()),
            ("MAC address", net.mac.is_some()),
            ("MTU", net.mtu.is_some()),
            ("network alias", !net.aliases.is_empty()),
        ] {
            if given && !bridge {
                return Err(bad(format!("network {}", net.mode), format!("a {what} needs a bridge network")));
            }
        }
        for name in
            net.aliases.iter().map(String::as_str).chain(net.extra_hosts.iter().filter_map(|l| l.split('\t').nth(1)))
        {
            check_hostname(name)?;
        }
        for (i, p) in net.publish.iter().enumerate() {
            if net.publish[..i].iter().any(|q| q.host_port == p.host_port && q.udp == p.udp) {
                return Err(bad(format!("published port {}/{}", p.host_port, p.proto()), "is given twice"));
            }
        }
        match &net.mode {
            NetworkMode::Bridge(name) => {
                crate::network::link::check_name("bridge", name)?;
                if host.rootless {
                    return Err(bad(format!("network bridge:{name}"), "needs root (try pasta, none or host)"));
                }
            }
            NetworkMode::Path(path) if !path.is_absolute() => {
                return Err(bad(format!("network namespace {}", path.display()), "the path must be absolute"));
            }
            NetworkMode::Container(name) if name.is_empty() || name.contains('/') || name.starts_with('.') => {
                return Err(bad(format!("network container:{name}"), "not a container name"));
            }
            _ => {}
        }
        if matches!(net.mode, NetworkMode::Path(_) | NetworkMode::Container(_)) && self.user_namespace() {
            return Err(bad(
                format!("network {}", net.mode),
                "joining a network namespace needs root without a user namespace",
            ));
        }
        if let Some(subnet) = net.subnet {
            if subnet.prefix > 30 {
                return Err(bad(format!("subnet {subnet}"), "too small: use a prefix of at most /30"));
            }
            if subnet.network() != subnet {
                return Err(bad(
                    format!("subnet {subnet}"),
                    format!("has host bits set (did you mean {}?)", subnet.network()),
                ));
            }
        }
        if let Some(mac) = net.mac {
            if mac[0] & 1 != 0 {
                return Err(bad("MAC address", "is a multicast address (the first byte must be even)"));
            }
            if mac == [0; 6] {
                return Err(bad("MAC address", "must not be all zeros"));
            }
        }
        if let Some(mtu) = net.mtu
            && !(68..=65535).contains(&mtu)
        {
            return Err(bad(format!("MTU {mtu}"), "must be between 68 and 65535"));
        }
        Ok(())
    }
}

/// Names become directory names and hostnames: keep them to a safe alphabet. Long
/// enough for the 64-hex-digit ids podman and Kubernetes give.
fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 128
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !ok {
        return Err(bad(
            format!("container name \"{name}\""),
            "use 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit",
        ));
    }
    Ok(())
}

fn check_hostname(name: &str) -> Result<()> {
    let ok =
        !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b));
    if !ok {
        return Err(bad(format!("hostname \"{name}\""), "use 1-64 letters, digits, '-' or '.'"));
    }
    Ok(())
}

pub fn check_env(kv: &str) -> Result<()> {
    match kv.split_once('=') {
        Some((key, _)) if !key.is_empty() && !kv.contains('\0') => Ok(()),
        _ => Err(bad(format!("environment entry \"{kv}\""), "expected KEY=VALUE")),
    }
}

/// An absolute path inside the container, without '..' (it is resolved in the root).
fn check_inside_path(what: &str, path: &str) -> Result<()> {
    if !path.starts_with('/') {
        return Err(bad(format!("{what} \"{path}\""), "must be an absolute path"));
    }
    if path.split('/').any(|c| c == "..") || path.contains('\0') {
        return Err(bad(format!("{what} \"{path}\""), "must not contain '..'"));
    }
    Ok(())
}

fn check_mount(m: &Mount) -> Result<()> {
    check_inside_path("mount destination", &m.destination)?;
    if m.kind == MountKind::Bind && !m.source.starts_with('/') {
        return Err(bad(format!("bind mount source \"{}\"", m.source), "must be an absolute host path"));
    }
    if let Some(d) = m.options.data.iter().find(|d| d.is_empty() || d.contains([',', '\0'])) {
        return Err(bad(format!("mount option \"{d}\" for {}", m.destination), "is empty or holds ',' or NUL"));
    }
    Ok(())
}

/// A cgroup path: no '..', nothing empty.
fn check_cgroups_path(path: &str) -> Result<()> {
    let ok = !path.trim_matches('/').is_empty()
        && path.split('/').all(|c| c != ".." && c != "." && !c.contains('\0'))
        && !path.contains('\n');
    if !ok {
        return Err(bad(format!("cgroups path \"{path}\""), "expected a cgroup path like mygroup or /mygroup"));
    }
    Ok(())
}

fn check_resources(res: &Resources, host: &Host) -> Result<()> {
    if res.memory == Some(0) {
        return Err(bad("memory limit 0", "must be more than 0"));
    }
    if let Some(swap) = res.memory_swap {
        if swap < -1 {
            return Err(bad(format!("memory+swap limit {swap}"), "expected a size, or -1 for unlimited swap"));
        }
        if swap >= 0 {
            let Some(mem) = res.memory else {
                return Err(bad("memory+swap limit", "needs a memory limit as well (it is memory plus swap)"));
            };
            if (swap as u64) < mem {
                return Err(bad(
                    format!("memory+swap limit {swap}"),
                    format!("is memory plus swap, so it must be at least the memory limit ({mem})"),
                ));
            }
        }
    }
    let period = res.cpu_period.unwrap_or(crate::cgroups::limits::CPU_PERIOD);
    if !PERIODS.contains(&period) {
        return Err(bad(format!("CPU period {period}"), "must be 1000 to 1000000 microseconds"));
    }
    if let Some(quota) = res.cpu_quota {
        if quota < MIN_QUOTA {
            return Err(bad(format!("CPU quota {quota}"), "must be at least 1000 microseconds (0.01 CPUs)"));
        }
        let online = host.online_cpus.len().max(1) as u64;
        if quota > period * online {
            return Err(bad(
                format!("CPU limit {} CPUs", crate::cgroups::limits::decimal(quota, period, 2)),
                format!("this machine has {online} CPUs"),
            ));
        }
    }
    if let Some(shares) = res.cpu_shares
        && !(2..=262_144).contains(&shares)
    {
        return Err(bad(format!("CPU shares {shares}"), "expected a whole number from 2 to 262144 (default 1024)"));
    }
    if let Some(rule) = res.devices.iter().find(|d| !matches!(d.kind, 'a' | 'b' | 'c') || d.access == 0 || d.access > 7)
    {
        return Err(bad(
            format!("device rule of type \"{}\"", rule.kind),
            "expected a type a, b or c and access of m, r, w",
        ));
    }
    if let Some(w) = res.blkio_weight.filter(|w| !(10..=1000).contains(w)) {
        return Err(bad(format!("block I/O weight {}", u32::from(w)), "expected 10 to 1000"));
    }
    if let (Some(r), Some(m)) = (res.memory_reservation, res.memory)
        && r > m
    {
        return Err(bad(format!("memory reservation {r}"), format!("is above the memory limit ({m})")));
    }
    if res.pids_limit == Some(0) {
        return Err(bad("pids limit 0", "must be more than 0"));
    }
    for (what, list, online) in [
        ("cpuset CPUs", &res.cpuset_cpus, &host.online_cpus),
        ("cpuset memory nodes", &res.cpuset_mems, &host.online_mems),
    ] {
        let Some(list) = list else { continue };
        let wanted = parse_list(list).ok_or_else(|| bad(format!("{what} \"{list}\""), "expected a list like 0-2,4"))?;
        if let Some(missing) = wanted.iter().find(|n| !online.contains(n)) {
            return Err(bad(format!("{what} \"{list}\""), format!("{missing} is not online here")));
        }
    }
    Ok(())
}

/// "0-2,4" -> [0, 1, 2, 4]; None when malformed.
pub fn parse_list(text: &str) -> Option<Vec<u32>> {
    let text = text.trim_ascii();
    if text.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for part in text.split(',') {
        let (lo, hi) = part.split_once('-').unwrap_or((part, part));
        let num = |s: &str| (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u32>().ok())?;
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo > hi || hi - lo > 65_536 {
            return None;
        }
        out.extend(lo..=hi);
    }
    Some(out)
}

const RLIMITS: [&str; 16] = [
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
];

#[cfg(test)]
#[path = "validate_tests.rs"]
pub(super) mod tests;
