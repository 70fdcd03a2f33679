//! Published ports (`-p`): a container's two chains in husk's nf_tables table,
//! `pub-NAME` (prerouting: from outside) and `out-NAME` (output: from the host itself),
//! DNAT packets for a host port to the container's address and port.
//!
//! While the container lives, its owner (the launcher or the supervisor) also holds a
//! socket bound to each host port: a port already taken, by a listening program or by
//! another container, is refused before anything is made, and nothing can take it
//! afterwards. The kernel closes those sockets on any exit; the chains go when the
//! container does, or when the garbage pass frees its lease after a SIGKILL.

use super::nft::{self, Batch, Expr::*, Hook};
use crate::error::{Error, Result};
use crate::spec::Publish;
use rustix::fd::OwnedFd;
use rustix::io::Errno;
use rustix::net::{AddressFamily, SocketAddrV4, SocketFlags, SocketType};
use std::net::Ipv4Addr;

/// Binds a socket to every host port; refuses one that is taken.
pub fn reserve(ports: &[Publish]) -> Result<Vec<OwnedFd>> {
    let mut held = Vec::new();
    for p in ports {
        let what = format!("published port {}/{}", p.host_port, p.proto());
        let kind = if p.udp { SocketType::DGRAM } else { SocketType::STREAM };
        let fd = rustix::net::socket_with(AddressFamily::INET, kind, SocketFlags::CLOEXEC, None)
            .map_err(|e| Error::sys("socket", &what, e))?;
        let addr = SocketAddrV4::new(p.host_ip.unwrap_or(Ipv4Addr::UNSPECIFIED), p.host_port);
        rustix::net::bind(&fd, &addr).map_err(|e| match e {
            Errno::ADDRINUSE => Error::msg(what.clone(), "is in use on the host (by a program or another container)"),
            Errno::ADDRNOTAVAIL => Error::msg(what.clone(), format!("{} is not an address of the host", addr.ip())),
            e => Error::sys("bind", &what, e),
        })?;
        held.push(fd);
    }
    Ok(held)
}

fn chains(container: &str) -> [String; 2] {
    [format!("pub-{container}"), format!("out-{container}")]
}

/// The container's chains, with one DNAT rule per port in each.
pub fn add(container: &str, ip: Ipv4Addr, ports: &[Publish]) -> Result<()> {
    let [pre, out] = chains(container);
    let mut batch = Batch::new();
    batch.chain(&pre, Hook::Prerouting).chain(&out, Hook::Output);
    for p in ports {
        let proto = [if p.udp { 17 } else { 6 }];
        let port = p.host_port.to_be_bytes();
        let dst = p.host_ip.map(|ip| ip.octets());
        // To the given address, or to any of the host's (fib daddr type local).
        let to_host = match &dst {
            Some(dst) => [Network(16, 4), Eq(dst)],
            None => [DaddrType, Eq(&nft::RTN_LOCAL)],
        };
        let rule =
            [Meta(nft::META_L4PROTO), Eq(&proto), Transport(2, 2), Eq(&port), to_host[0], to_host[1], Dnat(ip, p.port)];
        batch.rule(&pre, &rule).rule(&out, &rule);
    }
    batch.commit(&format!("publish ports of {container}"))
}

/// Removes the container's chains (made together, so both or neither are there).
pub fn remove(container: &str) -> Result<()> {
    let mut batch = Batch::new();
    for chain in chains(container) {
        batch.delete_chain(&chain);
    }
    nft::gone_is_fine(batch.commit(&format!("unpublish ports of {container}")))
}
