//! The spec as JSON: saved in the container's state file when it is created (one line
//! there: a file of its own cost about 0.15 ms of every start on a disk-backed /run),
//! read back by `husk exec` (the command's user, environment, working directory and
//! restrictions) and shown by `inspect`. Field names follow config.json where it has
//! them.

use super::*;
use crate::error::{Error, Result};
use crate::json::{Value, Writer};

impl Spec {
    /// The spec as one line of JSON.
    pub fn to_json(&self) -> String {
        let mut w = Writer::default();
        let p = &self.process;
        w.open("", '{').str("name", &self.name).str("hostname", &self.hostname);
        w.open("process", '{').strs("args", &p.args).strs("env", &p.env).str("cwd", &p.cwd);
        w.num("terminal", p.terminal).num("stdin", p.stdin);
        w.open("user", '{').num("uid", p.user.uid).num("gid", p.user.gid).open("additionalGids", '[');
        p.user.additional_gids.iter().for_each(|g| _ = w.num("", g));
        w.close(']').opt_num("umask", p.umask).opt_str("name", p.user.name.as_deref());
        w.strs("extraGroups", &p.user.extra_groups).close('}').open("rlimits", '[');
        for r in &p.rlimits {
            w.open("", '{').str("type", r.kind.as_str()).num("soft", r.soft).num("hard", r.hard).close('}');
        }
        w.close(']').num("noNewPrivileges", p.no_new_privileges).opt_num("oomScoreAdj", p.oom_score_adj);
        if let Some((h, wd)) = p.console_size {
            w.open("consoleSize", '{').num("height", h).num("width", wd).close('}');
        }
        w.opt_num("personality", p.personality);
        if let Some(c) = &p.capabilities {
            w.open("capabilities", '{').strs("bounding", &c.bounding).strs("effective", &c.effective);
            w.strs("inheritable", &c.inheritable).strs("permitted", &c.permitted).strs("ambient", &c.ambient);
            w.close('}');
        }
        w.close('}');
        let (kind, path) = match &self.root.source {
            RootSource::Dir(p) => ("directory", p),
            RootSource::Image(p) => ("image", p),
        };
        let write = match &self.root.write {
            RootWrite::Ephemeral => "overlay".to_string(),
            RootWrite::Persist(dir) => format!("persist:{}", dir.display()),
            RootWrite::Direct => "direct".to_string(),
        };
        w.open("root", '{').str("path", &path.display().to_string()).str("kind", kind).open("layers", '[');
        self.root.layers.iter().for_each(|l| _ = w.str("", &l.display().to_string()));
        w.close(']').str("write", &write).num("readonly", self.root.readonly).close('}').open("mounts", '[');
        self.mounts.iter().for_each(|m| mount_json(&mut w, m));
        w.close(']').open("namespaces", '[');
        for n in &self.namespaces {
            let path = n.path.as_ref().map(|p| p.display().to_string());
            w.open("", '{').str("type", n.kind.name()).opt_str("path", path.as_deref()).close('}');
        }
        w.close(']');
        for (key, maps) in [("uidMappings", &self.uid_mappings), ("gidMappings", &self.gid_mappings)] {
            w.open(key, '[');
            for m in maps {
                w.open("", '{').num("containerID", m.inside).num("hostID", m.outside).num("size", m.count).close('}');
            }
            w.close(']');
        }
        let r = &self.resources;
        w.open("resources", '{').opt_num("memory", r.memory).opt_num("memoryReservation", r.memory_reservation);
        w.opt_num("memorySwap", r.memory_swap).opt_num("cpuQuota", r.cpu_quota).opt_num("cpuPeriod", r.cpu_period);
        w.opt_num("cpuShares", r.cpu_shares).opt_num("pidsLimit", r.pids_limit);
        w.opt_str("cpusetCpus", r.cpuset_cpus.as_deref()).opt_str("cpusetMems", r.cpuset_mems.as_deref());
        w.opt_num("blkioWeight", r.blkio_weight).num("exactCgroup", r.exact_cgroup).open("devices", '[');
        for d in &r.devices {
            w.open("", '{').num("allow", d.allow).str("type", &d.kind.to_string()).opt_num("major", d.major);
            w.opt_num("minor", d.minor).str("access", &access_text(d.access)).close('}');
        }
        w.close(']').close('}').num("accounting", self.accounting).opt_str("cgroupsPath", self.cgroups_path.as_deref());
        let net = &self.network;
        w.open("network", '{').str("mode", &net.mode.to_string());
        w.opt_str("ip", net.ip.map(|c| c.to_string()).as_deref());
        w.opt_str("subnet", net.subnet.map(|c| c.to_string()).as_deref());
        let mac = net.mac.map(|m| m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":"));
        w.opt_str("mac", mac.as_deref()).opt_num("mtu", net.mtu);
        w.strs("publish", &net.publish.iter().map(|p| p.to_string()).collect::<Vec<_>>());
        w.strs("aliases", &net.aliases).strs("extraHosts", &net.extra_hosts).strs("dns", &net.dns);
        w.num("imageEtc", net.image_etc).opt_str("domainname", net.domainname.as_deref()).close('}');
        w.open("devices", '[');
        for d in &self.devices {
            w.open("", '{').str("path", &d.path).str("type", &d.kind.to_string()).num("major", d.major);
            w.num("minor", d.minor).num("fileMode", d.mode).str("source", &d.source).close('}');
        }
        w.close(']').strs("maskedPaths", &self.masked_paths).strs("readonlyPaths", &self.readonly_paths);
        w.open("sysctl", '{');
        self.sysctl.iter().for_each(|(k, v)| _ = w.str(k, v));
        w.close('}');
        seccomp_json(&mut w, &self.seccomp);
        hooks_json(&mut w, &self.hooks);
        w.close('}').finish()
    }

    /// What later commands read back from the spec saved in container `name`'s state
    /// (`State::spec`): the process and seccomp choice (`husk exec`) and the hooks (an
    /// OCI container's start and delete). The rest is saved for `inspect` only. The
    /// process and the hooks are in config.json's shape and read by its reader.
    pub fn load(name: &str, saved: &str) -> Result<Saved> {
        let bad = |why: String| Error::msg(format!("saved spec of container \"{name}\""), why);
        let v = crate::json::parse(saved).map_err(bad)?;
        let p = v.get("process").ok_or_else(|| bad("process is missing".into()))?;
        let mut process = crate::oci::config::process_json(p).map_err(|e| bad(e.to_string()))?;
        // husk's own fields beside config.json's.
        process.stdin = p.get("stdin").and_then(Value::as_bool).unwrap_or(false);
        let user = p.get("user");
        process.user.name = user.and_then(|u| u.get("name")).and_then(Value::as_str).map(str::to_string);
        process.user.extra_groups = user
            .and_then(|u| u.get("extraGroups"))
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
            .unwrap_or_default();
        process.personality = p.get("personality").and_then(Value::as_u64).map(|n| n as u32);
        let hooks = match v.get("hooks") {
            Some(h) => crate::oci::config::hooks_json(h).map_err(|e| bad(e.to_string()))?,
            None => Hooks::default(),
        };
        let seccomp = v.get("seccomp").and_then(seccomp_from).ok_or_else(|| bad("seccomp is malformed".into()))?;
        Ok(Saved { process, seccomp, hooks })
    }
}

/// The parts of a saved spec that later commands use (`Spec::load`).
#[derive(Debug, Clone, PartialEq)]
pub struct Saved {
    pub process: Process,
    pub seccomp: Seccomp,
    pub hooks: Hooks,
}

/// config.json's hooks object (an OCI container's start and delete run them).
fn hooks_json(w: &mut Writer, h: &Hooks) {
    w.open("hooks", '{');
    for (key, hooks) in [
        ("prestart", &h.prestart),
        ("createRuntime", &h.create_runtime),
        ("createContainer", &h.create_container),
        ("startContainer", &h.start_container),
        ("poststart", &h.poststart),
        ("poststop", &h.poststop),
    ] {
        w.open(key, '[');
        for k in hooks {
            w.open("", '{').str("path", &k.path).strs("args", &k.args).strs("env", &k.env);
            w.opt_num("timeout", k.timeout).close('}');
        }
        w.close(']');
    }
    w.close('}');
}

/// config.json's mount object: type, source, destination, options.
fn mount_json(w: &mut Writer, m: &Mount) {
    let o = &m.options;
    let mut options: Vec<String> = Vec::new();
    if m.kind == MountKind::Bind {
        options.push(if o.recursive { "rbind" } else { "bind" }.into());
    }
    let mut copy = o.clone();
    for (name, _, field, _) in FLAG_OPTIONS {
        if *field(&mut copy) {
            options.push(name.into());
        }
    }
    if let Some(p) = o.propagation {
        options.push(
            match p {
                Propagation::Private => "rprivate",
                Propagation::Shared => "rshared",
                Propagation::Slave => "rslave",
                Propagation::Unbindable => "runbindable",
            }
            .into(),
        );
    }
    options.extend(o.data.iter().cloned());
    w.open("", '{').str("type", m.kind.fstype()).str("source", &m.source).str("destination", &m.destination);
    w.strs("options", &options).close('}');
}

/// "unconfined", "default", or a profile's decided rules.
fn seccomp_json(w: &mut Writer, s: &Seccomp) {
    match s {
        Seccomp::Unconfined => _ = w.str("seccomp", "unconfined"),
        Seccomp::Default => _ = w.str("seccomp", "default"),
        Seccomp::Profile(p) => {
            w.open("seccomp", '{').num("defaultAction", p.default_action).open("rules", '[');
            for r in &p.rules {
                w.open("", '{').num("nr", r.nr).num("action", r.action).open("args", '[');
                for a in &r.args {
                    w.open("", '{').num("index", a.index).str("op", a.op.name()).num("value", a.value);
                    w.num("valueTwo", a.value_two).close('}');
                }
                w.close(']').close('}');
            }
            w.close(']').close('}');
        }
    }
}

fn seccomp_from(v: &Value) -> Option<Seccomp> {
    match v.as_str() {
        Some("unconfined") => return Some(Seccomp::Unconfined),
        Some("default") => return Some(Seccomp::Default),
        Some(_) => return None,
        None => {}
    }
    let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64);
    let rules = v
        .get("rules")?
        .as_array()?
        .iter()
        .map(|r| {
            let args = r
                .get("args")?
                .as_array()?
                .iter()
                .map(|a| {
                    let op = a.get("op")?.as_str()?;
                    Some(ArgCmp {
                        index: num(a, "index")? as u8,
                        op: CmpOp::ALL.into_iter().find(|o| o.name() == op)?,
                        value: num(a, "value")?,
                        value_two: num(a, "valueTwo")?,
                    })
                })
                .collect::<Option<_>>()?;
            Some(SyscallRule { nr: num(r, "nr")? as u32, action: num(r, "action")? as u32, args })
        })
        .collect::<Option<_>>()?;
    Some(Seccomp::Profile(SeccompProfile { default_action: num(v, "defaultAction")? as u32, rules }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::addr::Cidr;

    #[test]
    fn a_saved_spec_reads_back_as_it_was() {
        let mut spec = super::super::validate::tests::spec();
        spec.process.env = vec!["A=1".into()];
        spec.process.user = User {
            uid: 1000,
            gid: 100,
            additional_gids: vec![4, 5],
            name: Some("daemon".into()),
            extra_groups: vec!["audio".into(), "7".into()],
        };
        spec.process.rlimits = vec![Rlimit { kind: "RLIMIT_NOFILE".into(), soft: 1024, hard: u64::MAX }];
        spec.root.layers = vec!["/l".into()];
        spec.root.write = RootWrite::Persist("/keep".into());
        spec.mounts.push(bind_mount(std::path::Path::new("/data"), "/srv", true));
        spec.namespaces = default_namespaces(&NetworkMode::Bridge("husk0".into()), true);
        spec.uid_mappings = vec![IdMap { inside: 0, outside: 1000, count: 1 }];
        spec.gid_mappings = vec![IdMap { inside: 0, outside: 1000, count: 1 }];
        spec.resources = Resources {
            memory: Some(64 << 20),
            memory_swap: Some(-1),
            memory_reservation: Some(32 << 20),
            blkio_weight: Some(300),
            exact_cgroup: true,
            devices: default_device_rules(),
            ..Default::default()
        };
        spec.cgroups_path = Some("/default/web".into());
        let mut tmp = MountOptions { noatime: true, nosymfollow: true, sync: true, ..Default::default() };
        tmp.data = vec!["size=1m".into()];
        tmp.propagation = Some(Propagation::Slave);
        spec.mounts.push(Mount {
            kind: MountKind::Other("ramfs".into()),
            source: "none".into(),
            destination: "/r".into(),
            options: tmp,
        });
        spec.process.umask = Some(0o027);
        spec.process.oom_score_adj = Some(-500);
        spec.process.console_size = Some((40, 120));
        spec.process.personality = Some(8);
        spec.namespaces.push(Namespace { kind: NamespaceKind::Time, path: None });
        spec.network = Network {
            mode: NetworkMode::Bridge("husk0".into()),
            ip: Some(Cidr { addr: [10, 88, 0, 9].into(), prefix: 16 }),
            subnet: None,
            mac: Some([2, 0x42, 0, 0, 0, 1]),
            mtu: Some(1400),
            publish: Publish::parse("127.0.0.1:8080-8081:80-81/udp").unwrap(),
            aliases: vec!["db".into()],
            extra_hosts: vec!["10.0.0.9\tcache".into()],
            dns: vec!["9.9.9.9".into()],
            image_etc: true,
            domainname: Some("example.org".into()),
        };
        spec.masked_paths = vec!["/proc/kcore".into()];
        spec.devices = vec![DeviceNode {
            path: "/dev/loop9".into(),
            kind: 'b',
            major: 7,
            minor: 9,
            mode: 0o660,
            source: "/dev/loop9".into(),
        }];
        spec.sysctl = vec![("net.ipv4.ip_forward".into(), "1".into())];
        spec.seccomp = Seccomp::Profile(SeccompProfile {
            default_action: 0x5_0001,
            rules: vec![SyscallRule {
                nr: 56,
                action: 0x7fff_0000,
                args: vec![ArgCmp { index: 0, op: CmpOp::MaskedEq, value: 0x7e02_0000, value_two: 0 }],
            }],
        });
        spec.process.capabilities = Some(Capabilities::uniform(vec!["CAP_CHOWN".into()]));
        spec.process.no_new_privileges = true;
        spec.hooks.poststop.push(Hook { path: "/bin/x".into(), args: vec!["x".into()], env: vec![], timeout: Some(3) });
        let text = spec.to_json().to_string();
        let back = Spec::load("t", &text).unwrap();
        assert_eq!(back, Saved { process: spec.process, seccomp: spec.seccomp, hooks: spec.hooks });
    }

    #[test]
    fn a_spec_saved_without_hooks_reads_with_none() {
        let spec = super::super::validate::tests::spec();
        let Ok(Value::Obj(mut fields)) = crate::json::parse(&spec.to_json()) else { panic!("an object") };
        fields.retain(|(k, _)| k != "hooks");
        let back = Spec::load("t", &Value::Obj(fields).to_string()).unwrap();
        assert_eq!((back.process, back.hooks), (spec.process, Hooks::default()));
    }
}
