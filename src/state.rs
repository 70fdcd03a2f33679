//! Where husk keeps what it knows about containers: one directory per container under
//! the state root (/run/husk as root, $XDG_RUNTIME_DIR/husk otherwise, or --root). The
//! directory's creation is the name's reservation: mkdir is atomic, so two runs with the
//! same name cannot both win. It also holds the empty directory on which the container's
//! private staging tmpfs is mounted (inside the container's mount namespace only).

use crate::error::{Context, Error, Result};
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
    if let Some(dir) = std::env::var_os("HUSK_ROOT") {
        return PathBuf::from(dir);
    }
    if rustix::process::geteuid().is_root() {
        return PathBuf::from("/run/husk");
    }
    match std::env::var_os("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() => PathBuf::from(dir).join("husk"),
        _ => PathBuf::from(format!("/tmp/husk-{}", rustix::process::geteuid().as_raw())),
    }
}

/// A container's directory, removed (with what husk put in it) when dropped.
pub struct ContainerDir {
    pub path: PathBuf,
    keep: bool,
}

impl ContainerDir {
    /// Reserves `name`. Fails with "name already in use" when the directory exists.
    pub fn create(name: &str) -> Result<ContainerDir> {
        let root = root();
        mkdir_all(&root)?;
        let path = root.join(name);
        match rustix::fs::mkdir(&path, Mode::from(0o700)) {
            Ok(()) => {}
            Err(Errno::EXIST) => return Err(Error::msg(format!("container name {name:?}"), "name already in use")),
            Err(e) => return Err(Error::sys("mkdir", path.display(), e)),
        }
        let dir = ContainerDir { path, keep: false };
        let staging = dir.staging();
        rustix::fs::mkdir(&staging, Mode::from(0o700)).ctx("mkdir", staging.display())?;
        Ok(dir)
    }

    /// The mount point of the container's staging tmpfs.
    pub fn staging(&self) -> PathBuf {
        self.path.join("mnt")
    }

    /// Records the container init's host pid in `pid`, atomically (written beside, then
    /// renamed), for `--network container:NAME` and the lifecycle commands.
    pub fn write_pid(&self, pid: rustix::process::Pid) -> Result<()> {
        let tmp = self.path.join(".pid.tmp");
        let path = self.path.join("pid");
        std::fs::write(&tmp, format!("{}\n", pid.as_raw_nonzero())).ctx("write", tmp.display())?;
        std::fs::rename(&tmp, &path).ctx("rename", path.display())
    }

    /// Leaves the directory in place (a detached container's supervisor owns it).
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for ContainerDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

fn mkdir_all(path: &Path) -> Result<()> {
    std::fs::create_dir_all(path).ctx("create state directory", path.display())
}
