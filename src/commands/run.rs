//! `husk run` and `husk create`: docker-style flags turned into a `Spec` (the flag syntax
//! is read here; `Spec::validate` checks the values), then the runtime's create, start
//! and wait. `create` stops the container before its command's exec until `husk start`.

use super::security::{capability, capability_set, parse_device, parse_tmpfs};
use crate::cli::{self, Command, Flag, flag, on};
use crate::error::{Context, Error, Result};
use crate::network::addr::{self, Cidr};
use crate::plan::Launch;
use crate::spec::*;
use crate::{ids, network};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The flags as given, before they become a spec.
#[derive(Default)]
pub struct RunOpts {
    rootfs: Option<PathBuf>,
    image: Option<PathBuf>,
    layers: Vec<PathBuf>,
    persist: Option<PathBuf>,
    rootfs_rw: bool,
    rw_image: bool,
    name: Option<String>,
    hostname: Option<String>,
    env: Vec<String>,
    workdir: Option<String>,
    user: Option<String>,
    entrypoint: Option<String>,
    volumes: Vec<Mount>,
    interactive: bool,
    tty: bool,
    remove: bool,
    detach: bool,
    log_max: Option<u64>,
    userns: bool,
    resources: Resources,
    /// Which of --cpus and --cpu-percent set the quota, to refuse both.
    cpu_flag: Option<&'static str>,
    cgroup_parent: Option<String>,
    stats: bool,
    network: Network,
    network_given: bool,
    cap_add: Vec<String>,
    cap_drop: Vec<String>,
    privileged: bool,
    /// --security-opt no-new-privileges[=BOOL]; on when not given.
    no_new_privileges: Option<bool>,
    seccomp_unconfined: bool,
    /// --security-opt systempaths=unconfined: no masked or read-only /proc and /sys paths.
    systempaths_unconfined: bool,
    /// --security-opt seccomp=PROFILE.json: the file's text, read when given.
    seccomp_profile: Option<(String, String)>,
    read_only: bool,
    tmpfs: Vec<Mount>,
    group_add: Vec<String>,
    devices: Vec<(DeviceNode, u8)>,
    rlimits: Vec<Rlimit>,
    oom_score_adj: Option<i32>,
}

static FLAGS: &[Flag<RunOpts>] = &[
    flag("rootfs", None, Some("DIR"), "Root filesystem directory (an overlay takes the writes)", |o, v| {
        Ok(o.rootfs = Some(v.into()))
    }),
    flag("rootfs-rw", None, None, "Write straight into the --rootfs directory instead of an overlay", |o, _| {
        on(&mut o.rootfs_rw)
    }),
    flag(
        "image",
        None,
        Some("FILE"),
        "Root filesystem ext4 image (read-only, through a loop device, under an overlay)",
        |o, v| Ok(o.image = Some(v.into())),
    ),
    flag("rw-image", None, None, "Mount the --image read-write as the root instead of an overlay", |o, _| {
        on(&mut o.rw_image)
    }),
    flag(
        "layer",
        None,
        Some("PATH"),
        "Stack a read-only directory or image on the root (repeatable, bottom first)",
        |o, v| Ok(o.layers.push(v.into())),
    ),
    flag(
        "persist",
        None,
        Some("DIR"),
        "Keep the overlay's upper layer in DIR, so changes survive to the next run",
        |o, v| Ok(o.persist = Some(v.into())),
    ),
    flag("name", None, Some("NAME"), "Container name (default: a generated short id)", |o, v| Ok(o.name = Some(v))),
    flag("hostname", None, Some("NAME"), "Hostname inside (default: the name)", |o, v| Ok(o.hostname = Some(v))),
    flag("env", Some('e'), Some("KEY[=VAL]"), "Set an environment variable (KEY: husk's value; repeatable)", |o, v| {
        Ok(o.env.extend(env_entry("-e", &v)?))
    }),
    flag("env-file", None, Some("FILE"), "Read -e lines from FILE (# comments)", |o, v| {
        Ok(o.env.extend(read_env_file(&v)?))
    }),
    flag("workdir", Some('w'), Some("DIR"), "Working directory inside (created if missing)", |o, v| {
        Ok(o.workdir = Some(v))
    }),
    flag(
        "user",
        Some('u'),
        Some("USER[:GROUP]"),
        "Run the command as this user (name or number; looked up in the container)",
        |o, v| {
            crate::users::check(&v).map_err(|e| Error::msg("--user", e.to_string()))?;
            Ok(o.user = Some(v))
        },
    ),
    flag("entrypoint", None, Some("CMD"), "Override the image's entrypoint (\"\": none)", |o, v| {
        Ok(o.entrypoint = Some(v))
    }),
    flag("group-add", None, Some("GROUP"), "Add a supplementary group (name or number; repeatable)", |o, v| {
        if v.is_empty() || v.contains([':', '/', '\0', '\n', ' ']) {
            return Err(Error::msg(format!("--group-add \"{v}\""), "expected a group name or number"));
        }
        Ok(o.group_add.push(v))
    }),
    flag("volume", Some('v'), Some("SRC:DST[:OPTS]"), "Bind-mount a host path or volume (repeatable)", |o, v| {
        Ok(o.volumes.push(parse_volume(&v)?))
    }),
    flag("init", None, None, "Accepted: husk's init is always PID 1", |_, _| Ok(())),
    flag("interactive", Some('i'), None, "Relay stdin to a -t terminal", |o, _| on(&mut o.interactive)),
    flag("tty", Some('t'), None, "Give the command a pseudo-terminal", |o, _| on(&mut o.tty)),
    flag("rm", None, None, "Remove the container when it exits", |o, _| on(&mut o.remove)),
    flag("detach", Some('d'), None, "Run in the background; print the name once started", |o, _| on(&mut o.detach)),
    flag(
        "log-max-size",
        None,
        Some("SIZE"),
        "Rotate the output log at SIZE (default 10m; one old log kept)",
        |o, v| Ok(o.log_max = Some(cli::parse_size("log-max-size", &v)?)),
    ),
    flag("userns", None, None, "New user namespace mapping your uid/gid to root (automatic when not root)", |o, _| {
        on(&mut o.userns)
    }),
    flag("memory", Some('m'), Some("SIZE"), "Memory limit, e.g. 128m or 1.5g (at least 6m)", |o, v| {
        let bytes = cli::parse_size("memory", &v)?;
        // Below docker's minimum the container's own start-up is killed at once.
        if bytes < 6 << 20 {
            return Err(Error::msg(format!("--memory {v}"), "the minimum memory limit is 6m"));
        }
        Ok(o.resources.memory = Some(bytes))
    }),
    flag("memory-reservation", None, Some("SIZE"), "Memory soft limit", |o, v| {
        Ok(o.resources.memory_reservation = Some(cli::parse_size("memory-reservation", &v)?))
    }),
    flag("ulimit", None, Some("NAME=SOFT[:HARD]"), "A resource limit, e.g. nofile=1024:2048", |o, v| {
        let bad = || Error::msg(format!("--ulimit {v}"), "expected NAME=SOFT[:HARD]");
        let (name, limits) = v.split_once('=').ok_or_else(bad)?;
        let (soft, hard) = limits.split_once(':').unwrap_or((limits, limits));
        // docker's -1: unlimited.
        let num = |n: &str| if n == "-1" { Ok(u64::MAX) } else { n.parse().map_err(|_| bad()) };
        let kind = format!("RLIMIT_{}", name.to_ascii_uppercase());
        Ok(o.rlimits.push(Rlimit { kind, soft: num(soft)?, hard: num(hard)? }))
    }),
    flag("oom-score-adj", None, Some("N"), "OOM score adjustment (-1000 to 1000)", |o, v| {
        Ok(o.oom_score_adj =
            Some(v.parse().map_err(|_| Error::msg(format!("--oom-score-adj {v}"), "expected a number"))?))
    }),
    flag(
        "memory-swap",
        None,
        Some("SIZE"),
        "Memory plus swap limit (-1: unlimited swap; = --memory: no swap)",
        |o, v| Ok(o.resources.memory_swap = Some(super::values::memory_swap(&v)?)),
    ),
    flag("cpus", None, Some("N"), "CPU limit in CPUs, e.g. 0.5", |o, v| {
        o.cpu_quota("cpus", super::values::cpus(&v, crate::cgroups::limits::CPU_PERIOD)?)
    }),
    flag("cpu-percent", None, Some("PCT"), "CPU limit in percent of one CPU (50 = --cpus 0.5)", |o, v| {
        o.cpu_quota("cpu-percent", super::values::cpu_percent(&v, crate::cgroups::limits::CPU_PERIOD)?)
    }),
    flag("cpu-shares", Some('c'), Some("N"), "Relative CPU weight (default 1024)", |o, v| {
        Ok(o.resources.cpu_shares = Some(super::values::shares(&v)?))
    }),
    flag("pids-limit", None, Some("N"), "Maximum number of processes (0 or -1: unlimited)", |o, v| {
        o.resources.pids_limit = match v.as_str() {
            "0" | "-1" => None,
            _ => Some(cli::parse_u64("pids-limit", &v)?),
        };
        Ok(())
    }),
    flag("cpuset-cpus", None, Some("LIST"), "CPUs the container may use, e.g. 0-1", |o, v| {
        Ok(o.resources.cpuset_cpus = Some(super::values::cpuset("cpuset-cpus", &v)?))
    }),
    flag("cpuset-mems", None, Some("LIST"), "Memory nodes the container may use", |o, v| {
        Ok(o.resources.cpuset_mems = Some(super::values::cpuset("cpuset-mems", &v)?))
    }),
    flag("cgroup-parent", None, Some("PATH"), "Parent cgroup of the container's cgroups (default: husk/)", |o, v| {
        Ok(o.cgroup_parent = Some(v))
    }),
    flag("stats", None, None, "Print memory, CPU and pids accounting after the command exits", |o, _| on(&mut o.stats)),
    flag(
        "network",
        None,
        Some("MODE"),
        "none (default), host, bridge[:NAME], NAME, pasta, ns:PATH or container:NAME",
        |o, v| {
            o.network_given = true;
            Ok(o.network.mode = super::values::network(&v)?)
        },
    ),
    flag("network-alias", None, Some("NAME"), "Another name of the container on its network", |o, v| {
        Ok(o.network.aliases.push(v))
    }),
    flag("add-host", None, Some("NAME:IP"), "Add a line to /etc/hosts (repeatable)", |o, v| {
        Ok(o.network.extra_hosts.push(super::values::add_host(&v)?))
    }),
    flag(
        "publish",
        Some('p'),
        Some("[IP:]HOST:PORT[/udp]"),
        "Forward a host port (or A-B range) to the container's; implies --network bridge",
        |o, v| Ok(o.network.publish.extend(crate::spec::Publish::parse(&v)?)),
    ),
    flag("ip", None, Some("ADDR[/N]"), "Container address on the bridge (default: the next free one)", |o, v| {
        Ok(o.network.ip = Some(Cidr::parse("--ip", &v, Some(16))?))
    }),
    flag("subnet", None, Some("CIDR"), "Subnet of a new bridge (default: a free 10.x.0.0/16, gateway .1)", |o, v| {
        Ok(o.network.subnet = Some(Cidr::parse("--subnet", &v, None)?))
    }),
    flag("mac-address", None, Some("MAC"), "MAC address of the container's eth0", |o, v| {
        Ok(o.network.mac = Some(addr::parse_mac("--mac-address", &v)?))
    }),
    flag("mtu", None, Some("N"), "MTU of the container's eth0 and its host end", |o, v| {
        Ok(o.network.mtu = Some(cli::parse_u64("mtu", &v)?.min(u32::MAX as u64) as u32))
    }),
    flag("dns", None, Some("ADDR"), "Nameserver for /etc/resolv.conf (repeatable; default: the host's)", |o, v| {
        v.parse::<std::net::IpAddr>().map_err(|_| Error::msg(format!("--dns {v}"), "not an IP address"))?;
        Ok(o.network.dns.push(v))
    }),
    flag("cap-add", None, Some("CAP"), "Add a capability to the default set (NAME, CAP_NAME or ALL)", |o, v| {
        Ok(o.cap_add.push(capability("cap-add", &v)?))
    }),
    flag("cap-drop", None, Some("CAP"), "Drop a capability from the default set (NAME, CAP_NAME or ALL)", |o, v| {
        Ok(o.cap_drop.push(capability("cap-drop", &v)?))
    }),
    flag("privileged", None, None, "Every capability, no seccomp filter, no masked paths, /sys writable", |o, _| {
        on(&mut o.privileged)
    }),
    flag(
        "security-opt",
        None,
        Some("OPT"),
        "no-new-privileges[=true|false], seccomp=unconfined|PROFILE.json, systempaths=unconfined",
        |o, v| security_opt(o, &v),
    ),
    flag(
        "device",
        None,
        Some("HOST[:CONTAINER][:rwm]"),
        "Give the container a host device node (repeatable)",
        |o, v| Ok(o.devices.push(parse_device(&v)?)),
    ),
    flag("read-only", None, None, "Mount the root read-only (write to --tmpfs mounts and volumes)", |o, _| {
        on(&mut o.read_only)
    }),
    flag(
        "tmpfs",
        None,
        Some("PATH[:OPTS]"),
        "Mount a tmpfs at PATH (OPTS: size=, mode=, ro, exec, suid, dev)",
        |o, v| Ok(o.tmpfs.push(parse_tmpfs(&v)?)),
    ),
];

pub static RUN: Command<RunOpts> = Command {
    name: "run",
    usage: "[OPTIONS] (IMAGE | --rootfs DIR | --image FILE) [--] [COMMAND] [ARG...]",
    about: "Run a command in a new container: a stored IMAGE (see 'husk images') with its config's\n\
            defaults, or a root directory or ext4 image.",
    flags: FLAGS,
    command_follows: true,
};

pub static CREATE: Command<RunOpts> = Command {
    name: "create",
    usage: "[OPTIONS] (IMAGE | --rootfs DIR | --image FILE) [--] [COMMAND] [ARG...]",
    about: "Create a container and stop it before its command runs; 'husk start NAME' runs it.\n\
            Takes run's options; the container is detached once started.",
    flags: FLAGS,
    command_follows: true,
};

impl RunOpts {
    fn cpu_quota(&mut self, flag: &'static str, quota: u64) -> Result<()> {
        if let Some(other) = self.cpu_flag.filter(|o| *o != flag) {
            return Err(cli::usage_error(&RUN, &format!("--{flag} and --{other} both set the CPU limit; give one")));
        }
        self.cpu_flag = Some(flag);
        self.resources.cpu_quota = Some(quota);
        self.resources.cpu_period = Some(crate::cgroups::limits::CPU_PERIOD);
        Ok(())
    }
}

pub fn main(args: Vec<OsString>) -> Result<u8> {
    run_or_create(&RUN, args)
}

pub fn create(args: Vec<OsString>) -> Result<u8> {
    run_or_create(&CREATE, args)
}

fn run_or_create(cmd: &'static Command<RunOpts>, args: Vec<OsString>) -> Result<u8> {
    // What `husk start` runs again after the container stops: this directory and these
    // arguments.
    let mut rerun = vec![std::env::current_dir().unwrap_or_default().to_string_lossy().into_owned()];
    rerun.extend(args.iter().map(|a| a.to_string_lossy().into_owned()));
    let Some((opts, command)) = cli::parse(cmd, args)? else { return Ok(0) };
    let creating = cmd.name == "create";
    let (spec, mut launch) = build(opts, command)?;
    launch.rerun = crate::json::Writer::default().strs("", &rerun).finish();
    if creating {
        (launch.detach, launch.stop_at_created) = (true, true);
    }
    spec.validate(&Host::read(&spec))?;
    crate::plan::run(&spec, &launch)
}

/// The spec the flags describe, and how to launch it.
fn build(mut o: RunOpts, mut command: Vec<String>) -> Result<(Spec, Launch)> {
    let rootless = !crate::privilege::full();
    // docker's habit: -p alone puts the container on the default bridge (rootless: on
    // pasta, as podman does).
    if !o.network_given && !o.network.publish.is_empty() {
        o.network.mode =
            if rootless { NetworkMode::Pasta } else { NetworkMode::Bridge(network::DEFAULT_BRIDGE.into()) };
    }
    let mut image_env = Vec::new();
    if o.rootfs.is_none() && o.image.is_none() && !command.is_empty() {
        // docker's form: the first word names a stored image, whose config gives the
        // defaults flags and words do not.
        let stored = crate::store::find(&command.remove(0))?;
        let mut args = match o.entrypoint.take() {
            Some(e) => {
                if e.is_empty() {
                    Vec::new()
                } else {
                    vec![e]
                }
            }
            None => {
                if command.is_empty() {
                    command = stored.strings("Cmd");
                }
                stored.strings("Entrypoint")
            }
        };
        args.append(&mut command);
        command = args;
        image_env = stored.strings("Env");
        o.workdir = o.workdir.or_else(|| stored.string("WorkingDir"));
        o.user = o.user.or_else(|| stored.string("User"));
        if o.rw_image {
            return Err(cli::usage_error(&RUN, "--rw-image cannot write to a stored image"));
        }
        *(if rootless { &mut o.rootfs } else { &mut o.image }) = Some(stored.file);
    } else if let Some(e) = o.entrypoint.take().filter(|e| !e.is_empty()) {
        command.insert(0, e);
    }
    let source = match (o.rootfs, o.image) {
        (Some(_), Some(_)) => return Err(cli::usage_error(&RUN, "--rootfs and --image exclude each other")),
        (None, None) => return Err(cli::usage_error(&RUN, "an IMAGE, --rootfs DIR or --image FILE is required")),
        (Some(dir), None) => {
            check_dir("--rootfs", &dir)?;
            RootSource::Dir(crate::mounts::canonical("--rootfs", &dir)?)
        }
        (None, Some(file)) => {
            if rootless {
                return Err(Error::msg(
                    "--image",
                    "needs root: loop devices and ext4 mounts are privileged (use --rootfs DIR)",
                ));
            }
            check_file("--image", &file)?;
            RootSource::Image(crate::mounts::canonical("--image", &file)?)
        }
    };
    let write = match (&source, o.rootfs_rw, o.rw_image, o.persist) {
        (RootSource::Image(_), true, _, _) => {
            return Err(cli::usage_error(&RUN, "--rootfs-rw goes with --rootfs; use --rw-image"));
        }
        (RootSource::Dir(_), _, true, _) => {
            return Err(cli::usage_error(&RUN, "--rw-image goes with --image; use --rootfs-rw"));
        }
        (_, true, _, Some(_)) | (_, _, true, Some(_)) => {
            return Err(cli::usage_error(&RUN, "--persist needs the overlay; drop --rootfs-rw/--rw-image"));
        }
        (_, true, _, None) | (_, _, true, None) => RootWrite::Direct,
        (_, false, false, Some(dir)) => RootWrite::Persist(std::path::absolute(&dir).ctx("--persist", dir.display())?),
        (_, false, false, None) => RootWrite::Ephemeral,
    };
    if write == RootWrite::Direct && !o.layers.is_empty() {
        return Err(cli::usage_error(&RUN, "--layer needs the overlay; drop --rootfs-rw/--rw-image"));
    }
    let mut layers = Vec::new();
    for layer in &o.layers {
        let path = crate::mounts::canonical("--layer", layer)?;
        if docker_whiteouts(&path) {
            return Err(Error::msg(
                format!("--layer {}", layer.display()),
                "has docker whiteouts (.wh. files): use rootfs-builder --layers",
            ));
        }
        if !path.is_dir() && rootless {
            return Err(Error::msg(format!("--layer {}", layer.display()), "image layers need root (loop devices)"));
        }
        layers.push(path);
    }
    if command.is_empty() {
        return Err(cli::usage_error(&RUN, "no command given (and the image names none)"));
    }
    if o.detach && o.tty {
        return Err(cli::usage_error(
            &RUN,
            "-t with -d: a detached container has no terminal to attach; use 'husk exec -it'",
        ));
    }
    let name = o.name.unwrap_or_else(ids::short_id);
    let hostname = o.hostname.unwrap_or_else(|| name.clone());
    let user_ns = o.userns || rootless;
    if crate::privilege::limited_root() {
        eprintln!(
            "husk: root without CAP_SYS_ADMIN here (inside a container?): the container gets a user namespace, \
             as with rootless husk"
        );
    }
    let (uid_mappings, gid_mappings) = if user_ns { crate::subids::maps(o.userns) } else { (Vec::new(), Vec::new()) };
    let mut mounts = default_mounts(user_ns, o.privileged);
    mounts.extend(o.volumes);
    mounts.extend(o.tmpfs);
    let capabilities = (!o.privileged).then(|| Capabilities::uniform(capability_set(&o.cap_add, &o.cap_drop)));
    let (masked_paths, readonly_paths) = if o.privileged || o.systempaths_unconfined {
        (Vec::new(), Vec::new())
    } else {
        (DEFAULT_MASKED_PATHS.map(String::from).to_vec(), DEFAULT_READONLY_PATHS.map(String::from).to_vec())
    };
    let process = Process {
        env: {
            // The image's variables replace husk's defaults (its PATH); -e replaces both.
            let mut env = default_env(&hostname, o.tty, o.user.is_some(), &image_env);
            merge_env(&mut env, &o.env);
            env
        },
        args: command,
        cwd: o.workdir.unwrap_or_else(|| "/".into()),
        terminal: o.tty,
        stdin: o.interactive,
        user: User { name: o.user, extra_groups: o.group_add, ..Default::default() },
        capabilities,
        no_new_privileges: o.no_new_privileges.unwrap_or(true),
        rlimits: o.rlimits,
        oom_score_adj: o.oom_score_adj,
        ..Default::default()
    };
    let mut resources = o.resources;
    if !o.privileged {
        resources.devices = default_device_rules();
        resources.devices.extend(o.devices.iter().map(|(n, access)| DeviceRule {
            allow: true,
            kind: n.kind,
            major: Some(n.major),
            minor: Some(n.minor),
            access: *access,
        }));
    }
    let seccomp = match (&o.seccomp_profile, o.privileged || o.seccomp_unconfined) {
        (_, true) => Seccomp::Unconfined,
        (None, false) => Seccomp::Default,
        (Some((path, text)), false) => {
            let held = process.capabilities.as_ref().map(|c| c.bounding.clone()).unwrap_or_default();
            let cx = crate::seccomp::profile::Context {
                capabilities: &held,
                kernel: crate::seccomp::profile::kernel_version(),
            };
            let profile = crate::seccomp::profile::parse(text, &cx)
                .map_err(|why| Error::msg(format!("--security-opt seccomp={path}"), why))?;
            Seccomp::Profile(profile)
        }
    };
    let spec = Spec {
        name,
        hostname,
        process,
        root: Root { source, layers, write, readonly: o.read_only, propagation: None },
        mounts,
        namespaces: default_namespaces(&o.network.mode, user_ns),
        uid_mappings,
        gid_mappings,
        resources,
        accounting: o.stats,
        cgroups_path: o.cgroup_parent,
        network: o.network,
        devices: o.devices.into_iter().map(|(node, _)| node).collect(),
        masked_paths,
        readonly_paths,
        sysctl: Vec::new(),
        hooks: Hooks::default(),
        seccomp,
    };
    let launch = Launch {
        detach: o.detach,
        remove: o.remove,
        stop_at_created: false,
        log_max: o.log_max.unwrap_or(crate::log::DEFAULT_MAX),
        stats: o.stats,
        rerun: String::new(),
    };
    Ok((spec, launch))
}

fn security_opt(o: &mut RunOpts, text: &str) -> Result<()> {
    let (key, value) = text.split_once(['=', ':']).unwrap_or((text, "true"));
    match (key, value) {
        ("no-new-privileges", "true") => o.no_new_privileges = Some(true),
        ("no-new-privileges", "false") => o.no_new_privileges = Some(false),
        ("seccomp", "unconfined") => o.seccomp_unconfined = true,
        ("systempaths", "unconfined") => o.systempaths_unconfined = true,
        ("seccomp", path) => {
            let profile = std::fs::read_to_string(path).ctx(&format!("--security-opt seccomp={path}"), "")?;
            o.seccomp_profile = Some((path.to_string(), profile));
        }
        _ => {
            return Err(Error::msg(
                format!("--security-opt {text}"),
                "expected no-new-privileges[=true|false], seccomp=unconfined, seccomp=PROFILE.json or \
                 systempaths=unconfined",
            ));
        }
    }
    Ok(())
}

/// Whether a directory layer holds a `.wh.` file (docker's whiteouts: overlayfs knows
/// only its own, a character device 0/0 and an xattr).
fn docker_whiteouts(dir: &Path) -> bool {
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.flatten().any(|e| {
        e.file_name().as_encoded_bytes().starts_with(b".wh.")
            || e.file_type().is_ok_and(|t| t.is_dir()) && docker_whiteouts(&e.path())
    })
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

fn read_env_file(path: &str) -> Result<Vec<String>> {
    let text = std::fs::read_to_string(path).ctx("--env-file", path)?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim_ascii();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        out.extend(env_entry(&format!("--env-file {path} line {}", n + 1), line)?);
    }
    Ok(out)
}

/// KEY=VALUE as given, or a bare KEY taking husk's own value (left out when unset, as
/// docker does).
pub fn env_entry(what: &str, entry: &str) -> Result<Option<String>> {
    if !entry.contains('=') {
        let value = (!entry.is_empty()).then(|| std::env::var(entry).ok()).flatten();
        return Ok(value.map(|v| format!("{entry}={v}")));
    }
    check_env(entry).map_err(|_| Error::msg(format!("{what} {entry}"), "expected KEY=VALUE or KEY"))?;
    Ok(Some(entry.to_string()))
}

/// SRC:DST[:OPTIONS] with docker's options (ro, rw, and z, Z, nocopy and the mount
/// consistency words, which mean nothing here and are accepted). A missing SRC is
/// created as a directory, as docker does; an existing one is resolved now, so what is
/// mounted is what was named.
fn parse_volume(spec: &str) -> Result<Mount> {
    let bad = |why: &str| Error::msg(format!("--volume {spec}"), why.to_string());
    let (src, dst, options) = match spec.split(':').collect::<Vec<_>>()[..] {
        [src, dst] => (src, dst, ""),
        [src, dst, options] => (src, dst, options),
        _ => return Err(bad("expected SRC:DST[:OPTIONS]")),
    };
    let mut readonly = false;
    for option in options.split(',').filter(|o| !o.is_empty()) {
        match option {
            "ro" => readonly = true,
            "rw" | "z" | "Z" | "nocopy" | "consistent" | "cached" | "delegated" => {}
            _ => return Err(bad(&format!("unknown option {option} (ro, rw, z, Z, nocopy)"))),
        }
    }
    // docker's rule: a source starting with '/' or '.' is a host path, anything else a
    // volume's name, one path component.
    let named = !src.starts_with(['/', '.']);
    if named && (src.len() < 2 || src.contains('/')) {
        return Err(bad("expected a host path or a volume name"));
    }
    if !dst.starts_with('/') {
        return Err(bad("the destination must be an absolute path"));
    }
    if dst.split('/').any(|c| c == "..") {
        return Err(bad("the destination must not contain '..'"));
    }
    let src = if named { crate::store::root().join("volumes").join(src).join("_data") } else { PathBuf::from(src) };
    if !src.exists() {
        std::fs::create_dir_all(&src).ctx("--volume: create", src.display())?;
    }
    let source = crate::mounts::canonical("--volume source", &src)?;
    Ok(bind_mount(&source, dst, readonly))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_options_are_checked() {
        assert!(parse_volume("/tmp:/data:ro").unwrap().options.readonly);
        assert!(parse_volume("/tmp:data").is_err());
        assert!(parse_volume("/tmp:/a/../b").is_err());
        assert!(parse_volume("/tmp:/data:zz").is_err());
        assert!(parse_volume("/tmp:/data:ro,z").unwrap().options.readonly);
        assert!(!parse_volume("/tmp:/data:Z,nocopy").unwrap().options.readonly);
        assert!(parse_volume("d:/data").is_err());
        assert!(parse_volume("da/ta:/data").is_err());
    }

    #[test]
    fn every_run_flag_reaches_the_spec_or_the_launch() {
        // One flag at a time, with a value its handler accepts: the spec built from it
        // differs from the default one (or the launch does).
        let env_file = std::env::temp_dir().join(format!("husk-env-file-{}", std::process::id()));
        std::fs::write(&env_file, "# a comment\nA=1\n").unwrap();
        let fresh = || RunOpts { rootfs: Some("/".into()), name: Some("t".into()), ..Default::default() };
        let base = build(fresh(), vec!["true".into()]).unwrap();
        let sample = |long: &str| match long {
            "rootfs" | "layer" | "persist" => "/tmp",
            "image" => "/etc/passwd",
            "env" => "A=1",
            "env-file" => env_file.to_str().unwrap(),
            "workdir" => "/x",
            "user" => "1:1",
            "volume" => "/tmp:/t",
            "name" | "hostname" => "zz",
            "memory" | "memory-swap" | "log-max-size" | "memory-reservation" => "64m",
            "ulimit" => "nofile=100:200",
            "oom-score-adj" => "500",
            "cpus" => "0.5",
            "cpu-percent" | "cpu-shares" | "pids-limit" | "mtu" => "50",
            "cpuset-cpus" | "cpuset-mems" => "0",
            "cgroup-parent" => "g",
            "network" => "host",
            "ip" => "10.1.0.5/16",
            "subnet" => "10.1.0.0/16",
            "mac-address" => "02:42:ac:11:00:02",
            "dns" => "9.9.9.9",
            "publish" => "8080:80",
            "network-alias" => "db",
            "add-host" => "db:10.0.0.9",
            "cap-add" => "SYS_ADMIN",
            "group-add" => "audio",
            "device" => "/dev/null:/dev/other",
            "cap-drop" => "chown",
            "security-opt" => "no-new-privileges=false",
            "tmpfs" => "/scratch:size=1m",
            "entrypoint" => "/bin/echo",
            _ => "",
        };
        for flag in FLAGS {
            let mut o = fresh();
            (flag.set)(&mut o, sample(flag.long).into()).unwrap_or_else(|e| panic!("--{}: {e}", flag.long));
            let changed = match flag.long {
                // Checked where the root is resolved; the rest change what is built.
                "image" | "rootfs" => o.image.is_some() || o.rootfs.as_deref() == Some(Path::new("/tmp")),
                "rw-image" => o.rw_image,
                // docker's --init asks for what husk always does.
                "init" => true,
                _ => match build(o, vec!["true".into()]) {
                    Ok(built) => built.0 != base.0 || format!("{:?}", built.1) != format!("{:?}", base.1),
                    Err(_) => true,
                },
            };
            assert!(changed, "--{} changed nothing", flag.long);
        }
        let _ = std::fs::remove_file(&env_file);
    }
}
