//! ps, inspect, wait, stop, kill, rm and gc: managing containers through their state
//! entries. Signals go to the container's init through a pidfd (no pid-reuse race),
//! which forwards them to the command.

use crate::cgroups;
use crate::cli::{Arg, Cli, Command, flag};
use crate::error::{Error, Result};
use crate::lifecycle;
use crate::state::{self, ContainerDir, State, Status};
use crate::stats;
use rustix::event::{PollFd, PollFlags, poll};
use rustix::io::Errno;
use std::ffi::OsString;
use std::time::{Duration, Instant};

pub static PS: Command = Command {
    name: "ps",
    usage: "[-a] [-q] [--format json]",
    about: "List containers (running ones, or all with -a).",
    flags: &[
        flag("all", Some('a'), None, "Also list exited containers"),
        flag("quiet", Some('q'), None, "Names only"),
        flag("format", None, Some("json"), "Print JSON instead of a table"),
    ],
};
pub static INSPECT: Command =
    Command { name: "inspect", usage: "NAME...", about: "Print containers' state as JSON.", flags: &[] };
pub static WAIT: Command = Command {
    name: "wait",
    usage: "NAME...",
    about: "Wait for containers to exit; print their exit codes.",
    flags: &[],
};
pub static STOP: Command = Command {
    name: "stop",
    usage: "[-t SECONDS] NAME...",
    about: "Stop containers: SIGTERM to the command, SIGKILL after the timeout.",
    flags: &[flag("time", Some('t'), Some("SECONDS"), "Seconds to wait before SIGKILL (default 10)")],
};
pub static KILL: Command = Command {
    name: "kill",
    usage: "[-s SIGNAL] NAME...",
    about: "Send a signal to containers' commands (default SIGKILL).",
    flags: &[flag("signal", Some('s'), Some("SIGNAL"), "Signal name or number")],
};
pub static RM: Command = Command {
    name: "rm",
    usage: "[-f] NAME...",
    about: "Remove stopped containers (running ones too with -f).",
    flags: &[flag("force", Some('f'), None, "Kill running containers first")],
};
pub static GC: Command = Command {
    name: "gc",
    usage: "",
    about: "Release what containers whose husk process was killed left behind.",
    flags: &[],
};

/// A command line: its (flag, value) pairs and its positional names.
type Parsed = (Vec<(&'static str, String)>, Vec<String>);

/// Parses `cmd`'s arguments; None when --help was answered.
fn parse(cmd: &'static Command, args: Vec<OsString>) -> Result<Option<Parsed>> {
    let mut cli = Cli::new(cmd, args);
    let (mut flags, mut names) = (Vec::new(), Vec::new());
    while let Some(arg) = cli.next()? {
        match arg {
            Arg::Help => {
                print!("{}", crate::cli::help(cmd));
                return Ok(None);
            }
            Arg::Flag(long, value) => flags.push((long, value.unwrap_or_default())),
            Arg::Positional(name) => names.push(name),
        }
    }
    Ok(Some((flags, names)))
}

fn need_names(cmd: &Command, names: &[String]) -> Result<()> {
    if names.is_empty() {
        return Err(Error::msg(
            format!("husk {}", cmd.name),
            format!("no container named; see 'husk {} --help'", cmd.name),
        ));
    }
    Ok(())
}

/// Runs `each` for every name; reports failures one line each and returns 125 if any.
fn for_each(names: &[String], mut each: impl FnMut(&str) -> Result<()>) -> Result<u8> {
    let mut failed = false;
    for name in names {
        if let Err(e) = each(name) {
            eprintln!("husk: {e}");
            failed = true;
        }
    }
    Ok(if failed { crate::error::EXIT_HUSK } else { 0 })
}

pub fn ps(args: Vec<OsString>) -> Result<u8> {
    let Some((flags, _)) = parse(&PS, args)? else { return Ok(0) };
    let all = flags.iter().any(|(f, _)| *f == "all");
    let quiet = flags.iter().any(|(f, _)| *f == "quiet");
    let json = match flags.iter().find(|(f, _)| *f == "format") {
        Some((_, v)) if v == "json" => true,
        Some((_, v)) => return Err(Error::msg(format!("--format {v}"), "only json is supported")),
        None => false,
    };
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
    } else if json {
        let items: Vec<String> = rows.iter().map(to_json).collect();
        println!("[{}]", items.join(","));
    } else {
        print_table(&rows);
    }
    Ok(0)
}

fn print_table(rows: &[State]) {
    let mut table = vec![["NAME", "STATUS", "PID", "UPTIME", "IMAGE", "IP", "MEMORY"].map(String::from).to_vec()];
    for st in rows {
        let running = st.status == Status::Running;
        table.push(vec![
            st.name.clone(),
            st.status_text(),
            if running { st.init.pid.to_string() } else { "-".into() },
            if running { uptime(st.started) } else { "-".into() },
            st.root.clone(),
            if st.ip.is_empty() { "-".into() } else { st.ip.clone() },
            stats::memory_usage(&cgroups::recorded(&state::root().join(&st.name)))
                .map(human)
                .unwrap_or_else(|| "-".into()),
        ]);
    }
    let widths: Vec<usize> = (0..7).map(|c| table.iter().map(|r| r[c].chars().count()).max().unwrap_or(0)).collect();
    for row in table {
        let line: Vec<String> = row.iter().zip(&widths).map(|(cell, w)| format!("{cell:<w$}")).collect();
        println!("{}", line.join("  ").trim_end());
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
        1024..1048576 => format!("{:.1}KiB", bytes as f64 / 1024.0),
        1048576..1073741824 => format!("{:.1}MiB", bytes as f64 / 1048576.0),
        _ => format!("{:.2}GiB", bytes as f64 / 1073741824.0),
    }
}

pub fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn to_json(st: &State) -> String {
    let num = |v: Option<i32>| v.map(|v| v.to_string()).unwrap_or_else(|| "null".into());
    let resources: Vec<String> = st.resources.iter().map(|r| json_str(r)).collect();
    format!(
        "{{\"name\":{},\"status\":{},\"state\":{},\"pid\":{},\"exit_code\":{},\"signal\":{},\"created\":{},\"started\":{},\"finished\":{},\"command\":{},\"root\":{},\"hostname\":{},\"network\":{},\"ip\":{},\"detached\":{},\"remove\":{},\"memory\":{},\"resources\":[{}]}}",
        json_str(&st.name),
        json_str(&st.status_text()),
        json_str(match st.status {
            Status::Creating => "creating",
            Status::Running => "running",
            Status::Exited => "exited",
        }),
        if st.status == Status::Running { st.init.pid.to_string() } else { "null".into() },
        num(st.exit_code),
        num(st.signal),
        st.created,
        st.started,
        st.finished,
        json_str(&st.command),
        json_str(&st.root),
        json_str(&st.hostname),
        json_str(&st.network),
        json_str(&st.ip),
        st.detached,
        st.remove,
        stats::memory_usage(&cgroups::recorded(&state::root().join(&st.name)))
            .map(|m| m.to_string())
            .unwrap_or_else(|| "null".into()),
        resources.join(",")
    )
}

pub fn inspect(args: Vec<OsString>) -> Result<u8> {
    let Some((_, names)) = parse(&INSPECT, args)? else { return Ok(0) };
    need_names(&INSPECT, &names)?;
    for_each(&names, |name| {
        let st = ContainerDir::open(name)?.load()?;
        println!("{}", to_json(&st));
        Ok(())
    })
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
            return Err(Error::msg(format!("container {name:?}"), "did not exit in time"));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

pub fn wait(args: Vec<OsString>) -> Result<u8> {
    let Some((_, names)) = parse(&WAIT, args)? else { return Ok(0) };
    need_names(&WAIT, &names)?;
    ContainerDir::open(&names[0])?;
    for_each(&names, |name| {
        match wait_exit(name, None)? {
            Some(st) => println!("{}", st.exit_code.map(|c| c.to_string()).unwrap_or_else(|| "unknown".into())),
            None => return Err(Error::msg(format!("container {name:?}"), "was removed when it exited")),
        }
        Ok(())
    })
}

/// Sends `sig` to a running container's init through a pidfd.
fn signal(name: &str, sig: u32) -> Result<(State, rustix::fd::OwnedFd)> {
    let (_, st) = state::find_running(name)?;
    let pid = rustix::process::Pid::from_raw(st.init.pid).ok_or_else(|| Error::msg(name.to_string(), "bad pid"))?;
    let pidfd = rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty())
        .map_err(|e| Error::sys("pidfd_open for container", name, e))?;
    let signal =
        husk_init::sys::signal(sig).ok_or_else(|| Error::msg(format!("signal {sig}"), "not a valid signal"))?;
    rustix::process::pidfd_send_signal(&pidfd, signal).map_err(|e| Error::sys("signal container", name, e))?;
    Ok((st, pidfd))
}

/// Waits until the process behind `pidfd` has exited (it is not our child: poll only).
fn exited_within(pidfd: &rustix::fd::OwnedFd, timeout: Duration) -> bool {
    let ts = rustix::time::Timespec { tv_sec: timeout.as_secs() as i64, tv_nsec: timeout.subsec_nanos() as i64 };
    let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
    loop {
        match poll(&mut fds, Some(&ts)) {
            Ok(n) => return n > 0,
            Err(Errno::INTR) => continue,
            Err(_) => return true,
        }
    }
}

pub fn stop(args: Vec<OsString>) -> Result<u8> {
    let Some((flags, names)) = parse(&STOP, args)? else { return Ok(0) };
    need_names(&STOP, &names)?;
    let secs = match flags.iter().find(|(f, _)| *f == "time") {
        Some((_, v)) => v.parse::<u64>().map_err(|_| Error::msg(format!("--time {v}"), "expected whole seconds"))?,
        None => 10,
    };
    for_each(&names, |name| {
        let (_, pidfd) = signal(name, linux_raw_sys::general::SIGTERM)?;
        if !exited_within(&pidfd, Duration::from_secs(secs)) {
            let _ = rustix::process::pidfd_send_signal(&pidfd, rustix::process::Signal::KILL);
            exited_within(&pidfd, Duration::from_secs(10));
        }
        // The owner records the exit; wait for it so a following `rm` finds it stopped.
        wait_exit(name, Some(Duration::from_secs(10)))?;
        println!("{name}");
        Ok(())
    })
}

pub fn kill(args: Vec<OsString>) -> Result<u8> {
    let Some((flags, names)) = parse(&KILL, args)? else { return Ok(0) };
    need_names(&KILL, &names)?;
    let sig = match flags.iter().find(|(f, _)| *f == "signal") {
        Some((_, v)) => parse_signal(v)?,
        None => linux_raw_sys::general::SIGKILL,
    };
    for_each(&names, |name| {
        signal(name, sig)?;
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
        .ok_or_else(|| Error::msg(format!("signal {text:?}"), "unknown signal"))
}

pub fn rm(args: Vec<OsString>) -> Result<u8> {
    let Some((flags, names)) = parse(&RM, args)? else { return Ok(0) };
    need_names(&RM, &names)?;
    let force = flags.iter().any(|(f, _)| *f == "force");
    for_each(&names, |name| {
        let dir = ContainerDir::open(name)?;
        // A stopped entry, or one whose owner is gone (what it held went with its
        // namespaces or to the garbage pass), or a broken one is simply removed.
        if let Ok(st) = dir.load()
            && st.status != Status::Exited
            && (dir.owner_alive() || st.init.alive())
        {
            if !force {
                return Err(Error::msg(format!("container {name:?}"), "is running; stop it first or use rm -f"));
            }
            if let Ok((_, pidfd)) = signal(name, linux_raw_sys::general::SIGKILL) {
                exited_within(&pidfd, Duration::from_secs(10));
            }
            let _ = wait_exit(name, Some(Duration::from_secs(10)));
        }
        if let Ok(dir) = ContainerDir::open(name) {
            dir.remove();
        }
        println!("{name}");
        Ok(())
    })
}

pub fn gc(args: Vec<OsString>) -> Result<u8> {
    let Some(_) = parse(&GC, args)? else { return Ok(0) };
    for name in lifecycle::collect_garbage(true) {
        println!("{name}");
    }
    Ok(0)
}
