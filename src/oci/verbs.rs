//! The OCI verbs that act on an existing container: state, kill, delete, ps, pause,
//! resume and list, with runc's arguments and output.

use super::hooks::{self, Place};
use crate::cgroups::recorded;
use crate::cli::{self, Command, flag, on};
use crate::compat::Target;
use crate::error::{Error, Result};
use crate::json::{Value, Writer};
use crate::state::{self, ContainerDir, State, Status};
use std::ffi::OsString;
use std::time::Duration;

/// The OCI status of a container: creating, created, running, paused or stopped.
pub fn status(st: &State, dir: &ContainerDir) -> &'static str {
    let alive = st.init.alive();
    match st.status {
        Status::Creating if alive || dir.owner_alive() => "creating",
        Status::Created if alive => "created",
        Status::Running if alive && recorded::frozen(&dir.path) => "paused",
        Status::Running if alive => "running",
        _ => "stopped",
    }
}

/// The state object of the runtime-spec (what `state` prints and hooks read).
pub fn state_json(st: &State, status: &str) -> String {
    let pid = if status == "stopped" { 0 } else { st.init.pid };
    let annotations = if st.annotations.is_empty() { "{}" } else { st.annotations.as_str() };
    let mut w = Writer::default();
    w.open("", '{').str("ociVersion", super::SPEC_VERSION).str("id", &st.name).str("status", status);
    w.num("pid", pid).str("bundle", &st.bundle).str("rootfs", &st.root).str("created", &created(st));
    w.raw("annotations", annotations).close('}').finish()
}

fn created(st: &State) -> String {
    super::rfc3339(std::time::UNIX_EPOCH + Duration::from_secs(st.created))
}

#[derive(Default)]
pub struct NoOpts;

pub static STATE: Command<NoOpts> = Command {
    name: "state",
    usage: "ID",
    about: "Print a container's state as the OCI runtime-spec's JSON.",
    flags: &[],
    command_follows: false,
};

fn one(cmd: &'static Command<impl Default>, ids: &[String]) -> Result<String> {
    match ids {
        [id] => Ok(id.clone()),
        _ => Err(cli::usage_error(cmd, "expected one container ID")),
    }
}

fn open(id: &str) -> Result<(ContainerDir, State)> {
    let dir = ContainerDir::open(id).map_err(|_| Error::container(id, "does not exist"))?;
    let st = dir.load()?;
    Ok((dir, st))
}

pub fn state(args: Vec<OsString>) -> Result<u8> {
    let Some((_, ids)) = cli::parse(&STATE, args)? else { return Ok(0) };
    let (dir, st) = open(&one(&STATE, &ids)?)?;
    println!("{}", state_json(&st, status(&st, &dir)));
    Ok(0)
}

#[derive(Default)]
pub struct KillOpts {
    all: bool,
}

pub static KILL: Command<KillOpts> = Command {
    name: "kill",
    usage: "[--all] ID [SIGNAL]",
    about: "Send a signal (default SIGTERM) to an OCI container's process (--all: all of them).",
    flags: &[flag("all", Some('a'), None, "Signal every process of the container", |o, _| on(&mut o.all))],
    command_follows: false,
};

/// Whether `kill`'s arguments are the OCI form: `--all`, or a container and then a
/// signal (a name no container has), as conmon and the shim call it.
pub fn is_kill_form(args: &[OsString]) -> bool {
    let words: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    match words[..] {
        [id, sig] => {
            !id.starts_with('-')
                && crate::commands::manage::parse_signal(sig).is_ok()
                && ContainerDir::open(sig).is_err()
        }
        _ => words.iter().any(|w| matches!(*w, "--all" | "-a")),
    }
}

pub fn kill(args: Vec<OsString>) -> Result<u8> {
    let Some((KillOpts { all }, words)) = cli::parse(&KILL, args)? else { return Ok(0) };
    let (id, sig) = match &words[..] {
        [id] => (id, linux_raw_sys::general::SIGTERM),
        [id, sig] => (id, crate::commands::manage::parse_signal(sig)?),
        _ => return Err(cli::usage_error(&KILL, "expected ID [SIGNAL]")),
    };
    let (dir, st) = open(id)?;
    let not_running = || Error::container(id, "container not running");
    if !st.init.alive() {
        return Err(not_running());
    }
    if all {
        for pid in recorded::pids(&dir.path) {
            let _ = husk_init::sys::kill(pid, sig);
        }
        return Ok(0);
    }
    let target = Target::open(st.init).map_err(|_| not_running())?;
    target.signal(sig).map_err(|e| Error::sys("signal container", id, e))?;
    Ok(0)
}

#[derive(Default)]
pub struct DeleteOpts {
    force: bool,
}

pub static DELETE: Command<DeleteOpts> = Command {
    name: "delete",
    usage: "[--force] ID...",
    about: "Delete stopped containers (with --force: running ones too; a missing one is no error).",
    flags: &[flag("force", Some('f'), None, "Kill running containers first", |o, _| on(&mut o.force))],
    command_follows: false,
};

pub fn delete(args: Vec<OsString>) -> Result<u8> {
    let Some((DeleteOpts { force }, ids)) = cli::parse(&DELETE, args)? else { return Ok(0) };
    if ids.is_empty() {
        return Err(cli::usage_error(&DELETE, "expected a container ID"));
    }
    for id in &ids {
        delete_one(id, force)?;
    }
    Ok(0)
}

/// Deletes one container: an OCI one here, husk's own through `rm`.
pub fn delete_one(id: &str, force: bool) -> Result<()> {
    let (dir, st) = match open(id) {
        Ok(found) => found,
        Err(_) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    if !st.oci() {
        return crate::commands::manage::remove(id, force);
    }
    let status = status(&st, &dir);
    if matches!(status, "running" | "paused") && !force {
        return Err(Error::container(id, format!("cannot delete a container that is {status}")));
    }
    // A `husk create` still at work owns the entry: never deleted under it.
    if status == "creating" && dir.owner_alive() {
        return Err(Error::container(id, "is being created"));
    }
    if st.init.alive() || status == "creating" {
        // Thawed first: a frozen process cannot act on SIGKILL.
        if status == "paused" {
            let _ = recorded::freeze(&dir.path, false);
        }
        for pid in recorded::pids(&dir.path) {
            let _ = husk_init::sys::kill(pid, linux_raw_sys::general::SIGKILL);
        }
        if let Ok(target) = Target::open(st.init) {
            let _ = target.signal(linux_raw_sys::general::SIGKILL);
            target.exited_within(Duration::from_secs(10));
        }
    }
    recorded::destroy(&dir.path);
    if let Ok(spec) = crate::spec::Spec::load(id, &st.spec) {
        let state = state_json(&st, "stopped");
        hooks::run_warning("poststop", &spec.hooks.poststop, &state, &Place::Runtime);
    }
    dir.remove();
    Ok(())
}

#[derive(Default)]
pub struct PsOpts {
    json: bool,
}

pub static PS: Command<PsOpts> = Command {
    name: "ps",
    usage: "[--format table|json] ID",
    about: "List a container's processes (host pids).",
    flags: &[flag("format", Some('f'), Some("table|json"), "Output format (default table)", |o, v| match v.as_str() {
        "json" => on(&mut o.json),
        "table" => Ok(o.json = false),
        _ => Err(Error::msg(format!("--format {v}"), "expected table or json")),
    })],
    command_follows: false,
};

/// `ps ID` (with a container named) is the OCI form; `ps` alone is husk's list (docker's
/// --filter, -n and --last take values that are not IDs).
pub fn is_ps_form(args: &[OsString]) -> bool {
    let mut words = args.iter().filter_map(|a| a.to_str());
    let mut positional = false;
    while let Some(w) = words.next() {
        match w {
            "--format" | "-f" | "--filter" | "-n" | "--last" => {
                words.next();
            }
            w if !w.starts_with('-') => positional = true,
            _ => {}
        }
    }
    positional
}

pub fn ps(args: Vec<OsString>) -> Result<u8> {
    let Some((PsOpts { json }, ids)) = cli::parse(&PS, args)? else { return Ok(0) };
    let (dir, st) = open(&one(&PS, &ids)?)?;
    let mut pids = recorded::pids(&dir.path);
    if pids.is_empty() && st.init.alive() {
        pids.push(st.init.pid);
    }
    if json {
        println!("{}", Value::from(pids));
        return Ok(0);
    }
    println!("PID     CMD");
    for pid in pids {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        let cmd: Vec<String> =
            cmd.split(|&b| b == 0).filter(|a| !a.is_empty()).map(|a| String::from_utf8_lossy(a).into()).collect();
        println!("{pid:<7} {}", cmd.join(" "));
    }
    Ok(0)
}

pub static PAUSE: Command<NoOpts> = Command {
    name: "pause",
    usage: "ID...",
    about: "Freeze running containers (the cgroup freezer).",
    flags: &[],
    command_follows: false,
};

pub static RESUME: Command<NoOpts> =
    Command { name: "resume", usage: "ID...", about: "Thaw paused containers.", flags: &[], command_follows: false };

pub fn pause(args: Vec<OsString>) -> Result<u8> {
    freeze(&PAUSE, args, true)
}

pub fn resume(args: Vec<OsString>) -> Result<u8> {
    freeze(&RESUME, args, false)
}

fn freeze(cmd: &'static Command<NoOpts>, args: Vec<OsString>, on: bool) -> Result<u8> {
    let Some((_, ids)) = cli::parse(cmd, args)? else { return Ok(0) };
    if ids.is_empty() {
        return Err(cli::usage_error(cmd, "expected a container ID"));
    }
    for id in &ids {
        let (dir, st) = open(id)?;
        let now = status(&st, &dir);
        match (on, now) {
            (true, "running") | (false, "paused") => recorded::freeze(&dir.path, on)?,
            _ => {
                let want = if on { "running" } else { "paused" };
                return Err(Error::container(id, format!("is {now}, not {want}")));
            }
        }
    }
    Ok(0)
}

#[derive(Default)]
pub struct ListOpts {
    json: bool,
    quiet: bool,
}

pub static LIST: Command<ListOpts> = Command {
    name: "list",
    usage: "[--format table|json] [-q]",
    about: "List containers with their OCI status.",
    flags: &[
        flag("format", Some('f'), Some("table|json"), "Output format (default table)", |o, v| match v.as_str() {
            "json" => on(&mut o.json),
            "table" => Ok(o.json = false),
            _ => Err(Error::msg(format!("--format {v}"), "expected table or json")),
        }),
        flag("quiet", Some('q'), None, "IDs only", |o, _| on(&mut o.quiet)),
    ],
    command_follows: false,
};

pub fn list(args: Vec<OsString>) -> Result<u8> {
    let Some((ListOpts { json, quiet }, _)) = cli::parse(&LIST, args)? else { return Ok(0) };
    let mut rows = Vec::new();
    for id in state::names() {
        if let Ok((dir, st)) = open(&id) {
            let status = status(&st, &dir);
            rows.push((st, status));
        }
    }
    if json {
        println!("[{}]", rows.iter().map(|(st, status)| state_json(st, status)).collect::<Vec<_>>().join(","));
        return Ok(0);
    }
    if !quiet {
        println!("{:<20} {:<8} {:<8} {:<30} CREATED", "ID", "PID", "STATUS", "BUNDLE");
    }
    for (st, status) in &rows {
        if quiet {
            println!("{}", st.name);
        } else {
            let pid = if *status == "stopped" { 0 } else { st.init.pid };
            println!("{:<20} {pid:<8} {status:<8} {:<30} {}", st.name, st.bundle, created(st));
        }
    }
    Ok(0)
}
