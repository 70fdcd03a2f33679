//! `husk inspect`: containers as docker shows them — an array of objects in docker's
//! shape and field order, pretty-printed as docker does (4-space indent, <, > and &
//! escaped), or each rendered through `-f TEMPLATE`. husk keeps the state: this reads
//! `husk inspect --raw` (the state and the saved spec) and only presents it, so the
//! launcher carries no template engine.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::Write;

use crate::commit::rfc3339;
use crate::container::run_husk;
use crate::error::{Error, Result};
use crate::template::{Template, html_escape};
use crate::verbs::{self, arity, parse};

const HELP: &str = "\
Usage: {P} inspect [OPTIONS] NAME [NAME...]

Show containers as docker does: a JSON array of objects (Id, Name, Created, State,
Config, HostConfig, Mounts, NetworkSettings), read from their state and saved spec.

Options:
  -f, --format TEMPLATE  render each container through a Go template
                         ('{{.State.Pid}}', '{{json .Config.Env}}', '{{range}}')
  -s, --size             accepted (sizes are not computed)
      --type TYPE        container (the only type here)
      --raw              husk's own record: the state and the saved spec as one
                         line of JSON per container (no rootfs-builder needed)
";

pub fn inspect(args: Vec<OsString>) -> Result<u8> {
    let mut format = None;
    let Some(o) = parse("inspect", args, HELP, |p, a| {
        match a {
            "-f" | "--format" => format = Some(value(p)?),
            "-s" | "--size" => {}
            "--type" => {
                let t = value(p)?;
                if t != "container" {
                    return Err(verbs::usage("inspect", format!("--type {t}: only containers are inspected here")));
                }
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?
    else {
        return Ok(0);
    };
    arity("inspect", &o.words, 1, usize::MAX)?;
    let template = match format.as_deref() {
        Some(t) => Some(Template::parse(t).map_err(|why| verbs::usage("inspect", format!("template: {why}")))?),
        None => None,
    };
    let networks = Gateways::default();
    let mut objects = Vec::new();
    let mut failed = false;
    for name in &o.words {
        match run_husk(&["inspect", "--raw", name]) {
            Ok(text) => {
                let raw: Value = serde_json::from_str(text.trim()).map_err(|e| Error::new("husk inspect --raw", e))?;
                objects.push(docker_object(&raw, &networks));
            }
            Err(e) => {
                // docker's words for a name it cannot find; the rest are still shown.
                let _ = e;
                eprintln!("Error: No such object: {name}");
                failed = true;
            }
        }
    }
    let mut out = std::io::stdout().lock();
    let written = match &template {
        Some(t) => objects.iter().try_for_each(|obj| {
            let text = t.execute(obj).map_err(|why| Error::new("inspect: template", why))?;
            writeln!(out, "{text}").map_err(|e| Error::new("stdout", e))
        }),
        None => writeln!(out, "{}", pretty(&Value::Array(objects))).map_err(|e| Error::new("stdout", e)),
    };
    written?;
    Ok(failed.into())
}

fn value(p: &mut lexopt::Parser) -> Result<String> {
    p.value().map_err(|e| verbs::usage("inspect", e))?.into_string().map_err(|_| verbs::usage("inspect", "not UTF-8"))
}

const PORT: &str = "\
Usage: {P} port NAME [PRIVATE_PORT[/PROTO]]

List a container's published ports (PORT/PROTO -> HOST_IP:HOST_PORT), or where one
port is published.

Options:
  -h, --help             this help
";

/// `husk port`: docker's listing of a container's published ports.
pub fn port(args: Vec<OsString>) -> Result<u8> {
    let Some(o) = parse("port", args, PORT, |_, _| Ok(false))? else { return Ok(0) };
    arity("port", &o.words, 1, 2)?;
    let raw: Value = serde_json::from_str(run_husk(&["inspect", "--raw", &o.words[0]])?.trim())
        .map_err(|e| Error::new("husk inspect --raw", e))?;
    let wanted = o.words.get(1).map(|p| if p.contains('/') { p.clone() } else { format!("{p}/tcp") });
    let mut found = false;
    for p in raw["ports"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let Some((host, inner)) = p.as_str().and_then(|p| p.split_once("->")) else { continue };
        match &wanted {
            None => println!("{inner} -> {host}"),
            Some(w) if w == inner => println!("{host}"),
            Some(_) => continue,
        }
        found = true;
    }
    match wanted {
        Some(w) if !found => {
            Err(Error::new(format!("port {w}"), format!("no public port published for {}", o.words[0])))
        }
        _ => Ok(0),
    }
}

/// JSON as `docker inspect` prints it (Go's json.Indent with four spaces).
pub fn pretty(v: &Value) -> String {
    fn write(v: &Value, indent: usize, out: &mut String) {
        let pad = |n: usize| " ".repeat(n);
        match v {
            Value::Array(a) if !a.is_empty() => {
                out.push_str("[\n");
                for (i, item) in a.iter().enumerate() {
                    out.push_str(&pad(indent + 4));
                    write(item, indent + 4, out);
                    out.push_str(if i + 1 < a.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(indent));
                out.push(']');
            }
            Value::Object(m) if !m.is_empty() => {
                out.push_str("{\n");
                for (i, (k, item)) in m.iter().enumerate() {
                    out.push_str(&format!("{}{}: ", pad(indent + 4), Value::from(k.as_str())));
                    write(item, indent + 4, out);
                    out.push_str(if i + 1 < m.len() { ",\n" } else { "\n" });
                }
                out.push_str(&pad(indent));
                out.push('}');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut out = String::new();
    write(v, 0, &mut out);
    html_escape(&out)
}

/// docker's 64-hex id for a husk container: stable for the entry's life (its name and
/// creation time), since husk names containers by name alone.
pub fn container_id(raw: &Value) -> String {
    let name = raw["name"].as_str().unwrap_or_default();
    // A generated name is already a 12-hex id: keep it as the id's start.
    let digest = Sha256::digest(format!("{name}\n{}", raw["created"]));
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    if name.len() == 12 && name.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()) {
        format!("{name}{}", &hex[12..])
    } else {
        hex
    }
}

fn time(secs: &Value) -> String {
    match secs.as_i64() {
        Some(s) if s > 0 => rfc3339(s),
        _ => "0001-01-01T00:00:00Z".into(),
    }
}

/// An object from (key, value) pairs, in that order.
fn obj<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect::<Map<_, _>>())
}

/// The ports a container publishes, as docker's PortBindings
/// ({"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}), keys sorted as Go's maps.
fn port_bindings(raw: &Value) -> Value {
    let mut map: BTreeMap<String, Vec<Value>> = BTreeMap::new();
    for p in raw["ports"].as_array().map(Vec::as_slice).unwrap_or_default() {
        let Some((host, inner)) = p.as_str().and_then(|p| p.split_once("->")) else { continue };
        let (ip, port) = host.rsplit_once(':').unwrap_or(("", host));
        map.entry(inner.to_string()).or_default().push(obj([("HostIp", ip.into()), ("HostPort", port.into())]));
    }
    Value::Object(map.into_iter().map(|(k, v)| (k, Value::Array(v))).collect())
}

/// Bind mounts the user asked for (husk's own /etc files and devices left out).
fn binds(spec: &Value) -> Vec<&Value> {
    let own = ["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"];
    spec["mounts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|m| m["type"] == "bind" || m["type"] == "none")
        .filter(|m| m["options"].as_array().is_some_and(|o| o.iter().any(|o| o == "bind" || o == "rbind")))
        .filter(|m| {
            let dest = m["destination"].as_str().unwrap_or_default();
            !own.contains(&dest) && !dest.starts_with("/dev/")
        })
        .collect()
}

fn readonly(m: &Value) -> bool {
    m["options"].as_array().is_some_and(|o| o.iter().any(|o| o == "ro"))
}

/// Gateways of husk's networks, asked once per network name.
#[derive(Default)]
struct Gateways(std::cell::RefCell<BTreeMap<String, String>>);

impl Gateways {
    fn of(&self, network: &str) -> String {
        if let Some(g) = self.0.borrow().get(network) {
            return g.clone();
        }
        let gateway = run_husk(&["network", "inspect", network])
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| {
                let first = if v.is_array() { v[0].clone() } else { v };
                let ipam = &first["IPAM"]["Config"][0]["Gateway"];
                ipam.as_str().or(first["Gateway"].as_str()).map(str::to_string)
            })
            .unwrap_or_default();
        self.0.borrow_mut().insert(network.to_string(), gateway.clone());
        gateway
    }
}

fn docker_object(raw: &Value, gateways: &Gateways) -> Value {
    let spec = &raw["spec"];
    let process = &spec["process"];
    let args: Vec<Value> = process["args"].as_array().cloned().unwrap_or_default();
    let state = raw["state"].as_str().unwrap_or("exited");
    let running = state == "running";
    let signal = raw["signal"].as_u64();
    let exit_code = raw["exit_code"].as_u64().or(signal.map(|s| 128 + s)).unwrap_or(0);
    let status = match state {
        "running" | "created" => state,
        "creating" => "created",
        _ => "exited",
    };
    let res = &spec["resources"];
    let num = |v: &Value| v.as_i64().unwrap_or(0);
    let nano_cpus = match (res["cpuQuota"].as_i64(), res["cpuPeriod"].as_i64()) {
        (Some(q), Some(p)) if q > 0 && p > 0 => q * 1_000_000_000 / p,
        _ => 0,
    };
    let user = &process["user"];
    let user_text = match (user["name"].as_str(), user["uid"].as_u64(), user["gid"].as_u64()) {
        (Some(name), ..) => name.to_string(),
        (None, Some(0) | None, _) => String::new(),
        (None, Some(uid), Some(gid)) => format!("{uid}:{gid}"),
        (None, Some(uid), None) => uid.to_string(),
    };
    let binds = binds(spec);
    let bind_texts: Vec<Value> = binds
        .iter()
        .map(|m| {
            let ro = if readonly(m) { ":ro" } else { "" };
            Value::from(format!(
                "{}:{}{ro}",
                m["source"].as_str().unwrap_or(""),
                m["destination"].as_str().unwrap_or("")
            ))
        })
        .collect();
    let mounts: Vec<Value> = binds
        .iter()
        .map(|m| {
            obj([
                ("Type", "bind".into()),
                ("Source", m["source"].clone()),
                ("Destination", m["destination"].clone()),
                ("Mode", if readonly(m) { "ro" } else { "" }.into()),
                ("RW", (!readonly(m)).into()),
                ("Propagation", "rprivate".into()),
            ])
        })
        .collect();
    let caps = process["capabilities"]["bounding"].as_array().map_or(0, Vec::len);
    let privileged = spec["seccomp"] == "unconfined" && caps >= 38;
    let network = raw["network"].as_str().unwrap_or("none");
    let mode = network.split(':').next().unwrap_or(network);
    let network_name = network.split_once(':').map_or(mode, |(_, n)| n);
    let ip = raw["ip"].as_str().unwrap_or("");
    let (address, prefix) = ip.split_once('/').map_or((ip, 0), |(a, p)| (a, p.parse().unwrap_or(0)));
    let mac = spec["network"]["mac"].as_str().unwrap_or("");
    let gateway = if address.is_empty() { String::new() } else { gateways.of(network_name) };
    let ports = port_bindings(raw);
    let mut networks = Map::new();
    if !address.is_empty() || mode == "host" || mode == "none" {
        networks.insert(
            network_name.to_string(),
            obj([
                ("Aliases", spec["network"]["aliases"].clone()),
                ("MacAddress", mac.into()),
                ("NetworkID", network_name.into()),
                ("Gateway", gateway.clone().into()),
                ("IPAddress", address.into()),
                ("IPPrefixLen", prefix.into()),
            ]),
        );
    }
    let pids_limit = res["pidsLimit"].as_i64().map_or(Value::Null, Value::from);
    obj([
        ("Id", container_id(raw).into()),
        ("Created", time(&raw["created"]).into()),
        ("Path", args.first().cloned().unwrap_or_default()),
        ("Args", Value::Array(args.iter().skip(1).cloned().collect())),
        (
            "State",
            obj([
                ("Status", status.into()),
                ("Running", running.into()),
                ("Paused", false.into()),
                ("Restarting", false.into()),
                ("OOMKilled", false.into()),
                ("Dead", false.into()),
                ("Pid", if running { raw["pid"].clone() } else { 0.into() }),
                ("ExitCode", exit_code.into()),
                ("Error", "".into()),
                ("StartedAt", time(&raw["started"]).into()),
                ("FinishedAt", time(if running { &Value::Null } else { &raw["finished"] }).into()),
            ]),
        ),
        ("Image", raw["root"].clone()),
        ("Name", format!("/{}", raw["name"].as_str().unwrap_or_default()).into()),
        ("RestartCount", 0.into()),
        ("Driver", "overlay".into()),
        ("Platform", "linux".into()),
        (
            "HostConfig",
            obj([
                ("Binds", if bind_texts.is_empty() { Value::Null } else { Value::Array(bind_texts) }),
                ("NetworkMode", mode.into()),
                ("PortBindings", ports.clone()),
                ("RestartPolicy", obj([("Name", "no".into()), ("MaximumRetryCount", 0.into())])),
                ("AutoRemove", (raw["remove"] == true || raw["remove"] == 1).into()),
                ("CapAdd", Value::Null),
                ("CapDrop", Value::Null),
                ("Dns", spec["network"]["dns"].clone()),
                ("ExtraHosts", spec["network"]["extraHosts"].clone()),
                ("Privileged", privileged.into()),
                ("ReadonlyRootfs", (spec["root"]["readonly"] == true || spec["root"]["readonly"] == 1).into()),
                ("Sysctls", spec["sysctl"].clone()),
                ("CpuShares", num(&res["cpuShares"]).into()),
                ("Memory", num(&res["memory"]).into()),
                ("NanoCpus", nano_cpus.into()),
                ("CgroupParent", spec["cgroupsPath"].as_str().unwrap_or("").into()),
                ("CpuPeriod", num(&res["cpuPeriod"]).into()),
                ("CpuQuota", num(&res["cpuQuota"]).into()),
                ("CpusetCpus", res["cpusetCpus"].as_str().unwrap_or("").into()),
                ("CpusetMems", res["cpusetMems"].as_str().unwrap_or("").into()),
                ("MemoryReservation", num(&res["memoryReservation"]).into()),
                ("MemorySwap", num(&res["memorySwap"]).into()),
                ("PidsLimit", pids_limit),
                ("MaskedPaths", spec["maskedPaths"].clone()),
                ("ReadonlyPaths", spec["readonlyPaths"].clone()),
            ]),
        ),
        ("Mounts", Value::Array(mounts)),
        (
            "Config",
            obj([
                ("Hostname", raw["hostname"].clone()),
                ("Domainname", spec["network"]["domainname"].as_str().unwrap_or("").into()),
                ("User", user_text.into()),
                ("AttachStdin", (process["stdin"] == true || process["stdin"] == 1).into()),
                ("AttachStdout", (raw["detached"] != true && raw["detached"] != 1).into()),
                ("AttachStderr", (raw["detached"] != true && raw["detached"] != 1).into()),
                ("Tty", (process["terminal"] == true || process["terminal"] == 1).into()),
                ("OpenStdin", (process["stdin"] == true || process["stdin"] == 1).into()),
                ("StdinOnce", false.into()),
                ("Env", process["env"].clone()),
                ("Cmd", Value::Array(args)),
                ("Image", raw["root"].clone()),
                ("Volumes", Value::Null),
                ("WorkingDir", process["cwd"].clone()),
                ("Entrypoint", Value::Null),
                ("OnBuild", Value::Null),
                ("Labels", json!({})),
            ]),
        ),
        (
            "NetworkSettings",
            obj([
                ("Ports", ports),
                ("Gateway", gateway.into()),
                ("IPAddress", address.into()),
                ("IPPrefixLen", prefix.into()),
                ("MacAddress", mac.into()),
                ("Networks", Value::Object(networks)),
            ]),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_husk_record_becomes_dockers_shape() {
        let raw = json!({"name": "web", "status": "running", "state": "running", "pid": 42, "exit_code": null,
            "signal": null, "created": 1764748137, "started": 1764748138, "finished": 0, "command": "sleep 100",
            "root": "/alp", "hostname": "web", "network": "none", "ip": "", "ports": ["0.0.0.0:8080->80/tcp"],
            "detached": 1, "remove": 0, "memory": 1000,
            "spec": {"process": {"args": ["sleep", "100"], "env": ["PATH=/bin", "A=<&>"], "cwd": "/tmp",
                "user": {"uid": 65534, "gid": 65534, "name": "nobody"}, "terminal": 0, "stdin": 0},
                "root": {"readonly": 1}, "mounts": [
                    {"type": "bind", "source": "/srv", "destination": "/data", "options": ["rbind", "ro"]},
                    {"type": "bind", "source": "/x/hosts", "destination": "/etc/hosts", "options": ["bind"]},
                    {"type": "proc", "source": "proc", "destination": "/proc", "options": []}],
                "resources": {"memory": 134217728, "cpuQuota": 150000, "cpuPeriod": 100000, "pidsLimit": 50},
                "network": {"mode": "none", "aliases": [], "dns": [], "extraHosts": []}, "seccomp": "default"}});
        let d = docker_object(&raw, &Gateways::default());
        assert_eq!(d["Name"], "/web");
        assert_eq!(d["Id"].as_str().unwrap().len(), 64);
        assert_eq!(d["Created"], "2025-12-03T07:48:57Z");
        assert_eq!((d["Path"].as_str(), d["Args"].clone()), (Some("sleep"), json!(["100"])));
        assert_eq!(d["State"]["Pid"], 42);
        assert_eq!(d["State"]["FinishedAt"], "0001-01-01T00:00:00Z");
        assert_eq!(d["HostConfig"]["Memory"], 134217728);
        assert_eq!(d["HostConfig"]["NanoCpus"], 1_500_000_000i64);
        assert_eq!(d["HostConfig"]["PidsLimit"], 50);
        assert_eq!(d["HostConfig"]["Binds"], json!(["/srv:/data:ro"]));
        assert_eq!(d["HostConfig"]["ReadonlyRootfs"], true);
        assert_eq!(d["HostConfig"]["PortBindings"], json!({"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}));
        assert_eq!(d["Mounts"][0]["Destination"], "/data");
        assert_eq!(d["Mounts"].as_array().unwrap().len(), 1, "husk's own binds are not the user's");
        assert_eq!((d["Config"]["User"].as_str(), d["Config"]["WorkingDir"].as_str()), (Some("nobody"), Some("/tmp")));
        let keys: Vec<&String> = d.as_object().unwrap().keys().collect();
        assert_eq!(keys[..5], ["Id", "Created", "Path", "Args", "State"], "docker's field order");
        let text = pretty(&Value::Array(vec![d]));
        assert!(text.starts_with("[\n    {\n        \"Id\": "), "{text}");
        assert!(text.contains("\"A=\\u003c\\u0026\\u003e\""), "escaped as docker's: {text}");
    }
}
