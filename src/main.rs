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
mod oci;
mod netlink;
mod network;
mod plan;
mod privilege;
mod resolve;
mod rootfs;
mod seccomp;
mod spec;
mod state;
mod subids;
mod sync;
mod terminal;
mod users;

use error::{EXIT_HUSK, Result};
use std::ffi::OsString;

const USAGE: &str = "Usage: husk [--root DIR] COMMAND [OPTIONS]

Commands:
  run      Run a command in a new container (-d: in the background)
  create   Create a container stopped before its command runs
  start    Start created containers
  ps       List containers
  exec     Run a command in a running container
  logs     Print a detached container's output
  stop     Stop containers (SIGTERM, then SIGKILL)
  kill     Send a signal to containers
  rm       Remove stopped containers
  wait     Wait for containers to exit; print their exit codes
  inspect  Print containers' state and saved spec as JSON
  stats    Show containers' CPU, memory and pids
  gc       Release what killed husk processes left behind
  init     Run a command under husk's PID-1 init (for other containers' images)
  network  Manage the bridges husk creates (ls, rm)

Global options:
  --root DIR     State directory (default /run/husk, or $XDG_RUNTIME_DIR/husk when not root)
  -h, --help     Show this help
  -V, --version  Show the version

Run 'husk COMMAND --help' for a command's options.
";

fn main() {
    let code = match dispatch(std::env::args_os().skip(1).collect()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("husk: {e}");
            e.code
        }
    };
    std::process::exit(code as i32);
}

fn dispatch(mut args: Vec<OsString>) -> Result<u8> {
    loop {
        let Some(first) = args.first().and_then(|a| a.to_str()).map(str::to_string) else {
            eprint!("{USAGE}");
            return Ok(EXIT_HUSK);
        };
        match first.as_str() {
            "--root" if args.len() > 1 => {
                state::set_root(args[1].clone().into());
                args.drain(..2);
            }
            _ => {
                if let Some(dir) = first.strip_prefix("--root=") {
                    state::set_root(dir.into());
                    args.remove(0);
                    continue;
                }
                break;
            }
        }
    }
    let command = args.remove(0);
    let command = command.to_str().unwrap_or_default();
    // The cheap check every command makes: resources of containers whose husk process
    // was killed are released before anything else happens. `init` runs in other
    // people's containers and has no state.
    if !matches!(command, "init" | "gc" | "-h" | "--help" | "help" | "-V" | "--version") {
        lifecycle::collect_garbage(false);
    }
    match command {
        "run" => commands::run::main(args),
        "create" => commands::run::create(args),
        "start" => commands::manage::start(args),
        "init" => commands::init::main(args),
        "ps" => commands::manage::ps(args),
        "exec" => commands::exec::main(args),
        "logs" => commands::logs::main(args),
        "stop" => commands::manage::stop(args),
        "kill" => commands::manage::kill(args),
        "rm" => commands::manage::rm(args),
        "wait" => commands::manage::wait(args),
        "inspect" => commands::manage::inspect(args),
        "gc" => commands::manage::gc(args),
        "stats" => commands::stats::main(args),
        "network" => commands::network::main(args),
        "-h" | "--help" | "help" => {
            print!("{USAGE}");
            Ok(0)
        }
        "-V" | "--version" => {
            println!("husk {}", env!("CARGO_PKG_VERSION"));
            Ok(0)
        }
        other => Err(error::Error::msg(format!("unknown command {other:?}"), "see 'husk --help'")),
    }
}
