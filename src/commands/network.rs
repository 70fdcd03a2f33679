//! `husk network create|ls|inspect|rm`: the bridge networks husk manages, as objects
//! with a subnet, a gateway and a NAT (or none, `--internal`), which outlive their
//! containers.

use crate::cli::{self, Command, flag, on};
use crate::error::{Error, Result};
use crate::json::Writer;
use crate::network::{self, addr::Cidr};
use std::ffi::OsString;
use std::net::Ipv4Addr;

#[derive(Default)]
pub struct NetworkOpts {
    force: bool,
    subnet: Option<Cidr>,
    gateway: Option<Ipv4Addr>,
    internal: bool,
}

pub static NETWORK: Command<NetworkOpts> = Command {
    name: "network",
    usage: "create [--subnet CIDR] [--gateway IP] [--internal] NAME | ls | inspect NAME... | rm [-f] NAME...",
    about: "Manage bridge networks: create one (a free 10.x.0.0/16 unless --subnet), list them, show one as JSON, or remove one.",
    flags: &[
        flag("subnet", None, Some("CIDR"), "create: the network's subnet", |o, v| {
            Ok(o.subnet = Some(Cidr::parse("--subnet", &v, None)?))
        }),
        flag("gateway", None, Some("IP"), "create: the bridge's address (default: the subnet's first)", |o, v| {
            Ok(o.gateway = Some(v.parse().map_err(|_| Error::msg(format!("--gateway {v}"), "not an IPv4 address"))?))
        }),
        flag("internal", None, None, "create: no NAT; containers reach only the network", |o, _| on(&mut o.internal)),
        flag("force", Some('f'), None, "rm: remove even while containers hold leases on it", |o, _| on(&mut o.force)),
    ],
    command_follows: false,
};

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let Some((o, words)) = cli::parse(&NETWORK, args)? else { return Ok(0) };
    match words.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["create", name] => {
            network::create(name, o.subnet, o.gateway, o.internal)?;
            println!("{name}");
        }
        ["ls"] | ["list"] => {
            println!("{:<16}{:<20}{:<17}{:<10}LEASES", "NAME", "SUBNET", "GATEWAY", "NAT");
            for (name, r, leases) in network::list()? {
                let nat = if r.internal { "internal" } else { "yes" };
                println!(
                    "{name:<16}{:<20}{:<17}{nat:<10}{}",
                    r.subnet.to_string(),
                    r.gateway.to_string(),
                    leases.len()
                );
            }
        }
        ["inspect", names @ ..] if !names.is_empty() => {
            let all = network::list()?;
            let mut w = Writer::default();
            w.open("", '[');
            for name in names {
                let (_, r, leases) = all.iter().find(|(n, ..)| n == name).ok_or_else(|| no_such(name))?;
                w.open("", '{').str("Name", name).str("Driver", "bridge").num("Internal", r.internal);
                w.open("IPAM", '{').open("Config", '[').open("", '{').str("Subnet", &r.subnet.to_string());
                w.str("Gateway", &r.gateway.to_string()).close('}').close(']').close('}').open("Containers", '[');
                for e in leases {
                    w.open("", '{').str("Name", &e.container).str("IPv4Address", &e.ip.to_string()).close('}');
                }
                w.close(']').close('}');
            }
            println!("{}", w.close(']').finish());
        }
        ["rm", names @ ..] | ["remove", names @ ..] if !names.is_empty() => {
            for name in names {
                network::remove(name, o.force)?;
                println!("{name}");
            }
        }
        _ => return Err(cli::usage_error(&NETWORK, "expected create NAME, ls, inspect NAME or rm NAME")),
    }
    Ok(0)
}

pub fn no_such(name: &str) -> Error {
    Error::msg(format!("network {name}"), "no such network (see 'husk network ls')")
}
