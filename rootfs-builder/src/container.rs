//! A running husk container, as `export`, `cp` and `commit` see it: what `husk inspect`
//! says of it (its init's pid, its root, command and environment), its root directory
//! through /proc/PID/root, the mount points inside it (whose contents are not the
//! container's files), and its user namespace's id map. Paths inside it are resolved
//! with openat2's RESOLVE_IN_ROOT, so a symlink in the container cannot lead outside.

use std::collections::HashSet;
use std::path::PathBuf;
use std::process::Command;

use rustix::fd::OwnedFd;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use serde_json::Value;

use crate::error::{Context, Error, Result};

pub struct Container {
    pub name: String,
    /// The container's saved spec (process.args, env, cwd, root.path, ...).
    pub spec: Value,
    /// The root directory, opened through /proc/PID/root.
    pub root: OwnedFd,
    /// Mount points below the root, as paths inside it without the leading '/'.
    pub mounts: HashSet<Vec<u8>>,
    /// (inside, outside, count) ranges of the user namespace's uid and gid maps.
    pub uid_map: Vec<(u32, u32, u32)>,
    pub gid_map: Vec<(u32, u32, u32)>,
}

/// The husk that ran this program: the one beside it (husk looks for rootfs-builder in
/// its own directory first), else husk on PATH.
pub fn husk() -> PathBuf {
    let beside = std::env::current_exe().ok().and_then(|p| Some(p.parent()?.join("husk")));
    beside.filter(|p| p.is_file()).unwrap_or_else(|| "husk".into())
}

/// Runs `husk ARGS`; its stdout when it succeeds.
pub fn run_husk(args: &[&str]) -> Result<String> {
    let out = Command::new(husk()).args(args).output().ctx(|| format!("running '{} {}'", husk().display(), args[0]))?;
    if !out.status.success() {
        let why = String::from_utf8_lossy(&out.stderr);
        let why = why.trim().trim_start_matches("husk: ");
        return Err(Error::new(args.join(" "), why.to_string()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn read_map(pid: u32, which: &str) -> Vec<(u32, u32, u32)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/{which}")).unwrap_or_default();
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace().map(|w| w.parse::<u32>().ok());
            Some((it.next()??, it.next()??, it.next()??))
        })
        .collect()
}

/// `\040`-style escapes of /proc/PID/mountinfo, undone.
fn unescape(field: &str) -> Vec<u8> {
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(u8::is_ascii_digit) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

impl Container {
    /// The running container `name`.
    pub fn find(name: &str) -> Result<Container> {
        let text = run_husk(&["inspect", "--raw", name])?;
        let state =
            crate::oci::parse_json(text.lines().next().unwrap_or_default().as_bytes(), "husk inspect's answer")?;
        let state = if state.is_array() { state[0].clone() } else { state };
        let pid = state["pid"].as_u64().unwrap_or(0) as u32;
        if state["status"] != "running" || pid == 0 {
            let status = state["status"].as_str().unwrap_or("not running").to_string();
            return Err(Error::new(
                format!("container {name}"),
                format!("is {status}: its root exists only while it runs (a stopped container's overlay is gone)"),
            ));
        }
        let root_path = format!("/proc/{pid}/root");
        let root = rustix::fs::open(&root_path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
            .ctx(|| format!("opening {root_path}"))?;
        let info = std::fs::read_to_string(format!("/proc/{pid}/mountinfo")).unwrap_or_default();
        let mounts = info
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .map(|m| unescape(m.trim_start_matches('/')))
            .filter(|m| !m.is_empty())
            .collect();
        Ok(Container {
            name: name.to_string(),
            spec: state["spec"].clone(),
            root,
            mounts,
            uid_map: read_map(pid, "uid_map"),
            gid_map: read_map(pid, "gid_map"),
        })
    }

    /// `path` inside the container, resolved there (symlinks included, except the last
    /// component's unless `follow`), as an O_PATH descriptor.
    pub fn resolve(&self, path: &str, follow: bool) -> Result<OwnedFd> {
        let rel = path.trim_start_matches('/');
        let rel = if rel.is_empty() { "." } else { rel };
        let mut flags = OFlags::PATH | OFlags::CLOEXEC;
        if !follow {
            flags |= OFlags::NOFOLLOW;
        }
        rustix::fs::openat2(&self.root, rel, flags, Mode::empty(), ResolveFlags::IN_ROOT)
            .ctx(|| format!("{}:{path}", self.name))
    }

    /// Freezes the container for the walk through its files (`husk pause`); resumed
    /// when the guard goes.
    pub fn pause(&self) -> Paused<'_> {
        Paused { name: &self.name, paused: run_husk(&["pause", &self.name]).is_ok() }
    }
}

/// An id through a user namespace's map: a host id as the container sees it
/// (`to_inside`), or the other way. No map (no user namespace): the id as it is.
pub fn map(map: &[(u32, u32, u32)], id: u32, to_inside: bool) -> u32 {
    for &(inside, outside, count) in map {
        let (from, to) = if to_inside { (outside, inside) } else { (inside, outside) };
        if id >= from && id - from < count {
            return to + (id - from);
        }
    }
    // Unmapped: the overflow id, as the kernel shows it.
    if map.is_empty() { id } else { 65534 }
}

pub struct Paused<'a> {
    name: &'a str,
    paused: bool,
}

impl Drop for Paused<'_> {
    fn drop(&mut self) {
        if self.paused {
            let _ = run_husk(&["resume", self.name]);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(super::unescape(r"a\040b\134c"), b"a b\\c");
        assert_eq!(super::unescape(r"tail\04"), br"tail\04");
    }
}
