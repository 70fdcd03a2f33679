//! A bundle's config.json (runtime-spec 1.0 to 1.2) read into the one container model,
//! `Spec`. config.json is complete: its mounts, masked paths and namespaces replace
//! husk's defaults, and husk adds only what the runtime-spec makes the runtime's job
//! (the standard /dev nodes and their device rules). What husk cannot honour is refused
//! with one line naming the field, never silently dropped; what only tunes a kernel
//! feature husk leaves alone (SELinux and AppArmor labels, net_cls) is skipped.
//! `Spec::validate` then checks values (the caller runs it, with the host's facts).

use crate::error::{Error, Result};
use crate::json::Value;
use crate::spec::*;
use std::fmt::Display;
use std::path::{Path, PathBuf};

#[path = "resources.rs"]
mod resources;

/// What a bundle gives beyond the `Spec`: what `state` reports back.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub spec: Spec,
    /// The bundle directory, absolute.
    pub dir: PathBuf,
    pub oci_version: String,
    /// config.json's annotations, in order.
    pub annotations: Vec<(String, String)>,
}

/// Reads `dir/config.json` for container `id`. Errors are one line naming the field.
pub fn load(dir: &Path, id: &str) -> Result<Bundle> {
    let dir = std::path::absolute(dir).map_err(|_| Error::msg(format!("bundle {}", dir.display()), "bad path"))?;
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::sys("read", path.display(), errno(&e)))?;
    let value = crate::json::parse(&text).map_err(bad)?;
    parse(&value, &dir, id)
}

/// A config.json error: `config.json: WHAT`.
fn bad(what: impl Display) -> Error {
    Error::msg("config.json", what.to_string())
}

fn errno(e: &std::io::Error) -> rustix::io::Errno {
    rustix::io::Errno::from_raw_os_error(e.raw_os_error().unwrap_or(5))
}

/// An object of config.json and where it sits ("linux.resources"), for typed reads
/// whose errors name the field. Absent and null fields read as None.
#[derive(Clone, Copy)]
struct Node<'a> {
    v: &'a Value,
    at: &'a str,
}

impl<'a> Node<'a> {
    pub fn new(v: &'a Value, at: &'a str) -> Result<Node<'a>> {
        if v.as_object().is_none() {
            return Err(bad(format!("{}: expected an object", if at.is_empty() { "the file" } else { at })));
        }
        Ok(Node { v, at })
    }

    pub fn field(&self, key: &str) -> String {
        if self.at.is_empty() { key.to_string() } else { format!("{}.{key}", self.at) }
    }

    fn typed<T>(&self, key: &str, kind: &str, conv: impl Fn(&'a Value) -> Option<T>) -> Result<Option<T>> {
        match self.v.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => conv(v).map(Some).ok_or_else(|| bad(format!("{}: expected {kind}", self.field(key)))),
        }
    }

    pub fn has(&self, key: &str) -> bool {
        !matches!(self.v.get(key), None | Some(Value::Null))
    }

    pub fn str(&self, key: &str) -> Result<Option<&'a str>> {
        self.typed(key, "a string", Value::as_str)
    }

    pub fn bool(&self, key: &str) -> Result<bool> {
        Ok(self.typed(key, "true or false", Value::as_bool)?.unwrap_or(false))
    }

    pub fn u64(&self, key: &str) -> Result<Option<u64>> {
        self.typed(key, "a whole number of at least 0", Value::as_u64)
    }

    pub fn i64(&self, key: &str) -> Result<Option<i64>> {
        self.typed(key, "a whole number", Value::as_i64)
    }

    pub fn u32(&self, key: &str) -> Result<Option<u32>> {
        self.typed(key, "a whole number from 0 to 4294967295", |v| v.as_u64()?.try_into().ok())
    }

    pub fn array(&self, key: &str) -> Result<&'a [Value]> {
        Ok(self.typed(key, "a list", Value::as_array)?.unwrap_or_default())
    }

    pub fn strings(&self, key: &str) -> Result<Vec<String>> {
        let conv = |v: &Value| v.as_array()?.iter().map(|s| s.as_str().map(str::to_string)).collect();
        Ok(self.typed(key, "a list of strings", conv)?.unwrap_or_default())
    }

    /// The object at `key`, with its path in `at` (which the caller keeps alive).
    pub fn obj(&self, key: &str, at: &'a str) -> Result<Option<Node<'a>>> {
        self.v.get(key).filter(|v| **v != Value::Null).map(|v| Node::new(v, at)).transpose()
    }

    /// Refuses a field husk cannot honour when it is set (not empty, not zero).
    pub fn refuse(&self, key: &str, why: &str) -> Result<()> {
        let set = match self.v.get(key) {
            None | Some(Value::Null) | Some(Value::Bool(false)) => false,
            Some(Value::Arr(a)) => !a.is_empty(),
            Some(Value::Obj(o)) => !o.is_empty(),
            Some(Value::Str(s)) => !s.is_empty(),
            Some(Value::Num(n)) => n != "0",
            Some(Value::Bool(true)) => true,
        };
        if set { Err(bad(format!("{} is not supported{why}", self.field(key)))) } else { Ok(()) }
    }
}

/// 1.0.x (from 1.0.0-rc5, the first with today's layout), 1.1.x and 1.2.x, with any
/// suffix after the patch (podman writes "1.0.2-dev").
fn supported_version(v: &str) -> bool {
    let (core, suffix) = v.split_once(['-', '+']).unwrap_or((v, ""));
    let mut parts = core.split('.');
    let (Some("1"), Some(minor), patch, None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    let number = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !matches!(minor, "0" | "1" | "2") || !patch.is_none_or(number) {
        return false;
    }
    match suffix.strip_prefix("rc") {
        Some(n) if core == "1.0.0" || core == "1.0" => n.parse::<u32>().is_ok_and(|n| n >= 5),
        _ => true,
    }
}

fn parse(v: &Value, dir: &Path, id: &str) -> Result<Bundle> {
    let top = Node::new(v, "")?;
    let version = top.str("ociVersion")?.ok_or_else(|| bad("ociVersion is missing"))?;
    if !supported_version(version) {
        return Err(bad(format!("ociVersion {version:?} is not supported (1.0 to 1.2)")));
    }
    let linux_v = Value::Obj(Vec::new());
    let linux = top.obj("linux", "linux")?.unwrap_or(Node { v: &linux_v, at: "linux" });
    let process = process(&top.obj("process", "process")?.ok_or_else(|| bad("process is missing"))?, &linux)?;
    let root = root(&top.obj("root", "root")?.ok_or_else(|| bad("root is missing"))?, dir)?;
    let mut mounts = Vec::new();
    for (i, m) in top.array("mounts")?.iter().enumerate() {
        mounts.push(mount(m, i, dir)?);
    }
    let (namespaces, mode) = namespaces(&linux)?;
    let maps = |key: &str| -> Result<Vec<IdMap>> {
        let mut out = Vec::new();
        for (i, m) in linux.array(key)?.iter().enumerate() {
            let at = format!("linux.{key}[{i}]");
            let m = Node::new(m, &at)?;
            let n = |k: &str| m.u32(k)?.ok_or_else(|| bad(format!("{}: missing", m.field(k))));
            out.push(IdMap { inside: n("containerID")?, outside: n("hostID")?, count: n("size")? });
        }
        Ok(out)
    };
    let (uid_mappings, gid_mappings) = (maps("uidMappings")?, maps("gidMappings")?);
    let nodes = resources::devices(&linux)?;
    let resources = resources::resources(&linux, &nodes)?;
    let mut resources = resources;
    let cgroups_path = resources::cgroups_path(&linux)?;
    resources.exact_cgroup = cgroups_path.is_some();
    let sysctl = match linux.obj("sysctl", "linux.sysctl")? {
        None => Vec::new(),
        Some(s) => {
            s.v.as_object()
                .unwrap_or_default()
                .iter()
                .map(|(k, val)| match val.as_str() {
                    Some(val) => Ok((k.clone(), val.to_string())),
                    None => Err(bad(format!("linux.sysctl.{k}: expected a string"))),
                })
                .collect::<Result<_>>()?
        }
    };
    let bounding = process.capabilities.as_ref().map(|c| c.bounding.clone()).unwrap_or_default();
    let seccomp = match linux.obj("seccomp", "linux.seccomp")? {
        None => Seccomp::Unconfined,
        Some(s) => {
            s.refuse("listenerPath", " (husk has no seccomp notify support)")?;
            let cx = crate::seccomp::profile::Context {
                capabilities: &bounding,
                kernel: crate::seccomp::profile::kernel_version(),
            };
            Seccomp::Profile(
                crate::seccomp::profile::from_value(s.v, &cx).map_err(|why| bad(format!("linux.seccomp: {why}")))?,
            )
        }
    };
    linux_refusals(&linux)?;
    // Without a hostname the new UTS namespace keeps the host's, as runc leaves it.
    let hostname = match top.str("hostname")? {
        Some(h) if !h.is_empty() => h.to_string(),
        _ => rustix::system::uname().nodename().to_string_lossy().into_owned(),
    };
    let domainname = top.str("domainname")?.filter(|d| !d.is_empty()).map(str::to_string);
    let hooks = hooks(&top)?;
    let annotations = match top.obj("annotations", "annotations")? {
        None => Vec::new(),
        Some(a) => {
            a.v.as_object()
                .unwrap_or_default()
                .iter()
                .map(|(k, val)| match val.as_str() {
                    Some(val) => Ok((k.clone(), val.to_string())),
                    None => Err(bad(format!("annotations.{k}: expected a string"))),
                })
                .collect::<Result<_>>()?
        }
    };
    let spec = Spec {
        name: id.to_string(),
        hostname,
        process,
        root,
        mounts,
        namespaces,
        uid_mappings,
        gid_mappings,
        resources,
        accounting: false,
        cgroups_path,
        network: Network { mode, image_etc: true, domainname, ..Default::default() },
        devices: nodes,
        masked_paths: linux.strings("maskedPaths")?,
        readonly_paths: linux.strings("readonlyPaths")?,
        sysctl,
        hooks,
        seccomp,
    };
    Ok(Bundle { spec, dir: dir.to_path_buf(), oci_version: version.to_string(), annotations })
}

fn process(p: &Node, linux: &Node) -> Result<Process> {
    let args = p.strings("args")?;
    if args.is_empty() {
        return Err(bad("process.args: the command is missing"));
    }
    let cwd = p.str("cwd")?.ok_or_else(|| bad("process.cwd is missing"))?.to_string();
    let user = match p.obj("user", "process.user")? {
        Some(u) => u,
        None => return Err(bad("process.user is missing")),
    };
    let gids = user.array("additionalGids")?;
    let additional_gids = gids
        .iter()
        .map(|g| g.as_u64().and_then(|g| g.try_into().ok()))
        .collect::<Option<Vec<u32>>>()
        .ok_or_else(|| bad("process.user.additionalGids: expected group numbers"))?;
    let capabilities = match p.obj("capabilities", "process.capabilities")? {
        None => None,
        Some(c) => Some(Capabilities {
            bounding: c.strings("bounding")?,
            effective: c.strings("effective")?,
            inheritable: c.strings("inheritable")?,
            permitted: c.strings("permitted")?,
            ambient: c.strings("ambient")?,
        }),
    };
    let mut rlimits = Vec::new();
    for (i, r) in p.array("rlimits")?.iter().enumerate() {
        let at = format!("process.rlimits[{i}]");
        let r = Node::new(r, &at)?;
        let missing = |k: &str| bad(format!("{}: missing", r.field(k)));
        let kind = r.str("type")?.ok_or_else(|| missing("type"))?.to_string();
        rlimits.push(Rlimit { kind, soft: r.u64("soft")?.unwrap_or(0), hard: r.u64("hard")?.unwrap_or(0) });
    }
    let console_size = match p.obj("consoleSize", "process.consoleSize")? {
        None => None,
        Some(c) => {
            let n = |k: &str| -> Result<u16> {
                c.u64(k)?.unwrap_or(0).try_into().map_err(|_| bad(format!("{}: too large", c.field(k))))
            };
            Some((n("height")?, n("width")?))
        }
    };
    let oom_score_adj = match p.i64("oomScoreAdj")? {
        Some(n) => Some(i32::try_from(n).map_err(|_| bad("process.oomScoreAdj: expected -1000 to 1000"))?),
        None => None,
    };
    // runtime-spec 1.2's scheduling knobs: refused rather than silently not applied.
    for key in ["scheduler", "ioPriority", "execCPUAffinity"] {
        p.refuse(key, "")?;
    }
    let personality = match linux.obj("personality", "linux.personality")? {
        None => None,
        Some(per) => {
            per.refuse("flags", " (none are defined)")?;
            match per.str("domain")? {
                Some("LINUX") => Some(0),
                Some("LINUX32") => Some(8),
                other => return Err(bad(format!("linux.personality.domain {other:?}: expected LINUX or LINUX32"))),
            }
        }
    };
    Ok(Process {
        args,
        env: p.strings("env")?,
        cwd,
        terminal: p.bool("terminal")?,
        // The engine hands the container its stdio as it is; nothing is relayed.
        stdin: false,
        user: User {
            uid: user.u32("uid")?.unwrap_or(0),
            gid: user.u32("gid")?.unwrap_or(0),
            additional_gids,
            name: None,
            extra_groups: Vec::new(),
        },
        rlimits,
        capabilities,
        no_new_privileges: p.bool("noNewPrivileges")?,
        umask: user.u32("umask")?,
        oom_score_adj,
        console_size,
        personality,
    })
}

fn root(r: &Node, dir: &Path) -> Result<Root> {
    let given = r.str("path")?.ok_or_else(|| bad("root.path is missing"))?;
    let path = dir.join(given);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(bad(format!("root.path {}: is not a directory", path.display()))),
        Err(e) => return Err(Error::sys("config.json: root.path", path.display(), errno(&e))),
    }
    Ok(Root { source: RootSource::Dir(path), layers: vec![], write: RootWrite::Direct, readonly: r.bool("readonly")? })
}

fn mount(v: &Value, i: usize, dir: &Path) -> Result<Mount> {
    let at = format!("mounts[{i}]");
    let m = Node::new(v, &at)?;
    let destination = m.str("destination")?.ok_or_else(|| bad(format!("{at}: destination is missing")))?;
    let at = format!("{at} ({destination})");
    let fail = |why: String| bad(format!("{at}: {why}"));
    let options = m.strings("options").map_err(|_| fail("options: expected a list of strings".into()))?;
    let fstype = m.str("type")?;
    let bind = fstype == Some("bind") || options.iter().any(|o| o == "bind" || o == "rbind");
    let kind = match fstype {
        _ if bind => MountKind::Bind,
        Some(t) if !t.is_empty() && t != "none" => MountKind::from_fstype(t),
        _ => return Err(fail("type is missing (and it is no bind mount)".into())),
    };
    let mut o = MountOptions::default();
    for opt in &options {
        let opt = opt.as_str();
        if let Some(&(set, _, field, _)) = FLAG_OPTIONS.iter().find(|f| f.0 == opt || f.1 == opt) {
            *field(&mut o) = opt == set;
            continue;
        }
        let propagation = match opt {
            "private" | "rprivate" => Some(Propagation::Private),
            "shared" | "rshared" => Some(Propagation::Shared),
            "slave" | "rslave" => Some(Propagation::Slave),
            "unbindable" | "runbindable" => Some(Propagation::Unbindable),
            _ => None,
        };
        if propagation.is_some() {
            o.propagation = propagation;
            continue;
        }
        match opt {
            "bind" => {}
            "rbind" => o.recursive = true,
            // Asked of a fresh mount, a remount is the mount itself; nomand is the default.
            "remount" | "defaults" | "nomand" | "notmpcopyup" => {}
            "mand" => return Err(fail("option \"mand\": mandatory locks are gone from Linux (5.15)".into())),
            "idmap" | "ridmap" => return Err(fail(format!("option {opt:?}: idmapped mounts are not supported"))),
            "tmpcopyup" => return Err(fail("option \"tmpcopyup\" is not supported".into())),
            // Filesystem data (size=, mode=, newinstance...): a bind has none.
            _ if bind => return Err(fail(format!("unknown option {opt:?}"))),
            _ => o.data.push(opt.to_string()),
        }
    }
    let source = m.str("source")?.unwrap_or_default();
    // A bind's relative source is relative to the bundle.
    let source = if bind && !source.starts_with('/') {
        if source.is_empty() {
            return Err(fail("a bind mount needs a source".into()));
        }
        dir.join(source).display().to_string()
    } else if source.is_empty() {
        kind.fstype().to_string()
    } else {
        source.to_string()
    };
    Ok(Mount { kind, source, destination: destination.to_string(), options: o })
}

/// The namespace list, and the network mode it implies: a new network namespace is
/// `none` (lo up), one joined by path `ns:PATH` (network.rs joins it), none listed the
/// host's network.
fn namespaces(linux: &Node) -> Result<(Vec<Namespace>, NetworkMode)> {
    let mut out = Vec::new();
    let mut mode = NetworkMode::Host;
    for (i, n) in linux.array("namespaces")?.iter().enumerate() {
        let at = format!("linux.namespaces[{i}]");
        let n = Node::new(n, &at)?;
        let name = n.str("type")?.unwrap_or_default();
        let kind = NamespaceKind::from_name(name).ok_or_else(|| {
            bad(format!("{at}: unknown type {name:?} (pid, network, mount, ipc, uts, user, cgroup, time)"))
        })?;
        let path = n.str("path")?.filter(|p| !p.is_empty()).map(PathBuf::from);
        match (kind, path) {
            (NamespaceKind::Network, Some(p)) => mode = NetworkMode::Path(p),
            (NamespaceKind::Network, None) => {
                mode = NetworkMode::None;
                out.push(Namespace { kind, path: None });
            }
            (kind, path) => out.push(Namespace { kind, path }),
        }
    }
    if !out.iter().any(|n| n.kind == NamespaceKind::Mount) {
        return Err(bad("linux.namespaces: husk needs a mount namespace"));
    }
    Ok((out, mode))
}

/// linux fields husk does not implement: refused when set.
fn linux_refusals(linux: &Node) -> Result<()> {
    linux.refuse("intelRdt", "")?;
    linux.refuse("memoryPolicy", "")?;
    linux.refuse("netDevices", "")?;
    linux.refuse("timeOffsets", " (a time namespace starts at the host's clocks)")?;
    match linux.str("rootfsPropagation")? {
        None | Some("" | "private" | "rprivate") => Ok(()),
        Some(p) => Err(bad(format!(
            "linux.rootfsPropagation {p:?} is not supported (the container's mounts are always private)"
        ))),
    }
}

fn hooks(top: &Node) -> Result<Hooks> {
    let Some(h) = top.obj("hooks", "hooks")? else { return Ok(Hooks::default()) };
    let list = |key: &str| -> Result<Vec<Hook>> {
        let mut out = Vec::new();
        for (i, v) in h.array(key)?.iter().enumerate() {
            let at = format!("hooks.{key}[{i}]");
            let hook = Node::new(v, &at)?;
            let path = hook.str("path")?.ok_or_else(|| bad(format!("{at}: path is missing")))?.to_string();
            let timeout = hook.u32("timeout")?;
            out.push(Hook { path, args: hook.strings("args")?, env: hook.strings("env")?, timeout });
        }
        Ok(out)
    };
    Ok(Hooks {
        prestart: list("prestart")?,
        create_runtime: list("createRuntime")?,
        create_container: list("createContainer")?,
        start_container: list("startContainer")?,
        poststart: list("poststart")?,
        poststop: list("poststop")?,
    })
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
