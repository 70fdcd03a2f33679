//! `husk exec`: a new process inside a running container. husk joins the container's
//! cgroups, enters its namespaces through a pidfd of its init (setns with several
//! namespaces at once), takes its root (/proc/PID/root, which also covers the chroot
//! fallback), then forks: the child is in the container's PID namespace and execs the
//! command. husk waits for it and returns its status; anything it leaves orphaned is
//! reaped by the container's init.

use crate::attach::{self, Container, Signals};
use crate::cli::{Arg, Cli, Command, flag};
use crate::error::{Context, Error, Result};
use crate::exec;
use crate::spec::DEFAULT_PATH;
use crate::state;
use crate::terminal::Pty;
use rustix::fd::AsFd;
use rustix::thread::ThreadNameSpaceType as Ns;
use std::ffi::OsString;

pub static EXEC: Command = Command {
    name: "exec",
    usage: "[OPTIONS] NAME COMMAND [ARG...]",
    about: "Run a command in a running container.",
    flags: &[
        flag("interactive", Some('i'), None, "Relay stdin to a -t terminal"),
        flag("tty", Some('t'), None, "Give the command a pseudo-terminal"),
        flag("env", Some('e'), Some("KEY=VAL"), "Set an environment variable (repeatable)"),
        flag("workdir", Some('w'), Some("DIR"), "Working directory inside (default /)"),
        flag("user", Some('u'), Some("USER[:GROUP]"), "Run as this user (name or number; looked up in the container)"),
    ],
};

struct Options {
    terminal: bool,
    stdin: bool,
    env: Vec<String>,
    workdir: String,
    user: Option<String>,
}

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let mut cli = Cli::new(&EXEC, args);
    let mut opts = Options { terminal: false, stdin: false, env: Vec::new(), workdir: "/".into(), user: None };
    let mut rest = Vec::new();
    while let Some(arg) = cli.next()? {
        match arg {
            Arg::Help => {
                print!("{}", crate::cli::help(&EXEC));
                return Ok(0);
            }
            Arg::Flag("interactive", _) => opts.stdin = true,
            Arg::Flag("tty", _) => opts.terminal = true,
            Arg::Flag("env", Some(kv)) => {
                if kv.split_once('=').is_none_or(|(k, _)| k.is_empty()) {
                    return Err(Error::msg(format!("-e {kv:?}"), "expected KEY=VALUE"));
                }
                opts.env.push(kv)
            }
            Arg::Flag("workdir", Some(dir)) => opts.workdir = dir,
            Arg::Flag("user", Some(user)) => {
                crate::users::check(&user)?;
                opts.user = Some(user);
            }
            Arg::Flag(..) => unreachable!(),
            Arg::Positional(first) => {
                rest.push(first);
                rest.extend(cli.rest()?);
                break;
            }
        }
    }
    if rest.len() < 2 {
        return Err(cli.usage_error("expected NAME COMMAND"));
    }
    let name = rest.remove(0);
    let (_, st) = state::find_running(&name)?;
    let mut env = vec![format!("PATH={DEFAULT_PATH}"), format!("HOSTNAME={}", st.hostname)];
    // With --user, HOME comes from the user's passwd entry (unless given with -e).
    if opts.user.is_none() {
        env.push("HOME=/root".into());
    }
    if opts.terminal {
        env.push("TERM=xterm".into());
    }
    for kv in &opts.env {
        let key = kv.split('=').next().unwrap_or_default();
        env.retain(|e| e.split('=').next() != Some(key));
        env.push(kv.clone());
    }
    let command = exec::Command::new(&rest, &env)?;
    enter(&name, &st)?;
    run(&command, &opts)
}

/// Joins the container: cgroups first (by host path), then every namespace that differs
/// from ours, then its root.
fn enter(name: &str, st: &state::State) -> Result<()> {
    let me = rustix::process::getpid().as_raw_nonzero().get().to_string();
    for dir in crate::cgroups::recorded(&state::root().join(name)) {
        let procs = dir.join("cgroup.procs");
        std::fs::write(&procs, &me).ctx("join cgroup", procs.display())?;
    }
    let pid = st.init.pid;
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
    let init = rustix::process::Pid::from_raw(pid).ok_or_else(|| Error::msg(name.to_string(), "bad pid"))?;
    let pidfd = rustix::process::pidfd_open(init, rustix::process::PidfdFlags::empty()).ctx("pidfd_open for", name)?;
    rustix::thread::move_into_thread_name_spaces(pidfd.as_fd(), kinds).ctx("setns into container", name)?;
    rustix::process::fchdir(&root).ctx("chdir to the root of", name)?;
    rustix::process::chroot(".").ctx("chroot into", name)?;
    rustix::process::chdir("/").ctx("chdir", "/")
}

fn run(command: &exec::Command, opts: &Options) -> Result<u8> {
    // The terminal comes from the container's devpts, now our /dev.
    let pty = if opts.terminal { Some(Pty::open()?) } else { None };
    let signals = Signals::take()?;
    let workdir = opts.workdir.clone();
    let user = opts.user.as_deref();
    let peer = pty.as_ref().map(|p| &p.peer);
    let pid = husk_init::spawn(|| {
        let (code, msg) = match prepare(peer, &workdir, user) {
            Ok(home) => command.exec_with_home(home.as_deref()),
            Err(e) => (e.code, e.to_string()),
        };
        husk_init::say(&[msg.as_bytes()]);
        code as i32
    })
    .ctx("fork", "")?;
    let master = pty.map(|p| p.master);
    let container = Container { pid, pidfd: None };
    Ok(attach::wait(&container, &signals, master.as_ref(), opts.stdin, None).code)
}

/// In the command's process: terminal, working directory, user (whose home it returns).
fn prepare(peer: Option<&rustix::fd::OwnedFd>, workdir: &str, user: Option<&str>) -> Result<Option<String>> {
    if let Some(peer) = peer {
        rustix::process::setsid().ctx("setsid", "")?;
        rustix::stdio::dup2_stdin(peer).ctx("dup2 onto", "stdin")?;
        rustix::stdio::dup2_stdout(peer).ctx("dup2 onto", "stdout")?;
        rustix::stdio::dup2_stderr(peer).ctx("dup2 onto", "stderr")?;
        rustix::process::ioctl_tiocsctty(peer.as_fd()).ctx("make the pty the controlling terminal", "")?;
    }
    rustix::process::chdir(workdir).ctx("chdir", workdir).map_err(|e| e.with_code(126))?;
    match user {
        Some(user) => {
            let id = crate::users::resolve(user)?;
            exec::become_user(id.uid, id.gid, &id.groups)?;
            Ok(Some(id.home))
        }
        None => Ok(None),
    }
}
