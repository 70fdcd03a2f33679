//! The state root: where every container's entry lives. --root, $HUSK_ROOT, or a
//! default chosen once per process (/run/husk as root, $XDG_RUNTIME_DIR/husk otherwise),
//! falling back to /dev/shm or $TMPDIR when that cannot be written.

use rustix::fs::Mode;
use rustix::io::Errno;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

static ROOT_OVERRIDE: OnceLock<PathBuf> = OnceLock::new();

/// Set by the global --root option before any command runs.
pub fn set_root(dir: PathBuf) {
    let _ = ROOT_OVERRIDE.set(dir);
}

pub fn root() -> PathBuf {
    if let Some(dir) = ROOT_OVERRIDE.get() {
        return dir.clone();
    }
    if let Some(dir) = std::env::var_os("HUSK_ROOT").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    static CHOSEN: OnceLock<PathBuf> = OnceLock::new();
    CHOSEN.get_or_init(choose_root).clone()
}

/// The default state root: /run/husk as root ($XDG_RUNTIME_DIR/husk, else /tmp/husk-UID,
/// otherwise), /dev/shm/husk as root where /run is on a disk. Where that cannot be made
/// (a read-only /run), the first of /dev/shm and $TMPDIR (or /tmp) that can, as
/// husk[-UID] there: the first such run says where.
/// Every command makes the same choice, so `ps` finds what `run` made.
fn choose_root() -> PathBuf {
    let uid = rustix::process::geteuid();
    let primary = if uid.is_root() {
        PathBuf::from("/run/husk")
    } else {
        match std::env::var_os("XDG_RUNTIME_DIR") {
            Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("husk"),
            _ => PathBuf::from(format!("/tmp/husk-{}", uid.as_raw())),
        }
    };
    let leaf = if uid.is_root() { "husk".to_string() } else { format!("husk-{}", uid.as_raw()) };
    // State is runtime-only and belongs in memory, as /run is on a systemd host. Where
    // /run is on a disk (some VMs, a job container's own root) every container's entry
    // made and removed there costs journal work and, on a disk mounted with discard,
    // a discard: about 0.7 ms of each start here. /dev/shm is then used instead (the
    // same choice every time: it depends on the file systems, not on what exists).
    if uid.is_root() && !in_memory("/run") && in_memory("/dev/shm") {
        let dir = PathBuf::from("/dev/shm").join(&leaf);
        let existed = dir.is_dir();
        if usable(&dir, true) {
            if !existed {
                eprintln!("husk: /run is not in memory; keeping container state in {}", dir.display());
            }
            return dir;
        }
    }
    if usable(&primary, false) {
        return primary;
    }
    let tmp = std::env::var_os("TMPDIR").filter(|d| !d.is_empty()).unwrap_or_else(|| "/tmp".into());
    for base in [PathBuf::from("/dev/shm"), PathBuf::from(tmp)] {
        let dir = base.join(&leaf);
        let existed = dir.is_dir();
        if usable(&dir, true) {
            if !existed {
                eprintln!(
                    "husk: {} cannot be written; keeping container state in {}",
                    primary.display(),
                    dir.display()
                );
            }
            return dir;
        }
    }
    primary
}

/// Whether `path` is on a memory file system (tmpfs or ramfs).
fn in_memory(path: &str) -> bool {
    use linux_raw_sys::general::{RAMFS_MAGIC, TMPFS_MAGIC};
    rustix::fs::statfs(path)
        .is_ok_and(|s| s.f_type as u64 == u64::from(TMPFS_MAGIC) || s.f_type as u64 == u64::from(RAMFS_MAGIC))
}

/// Whether `dir` is (or can be made) a writable state root. `shared`: it lies in a
/// directory everyone may write (/dev/shm, /tmp), so it must be ours and only ours.
fn usable(dir: &Path, shared: bool) -> bool {
    // 0755: a user-namespace container's root (a subordinate id) must be able to pass
    // through to its own staging directory; only we may write.
    match rustix::fs::mkdir(dir, Mode::from(0o755)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(_) => return false,
    }
    let Ok(st) = rustix::fs::lstat(dir) else { return false };
    let mode = Mode::from_raw_mode(st.st_mode);
    let is_dir = rustix::fs::FileType::from_raw_mode(st.st_mode) == rustix::fs::FileType::Directory;
    let ours = st.st_uid == rustix::process::geteuid().as_raw() && !mode.intersects(Mode::WGRP | Mode::WOTH);
    is_dir && (ours || !shared) && rustix::fs::access(dir, rustix::fs::Access::WRITE_OK).is_ok()
}
