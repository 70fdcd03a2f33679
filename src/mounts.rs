//! Mount helpers used while building a container's root: every failure names the
//! mount and its target. Paths inside the new root are resolved with
//! openat2(RESOLVE_IN_ROOT) or its fallback (resolve.rs), so a symlink in the image
//! cannot send a mount outside it.

use crate::error::{Context, Result};
use rustix::fd::{AsFd, AsRawFd, OwnedFd};
use rustix::fs::{self, Mode, OFlags};
use rustix::io::Errno;
use rustix::mount::{self, MountFlags, MountPropagationFlags, UnmountFlags};
use std::path::{Path, PathBuf};

/// Cuts the new mount namespace off from the host's propagation, so nothing mounted
/// from here on appears outside (and host mounts stop appearing inside).
pub fn make_private() -> Result<()> {
    mount::mount_change("/", MountPropagationFlags::PRIVATE | MountPropagationFlags::REC)
        .ctx("make the mount tree private:", "/")
}

pub fn bind(source: &Path, target: &Path, recursive: bool) -> Result<()> {
    let result =
        if recursive { mount::mount_bind_recursive(source, target) } else { mount::mount_bind(source, target) };
    result.ctx(&format!("bind-mount {} on", source.display()), target.display())
}

/// Makes a bind mount read-only (see `remount_bind`).
pub fn remount_readonly(target: &Path) -> Result<()> {
    remount_bind(target, MountFlags::RDONLY)
}

/// Remounts a bind mount with `flags` (ro, nosuid, noatime...) added. The flags the
/// mount already has (nosuid, nodev, ...) are kept: inside a user namespace they are
/// locked and dropping one is EPERM; its atime flags too, unless `flags` sets one.
pub fn remount_bind(target: &Path, flags: MountFlags) -> Result<()> {
    let current = fs::statvfs(target).ctx("statvfs", target.display())?.f_flag;
    let atime = MountFlags::NOATIME | MountFlags::RELATIME | MountFlags::STRICTATIME;
    let mut flags = flags | MountFlags::BIND;
    for (st, ms) in [
        (fs::StatVfsMountFlags::RDONLY, MountFlags::RDONLY),
        (fs::StatVfsMountFlags::NOSUID, MountFlags::NOSUID),
        (fs::StatVfsMountFlags::NODEV, MountFlags::NODEV),
        (fs::StatVfsMountFlags::NOEXEC, MountFlags::NOEXEC),
        (fs::StatVfsMountFlags::NOATIME, MountFlags::NOATIME),
        (fs::StatVfsMountFlags::NODIRATIME, MountFlags::NODIRATIME),
        (fs::StatVfsMountFlags::RELATIME, MountFlags::RELATIME),
    ] {
        if current.contains(st) && !(atime.contains(ms) && flags.intersects(atime)) {
            flags |= ms;
        }
    }
    let what = if flags.contains(MountFlags::RDONLY) { "remount read-only" } else { "remount" };
    mount::mount_remount(target, flags, "").ctx(what, target.display())
}

/// Gives a mount (and the mounts below it) the propagation type `p`.
pub fn propagate(target: &Path, p: crate::spec::Propagation) -> Result<()> {
    use crate::spec::Propagation as P;
    let kind = match p {
        P::Private => MountPropagationFlags::PRIVATE,
        P::Shared => MountPropagationFlags::SHARED,
        P::Slave => MountPropagationFlags::DOWNSTREAM,
        P::Unbindable => MountPropagationFlags::UNBINDABLE,
    };
    mount::mount_change(target, kind | MountPropagationFlags::REC).ctx("change the propagation of", target.display())
}

pub fn detach(target: &Path) -> Result<()> {
    mount::unmount(target, UnmountFlags::DETACH).ctx("unmount", target.display())
}

/// What to create when a mount target is missing inside the root.
#[derive(Clone, Copy, PartialEq)]
pub enum Kind {
    Dir,
    File,
}

/// Opens (creating it and its parents if needed) `path` inside `root`, resolving every
/// component as if `root` were `/`. The result is an O_PATH descriptor whose
/// /proc/self/fd link can be used as a mount target.
pub fn open_in_root(root: &OwnedFd, path: &str, kind: Kind, root_name: &Path) -> Result<OwnedFd> {
    let rel = path.trim_start_matches('/');
    let display = || format!("{}{}", root_name.display(), path);
    match resolve(root, rel) {
        Ok(fd) => return Ok(fd),
        Err(Errno::NOENT) => {}
        Err(e) => return Err(crate::error::Error::sys("open", display(), e)),
    }
    // Create the missing components one by one, each resolved within the root.
    let mut done = String::new();
    let parts: Vec<&str> = rel.split('/').filter(|c| !c.is_empty() && *c != ".").collect();
    for (i, part) in parts.iter().enumerate() {
        let parent = if done.is_empty() { resolve(root, ".") } else { resolve(root, &done) }
            .ctx("open", format!("{}/{}", root_name.display(), done))?;
        let last = i + 1 == parts.len();
        let created = if last && kind == Kind::File {
            fs::openat(
                &parent,
                *part,
                OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC | OFlags::NOFOLLOW,
                Mode::from(0o644),
            )
            .map(drop)
        } else {
            fs::mkdirat(&parent, *part, Mode::from(0o755))
        };
        match created {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(crate::error::Error::sys("create", display(), e)),
        }
        if !done.is_empty() {
            done.push('/');
        }
        done.push_str(part);
    }
    resolve(root, rel).ctx("open", display())
}

fn resolve(root: &OwnedFd, rel: &str) -> rustix::io::Result<OwnedFd> {
    crate::resolve::open(root, rel, crate::resolve::How::InRoot)
}

/// The /proc/self/fd path of a descriptor, usable wherever the kernel wants a path.
pub fn fd_path(fd: &impl AsFd) -> String {
    format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd())
}

/// The absolute path of `path` with every symlink resolved: the kernel's name for it,
/// read back through /proc/self/fd (musl's realpath costs 1 KB of binary). `what` names
/// the flag in the error.
pub fn canonical(what: &str, path: &Path) -> Result<PathBuf> {
    let fd = fs::open(path, OFlags::PATH | OFlags::CLOEXEC, Mode::empty()).ctx(what, path.display())?;
    let name = fs::readlink(fd_path(&fd), Vec::new()).ctx(what, path.display())?;
    Ok(PathBuf::from(<std::ffi::OsString as std::os::unix::ffi::OsStringExt>::from_vec(name.into_bytes())))
}

pub fn open_dir(path: &Path) -> Result<OwnedFd> {
    fs::open(path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).ctx("open", path.display())
}
