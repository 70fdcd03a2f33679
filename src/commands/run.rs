//! `husk run`: turns docker-style flags into a `Spec`, checks it, and starts it.

use crate::cli::{Arg, Cli, Command, flag};
use crate::error::{Context, Error, Result};
use crate::ids;
use crate::spec::*;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

pub static RUN: Command = Command {
    name: "run",
    usage: "[OPTIONS] (--rootfs DIR | --image FILE) [--] COMMAND [ARG...]",
    about: "Run a command in a new container.",
    flags: &[
        flag("rootfs", None, Some("DIR"), "Root filesystem directory (not modified: an overlay takes the writes)"),
        flag("rootfs-rw", None, None, "Write straight into the --rootfs directory instead of an overlay"),
        flag("name", None, Some("NAME"), "Container name (default: a generated short id)"),
        flag("hostname", None, Some("NAME"), "Hostname inside (default: the name)"),
        flag("env", Some('e'), Some("KEY=VAL"), "Set an environment variable (repeatable)"),
        flag("env-file", None, Some("FILE"), "Read KEY=VAL lines from FILE (# comments)"),
        flag("workdir", Some('w'), Some("DIR"), "Working directory inside (created if missing)"),
        flag("volume", Some('v'), Some("SRC:DST[:ro]"), "Bind-mount a host path (repeatable)"),
        flag("interactive", Some('i'), None, "Relay stdin to a -t terminal"),
        flag("tty", Some('t'), None, "Give the command a pseudo-terminal"),
        flag("rm", None, None, "Remove the container when it exits (always so in the foreground)"),
        flag("userns", None, None, "New user namespace mapping your uid/gid to root (automatic when not root)"),
        flag("network", None, Some("MODE"), "none (default), host, bridge[:NAME], ns:PATH or container:NAME"),
        flag("ip", None, Some("ADDR[/N]"), "Container address on the bridge (default: the next free one)"),
        flag("subnet", None, Some("CIDR"), "Subnet of a new bridge (default 10.88.0.0/16, gateway .1)"),
        flag("mac-address", None, Some("MAC"), "MAC address of the container's eth0"),
        flag("mtu", None, Some("N"), "MTU of the container's eth0 and its host end"),
        flag("dns", None, Some("ADDR"), "Nameserver for /etc/resolv.conf (repeatable; default: the host's)"),
    ],
};

/// What `run` needs beyond the container's description.
pub struct RunOptions {
    pub remove: bool,
}

pub fn parse(args: Vec<OsString>) -> Result<Option<(Spec, RunOptions)>> {
    let mut cli = Cli::new(&RUN, args);
    let mut rootfs: Option<PathBuf> = None;
    let mut write = RootWrite::Ephemeral;
    let mut name = None;
    let mut hostname = None;
    let mut env_args: Vec<String> = Vec::new();
    let mut workdir = None;
    let mut mounts = Vec::new();
    let mut process = Process::default();
    let mut remove = false;
    let mut userns = false;
    let mut command = Vec::new();
    let mut network = Network::default();

    while let Some(arg) = cli.next()? {
        let (long, value) = match arg {
            Arg::Help => {
                print!("{}", crate::cli::help(&RUN));
                return Ok(None);
            }
            Arg::Positional(first) => {
                command.push(first);
                command.extend(cli.rest()?);
                break;
            }
            Arg::Flag(long, value) => (long, value.unwrap_or_default()),
        };
        match long {
            "rootfs" => rootfs = Some(PathBuf::from(value)),
            "rootfs-rw" => write = RootWrite::Direct,
            "name" => name = Some(check_name(&value)?),
            "hostname" => hostname = Some(check_hostname(&value)?),
            "env" => env_args.push(check_env("-e", &value)?),
            "env-file" => env_args.extend(read_env_file(&value)?),
            "workdir" => workdir = Some(check_workdir(&value)?),
            "volume" => mounts.push(parse_volume(&value)?),
            "interactive" => process.stdin = true,
            "tty" => process.terminal = true,
            "rm" => remove = true,
            "userns" => userns = true,
            "network" => network.mode = crate::network::parse_mode(&value)?,
            "ip" => network.ip = Some(value),
            "subnet" => network.subnet = Some(value),
            "mac-address" => network.mac = Some(value),
            "mtu" => network.mtu = Some(crate::cli::parse_u64("mtu", &value)?.min(u32::MAX as u64) as u32),
            "dns" => network.dns.push(value),
            _ => unreachable!("flag {long} is in the table but not handled"),
        }
    }

    let Some(rootfs) = rootfs else {
        return Err(cli.usage_error("--rootfs DIR is required"));
    };
    if command.is_empty() {
        return Err(cli.usage_error("no command given"));
    }
    crate::network::check(&network)?;
    check_dir("--rootfs", &rootfs)?;
    let rootfs = std::fs::canonicalize(&rootfs).ctx("--rootfs", rootfs.display())?;

    let name = match name {
        Some(name) => name,
        None => ids::short_id(),
    };
    let hostname = hostname.unwrap_or_else(|| name.clone());
    process.args = command;
    process.cwd = workdir.unwrap_or_else(|| "/".into());
    process.env = default_env(&hostname, process.terminal, env_args);

    let rootless = !rustix::process::geteuid().is_root();
    let user = userns || rootless;
    let (uid_mappings, gid_mappings) = if user {
        let uid = rustix::process::geteuid().as_raw();
        let gid = rustix::process::getegid().as_raw();
        (vec![IdMap { inside: 0, outside: uid, count: 1 }], vec![IdMap { inside: 0, outside: gid, count: 1 }])
    } else {
        (Vec::new(), Vec::new())
    };

    let spec = Spec {
        name,
        hostname,
        process,
        root: Root { source: RootSource::Dir(rootfs), layers: Vec::new(), write },
        mounts,
        namespaces: Namespaces { user, cgroup: true },
        uid_mappings,
        gid_mappings,
        resources: Resources::default(),
        network,
    };
    Ok(Some((spec, RunOptions { remove })))
}

fn check_dir(what: &str, path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).ctx(what, path.display())?;
    if !meta.is_dir() {
        return Err(Error::msg(format!("{what} {}", path.display()), "is not a directory"));
    }
    Ok(())
}

/// Names become directory names and hostnames: keep them to a safe alphabet.
fn check_name(name: &str) -> Result<String> {
    let ok = !name.is_empty()
        && name.len() <= 63
        && name.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b));
    if !ok {
        return Err(Error::msg(
            format!("--name {name:?}"),
            "use 1-63 letters, digits, '_', '.' or '-', starting with a letter or digit",
        ));
    }
    Ok(name.to_string())
}

fn check_hostname(name: &str) -> Result<String> {
    let ok =
        !name.is_empty() && name.len() <= 64 && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-.".contains(&b));
    if !ok {
        return Err(Error::msg(format!("--hostname {name:?}"), "use 1-64 letters, digits, '-' or '.'"));
    }
    Ok(name.to_string())
}

fn check_env(what: &str, kv: &str) -> Result<String> {
    match kv.split_once('=') {
        Some((key, _)) if !key.is_empty() && !key.contains('\0') => Ok(kv.to_string()),
        _ => Err(Error::msg(format!("{what} {kv:?}"), "expected KEY=VALUE")),
    }
}

fn read_env_file(path: &str) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).ctx("--env-file", path)?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.push(check_env(&format!("--env-file {path} line {}", n + 1), line)?);
    }
    Ok(out)
}

fn check_workdir(dir: &str) -> Result<String> {
    if !dir.starts_with('/') {
        return Err(Error::msg(format!("--workdir {dir:?}"), "must be an absolute path"));
    }
    Ok(dir.to_string())
}

/// SRC:DST[:ro|rw]; SRC must exist now, so a typo fails before anything is created.
fn parse_volume(spec: &str) -> Result<Mount> {
    let bad = |why: &str| Error::msg(format!("--volume {spec:?}"), why.to_string());
    let parts: Vec<&str> = spec.split(':').collect();
    let (src, dst, readonly) = match parts.as_slice() {
        [src, dst] => (*src, *dst, false),
        [src, dst, "ro"] => (*src, *dst, true),
        [src, dst, "rw"] => (*src, *dst, false),
        [_, _, opt] => return Err(bad(&format!("unknown option {opt:?} (ro or rw)"))),
        _ => return Err(bad("expected SRC:DST[:ro]")),
    };
    if !dst.starts_with('/') {
        return Err(bad("the destination must be an absolute path"));
    }
    if dst.split('/').any(|c| c == "..") {
        return Err(bad("the destination must not contain '..'"));
    }
    let source = std::fs::canonicalize(src).ctx("--volume source", src)?;
    Ok(Mount { source, destination: dst.to_string(), readonly })
}

/// A clean environment: only what a container needs, then the user's additions.
fn default_env(hostname: &str, terminal: bool, extra: Vec<String>) -> Vec<String> {
    let mut env = vec![format!("PATH={DEFAULT_PATH}"), "HOME=/root".to_string(), format!("HOSTNAME={hostname}")];
    if terminal {
        env.push("TERM=xterm".to_string());
    }
    for kv in extra {
        let key = kv.split('=').next().unwrap_or_default().to_string();
        env.retain(|e| e.split('=').next() != Some(key.as_str()));
        env.push(kv);
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_env_entries_replace_earlier_ones() {
        let env = default_env("h", false, vec!["PATH=/x".into(), "A=1".into(), "A=2".into()]);
        assert!(env.contains(&"PATH=/x".to_string()));
        assert_eq!(env.iter().filter(|e| e.starts_with("A=")).count(), 1);
        assert!(env.contains(&"A=2".to_string()));
    }

    #[test]
    fn env_without_equals_is_refused() {
        assert!(check_env("-e", "FOO").is_err());
        assert!(check_env("-e", "=x").is_err());
        assert!(check_env("-e", "FOO=").is_ok());
    }

    #[test]
    fn volume_options_are_checked() {
        assert!(parse_volume("/tmp:/data:ro").unwrap().readonly);
        assert!(parse_volume("/tmp:data").is_err());
        assert!(parse_volume("/tmp:/a/../b").is_err());
        assert!(parse_volume("/tmp:/data:zz").is_err());
        assert!(parse_volume("/no/such/dir/husk:/data").is_err());
    }
}
