//! `husk network ls` and `husk network rm NAME`: the bridges husk created for
//! `--network bridge[:NAME]`, which outlive their containers.

use crate::cli::{Arg, Cli, Command, flag};
use crate::error::Result;
use crate::network;
use std::ffi::OsString;

pub static NETWORK: Command = Command {
    name: "network",
    usage: "ls | rm [-f] NAME",
    about: "List the bridges husk created (name, subnet, gateway, leases in use), or remove one.",
    flags: &[flag("force", Some('f'), None, "rm: remove even while containers hold leases on it")],
};

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let mut cli = Cli::new(&NETWORK, args);
    let mut force = false;
    let mut words = Vec::new();
    while let Some(arg) = cli.next()? {
        match arg {
            Arg::Help => {
                print!("{}", crate::cli::help(&NETWORK));
                return Ok(0);
            }
            Arg::Positional(w) => words.push(w),
            Arg::Flag("force", _) => force = true,
            Arg::Flag(long, _) => unreachable!("flag {long} is in the table but not handled"),
        }
    }
    match words.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["ls"] | ["list"] => {
            println!("{:<16}{:<20}{:<17}LEASES", "NAME", "SUBNET", "GATEWAY");
            for (name, subnet, gateway, leases) in network::list()? {
                println!("{name:<16}{:<20}{:<17}{leases}", subnet.to_string(), gateway.to_string());
            }
            Ok(0)
        }
        ["rm", names @ ..] if !names.is_empty() => {
            for name in names {
                network::remove(name, force)?;
            }
            Ok(0)
        }
        _ => Err(cli.usage_error("expected 'ls' or 'rm NAME'")),
    }
}
