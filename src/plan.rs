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
//!
//! The phases are `create` (P1-P5a: the init waits before the command's exec when asked
//! to stop at `created`), `Created::start` (START, P5) and `Started::wait` (P6, P7).
//! `husk run` takes all three in one process without a round trip between them.

use crate::attach::{self, Container, Exit, Signals};
use crate::cgroups::Cgroups;
use crate::detach::{self, Detached};
use crate::error::{Context, Error, Result};
use crate::etc_files::EtcFiles;
use crate::exec::Command;
use crate::image::Layers;
use crate::namespaces::{self, Clone};
use crate::rootfs::Op;
use crate::spec::{NamespaceKind, Spec};
use crate::state::{self, ContainerDir, ProcessId, State, Status};
use crate::sync::{self, ChildEnd, ParentEnd};
use crate::terminal::Pty;
use crate::{network, rootfs};
use husk_init::sys;
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use rustix::process::Pid;

/// What a launch needs beyond the container's spec.
#[derive(Debug, Clone)]
pub struct Launch {
    /// Run under a supervisor in the background.
    pub detach: bool,
    /// Remove the entry when the container exits (every foreground run does).
    pub remove: bool,
    /// Stop at `created` until `husk start` (detached only).
    pub stop_at_created: bool,
    /// Rotate a detached container's log at this size.
    pub log_max: u64,
    /// Print the cgroups' accounting after exit.
    pub stats: bool,
    /// The directory and arguments of the `husk run` or `create` that made it, as a JSON
    /// array: `husk start` of the stopped container runs them again.
    pub rerun: String,
}

/// Runs `spec` (validated): in the foreground, returning the status to pass on, or
/// detached under a supervisor (returning 0 once the command has started, or once the
/// container is created).
pub fn run(spec: &Spec, launch: &Launch) -> Result<u8> {
    crate::privilege::check_user_namespace_host(spec)?;
    // P1: the state entry, the spec in it, is written before any resource it names.
    let state = describe(spec, launch);
    let dir = ContainerDir::create(&spec.name, &state)?;
    if launch.detach {
        return detach::start(spec, dir, state, launch);
    }
    let created = create(spec, dir, state, None, Stop::No)?;
    Ok(created.start()?.wait(launch.stats).code)
}

fn describe(spec: &Spec, launch: &Launch) -> State {
    let mut state = State::new(&spec.name);
    state.command = spec.process.args.join(" ");
    state.root = spec.root.source.path().display().to_string();
    state.hostname = spec.hostname.clone();
    state.network = spec.network.mode.to_string();
    state.detached = launch.detach;
    // A foreground run is over when husk returns; only detached ones stay listed.
    state.remove = !launch.detach || launch.remove;
    state.rerun = launch.rerun.clone();
    state.spec = spec.to_json();
    state
}

/// Where the container's init stops before the command's exec.
#[derive(Clone, Copy)]
pub enum Stop<'f> {
    /// Nowhere: it goes straight on.
    No,
    /// At `created`, until `Created::start` (the launcher or supervisor stays its parent).
    AtCreated,
    /// At `created`, until a byte arrives on this fifo (`husk start` of an OCI
    /// container): the launcher leaves (`Created::hand_over`) and the init becomes the
    /// child of whoever reaps orphans for the caller (conmon, containerd's shim).
    HandOver(&'f OwnedFd),
}

/// A container whose init runs and whose command has not been exec'd yet.
pub struct Created<'a> {
    spec: &'a Spec,
    dir: ContainerDir,
    state: State,
    cgroups: Cgroups,
    /// Held until the container ends: the loop devices' last users are its mounts.
    layers: Layers,
    net: network::Prepared,
    signals: Signals,
    pid: Pid,
    pidfd: Option<OwnedFd>,
    sync: ParentEnd,
    terminal: Option<OwnedFd>,
    detached: Option<Detached>,
    /// The init waits for START (it said READY).
    waiting: bool,
}

/// A container whose command runs.
pub struct Started<'a> {
    created: Created<'a>,
}

/// Creates the container: P1 to P5a. With `stop_at_created` the init stops before the
/// command's exec until `Created::start`; otherwise it goes straight on.
pub fn create<'a>(
    spec: &'a Spec,
    dir: ContainerDir,
    state: State,
    mut detached: Option<Detached>,
    stop: Stop,
) -> Result<Created<'a>> {
    let stop_at_created = !matches!(stop, Stop::No);
    let fifo = if let Stop::HandOver(fd) = stop { Some(fd) } else { None };
    let layers = Layers::attach(spec)?;
    let cgroups = Cgroups::create(spec, &dir.path)?;
    // Before the clone: the child is born under it (or under the shared default).
    cgroups.attach_device_policy(spec)?;
    let command = Command::new(&spec.process.args, &spec.process.env)?;
    let net = network::prepare(spec, &dir.path)?;
    let files = EtcFiles::for_spec(spec, net.ip().as_deref());
    let ops = rootfs::plan(spec, &layers.layers, &dir.staging(), &files, &cgroups.view());
    let filter = crate::seccomp::program(&spec.seccomp);
    // The init is not dumpable, so that the container cannot reach the host's husk binary
    // through /proc/1/exe; but `husk exec` then needs CAP_SYS_PTRACE to join it (the
    // init never execs, so its memory belongs to the launcher's user namespace). A
    // launcher without it (rootless, root inside a container) leaves its user-namespace
    // containers' init dumpable: opening the binary for writing stays refused (ETXTBSY:
    // husk runs it as long as the container lives), and nothing else of the host is there.
    let stays_dumpable = spec.user_namespace() && !crate::privilege::holds(rustix::thread::CapabilitySet::SYS_PTRACE);
    let (parent_end, child_end) = sync::pair()?;
    let signals = Signals::take()?;
    let output = detached.as_mut().and_then(|d| d.output_write.take());

    // P3 is a sync point only when it has something the child needs: id maps, a veth,
    // a cgroup the child was not born in. Otherwise the child goes on at once and the
    // launcher records it meanwhile: one hand-over less on the start-up path.
    let needs_go = |placed: bool| spec.user_namespace() || net.needs_attach() || cgroups.need_placing(placed);

    // P2 (a pid namespace named by path is entered for the clone alone)
    let own_pid_ns = namespaces::enter_pid_namespace(spec)?;
    let cloned = namespaces::clone(namespaces::clone_flags(spec), cgroups.clone_target());
    let (pid, pidfd, placed) = match cloned.map_err(crate::privilege::explain_clone_failure)? {
        Clone::Child { placed_in_cgroup } => {
            drop(parent_end);
            // Its children stay in the namespace it was born in.
            drop(own_pid_ns);
            let inputs = ChildInputs {
                spec,
                ops: &ops,
                command: &command,
                output: output.as_ref(),
                net: &net,
                wait_for_go: needs_go(placed_in_cgroup),
                wait_for_start: stop_at_created,
                say_ready: stop_at_created,
                fifo,
                filter: filter.as_deref(),
                stays_dumpable,
            };
            child(&inputs, child_end)
        }
        Clone::Parent { pid, pidfd, placed_in_cgroup } => {
            namespaces::leave_pid_namespace(own_pid_ns);
            (pid, pidfd, placed_in_cgroup)
        }
    };
    drop(child_end);
    drop(output);
    let go = needs_go(placed);
    let mut created = Created {
        spec,
        dir,
        state,
        cgroups,
        layers,
        net,
        signals,
        pid,
        pidfd,
        sync: parent_end,
        terminal: None,
        detached,
        waiting: stop_at_created,
    };
    let result = (|| {
        let c = &mut created;
        c.state.init = ProcessId::of(pid.as_raw_nonzero().get());
        c.state.status = if stop_at_created { Status::Creating } else { Status::Running };
        c.state.started = state::now();
        c.state.ip = c.net.ip().unwrap_or_default();
        c.dir.save(&c.state)?;
        // P3: before GO, so the child's cgroup namespace (C3) is rooted at its cgroups.
        c.cgroups.place(pid, placed)?;
        namespaces::write_id_maps(pid, spec)?;
        c.layers.idmap(pid)?;
        c.net.attach(pid)?;
        // P4
        if go {
            c.sync.go()?;
        }
        // P5a
        if spec.process.terminal {
            c.terminal = Some(c.sync.recv_terminal()?);
        }
        if stop_at_created {
            c.sync.wait_ready()?;
            c.state.status = Status::Created;
            c.dir.save(&c.state)?;
        }
        Ok(())
    })();
    match result {
        Ok(()) => Ok(created),
        Err(e) => {
            created.container().kill_and_reap();
            Err(e)
        }
    }
}

impl<'a> Created<'a> {
    fn container(&self) -> Container<'_> {
        Container { pid: self.pid, pidfd: self.pidfd.as_ref() }
    }

    /// The init's pid, as the host sees it.
    pub fn pid(&self) -> Pid {
        self.pid
    }

    /// The master of the command's terminal (a `-t` or `process.terminal` container).
    pub fn take_terminal(&mut self) -> Option<OwnedFd> {
        self.terminal.take()
    }

    pub fn state_mut(&mut self) -> &mut State {
        &mut self.state
    }

    pub fn save_state(&self) -> Result<()> {
        self.dir.save(&self.state)
    }

    /// Kills the init and releases everything made for it (a failure after `create`).
    pub fn abort(self) {
        self.container().kill_and_reap();
    }

    /// Leaves the created container to the caller (Stop::HandOver): the entry and the
    /// cgroups stay for `husk start`, `kill` and `delete`; the init, which no longer
    /// dies with this process, is re-parented when it exits.
    pub fn hand_over(mut self) {
        self.dir.keep();
        self.cgroups.leave();
    }

    /// The init's process descriptor, for waiting on it while created.
    pub fn pidfd(&self) -> Option<&OwnedFd> {
        self.pidfd.as_ref()
    }

    /// P5: releases the init to exec the command, and waits until it has (or failed to).
    pub fn start(mut self) -> Result<Started<'a>> {
        let result: Result<()> = (|| {
            if self.waiting {
                self.sync.start()?;
            }
            self.sync.wait_started()?;
            if self.waiting {
                self.state.status = Status::Running;
                self.state.started = state::now();
                self.dir.save(&self.state)?;
            }
            Ok(())
        })();
        if let Err(e) = result {
            self.container().kill_and_reap();
            // A created container that fails to start stays listed as exited with the
            // failure's code (unless --rm), for `husk start` and `ps -a` to show.
            if self.waiting && !self.state.remove {
                self.state.status = Status::Exited;
                self.state.exit_code = Some(i32::from(e.code));
                self.state.finished = state::now();
                if self.dir.save(&self.state).is_ok() {
                    self.dir.keep();
                }
            }
            return Err(e);
        }
        if let Some(d) = self.detached.as_mut() {
            d.started();
            // The supervisor lives as long as the container: keep only the pages it uses.
            sys::release_code_pages();
        }
        Ok(Started { created: self })
    }
}

impl Started<'_> {
    /// P6 and P7: relays signals and output until the init exits, then tears down.
    pub fn wait(self, stats: bool) -> Exit {
        let mut c = self.created;
        let log = c.detached.as_mut().map(|d| (&d.output_read, &mut d.log));
        let container = Container { pid: c.pid, pidfd: c.pidfd.as_ref() };
        let exit = attach::wait(&container, &c.signals, c.terminal.as_ref(), c.spec.process.stdin, log);
        // P7: the cgroups go before the state entry that records them, the veth's host
        // end and the lease with `net`; every mount lived in the container's mount
        // namespace and died with it, and with it the last user of each loop device.
        let exit = Exit { code: c.cgroups.finish(exit.code, stats), signal: exit.signal };
        drop(c.net);
        drop(c.layers);
        c.state.status = Status::Exited;
        c.state.exit_code = Some(exit.code as i32);
        c.state.signal = exit.signal;
        c.state.finished = state::now();
        if c.state.remove {
            c.dir.remove();
        } else if c.dir.save(&c.state).is_ok() {
            c.dir.keep();
        }
        exit
    }
}

/// What the parent prepared in P1 for the child's steps.
struct ChildInputs<'a> {
    spec: &'a Spec,
    /// The root filesystem's operations.
    ops: &'a [Op],
    command: &'a Command,
    /// The log pipe's write end, for a detached container.
    output: Option<&'a OwnedFd>,
    net: &'a network::Prepared,
    /// Whether P3 does something the child must wait for (see `needs_go`).
    wait_for_go: bool,
    /// Wait for START before the command (a created container, or a device policy the
    /// parent attaches meanwhile).
    wait_for_start: bool,
    /// Stop at `created`: say READY first.
    say_ready: bool,
    /// Stop::HandOver's fifo: after READY, the init waits on it instead of the socket.
    fifo: Option<&'a OwnedFd>,
    /// The seccomp program the command installs last before exec.
    filter: Option<&'a [linux_raw_sys::ptrace::sock_filter]>,
    /// The init stays dumpable (see `create`).
    stays_dumpable: bool,
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
            rename_init();
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
    let ChildInputs {
        spec,
        ops,
        command,
        output,
        net,
        wait_for_go,
        wait_for_start,
        say_ready,
        fifo,
        filter,
        stays_dumpable,
    } = *inputs;
    // Not PID 1 in a pid namespace it joined: it still reaps the command's orphans.
    if rustix::process::getpid() != rustix::process::Pid::INIT {
        rustix::process::set_child_subreaper(Some(rustix::process::Pid::INIT))
            .ctx("prctl PR_SET_CHILD_SUBREAPER", "")?;
    }
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
    // In its cgroups now, by birth or by the launcher before GO.
    if let Some(cpus) = &spec.resources.cpuset_cpus {
        crate::compat::follow_cpuset(cpus)?;
    }
    // The user namespace's maps are written now: become its root, so that what the
    // child creates (the staging tmpfs's contents) is owned by an id mapped there. Until
    // now it runs as the launcher's host id, which a subordinate range does not map.
    if spec.user_namespace() {
        let (uid, gid) = (rustix::process::Uid::ROOT, rustix::process::Gid::ROOT);
        rustix::thread::set_thread_res_gid(gid, gid, gid).ctx("setresgid", 0)?;
        rustix::thread::set_thread_res_uid(uid, uid, uid).ctx("setresuid", 0)?;
    }
    // C3: the container leaves the launcher's session and process group, so the user's
    // terminal signals reach the launcher once (which forwards them), not everyone.
    rustix::process::setsid().ctx("setsid", "")?;
    net.enter()?;
    namespaces::join_paths(spec)?;
    if spec.new_namespace(NamespaceKind::Cgroup) {
        namespaces::enter_cgroup_namespace()?;
    }
    if spec.new_namespace(NamespaceKind::Uts) {
        // config.json may leave the hostname out: the namespace keeps the host's then.
        if !spec.hostname.is_empty() {
            namespaces::set_hostname(&spec.hostname)?;
        }
        if let Some(domain) = &spec.network.domainname {
            namespaces::set_domainname(domain)?;
        }
    }
    net.configure_inside()?;
    // C4
    rootfs::execute(ops)?;
    // C5: the terminal comes from the container's own devpts, so `tty` and ps name it
    // as the container sees it; the launcher gets the master over the sync socket.
    if spec.process.terminal {
        let pty = Pty::open()?;
        pty.bind_console();
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
    let fifo_fd = fifo.map_or(sync.raw().as_raw_fd(), |f| f.as_raw_fd());
    close_fds_except(sync.raw().as_raw_fd() as u32, fifo_fd as u32)?;
    let signals = husk_init::take_signals().ctx("signalfd", "")?;
    if !stays_dumpable {
        rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)
            .ctx("prctl PR_SET_DUMPABLE", "")?;
    }
    make_workdir(&spec.process.cwd)?;
    if let Some(fifo) = fifo {
        // `create` fails, not the later start, when the command cannot run, as the OCI
        // clients expect (podman turns the message into exit code 126 or 127).
        command.check(&spec.process.cwd).map_err(|(code, msg)| Error::plain(msg).with_code(code))?;
        // The launcher leaves after READY: from here the init outlives it.
        rustix::process::set_parent_process_death_signal(None).ctx("clear the parent-death signal", "")?;
        if !sync.say_ready() {
            sys::exit_group(125);
        }
        if !crate::oci::wait_for_start(fifo, &signals) {
            sys::exit_group(125);
        }
    } else if wait_for_start && !sync.wait_start(say_ready) {
        sys::exit_group(125);
    }
    // C6
    let pid = husk_init::spawn(|| {
        let (code, msg) = crate::exec::prepare_and_exec(&spec.process, command, true, filter);
        if fifo.is_some() {
            // Nobody reads the socket any more: the caller's stderr gets the reason.
            husk_init::say(&[msg.as_bytes()]);
        }
        sync.fail(code, &msg);
        code as i32
    })
    .ctx("fork the command", "")?;
    Ok((pid, signals))
}

/// The init's command line as the container sees it (`ps`, `podman top`): "husk init",
/// not the launcher's, which names host paths (`husk create --bundle ...`). Written over
/// the argument area through /proc/self/mem (no CAP_SYS_RESOURCE needed, unlike
/// PR_SET_MM); skipped where the container has no /proc.
fn rename_init() {
    let Some(stat) = crate::state::read_stat("self") else { return };
    // Fields 48 and 49, counted from the state (field 3) after the command's ')'.
    let mut fields = stat[stat.rfind(')').unwrap_or(0)..].split(' ').skip(46).map(|f| f.parse::<u64>().ok());
    let (Some(Some(start)), Some(Some(end))) = (fields.next(), fields.next()) else { return };
    let mut area = vec![0u8; end.saturating_sub(start) as usize];
    let name = b"husk init";
    let n = name.len().min(area.len());
    area[..n].copy_from_slice(&name[..n]);
    // The area's last byte not NUL: the kernel then shows the command line up to its
    // first NUL (the setproctitle convention), not the padding after it.
    if let Some(last) = area.last_mut().filter(|_| end - start > n as u64 + 1) {
        *last = b' ';
    }
    let flags = rustix::fs::OFlags::RDWR | rustix::fs::OFlags::CLOEXEC;
    if let Ok(mem) = rustix::fs::open("/proc/self/mem", flags, rustix::fs::Mode::empty()) {
        let _ = rustix::io::pwrite(&mem, &area, start);
    }
}

fn dup_onto_stdio(input: rustix::fd::BorrowedFd<'_>, output: rustix::fd::BorrowedFd<'_>) -> Result<()> {
    rustix::stdio::dup2_stdin(input).ctx("dup2 onto", "stdin")?;
    rustix::stdio::dup2_stdout(output).ctx("dup2 onto", "stdout")?;
    rustix::stdio::dup2_stderr(output).ctx("dup2 onto", "stderr")
}

/// Closes every descriptor from 3 on but `a` and `b` (which may be the same).
pub fn close_fds_except(a: u32, b: u32) -> Result<()> {
    let (low, high) = (a.min(b), a.max(b));
    let mut from = 3;
    for keep in [low, high] {
        if keep >= from {
            if keep > from {
                crate::compat::close_range(from, keep - 1, false)?;
            }
            from = keep + 1;
        }
    }
    crate::compat::close_range(from, u32::MAX, false)
}

fn make_workdir(cwd: &str) -> Result<()> {
    std::fs::create_dir_all(cwd).map_err(|e| {
        let errno = rustix::io::Errno::from_raw_os_error(e.raw_os_error().unwrap_or(5));
        // As docker: a working directory that cannot be had means the command cannot run.
        Error::sys("create the working directory", cwd, errno).with_code(126)
    })
}
