//! `husk exec`: a new process inside a running container. husk joins the container's
//! cgroups, enters its namespaces through a pidfd of its init (setns with several
//! namespaces at once), takes its root (/proc/PID/root, which also covers the chroot
//! fallback), then forks: the child is in the container's PID namespace and execs the
//! command. husk waits for it and returns its status; anything it leaves orphaned is
//! reaped by the container's init.

use crate::attach::{self, Container, Signals};
use crate::cli::{self, Command, flag, on};
use crate::error::{Context, Error, Result};
use crate::exec;
use crate::spec::{self, Spec};
use crate::state;
use crate::terminal::Pty;
use rustix::thread::ThreadNameSpaceType as Ns;
use std::ffi::OsString;

/// Unset fields take the container's own (its saved spec), as docker does.
#[derive(Default)]
pub struct ExecOpts {
    terminal: bool,
    stdin: bool,
    env: Vec<String>,
    workdir: Option<String>,
    user: Option<String>,
    /// The OCI form (oci/exec.rs): the process from a runtime-spec process.json.
    process: Option<std::path::PathBuf>,
    detach: bool,
    pid_file: Option<std::path::PathBuf>,
    console_socket: Option<std::path::PathBuf>,
    caps: Vec<String>,
    no_new_privs: bool,
}

pub static EXEC: Command<ExecOpts> = Command {
    name: "exec",
    usage: "[OPTIONS] NAME COMMAND [ARG...]\n       husk exec --process FILE [--detach] [--pid-file FILE] [--console-socket SOCK] ID",
    about: "Run a command in a running container, with the container's user, environment and\n\
            working directory unless overridden. The OCI form reads the process from a\n\
            runtime-spec process.json.",
    flags: &[
        flag("interactive", Some('i'), None, "Relay stdin to a -t terminal", |o, _| on(&mut o.stdin)),
        flag("tty", Some('t'), None, "Give the command a pseudo-terminal", |o, _| on(&mut o.terminal)),
        flag("env", Some('e'), Some("KEY[=VAL]"), "Set an environment variable (KEY: husk's value)", |o, kv| {
            Ok(o.env.extend(super::run::env_entry("-e", &kv)?))
        }),
        flag("workdir", Some('w'), Some("DIR"), "Working directory inside (default: the container's)", |o, dir| {
            Ok(o.workdir = Some(dir))
        }),
        flag("cwd", None, Some("DIR"), "Same as --workdir (runc's name)", |o, dir| Ok(o.workdir = Some(dir))),
        flag("process", Some('p'), Some("FILE"), "The process from a runtime-spec process.json", |o, v| {
            Ok(o.process = Some(v.into()))
        }),
        flag("detach", Some('d'), None, "Return once the command runs; its parent becomes husk's caller", |o, _| {
            on(&mut o.detach)
        }),
        flag("pid-file", None, Some("FILE"), "Write the command's pid here", |o, v| Ok(o.pid_file = Some(v.into()))),
        flag("console-socket", None, Some("SOCK"), "Send the terminal's master to this unix socket", |o, v| {
            Ok(o.console_socket = Some(v.into()))
        }),
        flag("cap", Some('c'), Some("CAP"), "Add a capability to the command's sets (repeatable)", |o, v| {
            let name = if v.starts_with("CAP_") { v } else { format!("CAP_{}", v.to_ascii_uppercase()) };
            crate::spec::capability_number(&name).ok_or_else(|| Error::msg(format!("--cap {name}"), "unknown"))?;
            Ok(o.caps.push(name))
        }),
        flag("no-new-privs", None, None, "Set no_new_privs for the command", |o, _| on(&mut o.no_new_privs)),
        flag(
            "user",
            Some('u'),
            Some("USER[:GROUP]"),
            "Run as this user (default: the container's; name or number)",
            |o, user| {
                crate::users::check(&user).map_err(|e| Error::msg("--user", e.to_string()))?;
                Ok(o.user = Some(user))
            },
        ),
    ],
    command_follows: true,
};

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let Some((mut opts, mut rest)) = cli::parse(&EXEC, args)? else { return Ok(0) };
    if opts.process.is_some() {
        crate::oci::set_runtime_call();
    }
    let wanted = if opts.process.is_some() { 1 } else { 2 };
    if rest.len() < wanted || (opts.process.is_some() && rest.len() > 1) {
        let expected = if wanted == 1 { "expected ID only with --process" } else { "expected NAME COMMAND" };
        return Err(cli::usage_error(&EXEC, expected));
    }
    let name = rest.remove(0);
    let (_, st) = state::find_running(&name)?;
    let container = Spec::load(&name, &st.spec)?;
    let detach = crate::oci::exec::Detach {
        pid_file: opts.pid_file.take().as_deref().map(crate::oci::PidFile::open).transpose()?,
        console: opts.console_socket.take().as_deref().map(crate::oci::ConsoleSocket::connect).transpose()?,
    };
    let detached = opts.detach;
    let (caps, no_new_privs) = (std::mem::take(&mut opts.caps), opts.no_new_privs);
    let mut process = match opts.process.take() {
        Some(file) => crate::oci::exec::process_file(&file)?,
        None => process(&container, opts, rest),
    };
    if !caps.is_empty() {
        let sets = process.capabilities.get_or_insert_with(Default::default);
        for set in [&mut sets.bounding, &mut sets.effective, &mut sets.permitted, &mut sets.inheritable] {
            set.extend(caps.iter().cloned());
        }
    }
    process.no_new_privileges |= no_new_privs;
    let command = exec::Command::new(&process.args, &process.env)?;
    let filter = crate::seccomp::program(&container.seccomp);
    // Not dumpable from here to the command's exec: a process of the container cannot
    // open this one's /proc/PID/exe (the host's husk binary) or its descriptors.
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .ctx("prctl PR_SET_DUMPABLE", "")?;
    enter(&name, st.init)?;
    if detached {
        return crate::oci::exec::detached(&command, &process, filter.as_deref(), detach);
    }
    run(&command, &process, filter.as_deref(), detach.pid_file.as_ref())
}

/// The exec'd process: the container command's process with the exec's arguments and
/// overrides. The environment policy is the container's: its environment (which already
/// holds the defaults), TERM for a terminal, then -e.
fn process(container: &spec::Saved, o: ExecOpts, args: Vec<String>) -> spec::Process {
    let mut p = container.process.clone();
    p.args = args;
    p.terminal = o.terminal;
    p.stdin = o.stdin;
    if o.terminal {
        spec::merge_env(&mut p.env, &["TERM=xterm".to_string()]);
    }
    if let Some(user) = o.user {
        // A user named here gets HOME from its passwd entry unless -e sets it.
        if p.user.name.is_none() {
            p.env.retain(|e| e != "HOME=/root");
        }
        p.user = spec::User { name: Some(user), extra_groups: p.user.extra_groups.clone(), ..Default::default() };
    }
    spec::merge_env(&mut p.env, &o.env);
    if let Some(dir) = o.workdir {
        p.cwd = dir;
    }
    p
}

/// Joins the container: cgroups first (by host path), then every namespace that differs
/// from ours, then its root.
pub fn enter(name: &str, init: state::ProcessId) -> Result<()> {
    let me = rustix::process::getpid().as_raw_nonzero().get().to_string();
    for dir in crate::cgroups::recorded(&state::root().join(name)) {
        let procs = dir.join("cgroup.procs");
        std::fs::write(&procs, &me).ctx("join cgroup", procs.display())?;
    }
    let pid = init.pid;
    let root = rustix::fs::open(
        format!("/proc/{pid}/root"),
        rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ctx("open the root of container", name)?;
    let mut kinds = Ns::empty();
    for (file, kind) in [
        ("user", Ns::USER),
        ("mnt", Ns::MOUNT),
        ("uts", Ns::HOST_NAME_AND_NIS_DOMAIN_NAME),
        ("ipc", Ns::INTER_PROCESS_COMMUNICATION),
        ("net", Ns::NETWORK),
        ("pid", Ns::PROCESS_ID),
        ("cgroup", Ns::CONTROL_GROUP),
    ] {
        let theirs = std::fs::metadata(format!("/proc/{pid}/ns/{file}")).ctx("stat namespace of", name)?;
        let ours = std::fs::metadata(format!("/proc/self/ns/{file}")).ctx("stat namespace", file)?;
        if std::os::unix::fs::MetadataExt::ino(&theirs) != std::os::unix::fs::MetadataExt::ino(&ours) {
            kinds |= kind;
        }
    }
    // Also proves that the root opened above is the init's (see join_namespaces).
    crate::compat::join_namespaces(init, kinds, name)?;
    rustix::process::fchdir(&root).ctx("chdir to the root of", name)?;
    rustix::process::chroot(".").ctx("chroot into", name)?;
    rustix::process::chdir("/").ctx("chdir", "/")
}

fn run(
    command: &exec::Command,
    process: &spec::Process,
    filter: Option<&[linux_raw_sys::ptrace::sock_filter]>,
    pid_file: Option<&crate::oci::PidFile>,
) -> Result<u8> {
    // The terminal comes from the container's devpts, now our /dev.
    let pty = if process.terminal { Some(Pty::open()?) } else { None };
    let signals = Signals::take()?;
    let peer = pty.as_ref().map(|p| &p.peer);
    let pid = husk_init::spawn(|| {
        if let Some(peer) = peer
            && let Err(e) = dup_stdio(peer)
        {
            husk_init::say(&[e.to_string().as_bytes()]);
            return e.code as i32;
        }
        let (code, msg) = exec::prepare_and_exec(process, command, false, filter);
        husk_init::say(&[msg.as_bytes()]);
        code as i32
    })
    .ctx("fork", "")?;
    if let Some(file) = pid_file {
        file.write(pid)?;
    }
    let master = pty.map(|p| p.master);
    let container = Container { pid, pidfd: None };
    Ok(attach::wait(&container, &signals, master.as_ref(), process.stdin, None).code)
}

fn dup_stdio(peer: &rustix::fd::OwnedFd) -> Result<()> {
    rustix::stdio::dup2_stdin(peer).ctx("dup2 onto", "stdin")?;
    rustix::stdio::dup2_stdout(peer).ctx("dup2 onto", "stdout")?;
    rustix::stdio::dup2_stderr(peer).ctx("dup2 onto", "stderr")
}
