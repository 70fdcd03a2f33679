//! The spec as JSON: saved in the container's state file when it is created (one line
//! there: a file of its own cost about 0.15 ms of every start on a disk-backed /run),
//! read back by `husk exec` (the command's user, environment, working directory and
//! restrictions) and shown by `inspect`. Field names follow config.json where it has
//! them.

use super::*;
use crate::error::{Error, Result};
use crate::json::{Obj, Value};

impl Spec {
    pub fn to_json(&self) -> Value {
        let p = &self.process;
        let strings = |v: &[String]| Value::from(v.to_vec());
        let process = Obj::new()
            .put("args", strings(&p.args))
            .put("env", strings(&p.env))
            .put("cwd", p.cwd.as_str())
            .put("terminal", p.terminal)
            .put("stdin", p.stdin)
            .put(
                "user",
                Obj::new()
                    .put("uid", p.user.uid)
                    .put("gid", p.user.gid)
                    .put("additionalGids", p.user.additional_gids.iter().map(|&g| Value::from(g)).collect::<Vec<_>>())
                    .put_opt("umask", p.umask)
                    .put_opt("name", p.user.name.as_deref())
                    .put("extraGroups", strings(&p.user.extra_groups)),
            )
            .put(
                "rlimits",
                p.rlimits
                    .iter()
                    .map(|r| Obj::new().put("type", r.kind.as_str()).put("soft", r.soft).put("hard", r.hard).into())
                    .collect::<Vec<Value>>(),
            )
            .put("noNewPrivileges", p.no_new_privileges)
            .put_opt("oomScoreAdj", p.oom_score_adj)
            .put_opt(
                "consoleSize",
                p.console_size.map(|(h, w)| Obj::new().put("height", h as u32).put("width", w as u32)),
            )
            .put_opt("personality", p.personality);
        let process = match &p.capabilities {
            Some(c) => process.put(
                "capabilities",
                Obj::new()
                    .put("bounding", strings(&c.bounding))
                    .put("effective", strings(&c.effective))
                    .put("inheritable", strings(&c.inheritable))
                    .put("permitted", strings(&c.permitted))
                    .put("ambient", strings(&c.ambient)),
            ),
            None => process,
        };
        let (kind, path) = match &self.root.source {
            RootSource::Dir(p) => ("directory", p),
            RootSource::Image(p) => ("image", p),
        };
        let write = match &self.root.write {
            RootWrite::Ephemeral => "overlay".to_string(),
            RootWrite::Persist(dir) => format!("persist:{}", dir.display()),
            RootWrite::Direct => "direct".to_string(),
        };
        let root = Obj::new()
            .put("path", path.display().to_string())
            .put("kind", kind)
            .put("layers", self.root.layers.iter().map(|l| l.display().to_string()).collect::<Vec<_>>())
            .put("write", write)
            .put("readonly", self.root.readonly);
        let net = &self.network;
        let network = Obj::new()
            .put("mode", net.mode.to_string())
            .put_opt("ip", net.ip.map(|c| c.to_string()))
            .put_opt("subnet", net.subnet.map(|c| c.to_string()))
            .put_opt("mac", net.mac.map(|m| m.iter().map(|b| format!("{b:02x}")).collect::<Vec<_>>().join(":")))
            .put_opt("mtu", net.mtu)
            .put("publish", net.publish.iter().map(|p| p.to_string()).collect::<Vec<_>>())
            .put("dns", net.dns.clone())
            .put("imageEtc", net.image_etc)
            .put_opt("domainname", net.domainname.as_deref());
        let r = &self.resources;
        let resources = Obj::new()
            .put_opt("memory", r.memory)
            .put_opt("memoryReservation", r.memory_reservation)
            .put_opt("memorySwap", r.memory_swap)
            .put_opt("cpuQuota", r.cpu_quota)
            .put_opt("cpuPeriod", r.cpu_period)
            .put_opt("cpuShares", r.cpu_shares)
            .put_opt("pidsLimit", r.pids_limit)
            .put_opt("cpusetCpus", r.cpuset_cpus.as_deref())
            .put_opt("cpusetMems", r.cpuset_mems.as_deref())
            .put_opt("blkioWeight", r.blkio_weight.map(u32::from))
            .put("exactCgroup", r.exact_cgroup)
            .put(
                "devices",
                r.devices
                    .iter()
                    .map(|d| {
                        let access = access_text(d.access);
                        Obj::new()
                            .put("allow", d.allow)
                            .put("type", d.kind.to_string())
                            .put_opt("major", d.major)
                            .put_opt("minor", d.minor)
                            .put("access", access)
                            .into()
                    })
                    .collect::<Vec<Value>>(),
            );
        let maps = |m: &[IdMap]| {
            m.iter()
                .map(|m| Obj::new().put("containerID", m.inside).put("hostID", m.outside).put("size", m.count).into())
                .collect::<Vec<Value>>()
        };
        Obj::new()
            .put("name", self.name.as_str())
            .put("hostname", self.hostname.as_str())
            .put("process", process)
            .put("root", root)
            .put("mounts", self.mounts.iter().map(mount_json).collect::<Vec<_>>())
            .put(
                "namespaces",
                self.namespaces
                    .iter()
                    .map(|n| {
                        Obj::new()
                            .put("type", n.kind.name())
                            .put_opt("path", n.path.as_ref().map(|p| p.display().to_string()))
                            .into()
                    })
                    .collect::<Vec<Value>>(),
            )
            .put("uidMappings", maps(&self.uid_mappings))
            .put("gidMappings", maps(&self.gid_mappings))
            .put("resources", resources)
            .put("accounting", self.accounting)
            .put_opt("cgroupsPath", self.cgroups_path.as_deref())
            .put("network", network)
            .put(
                "devices",
                self.devices
                    .iter()
                    .map(|d| {
                        Obj::new()
                            .put("path", d.path.as_str())
                            .put("type", d.kind.to_string())
                            .put("major", d.major)
                            .put("minor", d.minor)
                            .put("fileMode", d.mode)
                            .put("source", d.source.as_str())
                            .into()
                    })
                    .collect::<Vec<Value>>(),
            )
            .put("maskedPaths", strings(&self.masked_paths))
            .put("readonlyPaths", strings(&self.readonly_paths))
            .put("sysctl", Value::Obj(self.sysctl.iter().map(|(k, v)| (k.clone(), Value::str(v.as_str()))).collect()))
            .put("seccomp", seccomp_json(&self.seccomp))
            .put("hooks", hooks_json(&self.hooks))
            .into()
    }

    /// What later commands read back from the spec saved in container `name`'s state
    /// (`State::spec`): the process and seccomp choice (`husk exec`) and the hooks (an
    /// OCI container's start and delete). The rest is saved for `inspect` only. The
    /// process and the hooks are in config.json's shape and read by its reader.
    pub fn load(name: &str, saved: &str) -> Result<Saved> {
        let bad = |why: String| Error::msg(format!("saved spec of container {name:?}"), why);
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
fn hooks_json(h: &Hooks) -> Value {
    let list = |hooks: &[Hook]| -> Value {
        let one = |k: &Hook| -> Value {
            Obj::new()
                .put("path", k.path.as_str())
                .put("args", Value::from(k.args.clone()))
                .put("env", Value::from(k.env.clone()))
                .put_opt("timeout", k.timeout)
                .into()
        };
        Value::Arr(hooks.iter().map(one).collect())
    };
    Obj::new()
        .put("prestart", list(&h.prestart))
        .put("createRuntime", list(&h.create_runtime))
        .put("createContainer", list(&h.create_container))
        .put("startContainer", list(&h.start_container))
        .put("poststart", list(&h.poststart))
        .put("poststop", list(&h.poststop))
        .into()
}

/// config.json's mount object: type, source, destination, options.
fn mount_json(m: &Mount) -> Value {
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
    Obj::new()
        .put("type", m.kind.fstype())
        .put("source", m.source.as_str())
        .put("destination", m.destination.as_str())
        .put("options", options)
        .into()
}

/// "unconfined", "default", or a profile's decided rules.
fn seccomp_json(s: &Seccomp) -> Value {
    match s {
        Seccomp::Unconfined => "unconfined".into(),
        Seccomp::Default => "default".into(),
        Seccomp::Profile(p) => Obj::new()
            .put("defaultAction", p.default_action)
            .put(
                "rules",
                p.rules
                    .iter()
                    .map(|r| {
                        let args: Vec<Value> = r
                            .args
                            .iter()
                            .map(|a| {
                                Obj::new()
                                    .put("index", u32::from(a.index))
                                    .put("op", a.op.name())
                                    .put("value", a.value)
                                    .put("valueTwo", a.value_two)
                                    .into()
                            })
                            .collect();
                        Obj::new().put("nr", r.nr).put("action", r.action).put("args", args).into()
                    })
                    .collect::<Vec<Value>>(),
            )
            .into(),
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
        let Value::Obj(mut fields) = spec.to_json() else { panic!("an object") };
        fields.retain(|(k, _)| k != "hooks");
        let back = Spec::load("t", &Value::Obj(fields).to_string()).unwrap();
        assert_eq!((back.process, back.hooks), (spec.process, Hooks::default()));
    }
}
