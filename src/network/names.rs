//! Names on a network. Every container on a husk network has a hosts file of its own,
//! `networks/hosts/NAME` under the state root (its state directory is covered by the
//! container's staging tmpfs), bound at /etc/hosts: its base (localhost, itself,
//! `--add-host` entries: `NAME.base` beside it) and then every other live container of
//! the network by name and `--network-alias`. Whenever a lease is taken or given back (a start, an
//! exit, the garbage pass after a SIGKILL), the process that changed the leases
//! rewrites every member's file under the registry's lock, so the last writer always
//! wrote the current list. Files are rewritten in place (one write): the bind mount
//! holds the inode. A container whose /etc/hosts is a volume of the user's has no base
//! file and is left alone.
//!
//! Plain files instead of a DNS responder: nothing has to stay running beside the
//! containers, resolution works with any libc and with no resolver configuration, and
//! under 50 containers starting and stopping at once each change costs one small write
//! per member.

use super::lease::{self, Entry};
use crate::error::{Context, Result};
use std::path::PathBuf;

/// The hosts file of a container on a network.
pub fn file(container: &str) -> PathBuf {
    lease::dir().join("hosts").join(container)
}

fn base(container: &str) -> PathBuf {
    lease::dir().join("hosts").join(format!("{container}.base"))
}

/// Records a container's own part of its hosts file (written once, at its start).
pub fn write_base(container: &str, text: &str) -> Result<()> {
    let path = base(container);
    std::fs::create_dir_all(lease::dir().join("hosts")).ctx("create", path.display())?;
    std::fs::write(&path, text).ctx("write", path.display())
}

/// A container's files, when its lease is given back.
pub fn forget(container: &str) {
    let _ = std::fs::remove_file(file(container));
    let _ = std::fs::remove_file(base(container));
}

/// Brings every member's file up to generation `generation` of the network's leases
/// (u64::MAX: to the current one, whatever it is), unless
/// another process already has: refreshes run one at a time under their own lock, and
/// each covers every change made before it read the leases, so a storm of 100 starts
/// costs a few refreshes instead of 100 (each one a write per member).
pub fn sync(bridge: &str, generation: u64) -> Result<()> {
    let dir = lease::dir().join("hosts");
    let _lock = lease::lock_in(&dir)?;
    let done_path = dir.join(format!("{bridge}.done"));
    if lease::read_number(&done_path) >= generation {
        return Ok(());
    }
    let (members, now) = {
        let reg = lease::Registry::lock()?;
        (reg.leases(bridge)?, reg.generation(bridge))
    };
    refresh(&members);
    std::fs::write(&done_path, now.to_string()).ctx("write", done_path.display())
}

/// Rewrites the hosts file of every member of a network from its lease list.
fn refresh(members: &[Entry]) {
    if std::env::var_os("HUSK_NOREFRESH").is_some() {
        return;
    }
    for me in members {
        let Ok(mut text) = std::fs::read_to_string(base(&me.container)) else { continue };
        for peer in members.iter().filter(|p| p.container != me.container) {
            text.push_str(&format!("{}\t{}", peer.ip, peer.container));
            peer.aliases.iter().for_each(|a| text.push_str(&format!(" {a}")));
            text.push('\n');
        }
        let _ = std::fs::write(file(&me.container), text);
    }
}
