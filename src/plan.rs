//! The start-up plan of a container, parent and child side by side, with their sync
//! points. Everything a container needs happens in the order written here; the modules
//! named in each step do the work.
//!
//! ```text
//!  launcher (parent)                          container init (child, PID 1)
//!  P1 check the spec, reserve the name,
//!     lease an address or open the netns
//!     to join, open the pty, build
//!     argv/envp, block signals
//!  P2 clone3(NEWNS|NEWPID|NEWUTS|NEWIPC
//!     [|NEWNET][|NEWUSER]) ----------------> C1 die with the parent (PDEATHSIG)
//!     write the init's pid file              C2 wait for GO
//!  P3 uid/gid maps (user namespace);
//!     bridge, veth (peer born as eth0
//!     in the child's netns)
//!  P4 GO ----------------------------------> C3 own session, join a netns (ns:,
//!                                               container:), cgroup namespace,
//!                                               hostname, lo up (eth0: address,
//!                                               up, default route)
//!                                            C4 root: staging tmpfs, bind or overlay,
//!                                               /proc /sys /dev, volumes, /etc files,
//!                                               pivot_root
//!                                            C5 close stray fds, block signals
//!                                            C6 spawn the command (PID 2): session or
//!                                               group, terminal, cwd, exec
//!  P5 wait: failure message, or EOF <------- C7 drop the sync socket; exec closes the
//!                                               command's copy
//!  P6 forward signals, relay the pty,        C8 reap, forward, exit with the command's
//!     wait for the init's exit                   status (the namespace dies with it)
//!  P7 release everything (veth host end,
//!     lease, state dir)
//! ```
//! A failure in the child is sent back over the sync socket with its exit code and
//! reported by the parent; a failure in the parent kills the child before returning.

use crate::attach::{self, Container, Signals};
use crate::error::{Context, Error, Result};
use crate::etc_files::EtcFiles;
use crate::exec::Command;
use crate::namespaces::{self, Clone};
use crate::spec::Spec;
use crate::state::ContainerDir;
use crate::sync::{self, ChildEnd};
use crate::terminal::Pty;
use crate::{network, rootfs};
use husk_init::sys;
use rustix::fd::{AsFd, AsRawFd};
use std::path::Path;

/// Runs `spec` in the foreground and returns the exit status to pass on.
pub fn run(spec: &Spec) -> Result<u8> {
    // P1: everything that can fail on bad input or a busy name fails here, before any
    // process exists.
    let dir = ContainerDir::create(&spec.name)?;
    let command = Command::new(&spec.process.args, &spec.process.env)?;
    let net = network::prepare(spec, &dir.path)?;
    let files = EtcFiles::for_spec(spec, net.ip().as_deref());
    let pty = if spec.process.terminal { Some(Pty::open()?) } else { None };
    let (parent_end, child_end) = sync::pair()?;
    let signals = Signals::take()?;

    // P2
    let (pid, pidfd) = match namespaces::clone(namespaces::clone_flags(spec), None)? {
        Clone::Child => {
            drop(parent_end);
            child(spec, &dir.staging(), &files, &command, pty.as_ref(), &net, child_end)
        }
        Clone::Parent { pid, pidfd, .. } => (pid, pidfd),
    };
    drop(child_end);
    let container = Container { pid, pidfd: pidfd.as_ref() };

    let started = (|| {
        dir.write_pid(pid)?;
        // P3
        namespaces::write_id_maps(pid, spec)?;
        net.attach(pid)?;
        // P4
        parent_end.go()?;
        // P5
        parent_end.wait_started()
    })();
    if let Err(e) = started {
        container.kill_and_reap();
        return Err(e);
    }
    drop(parent_end);
    // P6
    let status = attach::wait(&container, &signals, pty.as_ref(), spec.process.stdin);
    // P7: the veth's host end and the lease go with `net`, the state directory with
    // `dir`; every mount lived in the container's mount namespace and died with it.
    drop(net);
    drop(dir);
    Ok(status)
}

/// The child's side: never returns. Failures go to the parent over the sync socket.
fn child(
    spec: &Spec,
    staging: &Path,
    files: &EtcFiles,
    command: &Command,
    pty: Option<&Pty>,
    net: &network::Prepared,
    sync: ChildEnd,
) -> ! {
    // A panic here must not run musl's abort, which would signal the parent through the
    // stale cached thread id of a raw clone.
    std::panic::set_hook(Box::new(|info| {
        husk_init::say(&[b"internal error in the container's init: ", info.to_string().as_bytes()]);
        sys::exit_group(125)
    }));
    match child_steps(spec, staging, files, command, pty, net, &sync) {
        Ok((pid, signals)) => {
            // C7: the command's copy of the socket is now the last one; its exec closes it.
            drop(sync);
            // C8
            husk_init::supervise(pid, signals, &husk_init::Options::default())
        }
        Err(err) => {
            sync.fail(err.code, &err.to_string());
            sys::exit_group(err.code as i32)
        }
    }
}

fn child_steps(
    spec: &Spec,
    staging: &Path,
    files: &EtcFiles,
    command: &Command,
    pty: Option<&Pty>,
    net: &network::Prepared,
    sync: &ChildEnd,
) -> Result<(rustix::process::Pid, rustix::fd::OwnedFd)> {
    // C1: a launcher killed from here on takes the container with it. If it died before
    // this line, C2 sees the closed socket instead.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .ctx("set the parent-death signal", "")?;
    // C2
    if !sync.wait_go() {
        sys::exit_group(125);
    }
    // C3: the container leaves the launcher's session and process group, so the user's
    // terminal signals reach the launcher once (which forwards them), not everyone.
    rustix::process::setsid().ctx("setsid", "")?;
    net.enter()?;
    if spec.namespaces.cgroup {
        namespaces::enter_cgroup_namespace()?;
    }
    namespaces::set_hostname(&spec.hostname)?;
    net.configure_inside()?;
    // C4
    rootfs::build(spec, staging, files)?;
    // C5: only the sync socket (and the terminal) survive; whatever else the launcher
    // had open must not reach the container.
    if let Some(pty) = pty {
        dup_onto_stdio(pty.peer.as_fd())?;
    }
    close_fds_except(sync.raw().as_raw_fd() as u32)?;
    let signals = husk_init::take_signals().ctx("signalfd", "")?;
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .ctx("prctl PR_SET_DUMPABLE", "")?;
    make_workdir(&spec.process.cwd)?;
    // C6
    let terminal = pty.is_some();
    let cwd = spec.process.cwd.as_str();
    let pid = husk_init::spawn(|| {
        let (code, msg) = match command_steps(terminal, cwd) {
            Ok(()) => command.exec(),
            Err(e) => (e.code, e.to_string()),
        };
        sync.fail(code, &msg);
        code as i32
    })
    .ctx("fork the command", "")?;
    Ok((pid, signals))
}

/// In the command's process, right before exec.
fn command_steps(terminal: bool, cwd: &str) -> Result<()> {
    if terminal {
        // Its own session with the pty as controlling terminal: job control works and
        // Ctrl-C reaches the foreground job, not the container's init.
        rustix::process::setsid().ctx("setsid", "")?;
        rustix::process::ioctl_tiocsctty(rustix::stdio::stdin()).ctx("make the pty the controlling terminal", "")?;
    } else {
        rustix::process::setpgid(None, None).ctx("setpgid", "")?;
    }
    rustix::process::chdir(cwd).ctx("chdir", cwd).map_err(|e| e.with_code(126))
}

fn dup_onto_stdio(fd: rustix::fd::BorrowedFd<'_>) -> Result<()> {
    rustix::stdio::dup2_stdin(fd).ctx("dup2 the pty onto", "stdin")?;
    rustix::stdio::dup2_stdout(fd).ctx("dup2 the pty onto", "stdout")?;
    rustix::stdio::dup2_stderr(fd).ctx("dup2 the pty onto", "stderr")
}

fn close_fds_except(keep: u32) -> Result<()> {
    if keep > 3 {
        sys::close_range(3, keep - 1, false).ctx("close_range", "")?;
    }
    sys::close_range(keep.max(2) + 1, u32::MAX, false).ctx("close_range", "")
}

fn make_workdir(cwd: &str) -> Result<()> {
    std::fs::create_dir_all(cwd).map_err(|e| {
        let errno = rustix::io::Errno::from_raw_os_error(e.raw_os_error().unwrap_or(5));
        Error::sys("create the working directory", cwd, errno)
    })
}
