//! config.json's linux.resources, linux.devices and linux.cgroupsPath. The runtime-spec
//! leaves the standard /dev nodes to the runtime, device rules included: engines write
//! only "deny all" (podman) or their own list (containerd), so husk's allow rules for the
//! standard nodes, and for each listed device, follow the config's rules (the last
//! matching rule wins), as runc and crun add theirs.

use super::{Node, Res};
use crate::spec::{DeviceNode, DeviceRule, Resources, access_bits, default_device_rules};

pub fn resources(linux: &Node, nodes: &[DeviceNode], res: &mut Resources) -> Res<()> {
    let Some(r) = linux.obj("resources", "linux.resources")? else { return Ok(()) };
    // Every limit reads 0 or -1 (where signed) as "none", as runc does.
    let positive = |n: Option<i64>| n.filter(|&n| n > 0).map(|n| n as u64);
    if let Some(m) = r.obj("memory", "linux.resources.memory")? {
        res.memory = positive(m.i64("limit")?);
        res.memory_reservation = positive(m.i64("reservation")?);
        res.memory_swap = m.i64("swap")?.filter(|&s| s != 0);
        // kernel and kernelTCP are gone from the kernel (5.16 / cgroup v2) and swappiness
        // is v1 only: skipped. An OOM killer turned off lets a container hang the host.
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
    r.each("devices", &mut |d| {
        if !d.has("allow") {
            return Err(d.err("allow", "missing"));
        }
        let kind = match d.str("type")?.unwrap_or("a") {
            "a" => 'a',
            "c" | "u" => 'c',
            "b" => 'b',
            _ => return Err(d.err("type", "expected a, b or c")),
        };
        // -1 is every number, as is an absent one.
        let number = |k: &str| d.i64(k).map(|n| n.filter(|&n| n >= 0).map(|n| n as u32));
        let access = d.str("access")?.unwrap_or("rwm");
        if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
            return Err(d.err("access", "expected letters of rwm"));
        }
        let (major, minor) = (number("major")?, number("minor")?);
        res.devices.push(DeviceRule { allow: d.bool("allow")?, kind, major, minor, access: access_bits(access) });
        Ok(())
    })?;
    // The standard nodes' and each listed node's allow rules, after the config's (no
    // rules: no policy, nothing to allow).
    if !res.devices.is_empty() {
        res.devices.extend(default_device_rules().into_iter().filter(|r| r.allow));
        let allow = |n: &DeviceNode| DeviceRule {
            allow: true,
            kind: n.kind,
            major: Some(n.major),
            minor: Some(n.minor),
            access: 7,
        };
        res.devices.extend(nodes.iter().map(allow));
    }
    Ok(())
}

/// linux.devices: nodes made in the container's /dev. The host's node of the same path,
/// when there is one, is what a user namespace binds instead (mknod is refused there).
pub fn devices(linux: &Node, out: &mut Vec<DeviceNode>) -> Res<()> {
    linux.each("devices", &mut |d| {
        let path = d.need("path")?.to_string();
        let kind = match d.str("type")? {
            Some("c" | "u") => 'c',
            Some("b") => 'b',
            _ => return Err(d.err("type", "expected c, u or b (no FIFOs)")),
        };
        let number = |k: &str| d.u32(k)?.ok_or_else(|| d.err(k, "missing"));
        // uid and gid are left to the container's root, who owns the node.
        let source = if std::path::Path::new(&path).exists() { path.clone() } else { String::new() };
        let (major, minor, mode) = (number("major")?, number("minor")?, d.u32("fileMode")?.unwrap_or(0o666));
        out.push(DeviceNode { kind, major, minor, mode, source, path });
        Ok(())
    })
}

/// linux.cgroupsPath, the container's own cgroup, as given: absolute from each
/// hierarchy's root, relative below husk's own cgroup. systemd's slice:prefix:name form
/// needs systemd's manager, which husk does not drive.
pub fn cgroups_path(linux: &Node) -> Res<Option<String>> {
    match linux.str("cgroupsPath")? {
        None | Some("") => Ok(None),
        Some(p) if p.contains(':') => Err(linux.err(
            "cgroupsPath",
            &format!("\"{p}\": systemd cgroup paths need --systemd-cgroup, which husk does not implement"),
        )),
        Some(p) => Ok(Some(p.to_string())),
    }
}
