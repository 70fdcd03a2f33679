//! `create`, `start` and `run` in their OCI form: a bundle's container created up to
//! the command's exec and handed to the caller, then released by `start`.

use super::config::{self, Bundle};
use super::hooks::{self, Place};
use crate::cli::{self, Command, flag, on};
use crate::error::{Context, Error, Result};
use crate::plan::{self, Stop};
use crate::spec::validate::Host;
use crate::state::{self, ContainerDir, State, Status};
use std::ffi::OsString;
use std::path::PathBuf;

#[derive(Default)]
pub struct CreateOpts {
    bundle: Option<PathBuf>,
    pid_file: Option<PathBuf>,
    console_socket: Option<PathBuf>,
    detach: bool,
    keep: bool,
}

// Each flag once: `create` and `run` share the bundle's flags.
const BUNDLE: cli::Flag<CreateOpts> =
    flag("bundle", Some('b'), Some("DIR"), "The bundle: config.json and the root (default: .)", |o, v| {
        Ok(o.bundle = Some(v.into()))
    });
const PID_FILE: cli::Flag<CreateOpts> =
    flag("pid-file", None, Some("FILE"), "Write the container's pid here", |o, v| Ok(o.pid_file = Some(v.into())));
const CONSOLE_SOCKET: cli::Flag<CreateOpts> =
    flag("console-socket", None, Some("SOCK"), "Send the terminal's master to this unix socket", |o, v| {
        Ok(o.console_socket = Some(v.into()))
    });
const NO_PIVOT: cli::Flag<CreateOpts> =
    flag("no-pivot", None, None, "Accepted; husk always uses pivot_root", |_, _| Ok(()));
const NO_NEW_KEYRING: cli::Flag<CreateOpts> =
    flag("no-new-keyring", None, None, "Accepted; husk makes no session keyring", |_, _| Ok(()));

pub static CREATE: Command<CreateOpts> = Command {
    name: "create",
    usage: "[--bundle DIR] [--pid-file FILE] [--console-socket SOCK] ID",
    about: "Create an OCI bundle's container, stopped before its process runs ('husk start ID' runs it).",
    flags: &[
        BUNDLE,
        PID_FILE,
        CONSOLE_SOCKET,
        NO_PIVOT,
        NO_NEW_KEYRING,
        flag("preserve-fds", None, Some("N"), "Only 0: husk passes no descriptors beyond stdio", |_, v| {
            match v.as_str() {
                "0" => Ok(()),
                _ => Err(Error::msg(format!("--preserve-fds {v}"), "husk passes no descriptors beyond stdio")),
            }
        }),
    ],
    command_follows: false,
};

pub static RUN: Command<CreateOpts> = Command {
    name: "run",
    usage: "[--bundle DIR] [--pid-file FILE] [--console-socket SOCK] [--detach] [--keep] ID",
    about: "Create and start an OCI bundle's container (without --detach: wait, then delete it).",
    flags: &[
        BUNDLE,
        PID_FILE,
        CONSOLE_SOCKET,
        flag("detach", Some('d'), None, "Return once the process runs", |o, _| on(&mut o.detach)),
        flag("keep", None, None, "Keep the container's state after it exits", |o, _| on(&mut o.keep)),
        NO_PIVOT,
        NO_NEW_KEYRING,
    ],
    command_follows: false,
};

fn one_id(cmd: &'static Command<CreateOpts>, ids: Vec<String>) -> Result<String> {
    match <[String; 1]>::try_from(ids) {
        Ok([id]) => Ok(id),
        Err(_) => Err(cli::usage_error(cmd, "expected one container ID")),
    }
}

pub fn create(args: Vec<OsString>) -> Result<u8> {
    let Some((opts, ids)) = cli::parse(&CREATE, args)? else { return Ok(0) };
    let id = one_id(&CREATE, ids)?;
    create_container(&id, &opts)?;
    Ok(0)
}

/// The OCI `run`: create, start, then (without --detach) wait for the init, which is
/// this process's child, forwarding the signals husk gets (as runc does), and delete the
/// container.
pub fn run(args: Vec<OsString>) -> Result<u8> {
    let Some((opts, ids)) = cli::parse(&RUN, args)? else { return Ok(0) };
    let id = one_id(&RUN, ids)?;
    // Taken before the container exists: a signal from here on is forwarded, never lost.
    let signals = crate::attach::Signals::take()?;
    let pid = create_container(&id, &opts)?;
    if let Err(e) = start(&id) {
        let _ = super::verbs::delete_one(&id, true);
        return Err(e);
    }
    if opts.detach {
        return Ok(0);
    }
    let container = crate::attach::Container { pid, pidfd: None };
    let code = crate::attach::wait(&container, &signals, None, false, None).code;
    if !opts.keep {
        super::verbs::delete_one(&id, true)?;
    }
    Ok(code)
}

/// Creates container `id` from the bundle and leaves it to the caller; returns the
/// init's pid. Nothing is left behind on failure.
fn create_container(id: &str, opts: &CreateOpts) -> Result<rustix::process::Pid> {
    let dir = match &opts.bundle {
        Some(dir) => dir.clone(),
        None => std::env::current_dir().ctx("getcwd", "")?,
    };
    let dir = crate::mounts::canonical("bundle", &dir)?;
    let Bundle { spec, dir, annotations, .. } = config::load(&dir, id)?;
    if spec.process.terminal && opts.console_socket.is_none() {
        return Err(Error::msg("process.terminal", "needs --console-socket (where the terminal's master is sent)"));
    }
    spec.validate(&Host::read(&spec))?;
    crate::privilege::check_user_namespace_host(&spec)?;
    let mut st = State::new(id);
    st.command = spec.process.args.join(" ");
    st.root = spec.root.source.path().display().to_string();
    st.hostname = spec.hostname.clone();
    st.network = spec.network.mode.to_string();
    st.remove = false;
    st.spec = spec.to_json();
    st.bundle = dir.display().to_string();
    st.annotations = annotations_json(&annotations);
    let entry = ContainerDir::create(id, &st).map_err(|e| match e.why.as_deref() {
        Some("name already in use") => Error::container(id, "already exists"),
        _ => e,
    })?;
    let fifo_path = entry.path.join(crate::detach::START_FIFO);
    rustix::fs::mkfifoat(rustix::fs::CWD, &fifo_path, rustix::fs::Mode::from(0o600))
        .ctx("mkfifo", fifo_path.display())?;
    // Read-only and non-blocking: opening needs no writer, and the init's poll sees
    // nothing until `husk start` writes (a fifo that never had a writer reports no
    // hang-up).
    let fifo = rustix::fs::open(
        &fifo_path,
        rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .ctx("open", fifo_path.display())?;
    // Both reached before the container is made: a bad path leaves nothing behind.
    let console = opts.console_socket.as_deref().map(super::ConsoleSocket::connect).transpose()?;
    let pid_file = opts.pid_file.as_deref().map(super::PidFile::open).transpose()?;
    let mut created = plan::create(&spec, entry, st, None, Stop::HandOver(&fifo))?;
    drop(fifo);
    let pid = created.pid();
    let finish = (|| {
        if let (Some(master), Some(console)) = (created.take_terminal(), &console) {
            console.send(&master)?;
        }
        if let Some(file) = &pid_file {
            file.write(pid)?;
        }
        let state = super::verbs::state_json(created.state_mut(), "creating");
        hooks::run("prestart", &spec.hooks.prestart, &state, &Place::Runtime)?;
        hooks::run("createRuntime", &spec.hooks.create_runtime, &state, &Place::Runtime)?;
        let init = created.state_mut().init;
        hooks::run("createContainer", &spec.hooks.create_container, &state, &Place::Container(id, init))?;
        created.state_mut().status = Status::Created;
        created.save_state()
    })();
    match finish {
        Ok(()) => {
            created.hand_over();
            Ok(pid)
        }
        Err(e) => {
            created.abort();
            Err(e)
        }
    }
}

fn annotations_json(annotations: &[(String, String)]) -> String {
    let mut w = crate::json::Writer::default();
    w.open("", '{');
    annotations.iter().for_each(|(k, v)| _ = w.str(k, v));
    w.close('}').finish()
}

/// `start` for an OCI container: the startContainer hooks, one byte into its fifo, then
/// the poststart hooks.
pub fn start(id: &str) -> Result<()> {
    let dir = ContainerDir::open(id)?;
    let mut st = dir.load()?;
    if st.status != Status::Created || !st.init.alive() {
        let what =
            if st.status == Status::Running && st.init.alive() { "is already running" } else { "is not created" };
        return Err(Error::container(id, format!("cannot start: it {what}")));
    }
    let spec = crate::spec::Spec::load(id, &st.spec)?;
    let state = super::verbs::state_json(&st, "created");
    hooks::run("startContainer", &spec.hooks.start_container, &state, &Place::Container(id, st.init))?;
    let fifo = dir.path.join(crate::detach::START_FIFO);
    let fd =
        rustix::fs::open(&fifo, rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::NONBLOCK, rustix::fs::Mode::empty())
            .map_err(|e| match e {
            rustix::io::Errno::NXIO => Error::container(id, "cannot start: its init is gone"),
            e => Error::sys("open", fifo.display(), e),
        })?;
    rustix::io::write(&fd, b"s").ctx("write", fifo.display())?;
    st.status = Status::Running;
    st.started = state::now();
    dir.save(&st)?;
    let _ = std::fs::remove_file(&fifo);
    let state = super::verbs::state_json(&st, "running");
    hooks::run_warning("poststart", &spec.hooks.poststart, &state, &Place::Runtime);
    Ok(())
}
