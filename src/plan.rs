//! The start-up plan of a container, parent and child side by side, with their sync
//! points. Everything a container needs happens in the order written here; the modules
//! named in each step do the work.
//!
//! ```text
//!  launcher (parent)                          container init (child, PID 1)
//!  P1 check the spec, reserve the name and
//!     write the state entry; with -d, fork
//!     the supervisor, which does the rest;
//!     create the cgroups with their limits,
//!     lease an address or open the netns to
//!     join, attach loop devices for images,
//!     build argv/envp, block signals
//!  P2 clone3(NEWNS|NEWPID|NEWUTS|NEWIPC
//!     [|NEWNET][|NEWUSER]
//!     [|INTO_CGROUP]) ---------------------> C1 die with the parent (PDEATHSIG)
//!                                            C2 wait for GO (if one comes)
//!  P3 record the init in the state entry,
//!     join the cgroups not joined at birth
//!     (cgroup.procs), uid/gid maps; bridge,
//!     veth (peer born as eth0 in the
//!     child's netns)
//!  P4 GO, when P3 had id maps, a veth or a
//!     cgroup to give (else the child goes
//!     on after C1, checking the launcher
//!     is alive, while P3 runs beside it)
//!     ------------------------------------> C3 own session, join a netns (ns:,
//!                                               container:), cgroup namespace,
//!                                               hostname, lo up (eth0: address,
//!                                               up, default route)
//!                                            C4 root: staging tmpfs, bind or overlay,
//!                                               /proc /sys /dev, volumes, /etc files,
//!                                               pivot_root
//!  P5a receive the pty master <------------- C5 open the pty in its devpts (-t),
//!                                               close stray fds, block signals
//!                                            C6 spawn the command (PID 2): session or
//!                                               group, terminal, cwd, exec
//!  P5 wait: failure message, or EOF <------- C7 drop the sync socket; exec closes the
//!                                               command's copy
//!  P6 forward signals, relay the pty or the  C8 reap, forward, exit with the command's
//!     log, wait for the init's exit             status (the namespace dies with it)
//!  P7 OOM report and --stats, kill what is
//!     left in the cgroups and remove them,
//!     delete the veth's host end, release
//!     the lease and the loop devices; record
//!     the exit, or remove the entry
//!     (foreground, --rm)
//! ```
//! A failure in the child is sent back over the sync socket with its exit code and
//! reported by the parent; a failure in the parent kills the child before returning.

use crate::attach::{self, Container, Exit, Signals};
use crate::cgroups::Cgroups;
use crate::commands::run::RunOptions;
use crate::detach::{self, Detached};
use crate::error::{Context, Error, Result};
use crate::etc_files::EtcFiles;
use crate::exec::Command;
use crate::image::{Layer, Layers};
use crate::namespaces::{self, Clone};
use crate::spec::{RootSource, Spec};
use crate::state::{self, ContainerDir, ProcessId, State, Status};
use crate::sync::{self, ChildEnd};
use crate::terminal::Pty;
use crate::{network, rootfs};
use husk_init::sys;
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::Path;

/// Runs `spec`: in the foreground, returning the status to pass on, or detached under a
/// supervisor (returning 0 once the command has started).
pub fn run(spec: &Spec, opts: &RunOptions) -> Result<u8> {
    // P1: everything that can fail on bad input or a busy name fails here, before any
    // process exists. The state entry is written before any resource it names.
    let state = describe(spec, opts);
    let dir = ContainerDir::create(&spec.name, &state)?;
    if opts.detach {
        return detach::start(spec, dir, state, opts);
    }
    start(spec, dir, state, opts.stats, None).map(|exit| exit.code)
}

fn describe(spec: &Spec, opts: &RunOptions) -> State {
    let mut state = State::new(&spec.name);
    state.command = spec.process.args.join(" ");
    state.root = match &spec.root.source {
        RootSource::Dir(p) | RootSource::Image(p) => p.display().to_string(),
    };
    state.hostname = spec.hostname.clone();
    state.network = format!("{:?}", spec.network.mode).to_lowercase();
    state.detached = opts.detach;
    // A foreground run is over when husk returns; only detached ones stay listed.
    state.remove = !opts.detach || opts.remove;
    state
}

/// Starts the container and waits for it to exit. `detached` routes its output to the
/// log and tells the waiting launcher when the command has started.
pub fn start(
    spec: &Spec,
    mut dir: ContainerDir,
    mut state: State,
    stats: bool,
    mut detached: Option<Detached>,
) -> Result<Exit> {
    let mut cgroups = Cgroups::create(spec, &dir.path)?;
    let layers = Layers::attach(spec)?;
    let command = Command::new(&spec.process.args, &spec.process.env)?;
    let net = network::prepare(spec, &dir.path)?;
    let files = EtcFiles::for_spec(spec, net.ip().as_deref());
    let (parent_end, child_end) = sync::pair()?;
    let signals = Signals::take()?;
    let output = detached.as_mut().and_then(|d| d.output_write.take());

    // P3 is a sync point only when it has something the child needs: id maps, a veth,
    // a cgroup the child was not born in. Otherwise the child goes on at once and the
    // launcher records it meanwhile: one hand-over less on the start-up path.
    let needs_go = |placed: bool| spec.namespaces.user || net.needs_attach() || cgroups.need_placing(placed);

    // P2
    let (pid, pidfd, placed) = match namespaces::clone(namespaces::clone_flags(spec), cgroups.clone_target())? {
        Clone::Child { placed_in_cgroup } => {
            drop(parent_end);
            let staging = dir.staging();
            let inputs = ChildInputs {
                spec,
                layers: &layers.layers,
                staging: &staging,
                files: &files,
                command: &command,
                output: output.as_ref(),
                net: &net,
                wait_for_go: needs_go(placed_in_cgroup),
            };
            child(&inputs, child_end)
        }
        Clone::Parent { pid, pidfd, placed_in_cgroup } => (pid, pidfd, placed_in_cgroup),
    };
    drop(child_end);
    drop(output);
    let container = Container { pid, pidfd: pidfd.as_ref() };

    let started = (|| {
        state.init = ProcessId::of(pid.as_raw_nonzero().get());
        state.status = Status::Running;
        state.started = state::now();
        state.ip = net.ip().unwrap_or_default();
        dir.save(&state)?;
        // P3: before GO, so the child's cgroup namespace (C3) is rooted at its cgroups.
        cgroups.place(pid, placed)?;
        namespaces::write_id_maps(pid, spec)?;
        net.attach(pid)?;
        // P4
        if needs_go(placed) {
            parent_end.go()?;
        }
        // P5
        let terminal = if spec.process.terminal { Some(parent_end.recv_terminal()?) } else { None };
        parent_end.wait_started()?;
        Ok(terminal)
    })();
    let terminal = match started {
        Ok(terminal) => terminal,
        Err(e) => {
            container.kill_and_reap();
            return Err(e);
        }
    };
    drop(parent_end);
    if let Some(d) = detached.as_mut() {
        d.started();
        // The supervisor lives as long as the container: keep only the pages it uses.
        sys::release_code_pages();
    }
    // P6
    let log = detached.as_mut().map(|d| (&d.output_read, &mut d.log));
    let exit = attach::wait(&container, &signals, terminal.as_ref(), spec.process.stdin, log);
    // P7: the cgroups go before the state entry that records them, the veth's host end
    // and the lease with `net`; every mount lived in the container's mount namespace and
    // died with it, and with it the last user of each autoclear loop device.
    let exit = Exit { code: cgroups.finish(exit.code, stats), signal: exit.signal };
    drop(net);
    drop(layers);
    state.status = Status::Exited;
    state.exit_code = Some(exit.code as i32);
    state.signal = exit.signal;
    state.finished = state::now();
    if state.remove {
        dir.remove();
    } else {
        dir.save(&state)?;
        dir.keep();
    }
    Ok(exit)
}

/// What the parent prepared in P1 for the child's steps.
struct ChildInputs<'a> {
    spec: &'a Spec,
    layers: &'a [Layer],
    staging: &'a Path,
    files: &'a EtcFiles,
    command: &'a Command,
    /// The log pipe's write end, for a detached container.
    output: Option<&'a OwnedFd>,
    net: &'a network::Prepared,
    /// Whether P3 does something the child must wait for (see `needs_go`).
    wait_for_go: bool,
}

/// The child's side: never returns. Failures go to the parent over the sync socket.
fn child(inputs: &ChildInputs, sync: ChildEnd) -> ! {
    // A panic here must not run musl's abort, which would signal the parent through the
    // stale cached thread id of a raw clone.
    std::panic::set_hook(Box::new(|info| {
        husk_init::say(&[b"internal error in the container's init: ", info.to_string().as_bytes()]);
        sys::exit_group(125)
    }));
    match child_steps(inputs, &sync) {
        Ok((pid, signals)) => {
            // C7: the command's copy of the socket is now the last one; its exec closes it.
            drop(sync);
            // PID 1 lives as long as the container: keep only the pages its loop uses.
            sys::release_code_pages();
            // C8
            husk_init::supervise(pid, signals, &husk_init::Options::default())
        }
        Err(err) => {
            sync.fail(err.code, &err.to_string());
            sys::exit_group(err.code as i32)
        }
    }
}

fn child_steps(inputs: &ChildInputs, sync: &ChildEnd) -> Result<(rustix::process::Pid, rustix::fd::OwnedFd)> {
    let ChildInputs { spec, layers, staging, files, command, output, net, wait_for_go } = *inputs;
    // C1: a launcher killed from here on takes the container with it. If it died before
    // this line, C2 sees the closed socket instead.
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))
        .ctx("set the parent-death signal", "")?;
    // C2: without a GO to wait for, a launcher that died before C1 shows as its
    // closed end of the socket.
    let parent_alive = if wait_for_go { sync.wait_go() } else { !sync.parent_gone() };
    if !parent_alive {
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
    rootfs::build(spec, layers, staging, files)?;
    // C5: the terminal comes from the container's own devpts, so `tty` and ps name it
    // as the container sees it; the launcher gets the master over the sync socket.
    if spec.process.terminal {
        let pty = Pty::open()?;
        // The size of the user's terminal (still our stdout here), set before the
        // command can ask for it; later changes follow through SIGWINCH.
        crate::terminal::copy_window_size(rustix::stdio::stdout(), pty.master.as_fd());
        sync.send_terminal(&pty.master)?;
        dup_onto_stdio(pty.peer.as_fd(), pty.peer.as_fd())?;
    } else if let Some(output) = output {
        // Detached: no input, and the output goes to the supervisor's log.
        let null = rustix::fs::open("/dev/null", rustix::fs::OFlags::RDWR, rustix::fs::Mode::empty())
            .ctx("open", "/dev/null")?;
        dup_onto_stdio(null.as_fd(), output.as_fd())?;
    }
    // Only the sync socket survives besides stdio: whatever else the launcher had open
    // must not reach the container.
    close_fds_except(sync.raw().as_raw_fd() as u32)?;
    let signals = husk_init::take_signals().ctx("signalfd", "")?;
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
        .ctx("prctl PR_SET_DUMPABLE", "")?;
    make_workdir(&spec.process.cwd)?;
    // C6
    let pid = husk_init::spawn(|| {
        let (code, msg) = match command_steps(&spec.process) {
            Ok(home) => command.exec_with_home(home.as_deref()),
            Err(e) => (e.code, e.to_string()),
        };
        sync.fail(code, &msg);
        code as i32
    })
    .ctx("fork the command", "")?;
    Ok((pid, signals))
}

/// In the command's process, right before exec. Returns the home of a --user, for a
/// HOME the environment does not set.
fn command_steps(process: &crate::spec::Process) -> Result<Option<String>> {
    if process.terminal {
        // Its own session with the pty as controlling terminal: job control works and
        // Ctrl-C reaches the foreground job, not the container's init.
        rustix::process::setsid().ctx("setsid", "")?;
        rustix::process::ioctl_tiocsctty(rustix::stdio::stdin()).ctx("make the pty the controlling terminal", "")?;
    } else {
        rustix::process::setpgid(None, None).ctx("setpgid", "")?;
    }
    rustix::process::chdir(&process.cwd).ctx("chdir", &process.cwd).map_err(|e| e.with_code(126))?;
    if let Some(user) = &process.user {
        let id = crate::users::resolve(user)?;
        crate::exec::become_user(id.uid, id.gid, &id.groups)?;
        return Ok(Some(id.home));
    }
    if (process.uid, process.gid) != (0, 0) {
        crate::exec::become_user(process.uid, process.gid, &[])?;
    }
    Ok(None)
}

fn dup_onto_stdio(input: rustix::fd::BorrowedFd<'_>, output: rustix::fd::BorrowedFd<'_>) -> Result<()> {
    rustix::stdio::dup2_stdin(input).ctx("dup2 onto", "stdin")?;
    rustix::stdio::dup2_stdout(output).ctx("dup2 onto", "stdout")?;
    rustix::stdio::dup2_stderr(output).ctx("dup2 onto", "stderr")
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
        // As docker: a working directory that cannot be had means the command cannot run.
        Error::sys("create the working directory", cwd, errno).with_code(126)
    })
}
