//! ps, inspect, wait, stop, kill, rm and gc: managing containers through their state
//! entries. Signals go to the container's init through a pidfd (no pid-reuse race; before
//! Linux 5.3 its pid, checked against the recorded start time: compat.rs),
//! which forwards them to the command.

use crate::cgroups::{self, limits::decimal};
use crate::cli::{self, Command, flag, on};
use crate::compat::Target;
use crate::error::{Error, Result};
use crate::json::{Value, Writer};
use crate::lifecycle;
use crate::state::{self, ContainerDir, State, Status};
use std::ffi::OsString;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct PsOpts {
    all: bool,
    quiet: bool,
}

pub static PS: Command<PsOpts> = Command {
    name: "ps",
    usage: "[-a] [-q]",
    about: "List containers (running and created ones, or all with -a). docker's -f, -n, -l, -s,\n\
            --no-trunc and --format: see 'husk ps -l --help'.",
    flags: &[
        flag("all", Some('a'), None, "Also list exited containers", |o, _| on(&mut o.all)),
        flag("quiet", Some('q'), None, "Names only", |o, _| on(&mut o.quiet)),
    ],
    command_follows: false,
};

/// For commands that take only names.
#[derive(Default)]
pub struct NoOpts;

pub static INSPECT: Command<NoOpts> = Command {
    name: "inspect",
    usage: "--raw NAME...",
    about: "husk's own record of containers (state and saved spec), a JSON line each. Without\n\
            --raw: docker's shape and -f TEMPLATE, from rootfs-builder.",
    flags: &[flag("raw", None, None, "This record", |_, _| Ok(()))],
    command_follows: false,
};
pub static WAIT: Command<NoOpts> = Command {
    name: "wait",
    usage: "NAME...",
    about: "Wait for containers to exit; print their exit codes.",
    flags: &[],
    command_follows: false,
};
pub static START: Command<NoOpts> = Command {
    name: "start",
    usage: "NAME...",
    about: "Start created or stopped containers; print their names once running.",
    flags: &[],
    command_follows: false,
};
pub static GC: Command<NoOpts> = Command {
    name: "gc",
    usage: "",
    about: "Release what containers whose husk process was killed left behind.",
    flags: &[],
    command_follows: false,
};

pub struct StopOpts {
    secs: u64,
}

impl Default for StopOpts {
    fn default() -> StopOpts {
        StopOpts { secs: 10 }
    }
}

static STOP_FLAGS: &[cli::Flag<StopOpts>] =
    &[flag("time", Some('t'), Some("SECONDS"), "Seconds to wait before SIGKILL (default 10)", |o, v| {
        Ok(o.secs = v.parse().map_err(|_| Error::msg(format!("--time {v}"), "expected whole seconds"))?)
    })];
pub static STOP: Command<StopOpts> = Command {
    name: "stop",
    usage: "[-t SECONDS] NAME...",
    about: "Stop containers: SIGTERM to the command, SIGKILL after the timeout.",
    flags: STOP_FLAGS,
    command_follows: false,
};
pub static RESTART: Command<StopOpts> = Command {
    name: "restart",
    usage: "[-t SECONDS] NAME...",
    about: "Stop and start containers.",
    flags: STOP_FLAGS,
    command_follows: false,
};

pub struct KillOpts {
    signal: u32,
}

impl Default for KillOpts {
    fn default() -> KillOpts {
        KillOpts { signal: linux_raw_sys::general::SIGKILL }
    }
}

pub static KILL: Command<KillOpts> = Command {
    name: "kill",
    usage: "[-s SIGNAL] NAME...",
    about: "Send a signal to containers' commands (default SIGKILL).",
    flags: &[flag("signal", Some('s'), Some("SIGNAL"), "Signal name or number", |o, v| {
        Ok(o.signal = parse_signal(&v)?)
    })],
    command_follows: false,
};

#[derive(Default)]
pub struct RmOpts {
    force: bool,
}

pub static RM: Command<RmOpts> = Command {
    name: "rm",
    usage: "[-f] NAME...",
    about: "Remove stopped containers (running and created ones too with -f).",
    flags: &[flag("force", Some('f'), None, "Kill running containers first", |o, _| on(&mut o.force))],
    command_follows: false,
};

/// Parses a command that acts on container names, requiring at least one.
fn named<O: Default>(cmd: &'static Command<O>, args: Vec<OsString>) -> Result<Option<(O, Vec<String>)>> {
    let parsed = cli::parse(cmd, args)?;
    if parsed.as_ref().is_some_and(|(_, names)| names.is_empty()) {
        // docker's code when the arguments, not the flags, are wrong.
        return Err(cli::usage_error(cmd, "no container named").with_code(1));
    }
    Ok(parsed)
}

/// Runs `each` for every name; reports failures one line each and returns docker's 1
/// if any failed.
fn for_each(names: &[String], mut each: impl FnMut(&str) -> Result<()>) -> Result<u8> {
    let mut failed = false;
    for name in names {
        if let Err(e) = each(name) {
            eprintln!("husk: {e}");
            failed = true;
        }
    }
    Ok(failed.into())
}

/// Whether `ps` arguments go beyond husk's own -a and -q: docker's listing options,
/// which rootfs-builder renders from husk's records.
pub fn docker_listing(args: &[OsString]) -> bool {
    args.iter()
        .any(|a| !matches!(a.to_str(), Some("-a" | "-q" | "-aq" | "-qa" | "--all" | "--quiet" | "-h" | "--help")))
}

pub fn ps(args: Vec<OsString>) -> Result<u8> {
    let Some((PsOpts { all, quiet }, _)) = cli::parse(&PS, args)? else { return Ok(0) };
    let mut rows = Vec::new();
    for name in state::names() {
        match ContainerDir::open(&name).and_then(|d| d.load()) {
            Ok(st) if all || st.status != Status::Exited => rows.push(st),
            Ok(_) => {}
            Err(e) => eprintln!("husk: skipping {name}: {e}"),
        }
    }
    if quiet {
        rows.iter().for_each(|st| println!("{}", st.name));
    } else {
        print_table(&rows);
    }
    Ok(0)
}

fn print_table(rows: &[State]) {
    let mut table =
        vec![["NAME", "STATUS", "PID", "UPTIME", "IMAGE", "IP", "PORTS", "MEMORY"].map(String::from).to_vec()];
    for st in rows {
        let running = matches!(st.status, Status::Running | Status::Created);
        table.push(vec![
            st.name.clone(),
            st.status_text(),
            if running { st.init.pid.to_string() } else { "-".into() },
            if running { uptime(st.started) } else { "-".into() },
            st.root.clone(),
            if st.ip.is_empty() { "-".into() } else { st.ip.clone() },
            Some(published(st).join(", ")).filter(|p| !p.is_empty()).unwrap_or_else(|| "-".into()),
            cgroups::memory_usage(&cgroups::recorded(&state::root().join(&st.name)))
                .map(human)
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    let widths: Vec<usize> = (0..8).map(|c| table.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for row in table {
        let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        println!("{}", line.join("  ").trim_ascii_end());
    }
}

fn uptime(started: u64) -> String {
    let secs = state::now().saturating_sub(started);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{}s", secs / 60, secs % 60),
        _ => format!("{}h{}m", secs / 3600, secs % 3600 / 60),
    }
}

pub fn human(bytes: u64) -> String {
    match bytes {
        0..1024 => format!("{bytes}B"),
        1024..1048576 => format!("{}KiB", decimal(bytes, 1024, 1)),
        1048576..1073741824 => format!("{}MiB", decimal(bytes, 1048576, 1)),
        _ => format!("{}GiB", decimal(bytes, 1073741824, 2)),
    }
}

/// The state as `inspect --raw` prints it (the object left open).
fn to_json(st: &State) -> Writer {
    let live = matches!(st.status, Status::Running | Status::Created);
    let dirs = cgroups::recorded(&state::root().join(&st.name));
    let memory = cgroups::memory_usage(&dirs);
    let mut w = Writer::default();
    w.open("", '{').str("name", &st.name).str("status", &st.status_text()).str("state", st.status.name());
    w.num_or_null("pid", live.then_some(st.init.pid)).num_or_null("exit_code", st.exit_code);
    w.num_or_null("signal", st.signal).num("created", st.created).num("started", st.started);
    w.num("finished", st.finished).str("command", &st.command).str("root", &st.root);
    w.str("hostname", &st.hostname).str("network", &st.network).str("ip", &st.ip).strs("ports", &published(st));
    w.num("detached", st.detached).num("remove", st.remove).num_or_null("memory", memory);
    // What `husk stats` (rootfs-builder) samples.
    w.num_or_null("cpu_nanos", cgroups::cpu_nanos(&dirs)).num_or_null("pids", cgroups::pids(&dirs));
    w
}

/// The published ports in a container's saved spec, as docker prints them
/// ("0.0.0.0:8080->80/tcp").
fn published(st: &State) -> Vec<String> {
    let spec = crate::json::parse(&st.spec).unwrap_or(Value::Null);
    let list = spec.get("network").and_then(|n| n.get("publish")).and_then(Value::as_array).unwrap_or_default();
    list.iter().filter_map(|p| p.as_str().map(String::from)).collect()
}

pub fn inspect(args: Vec<OsString>) -> Result<u8> {
    let Some((_, names)) = named(&INSPECT, args)? else { return Ok(0) };
    for_each(&names, |name| {
        let st = ContainerDir::open(name)?.load()?;
        // The spec as saved (an entry made before specs were saved has none).
        println!("{}", to_json(&st).raw("spec", &st.spec).close('}').finish());
        Ok(())
    })
}

/// Starts created containers: one byte into the fifo their supervisor waits on, then
/// wait until it reports the command running (or exited at once).
pub fn start(args: Vec<OsString>) -> Result<u8> {
    let Some((_, names)) = named(&START, args)? else { return Ok(0) };
    if names.iter().any(|n| ContainerDir::open(n).and_then(|d| d.load()).is_ok_and(|st| st.oci())) {
        // OCI containers, as runc starts them: silently, the first failure ends it.
        crate::oci::set_runtime_call();
        for name in &names {
            crate::oci::create::start(name)?;
        }
        return Ok(0);
    }
    for_each(&names, start_one)
}

/// Starts one container: a created one through its supervisor's fifo, a stopped one
/// again from what made it; a running one is done already, as docker says.
fn start_one(name: &str) -> Result<()> {
    let st = ContainerDir::open(name)?.load()?;
    match st.status {
        Status::Running if st.init.alive() => {
            println!("{name}");
            return Ok(());
        }
        Status::Created if st.init.alive() => {}
        _ => return run_again(name, &st),
    }
    let (dir, _) = state::find_live(name, &[Status::Created])
        .map_err(|_| Error::container(name, "is not created (only 'husk create' makes one to start)"))?;
    let fifo = dir.path.join(crate::detach::START_FIFO);
    let fd =
        rustix::fs::open(&fifo, rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::NONBLOCK, rustix::fs::Mode::empty())
            .map_err(|e| Error::sys("open", fifo.display(), e))?;
    rustix::io::write(&fd, b"s").map_err(|e| Error::sys("write", fifo.display(), e))?;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match ContainerDir::open(name).and_then(|d| d.load()) {
            Ok(st) if st.status == Status::Created => {}
            Ok(st) if st.status == Status::Exited && st.exit_code.is_some_and(|c| c >= 125) => {
                let code = st.exit_code.unwrap_or(125);
                // Its supervisor writes the reason into the log as it exits (after
                // recording the failure): wait for that, briefly, so that the
                // 'husk logs' this message points to already shows it.
                if let Ok(d) = ContainerDir::open(name) {
                    let until = Instant::now() + Duration::from_secs(2);
                    while d.owner_alive() && Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                }
                let why = format!("failed to start (exit code {code}); see 'husk logs {name}'");
                return Err(Error::container(name, why).with_code(code as u8));
            }
            _ => break,
        }
        if Instant::now() > deadline {
            return Err(Error::container(name, "did not start in time"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    println!("{name}");
    Ok(())
}

/// Runs a stopped container again, as docker's start does: the entry goes and `husk run
/// -d` makes it anew, with the same name, from the directory and arguments that made it.
/// Its log starts afresh.
fn run_again(name: &str, st: &State) -> Result<()> {
    let saved = crate::json::parse(&st.rerun).unwrap_or(Value::Null);
    let words: Vec<String> =
        saved.as_array().unwrap_or_default().iter().filter_map(|v| v.as_str().map(String::from)).collect();
    let Some((dir, args)) = words.split_first().filter(|_| !st.oci()) else {
        return Err(Error::container(
            name,
            "has no 'husk run' to start again (made by an OCI client or an older husk)",
        ));
    };
    remove(name, false)?;
    let mut argv: Vec<String> = ["husk", "run", "-d", "--name", name].map(String::from).into();
    argv.extend(args.iter().cloned());
    let argv = crate::exec::CArgs::new("arguments", &argv)?;
    match crate::namespaces::clone(0, None)? {
        crate::namespaces::Clone::Child { .. } => {
            let _ = rustix::process::chdir(dir.as_str());
            husk_init::sys::execve(c"/proc/self/exe", argv.as_ptr(), husk_init::sys::environ());
            husk_init::sys::exit_group(125)
        }
        crate::namespaces::Clone::Parent { pid, .. } => {
            let status = rustix::process::waitpid(Some(pid), rustix::process::WaitOptions::empty());
            match status.ok().flatten().and_then(|(_, s)| s.exit_status()) {
                Some(0) => Ok(()),
                _ => Err(Error::container(name, "did not start")),
            }
        }
    }
}

/// Polls the state entry until the container has exited; None if the entry vanished
/// (a foreground or --rm container).
fn wait_exit(name: &str, timeout: Option<Duration>) -> Result<Option<State>> {
    let deadline = timeout.map(|t| Instant::now() + t);
    loop {
        let Ok(dir) = ContainerDir::open(name) else { return Ok(None) };
        let st = dir.load()?;
        if st.status == Status::Exited {
            return Ok(Some(st));
        }
        if !dir.owner_alive() {
            lifecycle::collect_garbage(false);
            continue;
        }
        if deadline.is_some_and(|d| Instant::now() > d) {
            return Err(Error::container(name, "did not exit in time"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn wait(args: Vec<OsString>) -> Result<u8> {
    let Some((_, names)) = named(&WAIT, args)? else { return Ok(0) };
    ContainerDir::open(&names[0])?;
    for_each(&names, |name| {
        match wait_exit(name, None)? {
            Some(st) => println!("{}", st.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "unknown".into())),
            None => return Err(Error::container(name, "was removed when it exited")),
        }
        Ok(())
    })
}

/// Sends `sig` to a running container's init through a pidfd, or by its pid checked
/// against the recorded start time where pidfds are missing (`rm -f` also reaches a
/// created one).
fn signal(name: &str, sig: u32, statuses: &[Status]) -> Result<(State, Target)> {
    let (_, st) = state::find_live(name, statuses)?;
    husk_init::sys::signal(sig).ok_or_else(|| Error::msg(format!("signal {sig}"), "not a valid signal"))?;
    let target = Target::open(st.init).map_err(|e| Error::sys("pidfd_open for container", name, e))?;
    target.signal(sig).map_err(|e| Error::sys("signal container", name, e))?;
    Ok((st, target))
}

pub fn stop(args: Vec<OsString>) -> Result<u8> {
    let Some((StopOpts { secs }, names)) = named(&STOP, args)? else { return Ok(0) };
    for_each(&names, |name| {
        stop_one(name, secs)?;
        println!("{name}");
        Ok(())
    })
}

/// `restart`: stop (when running), then start again.
pub fn restart(args: Vec<OsString>) -> Result<u8> {
    let Some((StopOpts { secs }, names)) = named(&RESTART, args)? else { return Ok(0) };
    for_each(&names, |name| {
        stop_one(name, secs)?;
        start_one(name)
    })
}

fn stop_one(name: &str, secs: u64) -> Result<()> {
    // Stopping a stopped (or created) container is done already, as docker says.
    let st = ContainerDir::open(name)?.load()?;
    if st.status != Status::Running || !st.init.alive() {
        return Ok(());
    }
    let (_, target) = signal(name, linux_raw_sys::general::SIGTERM, &[Status::Running])?;
    if !target.exited_within(Duration::from_secs(secs)) {
        let _ = target.signal(linux_raw_sys::general::SIGKILL);
        target.exited_within(Duration::from_secs(10));
    }
    // The owner records the exit; wait for it so a following `rm` finds it stopped.
    wait_exit(name, Some(Duration::from_secs(10)))?;
    Ok(())
}

pub fn kill(args: Vec<OsString>) -> Result<u8> {
    let Some((KillOpts { signal: sig }, names)) = named(&KILL, args)? else { return Ok(0) };
    for_each(&names, |name| {
        signal(name, sig, &[Status::Running])?;
        println!("{name}");
        Ok(())
    })
}

pub fn parse_signal(text: &str) -> Result<u32> {
    let upper = text.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Ok(n) = bare.parse::<u32>()
        && husk_init::sys::signal(n).is_some()
    {
        return Ok(n);
    }
    (1..32)
        .find(|&n| state::signal_name(n) == format!("SIG{bare}"))
        .map(|n| n as u32)
        .ok_or_else(|| Error::msg(format!("signal \"{text}\""), "unknown signal"))
}

pub fn rm(args: Vec<OsString>) -> Result<u8> {
    let Some((RmOpts { force }, names)) = named(&RM, args)? else { return Ok(0) };
    for_each(&names, |name| {
        remove(name, force)?;
        println!("{name}");
        Ok(())
    })
}

/// Removes one container's entry (`rm`, and `delete` of one of husk's own).
pub fn remove(name: &str, force: bool) -> Result<()> {
    let dir = ContainerDir::open(name)?;
    // A stopped entry, or one whose owner is gone (what it held went with its
    // namespaces or to the garbage pass), or a broken one is simply removed.
    if let Ok(st) = dir.load()
        && st.status != Status::Exited
        && (dir.owner_alive() || st.init.alive())
    {
        if !force {
            return Err(Error::container(name, "is running; stop it first or use rm -f"));
        }
        if let Ok((_, target)) = signal(name, linux_raw_sys::general::SIGKILL, &[Status::Running, Status::Created]) {
            target.exited_within(Duration::from_secs(10));
        }
        let _ = wait_exit(name, Some(Duration::from_secs(10)));
    }
    if let Ok(dir) = ContainerDir::open(name) {
        dir.remove();
    }
    Ok(())
}

pub fn gc(args: Vec<OsString>) -> Result<u8> {
    let Some(_) = cli::parse(&GC, args)? else { return Ok(0) };
    for name in lifecycle::collect_garbage(true) {
        println!("{name}");
    }
    Ok(0)
}
