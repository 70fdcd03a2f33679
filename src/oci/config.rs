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
use std::cell::Cell;
use std::path::{Path, PathBuf};

#[path = "resources.rs"]
mod resources;

/// What a bundle gives beyond the `Spec`: what `state` reports back.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub spec: Spec,
    /// The bundle directory, absolute.
    pub dir: PathBuf,
    /// config.json's annotations, in order.
    pub annotations: Vec<(String, String)>,
}

/// Reads `dir/config.json` for container `id`. Errors are one line naming the field.
pub fn load(dir: &Path, id: &str) -> Result<Bundle> {
    let dir = std::path::absolute(dir).map_err(|_| Error::msg(format!("bundle {}", dir.display()), "bad path"))?;
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| Error::sys("read", path.display(), errno(&e)))?;
    let value = crate::json::parse(&text).map_err(|e| Error::msg("config.json", e))?;
    let last = Cell::new(String::new());
    parse(Node { v: &value, at: "", last: &last }, &dir, id).map_err(|Bad| Error::msg("config.json", last.take()))
}

/// A runtime-spec process object (`exec --process FILE`): the same reading as
/// config.json's `process`, without linux.personality.
pub fn process_json(v: &Value) -> Result<Process> {
    let last = Cell::new(String::new());
    let no_linux = Value::Obj(Vec::new());
    let top = Node { v, at: "process", last: &last };
    let mut out = Process::default();
    top.child(v, "process")
        .and_then(|p| process(&p, &Node { v: &no_linux, at: "linux", last: &last }, &mut out))
        .map_err(|Bad| Error::msg("process", last.take()))?;
    Ok(out)
}

/// A config.json hooks object (the saved spec keeps one: spec/save.rs).
pub fn hooks_json(v: &Value) -> Result<Hooks> {
    let last = Cell::new(String::new());
    let mut out = Hooks::default();
    Node { v, at: "hooks", last: &last }
        .child(v, "hooks")
        .and_then(|h| hooks(&h, &mut out))
        .map_err(|Bad| Error::msg("hooks", last.take()))?;
    Ok(out)
}

/// A parse error: its text (what follows "config.json: ") waits in the parse's `last`
/// cell, which every Node shares, so that the error moved through every `?` of a long
/// parse is empty: the binary's size shows it.
#[derive(Debug)]
struct Bad;
type Res<T> = std::result::Result<T, Bad>;

fn errno(e: &std::io::Error) -> rustix::io::Errno {
    rustix::io::Errno::from_raw_os_error(e.raw_os_error().unwrap_or(5))
}

/// An object of config.json and where it sits ("linux.resources"), for typed reads
/// whose errors name the field. Absent and null fields read as None. The reads are
/// small and not generic, and errors are built in one place: the parser is size-bound.
#[derive(Clone, Copy)]
struct Node<'a> {
    v: &'a Value,
    at: &'a str,
    last: &'a Cell<String>,
}

impl<'a> Node<'a> {
    /// `v` under the name `at`, which must be an object.
    fn child(&self, v: &'a Value, at: &'a str) -> Res<Node<'a>> {
        let node = Node { v, at, last: self.last };
        match v {
            Value::Obj(_) => Ok(node),
            _ => Err(node.err("", "expected an object")),
        }
    }

    #[inline(never)]
    fn fail(&self, text: String) -> Bad {
        self.last.set(text);
        Bad
    }

    /// "AT.KEY" (just "AT" without a key).
    #[inline(never)]
    fn field(&self, key: &str) -> String {
        match (self.at, key) {
            (at, "") => at.to_string(),
            ("", key) => key.to_string(),
            (at, key) => format!("{at}.{key}"),
        }
    }

    /// Fails with "AT.KEY: WHY".
    #[inline(never)]
    fn err(&self, key: &str, why: &str) -> Bad {
        self.fail(self.field(key) + ": " + why)
    }

    #[inline(never)]
    fn get(&self, key: &str, kind: &str, ok: fn(&Value) -> bool) -> Res<Option<&'a Value>> {
        match self.v.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) if ok(v) => Ok(Some(v)),
            Some(_) => Err(self.err(key, kind)),
        }
    }

    #[inline(never)]
    fn has(&self, key: &str) -> bool {
        !matches!(self.v.get(key), None | Some(Value::Null))
    }

    #[inline(never)]
    fn str(&self, key: &str) -> Res<Option<&'a str>> {
        Ok(self.get(key, "expected a string", |v| v.as_str().is_some())?.and_then(Value::as_str))
    }

    /// A string that must be there.
    #[inline(never)]
    fn need(&self, key: &str) -> Res<&'a str> {
        self.str(key)?.ok_or_else(|| self.err(key, "missing"))
    }

    #[inline(never)]
    fn bool(&self, key: &str) -> Res<bool> {
        Ok(self.get(key, "expected true or false", |v| v.as_bool().is_some())?.and_then(Value::as_bool) == Some(true))
    }

    #[inline(never)]
    fn u64(&self, key: &str) -> Res<Option<u64>> {
        Ok(self.get(key, "expected a whole number of at least 0", |v| v.as_u64().is_some())?.and_then(Value::as_u64))
    }

    #[inline(never)]
    fn i64(&self, key: &str) -> Res<Option<i64>> {
        Ok(self.get(key, "expected a whole number", |v| v.as_i64().is_some())?.and_then(Value::as_i64))
    }

    #[inline(never)]
    fn u32(&self, key: &str) -> Res<Option<u32>> {
        let small = |v: &Value| v.as_u64().is_some_and(|n| n <= u64::from(u32::MAX));
        Ok(self
            .get(key, "expected a whole number from 0 to 4294967295", small)?
            .and_then(Value::as_u64)
            .map(|n| n as u32))
    }

    #[inline(never)]
    fn array(&self, key: &str) -> Res<&'a [Value]> {
        Ok(self.get(key, "expected a list", |v| v.as_array().is_some())?.and_then(Value::as_array).unwrap_or_default())
    }

    #[inline(never)]
    fn strings(&self, key: &str) -> Res<Vec<String>> {
        let all = |v: &Value| v.as_array().is_some_and(|a| a.iter().all(|s| s.as_str().is_some()));
        let list = self.get(key, "expected a list of strings", all)?.and_then(Value::as_array).unwrap_or_default();
        Ok(list.iter().filter_map(Value::as_str).map(str::to_string).collect())
    }

    /// An object of strings (sysctl, annotations), in order.
    #[inline(never)]
    fn pairs(&self, key: &str) -> Res<Vec<(String, String)>> {
        let all = |v: &Value| v.as_object().is_some_and(|o| o.iter().all(|(_, s)| s.as_str().is_some()));
        let o = self.get(key, "expected an object of strings", all)?.and_then(Value::as_object).unwrap_or_default();
        Ok(o.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string())).collect())
    }

    /// The object at `key`, named `at` (which the caller keeps alive).
    #[inline(never)]
    fn obj(&self, key: &str, at: &'a str) -> Res<Option<Node<'a>>> {
        self.get(key, "expected an object", |v| v.as_object().is_some())
            .map(|v| v.map(|v| Node { v, at, last: self.last }))
    }

    /// Calls `f` with each object of the list at `key`, named "AT.KEY[i]".
    fn each(&self, key: &str, f: &mut dyn FnMut(Node) -> Res<()>) -> Res<()> {
        let field = self.field(key);
        for (i, v) in self.array(key)?.iter().enumerate() {
            let at = format!("{field}[{i}]");
            f(self.child(v, &at)?)?;
        }
        Ok(())
    }

    /// Refuses a field husk cannot honour when it is set (not empty, not zero).
    #[inline(never)]
    fn refuse(&self, key: &str, why: &str) -> Res<()> {
        let set = match self.v.get(key) {
            None | Some(Value::Null | Value::Bool(false)) => false,
            Some(Value::Arr(a)) => !a.is_empty(),
            Some(Value::Obj(o)) => !o.is_empty(),
            Some(Value::Str(s)) => !s.is_empty(),
            Some(Value::Num(n)) => n != "0",
            Some(Value::Bool(true)) => true,
        };
        if !set {
            return Ok(());
        }
        Err(self.fail(self.field(key) + " is not supported" + why))
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

/// The Spec is built in place, field by field: one value alive across every `?`.
fn parse(top: Node, dir: &Path, id: &str) -> Res<Bundle> {
    let top = top.child(top.v, "")?;
    let version = top.need("ociVersion")?;
    if !supported_version(version) {
        return Err(top.fail(format!("ociVersion \"{version}\" is not supported (1.0 to 1.2)")));
    }
    let mut b = Bundle { spec: empty(id), dir: dir.to_path_buf(), annotations: vec![] };
    let s = &mut b.spec;
    let no_linux = Value::Obj(Vec::new());
    let linux = top.obj("linux", "linux")?.unwrap_or(Node { v: &no_linux, at: "linux", last: top.last });
    let Some(p) = top.obj("process", "process")? else { return Err(top.err("process", "missing")) };
    process(&p, &linux, &mut s.process)?;
    let Some(r) = top.obj("root", "root")? else { return Err(top.err("root", "missing")) };
    let path = dir.join(r.need("path")?);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(r.err("path", &format!("{} is not a directory", path.display()))),
        Err(e) => return Err(r.fail(format!("root.path {}: {}", path.display(), crate::error::strerror(errno(&e))))),
    }
    s.root = Root {
        source: RootSource::Dir(path),
        layers: vec![],
        write: RootWrite::Direct,
        readonly: r.bool("readonly")?,
        propagation: None,
    };
    top.each("mounts", &mut |m| mount(m, dir).map(|m| s.mounts.push(m)))?;
    namespaces(&linux, s)?;
    for (key, maps) in [("uidMappings", &mut s.uid_mappings), ("gidMappings", &mut s.gid_mappings)] {
        linux.each(key, &mut |m| {
            let n = |k: &str| m.u32(k)?.ok_or_else(|| m.err(k, "missing"));
            maps.push(IdMap { inside: n("containerID")?, outside: n("hostID")?, count: n("size")? });
            Ok(())
        })?;
    }
    resources::devices(&linux, &mut s.devices)?;
    resources::resources(&linux, &s.devices, &mut s.resources)?;
    // Without a cgroupsPath the container's cgroups go below husk's own cgroup, but
    // not among husk run's (husk/NAME): once `husk create` has gone nothing holds their
    // lock, and the garbage pass of a husk using another state root would take them for
    // orphans there.
    let path = resources::cgroups_path(&linux)?.unwrap_or_else(|| format!("husk-oci/{id}"));
    s.cgroups_path = Some(path);
    s.resources.exact_cgroup = true;
    // As runc: the container joins every controller, so that the engine's stats (memory,
    // CPU, pids) and pause (the freezer) find it.
    s.accounting = true;
    s.sysctl = linux.pairs("sysctl")?;
    s.masked_paths = linux.strings("maskedPaths")?;
    s.readonly_paths = linux.strings("readonlyPaths")?;
    if let Some(sc) = linux.obj("seccomp", "linux.seccomp")? {
        sc.refuse("listenerPath", " (husk has no seccomp notify support)")?;
        let bounding = s.process.capabilities.as_ref().map(|c| c.bounding.as_slice()).unwrap_or_default();
        let cx = crate::seccomp::profile::Context {
            capabilities: bounding,
            kernel: crate::seccomp::profile::kernel_version(),
        };
        let profile = crate::seccomp::profile::from_value(sc.v, &cx).map_err(|why| sc.err("", &why))?;
        s.seccomp = Seccomp::Profile(profile);
    }
    linux_refusals(&linux)?;
    s.root.propagation = rootfs_propagation(&linux)?;
    // Without a hostname the new UTS namespace keeps the host's, as runc leaves it.
    s.hostname = match top.str("hostname")? {
        Some(h) if !h.is_empty() => h.to_string(),
        _ => rustix::system::uname().nodename().to_string_lossy().into_owned(),
    };
    s.network.domainname = top.str("domainname")?.filter(|d| !d.is_empty()).map(str::to_string);
    if let Some(h) = top.obj("hooks", "hooks")? {
        hooks(&h, &mut s.hooks)?;
    }
    b.annotations = top.pairs("annotations")?;
    Ok(b)
}

/// The Spec before config.json fills it: what husk run sets and OCI does not have (no
/// accounting, the engine's /etc files), and the network of a config without a network
/// namespace (the host's).
fn empty(id: &str) -> Spec {
    Spec {
        name: id.to_string(),
        hostname: String::new(),
        process: Process::default(),
        root: Root {
            source: RootSource::Dir(PathBuf::new()),
            layers: vec![],
            write: RootWrite::Direct,
            readonly: false,
            propagation: None,
        },
        mounts: vec![],
        namespaces: vec![],
        uid_mappings: vec![],
        gid_mappings: vec![],
        resources: Resources::default(),
        accounting: false,
        cgroups_path: None,
        network: Network { mode: NetworkMode::Host, image_etc: true, ..Default::default() },
        devices: vec![],
        masked_paths: vec![],
        readonly_paths: vec![],
        sysctl: vec![],
        hooks: Hooks::default(),
        seccomp: Seccomp::Unconfined,
    }
}

fn process(p: &Node, linux: &Node, out: &mut Process) -> Res<()> {
    out.args = p.strings("args")?;
    if out.args.is_empty() {
        return Err(p.err("args", "the command is missing"));
    }
    out.env = p.strings("env")?;
    out.cwd = p.need("cwd")?.to_string();
    out.terminal = p.bool("terminal")?;
    out.no_new_privileges = p.bool("noNewPrivileges")?;
    // Security modules husk does not drive: said with --debug, as runc says it.
    for key in ["apparmorProfile", "selinuxLabel"] {
        if p.has(key) {
            crate::oci::debug(&format!("process.{key} is ignored: husk applies no AppArmor or SELinux labels"));
        }
    }
    // The engine hands the container its stdio as it is: nothing to relay (stdin false).
    let Some(u) = p.obj("user", "process.user")? else { return Err(p.err("user", "missing")) };
    out.user.uid = u.u32("uid")?.unwrap_or(0);
    out.user.gid = u.u32("gid")?.unwrap_or(0);
    out.umask = u.u32("umask")?;
    for g in u.array("additionalGids")? {
        let g = g.as_u64().filter(|&g| g <= u64::from(u32::MAX));
        out.user.additional_gids.push(g.ok_or_else(|| u.err("additionalGids", "expected group numbers"))? as u32);
    }
    if let Some(c) = p.obj("capabilities", "process.capabilities")? {
        let mut caps = Capabilities::default();
        for (key, set) in [
            ("bounding", &mut caps.bounding),
            ("effective", &mut caps.effective),
            ("inheritable", &mut caps.inheritable),
            ("permitted", &mut caps.permitted),
            ("ambient", &mut caps.ambient),
        ] {
            *set = c.strings(key)?;
        }
        out.capabilities = Some(caps);
    }
    p.each("rlimits", &mut |r| {
        let kind = r.need("type")?.to_string();
        out.rlimits.push(Rlimit { kind, soft: r.u64("soft")?.unwrap_or(0), hard: r.u64("hard")?.unwrap_or(0) });
        Ok(())
    })?;
    if let Some(c) = p.obj("consoleSize", "process.consoleSize")? {
        let n = |k: &str| c.u64(k).map(|n| n.unwrap_or(0).min(u64::from(u16::MAX)) as u16);
        out.console_size = Some((n("height")?, n("width")?));
    }
    // Out of i32's range stays out of Spec::validate's -1000..=1000.
    out.oom_score_adj = p.i64("oomScoreAdj")?.map(|n| n.clamp(i32::MIN.into(), i32::MAX.into()) as i32);
    // runtime-spec 1.2's scheduling knobs: refused rather than silently not applied.
    for key in ["scheduler", "ioPriority", "execCPUAffinity"] {
        p.refuse(key, "")?;
    }
    if let Some(per) = linux.obj("personality", "linux.personality")? {
        per.refuse("flags", " (none are defined)")?;
        out.personality = Some(match per.str("domain")? {
            Some("LINUX") => 0,
            Some("LINUX32") => 8,
            _ => return Err(per.err("domain", "expected LINUX or LINUX32")),
        });
    }
    Ok(())
}

fn mount(m: Node, dir: &Path) -> Res<Mount> {
    let destination = m.need("destination")?;
    let at = format!("{} ({destination})", m.at);
    let options = m.strings("options")?;
    let m = Node { at: &at, ..m };
    let fstype = m.str("type")?;
    let bind = fstype == Some("bind") || options.iter().any(|o| o == "bind" || o == "rbind");
    let kind = match fstype {
        _ if bind => MountKind::Bind,
        Some(t) if !t.is_empty() && t != "none" => MountKind::from_fstype(t),
        _ => return Err(m.err("", "type is missing (and it is no bind mount)")),
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
        let why = match opt {
            "bind" => continue,
            "rbind" => {
                o.recursive = true;
                continue;
            }
            // Asked of a fresh mount, a remount is the mount itself; nomand is the default.
            "remount" | "defaults" | "nomand" | "notmpcopyup" => continue,
            "mand" => "mandatory locks are gone from Linux (5.15)",
            "idmap" | "ridmap" => "idmapped mounts are not supported",
            "tmpcopyup" => "copying the image's files up is not supported",
            // Filesystem data (size=, mode=, newinstance...): a bind has none.
            _ if bind => return Err(m.err("", &format!("unknown option \"{opt}\""))),
            _ => {
                o.data.push(opt.to_string());
                continue;
            }
        };
        return Err(m.err("", &format!("option \"{opt}\": {why}")));
    }
    let source = m.str("source")?.unwrap_or_default();
    // A bind's relative source is relative to the bundle.
    let source = match source {
        "" if bind => return Err(m.err("", "a bind mount needs a source")),
        "" => kind.fstype().to_string(),
        s if bind && !s.starts_with('/') => dir.join(s).display().to_string(),
        s => s.to_string(),
    };
    Ok(Mount { kind, source, destination: destination.to_string(), options: o })
}

/// The namespace list, and the network mode it implies: a new network namespace is
/// `none` (lo up), one joined by path `ns:PATH` (network.rs joins it), none listed the
/// host's network.
fn namespaces(linux: &Node, s: &mut Spec) -> Res<()> {
    linux.each("namespaces", &mut |n| {
        let name = n.str("type")?.unwrap_or_default();
        let Some(kind) = NamespaceKind::from_name(name) else {
            return Err(
                n.err("type", &format!("unknown type \"{name}\" (pid, network, mount, ipc, uts, user, cgroup, time)"))
            );
        };
        let path = n.str("path")?.filter(|p| !p.is_empty()).map(PathBuf::from);
        match (kind, path) {
            (NamespaceKind::Network, Some(p)) => s.network.mode = NetworkMode::Path(p),
            (kind, path) => {
                if kind == NamespaceKind::Network {
                    s.network.mode = NetworkMode::None;
                }
                s.namespaces.push(Namespace { kind, path });
            }
        }
        Ok(())
    })?;
    if !s.namespaces.iter().any(|n| n.kind == NamespaceKind::Mount) {
        return Err(linux.err("namespaces", "husk needs a mount namespace"));
    }
    Ok(())
}

/// linux fields husk does not implement: refused when set.
fn linux_refusals(linux: &Node) -> Res<()> {
    for key in ["intelRdt", "memoryPolicy", "netDevices"] {
        linux.refuse(key, "")?;
    }
    linux.refuse("timeOffsets", " (a time namespace starts at the host's clocks)")
}

/// linux.rootfsPropagation: the mount tree's propagation (private unless given).
fn rootfs_propagation(linux: &Node) -> Res<Option<Propagation>> {
    Ok(match linux.str("rootfsPropagation")? {
        None | Some("" | "private" | "rprivate") => None,
        Some("slave" | "rslave") => Some(Propagation::Slave),
        Some("shared" | "rshared") => Some(Propagation::Shared),
        Some("unbindable" | "runbindable") => Some(Propagation::Unbindable),
        Some(p) => return Err(linux.err("rootfsPropagation", &format!("\"{p}\" is not a propagation"))),
    })
}

fn hooks(h: &Node, out: &mut Hooks) -> Res<()> {
    for (key, list) in [
        ("prestart", &mut out.prestart),
        ("createRuntime", &mut out.create_runtime),
        ("createContainer", &mut out.create_container),
        ("startContainer", &mut out.start_container),
        ("poststart", &mut out.poststart),
        ("poststop", &mut out.poststop),
    ] {
        h.each(key, &mut |hook| {
            let path = hook.need("path")?.to_string();
            let (args, env, timeout) = (hook.strings("args")?, hook.strings("env")?, hook.u32("timeout")?);
            list.push(Hook { path, args, env, timeout });
            Ok(())
        })?;
    }
    Ok(())
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
