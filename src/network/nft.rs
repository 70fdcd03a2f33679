//! husk's own nf_tables table, written through nfnetlink: no `nft` or `iptables` binary,
//! and nothing of other tools' tables read or touched. Table `ip husk` holds one base
//! chain per job, so that undoing a job is "flush and delete its chain", never a search
//! for a rule's handle:
//! - `nat-BRIDGE` (nat, postrouting): masquerade what leaves the bridge's subnet through
//!   any other interface (not for `--internal` networks), and what a published port
//!   brings in from the host's loopback (127.0.0.1 cannot be a source on the bridge);
//! - `fwd-BRIDGE` (filter, forward), internal networks only: drop whatever crosses
//!   between the bridge and another interface;
//! - `pub-CONTAINER` (nat, prerouting) and `out-CONTAINER` (nat, output): DNAT from the
//!   host's ports to the container's, for packets from outside and from the host itself.
//!
//! Every change is one batch: the kernel applies it whole or not at all.

use crate::error::Result;
use crate::netlink::{Message, Socket};
use std::net::Ipv4Addr;

pub const TABLE: &str = "husk";

/// NFNL_SUBSYS_NFTABLES in the message type's high byte; the NFT_MSG_* kinds below.
const SUBSYS: u16 = 10 << 8;
const NEWTABLE: u16 = 0;
const DELTABLE: u16 = 2;
const NEWCHAIN: u16 = 3;
const GETCHAIN: u16 = 4;
const DELCHAIN: u16 = 5;
const NEWRULE: u16 = 6;
const DELRULE: u16 = 8;
const CREATE: u16 = linux_raw_sys::netlink::NLM_F_CREATE as u16;
const APPEND: u16 = linux_raw_sys::netlink::NLM_F_APPEND as u16;
const NFPROTO_IPV4: u8 = 2;

/// The netfilter hooks husk's chains sit on (NF_INET_*), with the priorities nft names
/// dstnat (-100), filter (0) and srcnat (100).
#[derive(Clone, Copy)]
pub enum Hook {
    Prerouting,
    Forward,
    Output,
    Postrouting,
}

impl Hook {
    fn number_and_priority(self) -> (u32, i32) {
        match self {
            Hook::Prerouting => (0, -100),
            Hook::Forward => (2, 0),
            Hook::Output => (3, -100),
            Hook::Postrouting => (4, 100),
        }
    }
}

/// One atomic change to the table, begun by creating the table (a no-op when it exists).
pub struct Batch {
    msgs: Vec<Message>,
}

impl Batch {
    pub fn new() -> Batch {
        let mut batch = Batch { msgs: Vec::new() };
        batch.msg(NEWTABLE, CREATE).attr_str(1, TABLE);
        batch
    }

    fn msg(&mut self, kind: u16, flags: u16) -> &mut Message {
        let mut msg = Message::new(SUBSYS | kind, flags);
        // nfgenmsg: family, version 0, resource id 0.
        msg.body(&[NFPROTO_IPV4, 0, 0, 0]);
        self.msgs.push(msg);
        self.msgs.last_mut().expect("just pushed")
    }

    /// A base chain, created if missing and emptied either way, so that the rules that
    /// follow are its whole content.
    pub fn chain(&mut self, name: &str, hook: Hook) -> &mut Batch {
        let (number, priority) = hook.number_and_priority();
        let kind = if matches!(hook, Hook::Forward) { "filter" } else { "nat" };
        self.msg(NEWCHAIN, CREATE)
            .attr_str(1, TABLE)
            .attr_str(3, name)
            .begin_nest(4)
            .attr(1, &number.to_be_bytes())
            .attr(2, &priority.to_be_bytes())
            .end_nest()
            .attr_str(7, kind);
        // A rule deletion naming only the chain flushes it.
        self.msg(DELRULE, 0).attr_str(1, TABLE).attr_str(2, name);
        self
    }

    /// Removes a chain: flushed first, as the kernel deletes only empty chains.
    pub fn delete_chain(&mut self, name: &str) -> &mut Batch {
        self.msg(DELRULE, 0).attr_str(1, TABLE).attr_str(2, name);
        self.msg(DELCHAIN, 0).attr_str(1, TABLE).attr_str(3, name);
        self
    }

    /// Appends a rule of `exprs` to `chain`.
    pub fn rule(&mut self, chain: &str, exprs: &[Expr]) -> &mut Batch {
        let msg = self.msg(NEWRULE, CREATE | APPEND);
        msg.attr_str(1, TABLE).attr_str(2, chain).begin_nest(4);
        for expr in exprs {
            expr.write(msg);
        }
        msg.end_nest();
        self
    }

    /// Sends the batch; `what` names the change in the error.
    pub fn commit(mut self, what: &str) -> Result<()> {
        let mut sock = Socket::open_netfilter()?;
        sock.batch(&mut self.msgs, (SUBSYS >> 8) as u8, what)
    }
}

/// The expressions husk's rules are made of (see nf_tables.h for their attributes).
#[derive(Clone, Copy)]
pub enum Expr<'a> {
    /// Loads `len` bytes at `offset` of the network (IPv4) or transport header.
    Network(u32, u32),
    Transport(u32, u32),
    /// Loads a meta key: L4PROTO (16), IIFNAME (6), OIFNAME (7).
    Meta(u32),
    /// Loads the address type of the destination (fib daddr type).
    DaddrType,
    /// Loads a conntrack key: STATE (0) or STATUS (2), bit sets in host byte order.
    Ct(u32),
    /// Compares the loaded value: equal, or not (`Ne`).
    Eq(&'a [u8]),
    Ne(&'a [u8]),
    /// Masks the loaded value (a prefix match).
    Mask(&'a [u8]),
    /// Destination NAT to an address and port.
    Dnat(Ipv4Addr, u16),
    Masquerade,
    Drop,
}

pub const META_L4PROTO: u32 = 16;
pub const META_IIFNAME: u32 = 6;
pub const META_OIFNAME: u32 = 7;
/// RTN_LOCAL, as the fib expression stores it (host byte order).
pub const RTN_LOCAL: [u8; 4] = 2u32.to_ne_bytes();

impl Expr<'_> {
    fn write(&self, msg: &mut Message) {
        let name = match self {
            Expr::Network(..) | Expr::Transport(..) => "payload",
            Expr::Meta(_) => "meta",
            Expr::DaddrType => "fib",
            Expr::Ct(_) => "ct",
            Expr::Eq(_) | Expr::Ne(_) => "cmp",
            Expr::Mask(_) => "bitwise",
            Expr::Dnat(..) => "immediate",
            Expr::Masquerade => "masq",
            Expr::Drop => "immediate",
        };
        let be = |v: u32| v.to_be_bytes();
        msg.begin_nest(1).attr_str(1, name).begin_nest(2);
        match self {
            Expr::Network(offset, len) | Expr::Transport(offset, len) => {
                let base = if matches!(self, Expr::Network(..)) { 1 } else { 2 };
                msg.attr(1, &be(1)).attr(2, &be(base)).attr(3, &be(*offset)).attr(4, &be(*len));
            }
            // meta and ct: the key (2) into register 1 (1).
            Expr::Meta(key) | Expr::Ct(key) => {
                msg.attr(1, &be(1)).attr(2, &be(*key));
            }
            // Result ADDRTYPE (3) of the destination address (flag DADDR, 2).
            Expr::DaddrType => {
                msg.attr(1, &be(1)).attr(2, &be(3)).attr(3, &be(2));
            }
            Expr::Eq(data) | Expr::Ne(data) => {
                let op = if matches!(self, Expr::Eq(_)) { 0 } else { 1 };
                msg.attr(1, &be(1)).attr(2, &be(op));
                data_value(msg, 3, data);
            }
            Expr::Mask(mask) => {
                msg.attr(1, &be(1)).attr(2, &be(1)).attr(3, &be(mask.len() as u32));
                data_value(msg, 4, mask);
                data_value(msg, 5, &vec![0; mask.len()]);
            }
            Expr::Dnat(ip, port) => {
                // The address into register 1 and the port into register 2, then nat
                // reads both: two expressions written as one.
                msg.attr(1, &be(1));
                data_value(msg, 2, &ip.octets());
                msg.end_nest().end_nest();
                msg.begin_nest(1).attr_str(1, "immediate").begin_nest(2).attr(1, &be(2));
                data_value(msg, 2, &port.to_be_bytes());
                msg.end_nest().end_nest();
                msg.begin_nest(1).attr_str(1, "nat").begin_nest(2);
                msg.attr(1, &be(1)).attr(2, &be(u32::from(NFPROTO_IPV4))).attr(3, &be(1)).attr(5, &be(2));
            }
            Expr::Masquerade => {}
            // The verdict register (0) set to NF_DROP (0).
            Expr::Drop => {
                msg.attr(1, &be(0)).begin_nest(2).begin_nest(2).attr(1, &be(0)).end_nest().end_nest();
            }
        }
        msg.end_nest().end_nest();
    }
}

/// NFTA_DATA_VALUE inside the attribute `kind`.
fn data_value(msg: &mut Message, kind: u16, bytes: &[u8]) {
    msg.begin_nest(kind).attr(1, bytes).end_nest();
}

/// An interface name as meta loads it: 16 bytes, NUL-padded.
pub fn ifname(name: &str) -> [u8; 16] {
    let mut out = [0u8; 16];
    let n = name.len().min(15);
    out[..n].copy_from_slice(&name.as_bytes()[..n]);
    out
}

/// Whether husk's table has a chain of this name.
pub fn has_chain(name: &str) -> Result<bool> {
    let mut sock = Socket::open_netfilter()?;
    let mut msg = Message::new(SUBSYS | GETCHAIN, 0);
    msg.body(&[NFPROTO_IPV4, 0, 0, 0]).attr_str(1, TABLE).attr_str(3, name);
    match sock.request(&mut msg, "look up nf_tables chain") {
        Ok(()) => Ok(true),
        Err(e) if e.errno == Some(rustix::io::Errno::NOENT) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes husk's table and everything in it (when the last network goes).
pub fn delete_table() -> Result<()> {
    let mut batch = Batch { msgs: Vec::new() };
    batch.msg(DELTABLE, 0).attr_str(1, TABLE);
    gone_is_fine(batch.commit("remove nf_tables table husk"))
}

/// A deletion of what is already gone (someone flushed the ruleset) succeeds.
pub fn gone_is_fine(done: Result<()>) -> Result<()> {
    match done {
        Err(e) if e.errno == Some(rustix::io::Errno::NOENT) => Ok(()),
        other => other,
    }
}
