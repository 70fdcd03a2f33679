//! `husk run`: turns docker-style flags into a `Spec`, checks it, and starts it.

use crate::cgroups::limits;
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
        flag(
            "image",
            None,
            Some("FILE"),
            "Root filesystem ext4 image, mounted read-only through a loop device under an overlay",
        ),
        flag("rw-image", None, None, "Mount the --image read-write as the root instead of an overlay"),
        flag(
            "layer",
            None,
            Some("PATH"),
            "Stack a read-only directory or image on the root (repeatable, bottom first)",
        ),
        flag("persist", None, Some("DIR"), "Keep the overlay's upper layer in DIR, so changes survive to the next run"),
        flag("name", None, Some("NAME"), "Container name (default: a generated short id)"),
        flag("hostname", None, Some("NAME"), "Hostname inside (default: the name)"),
        flag("env", Some('e'), Some("KEY=VAL"), "Set an environment variable (repeatable)"),
        flag("env-file", None, Some("FILE"), "Read KEY=VAL lines from FILE (# comments)"),
        flag("workdir", Some('w'), Some("DIR"), "Working directory inside (created if missing)"),
        flag(
            "user",
            Some('u'),
            Some("USER[:GROUP]"),
            "Run the command as this user (name or number; looked up in the container)",
        ),
        flag("volume", Some('v'), Some("SRC:DST[:ro]"), "Bind-mount a host path (repeatable)"),
        flag("interactive", Some('i'), None, "Relay stdin to a -t terminal"),
        flag("tty", Some('t'), None, "Give the command a pseudo-terminal"),
        flag("rm", None, None, "Remove a detached container when it exits (a foreground run always is)"),
        flag("detach", Some('d'), None, "Run in the background under a supervisor; print the name once started"),
        flag(
            "log-max-size",
            None,
            Some("SIZE"),
            "Detached: rotate the output log at SIZE (default 10m; one old log kept)",
        ),
        flag("userns", None, None, "New user namespace mapping your uid/gid to root (automatic when not root)"),
        flag("memory", Some('m'), Some("SIZE"), "Memory limit, e.g. 128m"),
        flag("memory-swap", None, Some("SIZE"), "Memory plus swap limit (-1: unlimited swap; = --memory: no swap)"),
        flag("cpus", None, Some("N"), "CPU limit in CPUs, e.g. 0.5"),
        flag("cpu-percent", None, Some("PCT"), "CPU limit in percent of one CPU (50 = --cpus 0.5)"),
        flag("cpu-shares", Some('c'), Some("N"), "Relative CPU weight (default 1024)"),
        flag("pids-limit", None, Some("N"), "Maximum number of processes"),
        flag("cpuset-cpus", None, Some("LIST"), "CPUs the container may use, e.g. 0-1"),
        flag("cpuset-mems", None, Some("LIST"), "Memory nodes the container may use"),
        flag("cgroup-parent", None, Some("PATH"), "Parent cgroup of the container's cgroups (default: husk/)"),
        flag("stats", None, None, "Print memory, CPU and pids accounting after the command exits"),
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
    pub detach: bool,
    pub log_max: u64,
    /// Print the cgroups' accounting after exit (`--stats`).
    pub stats: bool,
}

pub fn parse(args: Vec<OsString>) -> Result<Option<(Spec, RunOptions)>> {
    let mut cli = Cli::new(&RUN, args);
    let mut rootfs: Option<PathBuf> = None;
    let mut image: Option<PathBuf> = None;
    let mut layers: Vec<PathBuf> = Vec::new();
    let mut persist: Option<PathBuf> = None;
    let mut rootfs_rw = false;
    let mut rw_image = false;
    let mut name = None;
    let mut hostname = None;
    let mut env_args: Vec<String> = Vec::new();
    let mut workdir = None;
    let mut mounts = Vec::new();
    let mut process = Process::default();
    let mut remove = false;
    let mut detach = false;
    let mut log_max = crate::log::DEFAULT_MAX;
    let mut userns = false;
    let mut command = Vec::new();
    let mut resources = Resources::default();
    let mut cgroups_path = None;
    let mut stats = false;
    let mut cpu_flag: Option<&str> = None;
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
            "rootfs-rw" => rootfs_rw = true,
            "image" => image = Some(PathBuf::from(value)),
            "rw-image" => rw_image = true,
            "layer" => layers.push(PathBuf::from(value)),
            "persist" => persist = Some(PathBuf::from(value)),
            "name" => name = Some(check_name(&value)?),
            "hostname" => hostname = Some(check_hostname(&value)?),
            "env" => env_args.push(check_env("-e", &value)?),
            "env-file" => env_args.extend(read_env_file(&value)?),
            "workdir" => workdir = Some(check_workdir(&value)?),
            "user" => {
                crate::users::check(&value)?;
                process.user = Some(value);
            }
            "volume" => mounts.push(parse_volume(&value)?),
            "interactive" => process.stdin = true,
            "tty" => process.terminal = true,
            "rm" => remove = true,
            "detach" => detach = true,
            "log-max-size" => log_max = crate::cli::parse_size("log-max-size", &value)?,
            "userns" => userns = true,
            "memory" => resources.memory = Some(crate::cli::parse_size(long, &value)?),
            "memory-swap" => resources.memory_swap = Some(limits::parse_memory_swap(&value)?),
            "cpus" | "cpu-percent" => {
                if let Some(other) = cpu_flag.filter(|o| *o != long) {
                    return Err(cli.usage_error(&format!("--{long} and --{other} both set the CPU limit; give one")));
                }
                cpu_flag = Some(long);
                let online = limits::parse_list(&limits::online_cpus()).map_or(1, |l| l.len());
                resources.cpu_quota = Some(if long == "cpus" {
                    limits::parse_cpus(&value, online)?
                } else {
                    limits::parse_cpu_percent(&value, online)?
                });
                resources.cpu_period = Some(limits::CPU_PERIOD);
            }
            "cpu-shares" => resources.cpu_shares = Some(limits::parse_shares(&value)?),
            "pids-limit" => resources.pids_limit = Some(crate::cli::parse_u64(long, &value)?),
            "cpuset-cpus" => resources.cpuset_cpus = Some(limits::parse_cpuset(long, &value, &limits::online_cpus())?),
            "cpuset-mems" => resources.cpuset_mems = Some(limits::parse_cpuset(long, &value, &limits::online_mems())?),
            "cgroup-parent" => cgroups_path = Some(check_cgroup_parent(&value)?),
            "stats" => stats = true,
            "network" => network.mode = crate::network::parse_mode(&value)?,
            "ip" => network.ip = Some(value),
            "subnet" => network.subnet = Some(value),
            "mac-address" => network.mac = Some(value),
            "mtu" => network.mtu = Some(crate::cli::parse_u64("mtu", &value)?.min(u32::MAX as u64) as u32),
            "dns" => network.dns.push(value),
            _ => unreachable!("flag {long} is in the table but not handled"),
        }
    }

    let rootless = !rustix::process::geteuid().is_root();
    let source = match (rootfs, image) {
        (Some(_), Some(_)) => return Err(cli.usage_error("--rootfs and --image exclude each other")),
        (None, None) => return Err(cli.usage_error("--rootfs DIR (or --image FILE) is required")),
        (Some(dir), None) => {
            check_dir("--rootfs", &dir)?;
            RootSource::Dir(std::fs::canonicalize(&dir).ctx("--rootfs", dir.display())?)
        }
        (None, Some(file)) => {
            if rootless {
                return Err(Error::msg(
                    "--image",
                    "needs root: loop devices and ext4 mounts are privileged (use --rootfs DIR)",
                ));
            }
            check_file("--image", &file)?;
            RootSource::Image(std::fs::canonicalize(&file).ctx("--image", file.display())?)
        }
    };
    let write = match (&source, rootfs_rw, rw_image, persist) {
        (RootSource::Image(_), true, _, _) => {
            return Err(cli.usage_error("--rootfs-rw goes with --rootfs; use --rw-image"));
        }
        (RootSource::Dir(_), _, true, _) => {
            return Err(cli.usage_error("--rw-image goes with --image; use --rootfs-rw"));
        }
        (_, true, _, Some(_)) | (_, _, true, Some(_)) => {
            return Err(cli.usage_error("--persist needs the overlay; drop --rootfs-rw/--rw-image"));
        }
        (_, true, _, None) | (_, _, true, None) => RootWrite::Direct,
        (_, false, false, Some(dir)) => RootWrite::Persist(persist_dir(&dir)?),
        (_, false, false, None) => RootWrite::Ephemeral,
    };
    if write == RootWrite::Direct && !layers.is_empty() {
        return Err(cli.usage_error("--layer needs the overlay; drop --rootfs-rw/--rw-image"));
    }
    let mut resolved_layers = Vec::new();
    for layer in &layers {
        let path = std::fs::canonicalize(layer).ctx("--layer", layer.display())?;
        if !path.is_dir() && rootless {
            return Err(Error::msg(format!("--layer {}", layer.display()), "image layers need root (loop devices)"));
        }
        resolved_layers.push(path);
    }
    if command.is_empty() {
        return Err(cli.usage_error("no command given"));
    }
    if detach && process.terminal {
        return Err(cli.usage_error("-t with -d: a detached container has no terminal to attach; use 'husk exec -it'"));
    }
    limits::check(&resources)?;
    crate::network::check(&network)?;

    let name = match name {
        Some(name) => name,
        None => ids::short_id(),
    };
    let hostname = hostname.unwrap_or_else(|| name.clone());
    process.args = command;
    process.cwd = workdir.unwrap_or_else(|| "/".into());
    process.env = default_env(&hostname, process.terminal, process.user.is_some(), env_args);

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
        root: Root { source, layers: resolved_layers, write },
        mounts,
        namespaces: Namespaces { user, cgroup: true },
        uid_mappings,
        gid_mappings,
        resources,
        accounting: stats,
        cgroups_path,
        network,
    };
    Ok(Some((spec, RunOptions { remove, detach, log_max, stats })))
}

/// A cgroup path: no '..', nothing empty.
fn check_cgroup_parent(path: &str) -> Result<String> {
    let ok = !path.trim_matches('/').is_empty()
        && path.split('/').all(|c| c != ".." && c != "." && !c.contains('\0'))
        && !path.contains('\n');
    if !ok {
        return Err(Error::msg(format!("--cgroup-parent {path:?}"), "expected a cgroup path like mygroup or /mygroup"));
    }
    Ok(path.to_string())
}

fn check_dir(what: &str, path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).ctx(what, path.display())?;
    if !meta.is_dir() {
        return Err(Error::msg(format!("{what} {}", path.display()), "is not a directory"));
    }
    Ok(())
}

fn check_file(what: &str, path: &Path) -> Result<()> {
    let meta = std::fs::metadata(path).ctx(what, path.display())?;
    if !meta.is_file() {
        return Err(Error::msg(format!("{what} {}", path.display()), "is not a regular file"));
    }
    Ok(())
}

/// The --persist directory, made if missing (as docker makes volume directories); it
/// must not be inside the overlay it serves, which the kernel refuses anyway.
fn persist_dir(dir: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).ctx("--persist", dir.display())?;
    std::fs::canonicalize(dir).ctx("--persist", dir.display())
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

/// A clean environment: only what a container needs, then the user's additions. With
/// --user, HOME comes from the user's passwd entry at start (unless given here).
fn default_env(hostname: &str, terminal: bool, named_user: bool, extra: Vec<String>) -> Vec<String> {
    let mut env = vec![format!("PATH={DEFAULT_PATH}"), format!("HOSTNAME={hostname}")];
    if !named_user {
        env.insert(1, "HOME=/root".to_string());
    }
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
        let env = default_env("h", false, false, vec!["PATH=/x".into(), "A=1".into(), "A=2".into()]);
        assert!(env.contains(&"PATH=/x".to_string()));
        assert_eq!(env.iter().filter(|e| e.starts_with("A=")).count(), 1);
        assert!(env.contains(&"A=2".to_string()));
        assert!(env.contains(&"HOME=/root".to_string()));
    }

    #[test]
    fn a_named_user_gets_home_at_start_unless_given() {
        assert!(!default_env("h", false, true, vec![]).iter().any(|e| e.starts_with("HOME=")));
        assert!(default_env("h", false, true, vec!["HOME=/x".into()]).contains(&"HOME=/x".to_string()));
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
