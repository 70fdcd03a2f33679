//! Subordinate ids: the range of host ids /etc/subuid and /etc/subgid give a user, which
//! `--userns` maps into the container so that an image's other users (Alpine's daemons,
//! nobody, the ids packages create) exist inside, as podman and LXC do.
//!
//! - As root: the container's ids 0..65535 are root's first range (`root:100000:65536`);
//!   the image's files are then mounted idmapped (image.rs) so that they keep their owners.
//! - Not root: the caller's own id becomes 0 and its first range 1..65535, written by the
//!   setuid helpers newuidmap and newgidmap (the kernel lets an unprivileged process map
//!   only its own id). The caller's files are root's inside, as before.
//! - Without a range (or the helpers): the single id, with a one-line note saying why.

use crate::error::{Context, Error, Result};
use crate::spec::IdMap;
use husk_init::sys::Forked;
use rustix::process::WaitOptions;
use std::path::PathBuf;

/// How many ids a container gets: 0..65535, the range docker, podman and LXC use.
const SIZE: u32 = 65_536;

/// The uid and gid maps of a new user namespace made by the calling user; `explicit`
/// when `--userns` asked for it (rather than the rootless default).
pub fn maps(explicit: bool) -> (Vec<IdMap>, Vec<IdMap>) {
    let uid = rustix::process::geteuid().as_raw();
    let gid = rustix::process::getegid().as_raw();
    if crate::privilege::limited_root() {
        return held_maps();
    }
    let single = (vec![IdMap { inside: 0, outside: uid, count: 1 }], vec![IdMap { inside: 0, outside: gid, count: 1 }]);
    let name = user_name(uid);
    let ranges = (first_range("/etc/subuid", &name, uid), first_range("/etc/subgid", &name, uid));
    let (Some((u, un)), Some((g, gn))) = ranges else {
        // The rootless default says nothing: one id is what rootless means without a range.
        if explicit {
            let who = if name.is_empty() { "this user".to_string() } else { format!("'{name}'") };
            say_single_id(&format!("no range for {who} in /etc/subuid and /etc/subgid"));
        }
        return single;
    };
    if uid == 0 {
        return (
            vec![IdMap { inside: 0, outside: u, count: un.min(SIZE) }],
            vec![IdMap { inside: 0, outside: g, count: gn.min(SIZE) }],
        );
    }
    if helper("newuidmap").is_none() || helper("newgidmap").is_none() {
        say_single_id("newuidmap/newgidmap not installed (package uidmap)");
        return single;
    }
    (
        vec![IdMap { inside: 0, outside: uid, count: 1 }, IdMap { inside: 1, outside: u, count: un.min(SIZE - 1) }],
        vec![IdMap { inside: 0, outside: gid, count: 1 }, IdMap { inside: 1, outside: g, count: gn.min(SIZE - 1) }],
    )
}

/// Root without CAP_SYS_ADMIN (inside a container): with CAP_SETUID, CAP_SETGID and
/// CAP_SETFCAP every id it holds maps to itself, as podman does there (the image's
/// owners stay what they are); without them, itself alone.
fn held_maps() -> (Vec<IdMap>, Vec<IdMap>) {
    use rustix::thread::CapabilitySet as C;
    if !crate::privilege::holds(C::SETUID | C::SETGID | C::SETFCAP) {
        return (vec![IdMap { inside: 0, outside: 0, count: 1 }], vec![IdMap { inside: 0, outside: 0, count: 1 }]);
    }
    let identity = |file: &str| -> Vec<IdMap> {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let maps: Vec<IdMap> = text
            .lines()
            .filter_map(|l| {
                let f: Vec<u32> = l.split_ascii_whitespace().filter_map(|n| n.parse().ok()).collect();
                (f.len() == 3).then(|| IdMap { inside: f[0], outside: f[0], count: f[2] })
            })
            .collect();
        if maps.is_empty() { vec![IdMap { inside: 0, outside: 0, count: 1 }] } else { maps }
    };
    (identity("/proc/self/uid_map"), identity("/proc/self/gid_map"))
}

/// Whether writing `maps` needs the setuid helpers: more than the caller's own id, not root.
pub fn needs_helper(maps: &[IdMap]) -> bool {
    !rustix::process::geteuid().is_root() && maps.iter().map(|m| m.count as u64).sum::<u64>() > 1
}

/// Writes one map through newuidmap/newgidmap (`tool PID INSIDE OUTSIDE COUNT ...`),
/// forked and exec'd by hand: std's process spawning would add 30 KB to husk. The tool
/// prints its own reason on failure; husk adds which map it was writing.
pub fn write_with_helper(tool: &str, pid: i32, maps: &[IdMap]) -> Result<()> {
    let mut args = vec![pid.to_string()];
    for m in maps {
        args.extend([m.inside.to_string(), m.outside.to_string(), m.count.to_string()]);
    }
    if run_helper(tool, "uidmap", args)? {
        return Ok(());
    }
    Err(Error::msg(tool, format!("could not write the user namespace's map {}", map_text(maps))))
}

/// Runs `tool`, found in PATH (else an error naming Debian's `package`), with `args`
/// and an empty environment; whether it exited 0.
pub fn run_helper(tool: &str, package: &str, args: Vec<String>) -> Result<bool> {
    let path = helper(tool).ok_or_else(|| Error::msg(tool, format!("not found in PATH (package {package})")))?;
    let mut argv = vec![path.display().to_string()];
    argv.extend(args);
    let command = crate::exec::Command::new(&argv, &[])?;
    let pid = match husk_init::sys::clone_legacy(0).ctx("fork", tool)? {
        Forked::Child => {
            let (code, why) = command.exec();
            eprintln!("husk: {why}");
            husk_init::sys::exit_group(i32::from(code));
        }
        Forked::Parent { pid, .. } => pid,
    };
    let status = rustix::process::waitpid(Some(pid), WaitOptions::empty()).ctx("wait", tool)?;
    Ok(status.and_then(|(_, s)| s.exit_status()) == Some(0))
}

fn map_text(maps: &[IdMap]) -> String {
    let parts: Vec<String> = maps.iter().map(|m| format!("{} {} {}", m.inside, m.outside, m.count)).collect();
    parts.join(", ")
}

/// The caller's first range in a subordinate-id file, by name or number (as shadow's
/// helpers accept either): (first host id, count).
fn first_range(file: &str, name: &str, id: u32) -> Option<(u32, u32)> {
    let text = std::fs::read_to_string(file).ok()?;
    parse_range(&text, name, id)
}

fn parse_range(text: &str, name: &str, id: u32) -> Option<(u32, u32)> {
    text.lines().find_map(|line| {
        let mut f = line.trim_ascii().split(':');
        let (who, start, count) = (f.next()?, f.next()?.parse().ok()?, f.next()?.parse::<u32>().ok()?);
        ((who == name || who.parse() == Ok(id)) && count > 0).then_some((start, count))
    })
}

/// The caller's login name from the host's /etc/passwd (empty when it has none).
fn user_name(uid: u32) -> String {
    let text = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    text.lines()
        .find_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() > 2 && f[2].parse() == Ok(uid)).then(|| f[0].to_string())
        })
        .unwrap_or_default()
}

fn helper(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin:/usr/sbin:/sbin".into());
    std::env::split_paths(&path).map(|d| d.join(tool)).find(|p| p.is_file())
}

/// Says, in one line, why the container gets the single id.
fn say_single_id(why: &str) {
    eprintln!("husk: the user namespace maps only your own id ({why}); other users' files appear as nobody");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_are_found_by_name_or_number_and_empty_ones_skipped() {
        let text = "alice:100000:65536\n1001:165536:65536\nbob:231072:0\nbob:300000:10\n";
        assert_eq!(parse_range(text, "alice", 1000), Some((100000, 65536)));
        assert_eq!(parse_range(text, "carol", 1001), Some((165536, 65536)));
        assert_eq!(parse_range(text, "bob", 1002), Some((300000, 10)));
        assert_eq!(parse_range(text, "dave", 1003), None);
        assert_eq!(parse_range("garbage\n:::\n", "dave", 1003), None);
    }
}
