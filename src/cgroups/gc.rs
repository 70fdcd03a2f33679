//! Cgroups left behind by a launcher that died without tearing them down (SIGKILL, a
//! crash): found at the next `husk run` (and by `husk gc`) and removed.
//!
//! A cgroup is husk's to collect when its lock is free (its launcher is gone: the
//! shared flock dies with the last descriptor) and either its container's state
//! directory is gone or no process lives in it.

use super::detect::Layout;
use super::{PARENT, RECORD, procs, remove, subtree, v1, v2};
use rustix::fd::OwnedFd;
use rustix::fs::{FlockOperation, Mode, OFlags};
use std::path::Path;

/// Removes orphaned husk cgroups; returns how many went.
pub fn collect_garbage() -> usize {
    let layout = Layout::read();
    let root = crate::state::root();
    let mut removed = 0;
    for h in layout.v1.iter().chain(layout.unified.iter()) {
        let parent = h.current.join(PARENT);
        let Some(parent_fd) = open(&parent) else { continue };
        // Excludes creators, which hold it shared between mkdir and locking their cgroup.
        if rustix::fs::flock(&parent_fd, FlockOperation::LockExclusive).is_err() {
            continue;
        }
        let Ok(entries) = std::fs::read_dir(&parent) else { continue };
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let path = entry.path();
            let name = entry.file_name();
            let gone = !root.join(&name).is_dir();
            if collect(&path, gone, h.controllers.is_empty(), h.has("freezer")) {
                removed += 1;
            }
        }
    }
    // Cgroups under a --cgroup-parent are found through the state directories' records.
    if let Ok(entries) = std::fs::read_dir(&root) {
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path().join(RECORD)).unwrap_or_default();
            for line in text.lines().filter(|l| !l.is_empty()) {
                let path = Path::new(line);
                let unified = rustix::fs::statfs(path).is_ok_and(|s| s.f_type == CGROUP2_MAGIC);
                // Creators hold the parent shared from before mkdir until their own lock
                // is taken: with it exclusive, an unlocked child is truly orphaned.
                let Some(parent_fd) = path.parent().and_then(open) else { continue };
                if rustix::fs::flock(&parent_fd, FlockOperation::LockExclusive).is_err() {
                    continue;
                }
                if path.is_dir() && collect(path, false, unified, path.join("freezer.state").exists()) {
                    removed += 1;
                }
            }
        }
    }
    removed
}

const CGROUP2_MAGIC: i64 = linux_raw_sys::general::CGROUP2_SUPER_MAGIC as i64;

/// Collects one cgroup if it is unlocked and orphaned.
fn collect(path: &Path, state_gone: bool, unified: bool, freezer: bool) -> bool {
    let Some(fd) = open(path) else { return false };
    if rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive).is_err() {
        return false;
    }
    if !state_gone && !procs(path).is_empty() {
        return false;
    }
    if unified {
        v2::kill_all(path);
    } else {
        v1::kill_all(&[path], freezer.then_some(path));
    }
    drop(fd);
    for sub in subtree(path) {
        remove(&sub);
    }
    !path.exists()
}

fn open(path: &Path) -> Option<OwnedFd> {
    rustix::fs::open(path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).ok()
}
