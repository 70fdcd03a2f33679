//! config.json's linux.resources, linux.devices and linux.cgroupsPath. The runtime-spec
//! leaves the standard /dev nodes to the runtime, device rules included: engines write
//! only "deny all" (podman) or their own list (containerd), so husk's allow rules for the
//! standard nodes, and for each listed device, follow the config's rules (the last
//! matching rule wins), as runc and crun add theirs.

use super::{Node, bad};
use crate::error::Result;
use crate::spec::{DeviceNode, DeviceRule, Resources, access_bits, default_device_rules};

pub fn resources(linux: &Node, nodes: &[DeviceNode]) -> Result<Resources> {
    let mut res = Resources::default();
    let Some(r) = linux.obj("resources", "linux.resources")? else {
        res.devices = device_rules(Vec::new(), nodes);
        return Ok(res);
    };
    // Every limit reads 0 or -1 (where signed) as "none", as runc does.
    let positive = |n: Option<i64>| n.filter(|&n| n > 0).map(|n| n as u64);
    if let Some(m) = r.obj("memory", "linux.resources.memory")? {
        res.memory = positive(m.i64("limit")?);
        res.memory_reservation = positive(m.i64("reservation")?);
        res.memory_swap = m.i64("swap")?.filter(|&s| s != 0);
        // kernel and kernelTCP are gone from the kernel (5.16 / cgroup v2), swappiness is
        // v1 only and disableOOMKiller lets a container hang the host's memory: none of
        // them is a limit husk can keep, and engines write them only when asked.
        m.refuse("disableOOMKiller", "")?;
    }
    if let Some(c) = r.obj("cpu", "linux.resources.cpu")? {
        res.cpu_shares = c.u64("shares")?.filter(|&s| s > 0);
        res.cpu_quota = positive(c.i64("quota")?);
        res.cpu_period = c.u64("period")?.filter(|&p| p > 0);
        res.cpuset_cpus = c.str("cpus")?.filter(|s| !s.is_empty()).map(str::to_string);
        res.cpuset_mems = c.str("mems")?.filter(|s| !s.is_empty()).map(str::to_string);
        for key in ["realtimeRuntime", "realtimePeriod", "idle", "burst"] {
            c.refuse(key, "")?;
        }
    }
    if let Some(p) = r.obj("pids", "linux.resources.pids")? {
        res.pids_limit = positive(p.i64("limit")?);
    }
    if let Some(b) = r.obj("blockIO", "linux.resources.blockIO")? {
        // Out of range stays out of range for Spec::validate to name.
        res.blkio_weight = b.u64("weight")?.filter(|&w| w > 0).map(|w| w.min(u64::from(u16::MAX)) as u16);
        for key in [
            "weightDevice",
            "throttleReadBpsDevice",
            "throttleWriteBpsDevice",
            "throttleReadIOPSDevice",
            "throttleWriteIOPSDevice",
        ] {
            b.refuse(key, "")?;
        }
    }
    r.refuse("hugepageLimits", "")?;
    r.refuse("unified", "")?;
    // network (net_cls/net_prio) and rdma: absent from cgroup v2, and engines set them
    // only on request; skipped.
    let mut rules = Vec::new();
    for (i, d) in r.array("devices")?.iter().enumerate() {
        let at = format!("linux.resources.devices[{i}]");
        let d = Node::new(d, &at)?;
        if !d.has("allow") {
            return Err(bad(format!("{at}: allow is missing")));
        }
        let allow = d.bool("allow")?;
        let kind = match d.str("type")?.unwrap_or("a") {
            "a" => 'a',
            "c" | "u" => 'c',
            "b" => 'b',
            other => return Err(bad(format!("{at}: type {other:?}: expected a, b or c"))),
        };
        // -1 is every number, as is an absent one.
        let number = |k: &str| -> Result<Option<u32>> { Ok(d.i64(k)?.filter(|&n| n >= 0).map(|n| n as u32)) };
        let access = d.str("access")?.unwrap_or("rwm");
        if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
            return Err(bad(format!("{at}: access {access:?}: expected letters of rwm")));
        }
        rules.push(DeviceRule {
            allow,
            kind,
            major: number("major")?,
            minor: number("minor")?,
            access: access_bits(access),
        });
    }
    res.devices = device_rules(rules, nodes);
    Ok(res)
}

/// The config's rules, then the standard nodes' and each listed node's allow rules.
fn device_rules(mut rules: Vec<DeviceRule>, nodes: &[DeviceNode]) -> Vec<DeviceRule> {
    if rules.is_empty() {
        // No policy at all was asked for: nothing is denied, so nothing needs allowing.
        return rules;
    }
    rules.extend(default_device_rules().into_iter().filter(|r| r.allow));
    rules.extend(nodes.iter().map(|n| DeviceRule {
        allow: true,
        kind: n.kind,
        major: Some(n.major),
        minor: Some(n.minor),
        access: 7,
    }));
    rules
}

/// linux.devices: nodes made in the container's /dev. The host's node of the same path,
/// when there is one, is what a user namespace binds instead (mknod is refused there).
pub fn devices(linux: &Node) -> Result<Vec<DeviceNode>> {
    let mut out = Vec::new();
    for (i, d) in linux.array("devices")?.iter().enumerate() {
        let at = format!("linux.devices[{i}]");
        let d = Node::new(d, &at)?;
        let path = d.str("path")?.ok_or_else(|| bad(format!("{at}: path is missing")))?.to_string();
        let kind = match d.str("type")? {
            Some("c" | "u") => 'c',
            Some("b") => 'b',
            other => return Err(bad(format!("{at} ({path}): type {other:?}: expected c, u or b (no FIFOs)"))),
        };
        let number = |k: &str| d.u32(k)?.ok_or_else(|| bad(format!("{at} ({path}): {k} is missing")));
        // uid and gid are left to the container's root, who owns the node.
        let source = if std::path::Path::new(&path).exists() { path.clone() } else { String::new() };
        out.push(DeviceNode {
            kind,
            major: number("major")?,
            minor: number("minor")?,
            mode: d.u32("fileMode")?.unwrap_or(0o666),
            source,
            path,
        });
    }
    Ok(out)
}

/// linux.cgroupsPath, the container's own cgroup, as given: absolute from each
/// hierarchy's root, relative below husk's own cgroup. systemd's slice:prefix:name form
/// needs systemd's manager, which husk does not drive.
pub fn cgroups_path(linux: &Node) -> Result<Option<String>> {
    match linux.str("cgroupsPath")? {
        None | Some("") => Ok(None),
        Some(p) if p.contains(':') => Err(bad(format!(
            "linux.cgroupsPath {p:?}: systemd cgroup paths need --systemd-cgroup, which husk does not implement"
        ))),
        Some(p) => Ok(Some(p.to_string())),
    }
}
