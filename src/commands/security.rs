//! The syntax of `husk run`'s security flags: capability names and Docker's rules for
//! combining --cap-add and --cap-drop, --tmpfs options, --device nodes.

use crate::error::{Context, Error, Result};
use crate::spec::*;

/// `--device HOST[:CONTAINER][:rwm]`: the host's node (which must be a device), where
/// it goes (default: the same path) and what the container may do with it.
pub fn parse_device(text: &str) -> Result<(DeviceNode, u8)> {
    let bad = |why: &str| Error::msg(format!("--device {text}"), why.to_string());
    let mut parts: Vec<&str> = text.split(':').collect();
    let access = match parts.last() {
        Some(last) if parts.len() > 1 && !last.starts_with('/') => {
            let access = parts.pop().unwrap_or_default();
            if access.is_empty() || !access.chars().all(|c| "rwm".contains(c)) {
                return Err(bad("the access must be made of r, w and m"));
            }
            access_bits(access)
        }
        _ => 7,
    };
    let (host, inside) = match parts.as_slice() {
        [host] => (*host, *host),
        [host, inside] => (*host, *inside),
        _ => return Err(bad("expected HOST[:CONTAINER][:rwm]")),
    };
    let st = rustix::fs::stat(host).ctx("--device", host)?;
    let kind = match rustix::fs::FileType::from_raw_mode(st.st_mode) {
        rustix::fs::FileType::CharacterDevice => 'c',
        rustix::fs::FileType::BlockDevice => 'b',
        _ => return Err(bad("is not a device node")),
    };
    if !inside.starts_with('/') {
        return Err(bad("the container's path must be absolute"));
    }
    let node = DeviceNode {
        path: inside.to_string(),
        kind,
        major: rustix::fs::major(st.st_rdev),
        minor: rustix::fs::minor(st.st_rdev),
        mode: st.st_mode & 0o7777,
        source: host.to_string(),
    };
    Ok((node, access))
}

/// A capability name as the kernel spells it (CAP_X), or ALL.
pub fn capability(flag: &str, name: &str) -> Result<String> {
    let upper = name.trim_ascii().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let bare = upper.strip_prefix("CAP_").unwrap_or(&upper);
    capability_number(bare).ok_or_else(|| Error::msg(format!("--{flag} {name}"), "unknown capability"))?;
    Ok(format!("CAP_{bare}"))
}

/// Docker's rules: the default set (or every capability with --cap-add ALL), plus the
/// added ones, minus the dropped ones; --cap-drop ALL starts from nothing.
pub fn capability_set(add: &[String], drop: &[String]) -> Vec<String> {
    let all = || (0..).map_while(crate::spec::capability_name).map(|n| format!("CAP_{n}")).collect::<Vec<_>>();
    let has_all = |list: &[String]| list.iter().any(|c| c == "ALL");
    let mut set: Vec<String> = if has_all(drop) {
        Vec::new()
    } else if has_all(add) {
        all()
    } else {
        DEFAULT_CAPABILITIES.map(String::from).to_vec()
    };
    for cap in add.iter().filter(|c| *c != "ALL") {
        if !set.contains(cap) {
            set.push(cap.clone());
        }
    }
    set.retain(|c| !drop.contains(c));
    set
}

/// `--tmpfs PATH[:OPTS]`, with Docker's defaults (noexec, nosuid, nodev) unless OPTS
/// say exec, suid or dev.
pub fn parse_tmpfs(text: &str) -> Result<Mount> {
    let (path, opts) = text.split_once(':').unwrap_or((text, ""));
    let mut options = MountOptions { nosuid: true, nodev: true, noexec: true, ..Default::default() };
    for opt in opts.split(',').filter(|o| !o.is_empty()) {
        match opt {
            "ro" => options.readonly = true,
            "rw" => options.readonly = false,
            "exec" => options.noexec = false,
            "noexec" => options.noexec = true,
            "suid" => options.nosuid = false,
            "nosuid" => options.nosuid = true,
            "dev" => options.nodev = false,
            "nodev" => options.nodev = true,
            o if o.starts_with("size=") || o.starts_with("mode=") || o.starts_with("uid=") || o.starts_with("gid=") => {
                options.data.push(o.to_string())
            }
            o => return Err(Error::msg(format!("--tmpfs {text}"), format!("unknown option \"{o}\""))),
        }
    }
    Ok(Mount { kind: MountKind::Tmpfs, source: "tmpfs".into(), destination: path.to_string(), options })
}
