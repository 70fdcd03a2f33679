//! The container's root filesystem, built by the child inside its new mount namespace.
//! `plan.rs` turns the spec into a list of operations (a private staging tmpfs, the root,
//! /proc, /sys, /dev, volumes, the /etc files, masks, then pivot_root); this module
//! carries them out. Every mount lives only in the container's mount namespace, so
//! nothing is ever mounted on the host and nothing can be left mounted when it dies.

mod cgroupfs;
mod devices;
mod plan;

pub use plan::{Op, plan};

use crate::error::{Context, Error, Result};
use crate::mounts::{self, Kind};
use crate::spec::MountKind;
use rustix::fd::OwnedFd;
use rustix::fs::{self, Mode};
use rustix::io::Errno;
use rustix::mount::{MountFlags, MoveMountFlags};
use std::path::{Path, PathBuf};

/// Carries out `ops` in order. On return the process's / is the container's root.
pub fn execute(ops: &[Op]) -> Result<()> {
    let mut root: Option<(PathBuf, OwnedFd)> = None;
    // The first masked directory's empty tmpfs, bound over the others (one superblock).
    let mut empty: Option<OwnedFd> = None;
    for op in ops {
        match op {
            Op::MakePrivate => mounts::make_private()?,
            Op::MakeSlave => mounts::propagate(Path::new("/"), crate::spec::Propagation::Slave)?,
            Op::RootPropagation(p) => mounts::propagate(Path::new("/"), *p)?,
            Op::MountAt { fstype, source, target, flags, data } => mount(fstype, source, target, *flags, data, target)?,
            Op::Mkdir(path) => match fs::mkdir(path, Mode::from(0o755)) {
                Ok(()) | Err(Errno::EXIST) => {}
                Err(e) => return Err(Error::sys("mkdir", path.display(), e)),
            },
            Op::BindAt { source, target } => mounts::bind(source, target, true)?,
            Op::Attach { fd, target } => attach(*fd, target)?,
            Op::OpenRoot(path) => root = Some((path.clone(), mounts::open_dir(path)?)),
            Op::Pivot(path) => {
                root = None;
                pivot(path)?;
            }
            _ => {
                let Some((name, fd)) = &root else {
                    return Err(Error::msg("root filesystem plan", "a mount inside the root comes before the root"));
                };
                in_root(op, fd, name, &mut empty)?;
            }
        }
    }
    Ok(())
}

/// The operations whose targets are resolved inside the root.
fn in_root(op: &Op, root: &OwnedFd, name: &Path, empty: &mut Option<OwnedFd>) -> Result<()> {
    match op {
        Op::Mount { kind, source, destination, flags, data, propagation } => {
            let target = if matches!(kind, MountKind::Proc | MountKind::Sysfs) {
                real_dir(root, name, destination)?
            } else {
                mounts::open_in_root(root, destination, Kind::Dir, name)?
            };
            let at = PathBuf::from(mounts::fd_path(&target));
            let shown = name.join(destination.trim_start_matches('/'));
            match mount(kind.fstype(), source, &at, *flags, data, &shown) {
                // A new sysfs needs the network namespace to belong to the container's
                // user namespace; when it does not (host network in a user namespace)
                // the host's /sys is bound read-only instead.
                Err(Error { errno: Some(Errno::PERM), .. }) if *kind == MountKind::Sysfs => {
                    mounts::bind(Path::new("/sys"), &at, true)?;
                    mounts::remount_readonly(Path::new(&mounts::fd_path(&reopen(root, destination, name)?)))
                }
                other => other,
            }?;
            propagate(root, destination, name, *propagation)
        }
        Op::Bind { source, destination, recursive, flags, propagation } => {
            let kind = if source.is_dir() { Kind::Dir } else { Kind::File };
            let target = mounts::open_in_root(root, destination, kind, name)?;
            mounts::bind(source, Path::new(&mounts::fd_path(&target)), *recursive)?;
            if !flags.is_empty() {
                // Re-resolve so the path names the new bind mount, not what it covers.
                mounts::remount_bind(Path::new(&mounts::fd_path(&reopen_as(root, destination, name, kind)?)), *flags)?;
            }
            propagate(root, destination, name, *propagation)
        }
        Op::Sysctl { key, value } => {
            let rel = format!("proc/sys/{}", key.replace('.', "/"));
            let shown = || format!("sysctl {key} ({}/{rel})", name.display());
            let at = crate::resolve::open(root, &rel, crate::resolve::How::InRoot).ctx("open", shown())?;
            std::fs::write(mounts::fd_path(&at), value)
                .map_err(|e| Error::sys("write", shown(), Errno::from_raw_os_error(e.raw_os_error().unwrap_or(5))))
        }
        Op::DeviceNodes { destination, bind } => {
            let dev = mounts::open_in_root(root, destination, Kind::Dir, name)?;
            devices::populate(&dev, &name.join(destination.trim_start_matches('/')), *bind)
        }
        Op::Node { node, bind } => devices::make_node(root, name, node, *bind),
        Op::EtcFile { staged, text, destination } => {
            if let Some(text) = text {
                std::fs::write(staged, text).ctx("write", staged.display())?;
            }
            match mounts::open_in_root(root, destination, Kind::File, name) {
                Ok(target) => mounts::bind(staged, Path::new(&mounts::fd_path(&target)), false),
                // A read-only root without the file, or a rootless container whose /etc
                // belongs to an unmapped owner: the container simply has none.
                Err(Error { errno: Some(Errno::ROFS | Errno::ACCESS | Errno::PERM), .. }) => Ok(()),
                Err(e) => Err(e),
            }
        }
        Op::Cgroups { destination, view, readonly } => {
            cgroupfs::mount_cgroups(root, name, destination, view, *readonly)
        }
        Op::Mask(path) => {
            let Some(target) = existing(root, path, name)? else { return Ok(()) };
            let at = PathBuf::from(mounts::fd_path(&target));
            if at.is_dir() {
                if let Some(e) = empty {
                    // A bind keeps the mount's flags: read-only, nosuid, nodev, noexec.
                    return mounts::bind(Path::new(&mounts::fd_path(e)), &at, false);
                }
                let flags = MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
                mount("tmpfs", "tmpfs", &at, flags, "size=0,mode=555", &name.join(path.trim_start_matches('/')))?;
                *empty = Some(reopen(root, path, name)?);
                Ok(())
            } else {
                mounts::bind(Path::new("/dev/null"), &at, false)
            }
        }
        Op::ReadOnly(path) => {
            let Some(target) = existing(root, path, name)? else { return Ok(()) };
            mounts::bind(Path::new(&mounts::fd_path(&target)), Path::new(&mounts::fd_path(&target)), true)?;
            mounts::remount_readonly(Path::new(&mounts::fd_path(&reopen(root, path, name)?)))
        }
        Op::ReadOnlyRoot => mounts::remount_readonly(name),
        _ => Ok(()),
    }
}

/// mount(2); errors name `shown`, the path as the user knows it, not the descriptor path
/// the mount went through.
fn mount(fstype: &str, source: &str, target: &Path, flags: MountFlags, data: &str, shown: &Path) -> Result<()> {
    let data = std::ffi::CString::new(data).map_err(|_| Error::msg(format!("mount {fstype} data"), "holds NUL"))?;
    match rustix::mount::mount(source, target, fstype, flags, Some(data.as_c_str())) {
        // Before 5.11 overlay cannot be mounted in a user namespace: EPERM, or EINVAL for
        // the userxattr option (5.11 too). Say so, with what works instead.
        Err(Errno::PERM | Errno::INVAL) if fstype == "overlay" && data.to_bytes().ends_with(b",userxattr") => {
            Err(Error::msg(
                "overlay in a user namespace",
                "this kernel cannot mount one (Linux 5.11 or later can); use --rootfs-rw, or run as root without --userns",
            ))
        }
        // The filesystem's own options (config.json passes unknown ones through, as
        // runc does): name them, since the kernel's EINVAL does not say which.
        Err(Errno::INVAL) if !data.is_empty() => {
            let mut e = Error::sys(mount_what(fstype, source), shown.display(), Errno::INVAL);
            e.why = Some(format!("the options \"{}\" are refused", data.to_string_lossy()));
            Err(e)
        }
        other => other.ctx(&mount_what(fstype, source), shown.display()),
    }
}

/// move_mount of an inherited detached mount onto `target`.
fn attach(fd: i32, target: &Path) -> Result<()> {
    // The launcher opened it before the clone: this process holds its own copy.
    let mount = husk_init::sys::inherited(fd);
    rustix::mount::move_mount(mount, "", rustix::fs::CWD, target, MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH)
        .ctx("move_mount (layer)", target.display())
}

fn mount_what(fstype: &str, source: &str) -> String {
    if fstype == "ext4" { format!("mount {source} (ext4) on") } else { format!("mount {fstype} on") }
}

fn reopen(root: &OwnedFd, path: &str, name: &Path) -> Result<OwnedFd> {
    reopen_as(root, path, name, Kind::Dir)
}

fn reopen_as(root: &OwnedFd, path: &str, name: &Path, kind: Kind) -> Result<OwnedFd> {
    mounts::open_in_root(root, path, kind, name)
}

/// A mount's own propagation, when it asks for one: the tree is private already.
fn propagate(root: &OwnedFd, path: &str, name: &Path, p: Option<crate::spec::Propagation>) -> Result<()> {
    match p {
        None | Some(crate::spec::Propagation::Private) => Ok(()),
        Some(p) => mounts::propagate(Path::new(&mounts::fd_path(&reopen_as(root, path, name, Kind::File)?)), p),
    }
}

/// A path inside the root if it exists: masks and read-only paths skip missing ones.
fn existing(root: &OwnedFd, path: &str, name: &Path) -> Result<Option<OwnedFd>> {
    let rel = path.trim_start_matches('/');
    match crate::resolve::open(root, rel, crate::resolve::How::InRoot) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::NOENT | Errno::NOTDIR) => Ok(None),
        Err(e) => Err(Error::sys("open", format!("{}{path}", name.display()), e)),
    }
}

/// A directory of the root (proc, sys), created if the image lacks it. It must be a
/// real directory all the way: a symlink there could redirect the mount.
fn real_dir(root: &OwnedFd, name: &Path, path: &str) -> Result<OwnedFd> {
    let rel = path.trim_matches('/');
    let shown = || name.join(rel).display().to_string();
    if !rel.contains('/') {
        match fs::mkdirat(root, rel, Mode::from(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(Error::sys("mkdir", shown(), e)),
        }
    }
    crate::resolve::open(root, rel, crate::resolve::How::DirBeneath)
        .ctx("open (must be a directory, not a symlink)", shown())
}

/// pivot_root into `root` and detach the old root. pivot_root fails with EINVAL when /
/// is the initramfs (husk as PID 1 of a VM); then the root is moved over / and
/// chrooted into instead, which is what runc's --no-pivot does.
fn pivot(root: &Path) -> Result<()> {
    rustix::process::chdir(root).ctx("chdir", root.display())?;
    match rustix::process::pivot_root(".", ".") {
        Ok(()) => {
            mounts::detach(Path::new("."))?;
        }
        Err(Errno::INVAL) => {
            rustix::mount::mount_move(".", "/").ctx("move the new root over", "/")?;
            rustix::process::chroot(".").ctx("chroot", root.display())?;
        }
        Err(e) => return Err(Error::sys("pivot_root into", root.display(), e)),
    }
    rustix::process::chdir("/").ctx("chdir", "/")
}
