//! husk: run a process in its own namespaces, cgroups, root filesystem and network,
//! from one static binary.

mod attach;
mod cgroups;
mod cli;
mod commands;
mod compat;
mod detach;
mod error;
mod etc_files;
mod exec;
mod ids;
mod image;
mod json;
mod lifecycle;
mod log;
mod loopdev;
mod mounts;
mod namespaces;
mod netlink;
mod network;
mod oci;
mod plan;
mod privilege;
mod resolve;
mod rootfs;
mod seccomp;
mod spec;
mod state;
mod state_root;
mod store;
mod subids;
mod sync;
mod terminal;
mod users;

use error::{EXIT_HUSK, Result};

#[global_allocator]
static HEAP: husk_init::sys::Heap = husk_init::sys::Heap;
use std::ffi::OsString;

const USAGE: &str = "Usage: husk [--root DIR] COMMAND [OPTIONS]

Commands:
  run      Run a command in a new container (-d: in the background)
  create   Create a container stopped before its command runs
  start    Start created or stopped containers
  restart  Stop and start containers
  ps       List containers (ps ID: a container's processes)
  exec     Run a command in a running container
  logs     Print a detached container's output
  stop     Stop containers (SIGTERM, then SIGKILL)
  kill     Send a signal to containers
  rm       Remove stopped containers
  wait     Wait for containers to exit; print their exit codes
  inspect  Show containers as docker does (-f TEMPLATE; --raw: husk's own record)
  port     List a container's published ports
  stats    Show containers' CPU, memory, pids and their limits
  gc       Release what killed husk processes left behind
  init     Run a command under husk's PID-1 init (for other containers' images)
  network  Manage bridge networks (create, ls, inspect, rm)

Images, and what rootfs-builder (beside husk or on PATH) shows for husk:
  pull, load, import, save, images, rmi, tag, export, cp, commit, volume
  also inspect, stats, port, ps's docker options, completion bash|zsh|fish, man

OCI runtime commands (runc's, for podman and containerd; see docs/OCI.md):
  create/run --bundle DIR ID, start, state, kill ID [SIG], delete [-f], pause,
  resume, exec --process FILE ID, ps ID, list, features, spec

Global options:
  --root DIR         State directory (default /run/husk, /dev/shm/husk if /run is a disk, $XDG_RUNTIME_DIR/husk if not root)
  --log FILE         Also write errors there
  --log-format FMT   text or json
  --debug            Say what husk ignores of a config.json
  -h, --help         Show this help
  -V, --version      Show the version

Run 'husk COMMAND --help' for a command's options.
";

fn main() {
    let code = match dispatch(std::env::args_os().skip(1).collect()) {
        Ok(code) => code,
        Err(e) => {
            oci::log_error(&e);
            eprintln!("husk: {e}");
            // The OCI clients expect runc's 1 for the runtime's own failures.
            if oci::called_as_runtime() && e.code == EXIT_HUSK { 1 } else { e.code }
        }
    };
    std::process::exit(code as i32);
}

fn dispatch(mut args: Vec<OsString>) -> Result<u8> {
    let mut global = oci::Global::default();
    loop {
        // Bare `husk` is a request for the usage, as bare `docker` is.
        let Some(first) = args.first().and_then(|a| a.to_str()).map(str::to_string) else {
            print!("{USAGE}");
            return Ok(0);
        };
        // runc's global options, as conmon and containerd's shim pass them.
        let (flag, inline) = match first.split_once('=') {
            Some((f, v)) if f.starts_with("--") => (f.to_string(), Some(v.to_string())),
            _ => (first.clone(), None),
        };
        let takes_value = matches!(flag.as_str(), "--root" | "--log" | "--log-format" | "--criu" | "--rootless");
        let value = match (&inline, takes_value) {
            (Some(v), _) => Some(v.clone()),
            (None, true) => args.get(1).and_then(|a| a.to_str()).map(str::to_string),
            (None, false) => None,
        };
        if takes_value && value.is_none() {
            return Err(error::Error::msg(flag, "needs a value"));
        }
        match flag.as_str() {
            "--root" => state::set_root(value.clone().unwrap_or_default().into()),
            "--log" => global.log = value.clone().map(Into::into),
            "--log-format" => match value.as_deref() {
                Some("json") => global.json = true,
                Some("text") => global.json = false,
                _ => return Err(error::Error::msg("--log-format", "expected text or json")),
            },
            "--debug" => global.debug = true,
            // runc's: only "false" and "auto" make sense for husk, which decides itself.
            "--rootless" | "--criu" => {}
            "--systemd-cgroup" => {
                return Err(error::Error::msg(
                    "--systemd-cgroup",
                    "husk manages cgroups through cgroupfs only; configure the client for cgroupfs",
                ));
            }
            _ => break,
        }
        args.drain(..if takes_value && inline.is_none() { 2 } else { 1 });
    }
    let logged = global.log.is_some();
    oci::set_global(global);
    let mut command = args.remove(0);
    // `husk help CMD` is `husk CMD --help`.
    if command == "help" && !args.is_empty() {
        command = args.remove(0);
        args = vec!["--help".into()];
    }
    let command = command.to_str().unwrap_or_default();
    // The cheap check every command makes: resources of containers whose husk process
    // was killed are released before anything else happens. `init` runs in other
    // people's containers and has no state.
    if !matches!(command, "init" | "gc" | "-h" | "--help" | "help" | "-V" | "--version") {
        lifecycle::collect_garbage(false);
    }
    let runtime_call = logged
        || match command {
            "run" | "create" => oci_form(&args),
            "ps" => oci::verbs::is_ps_form(&args),
            "kill" => oci::verbs::is_kill_form(&args),
            _ => matches!(command, "state" | "delete" | "pause" | "resume" | "list" | "features" | "spec"),
        };
    if runtime_call {
        oci::set_runtime_call();
    }
    match command {
        "run" if oci_form(&args) => oci::create::run(args),
        "run" => commands::run::main(args),
        "create" if oci_form(&args) => oci::create::create(args),
        "create" => commands::run::create(args),
        "start" => commands::manage::start(args),
        "init" => commands::init::main(args),
        // runc's `ps [--format json] ID` first; docker's listing options next.
        "ps" if !oci::verbs::is_ps_form(&args) && commands::manage::docker_listing(&args) => {
            store::forward(command, args)
        }
        "ps" if oci::verbs::is_ps_form(&args) => oci::verbs::ps(args),
        "ps" => commands::manage::ps(args),
        "exec" => commands::exec::main(args),
        "logs" => commands::logs::main(args),
        "stop" => commands::manage::stop(args),
        "restart" => commands::manage::restart(args),
        "kill" if oci::verbs::is_kill_form(&args) => oci::verbs::kill(args),
        "kill" => commands::manage::kill(args),
        "rm" => commands::manage::rm(args),
        "wait" => commands::manage::wait(args),
        // docker's shape is rendered by rootfs-builder from husk's own record (--raw).
        "inspect" if !args.iter().any(|a| a == "--raw") => store::forward(command, args),
        "inspect" => commands::manage::inspect(args),
        "gc" => commands::manage::gc(args),
        "network" => commands::network::main(args),
        "pull" | "load" | "images" | "rmi" | "tag" | "save" | "export" | "cp" | "commit" | "import" | "completion"
        | "man" | "volume" | "stats" | "port" => store::forward(command, args),
        "state" => oci::verbs::state(args),
        "delete" => oci::verbs::delete(args),
        "pause" => oci::verbs::pause(args),
        "resume" => oci::verbs::resume(args),
        "list" => oci::verbs::list(args),
        "features" => oci::features::features(args),
        "spec" => oci::features::spec(args),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(0)
        }
        "-V" | "--version" | "version" => {
            // runc's first line, which podman shows as the runtime's version.
            println!("husk version {}\nspec: {}", env!("CARGO_PKG_VERSION"), oci::SPEC_VERSION);
            Ok(0)
        }
        other => Err(error::Error::msg(format!("unknown command \"{other}\""), "see 'husk --help'")),
    }
}

/// Whether `create`/`run` arguments are the OCI form: a bundle (given, or the current
/// directory's config.json when no --rootfs or --image names a root).
fn oci_form(args: &[OsString]) -> bool {
    let words: Vec<&str> = args.iter().filter_map(|a| a.to_str()).collect();
    let has = |names: &[&str]| words.iter().any(|w| names.iter().any(|n| w == n || w.starts_with(&format!("{n}="))));
    if has(&["--bundle", "-b", "--pid-file", "--console-socket"]) {
        return true;
    }
    !has(&["--rootfs", "--image", "-h", "--help"]) && std::path::Path::new("config.json").exists()
}
