//! `husk network ls` and `husk network rm NAME`: the bridges husk created for
//! `--network bridge[:NAME]`, which outlive their containers.

use crate::cli::{self, Command, flag, on};
use crate::error::Result;
use crate::network;
use std::ffi::OsString;

#[derive(Default)]
pub struct NetworkOpts {
    force: bool,
}

pub static NETWORK: Command<NetworkOpts> = Command {
    name: "network",
    usage: "ls | rm [-f] NAME",
    about: "List the bridges husk created (name, subnet, gateway, leases in use), or remove one.",
    flags: &[flag("force", Some('f'), None, "rm: remove even while containers hold leases on it", |o, _| {
        on(&mut o.force)
    })],
    command_follows: false,
};

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let Some((NetworkOpts { force }, words)) = cli::parse(&NETWORK, args)? else { return Ok(0) };
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
        _ => Err(cli::usage_error(&NETWORK, "expected 'ls' or 'rm NAME'")),
    }
}
