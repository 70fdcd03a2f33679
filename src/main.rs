//! husk: run a process in its own namespaces, cgroups, root filesystem and network,
//! from one static binary.

// Scaffolding for the cgroup and network work that lands next; removed once used.
#![allow(dead_code)]

mod attach;
mod cli;
mod commands;
mod devices;
mod error;
mod etc_files;
mod exec;
mod ids;
mod mounts;
mod namespaces;
mod netlink;
mod network;
mod plan;
mod rootfs;
mod spec;
mod state;
mod sync;
mod terminal;

use error::{EXIT_HUSK, Result};
use std::ffi::OsString;

const USAGE: &str = "Usage: husk [--root DIR] COMMAND [OPTIONS]

Commands:
  run     Run a command in a new container
  init    Run a command under husk's PID-1 init (for other containers' images)
  network Manage the bridges husk creates (ls, rm)

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
    match command.to_str().unwrap_or_default() {
        "run" => match commands::run::parse(args)? {
            Some((spec, _opts)) => plan::run(&spec),
            None => Ok(0),
        },
        "init" => commands::init::main(args),
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
