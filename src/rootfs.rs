//! The container's root filesystem, built by the child inside its new mount namespace:
//! a private staging tmpfs, the root (a bind of the directory, or an overlay with the
//! directory as its lower layer), /proc, /sys, /dev, volumes and the /etc files, then
//! pivot_root. Every mount lives only in the container's mount namespace, so nothing is
//! ever mounted on the host and nothing can be left mounted when the container dies.

use crate::devices;
use crate::error::{Context, Error, Result};
use crate::etc_files::EtcFiles;
use crate::image::Layer;
use crate::mounts::{self, Kind};
use crate::spec::{RootWrite, Spec};
use rustix::fs::{self, Mode, OFlags, ResolveFlags};
use rustix::io::Errno;
use rustix::mount::MountFlags;
use std::path::{Path, PathBuf};

/// Builds the root under `staging` (an empty directory made for this container) and
/// pivots into it. On return the process's / is the container's root.
pub fn build(spec: &Spec, layers: &[Layer], staging: &Path, files: &EtcFiles) -> Result<()> {
    mounts::make_private()?;
    mounts::mount_fs("tmpfs", staging, MountFlags::NOSUID | MountFlags::NODEV, "mode=755")?;
    let root = staging.join("root");
    mkdir(&root)?;
    mount_root(spec, layers, staging, &root)?;
    let root_fd = mounts::open_dir(&root)?;

    let proc = real_dir(&root_fd, &root, "proc")?;
    mounts::mount_fs("proc", &proc, MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC, "")?;
    mount_sys(&real_dir(&root_fd, &root, "sys")?)?;
    devices::populate(&real_dir(&root_fd, &root, "dev")?, spec.namespaces.user)?;

    for m in &spec.mounts {
        let kind = if m.source.is_dir() { Kind::Dir } else { Kind::File };
        let target = mounts::open_in_root(&root_fd, &m.destination, kind, &root)?;
        mounts::bind(&m.source, Path::new(&mounts::fd_path(&target)), true)?;
        if m.readonly {
            // Re-resolve so the path names the new bind mount, not what it covers.
            let mounted = mounts::open_in_root(&root_fd, &m.destination, kind, &root)?;
            mounts::remount_readonly(Path::new(&mounts::fd_path(&mounted)))?;
        }
    }

    for (name, text) in [("hostname", &files.hostname), ("hosts", &files.hosts), ("resolv.conf", &files.resolv_conf)] {
        let staged = staging.join(name);
        std::fs::write(&staged, text).ctx("write", staged.display())?;
        let dest = format!("/etc/{name}");
        match mounts::open_in_root(&root_fd, &dest, Kind::File, &root) {
            Ok(target) => mounts::bind(&staged, Path::new(&mounts::fd_path(&target)), false)?,
            // A read-only root without the file, or a rootless container whose /etc belongs
            // to an unmapped owner: the container simply has none.
            Err(Error { errno: Some(Errno::ROFS | Errno::ACCESS | Errno::PERM), .. }) => {}
            Err(e) => return Err(e),
        }
    }
    drop(root_fd);
    pivot(&root)
}

/// The root: the base layer alone when written directly (--rootfs-rw, --rw-image),
/// otherwise an overlay of every layer (top first in lowerdir) under an upper directory
/// in the staging tmpfs (--persist: in the given directory).
fn mount_root(spec: &Spec, layers: &[Layer], staging: &Path, root: &Path) -> Result<()> {
    let direct = spec.root.write == RootWrite::Direct;
    if direct {
        return match &layers[0] {
            Layer::Dir(dir) => mounts::bind(dir, root, true),
            Layer::Device { path, .. } => mount_ext4(path, root, false, false),
        };
    }
    let mut lower = Vec::new();
    for (i, layer) in layers.iter().enumerate() {
        match layer {
            Layer::Dir(dir) => lower.push(dir.clone()),
            Layer::Device { path: dev, clean } => {
                let at = staging.join(format!("layer{i}"));
                mkdir(&at)?;
                mount_ext4(dev, &at, true, *clean)?;
                lower.push(at);
            }
        }
    }
    let (upper, work) = match &spec.root.write {
        RootWrite::Persist(dir) => (dir.join("upper"), dir.join("work")),
        _ => (staging.join("upper"), staging.join("work")),
    };
    for d in [&upper, &work] {
        match fs::mkdir(d, Mode::from(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(Error::sys("mkdir", d.display(), e)),
        }
    }
    let lower: Vec<String> = lower.iter().rev().map(|p| escape(p)).collect();
    let mut data = format!("lowerdir={},upperdir={},workdir={}", lower.join(":"), escape(&upper), escape(&work));
    if spec.namespaces.user {
        // Inside a user namespace overlay keeps its whiteouts in user.* xattrs.
        data.push_str(",userxattr");
    }
    mounts::mount_fs("overlay", root, MountFlags::empty(), &data)
}

/// A read-only layer whose journal is clean is mounted without loading the journal
/// (`noload`): nothing would be replayed, and loading it is a tenth of the mount's time.
fn mount_ext4(dev: &str, target: &Path, readonly: bool, clean: bool) -> Result<()> {
    let flags = if readonly { MountFlags::RDONLY } else { MountFlags::empty() };
    let data = (readonly && clean).then_some(c"noload");
    rustix::mount::mount(dev, target, "ext4", flags, data).ctx(&format!("mount {dev} (ext4) on"), target.display())
}

/// Overlay options are split on ',' and lowerdir on ':'; both may be escaped.
fn escape(path: &Path) -> String {
    let mut out = String::new();
    for c in path.to_string_lossy().chars() {
        if matches!(c, ',' | ':' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// /sys read-only. A new sysfs needs the network namespace to belong to the container's
/// user namespace; when it does not (host network in a user namespace) the host's /sys
/// is bound read-only instead.
fn mount_sys(target: &Path) -> Result<()> {
    let flags = MountFlags::RDONLY | MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC;
    match mounts::mount_fs("sysfs", target, flags, "") {
        Err(Error { errno: Some(Errno::PERM), .. }) => {
            mounts::bind(Path::new("/sys"), target, true)?;
            mounts::remount_readonly(target)
        }
        other => other,
    }
}

/// A top-level directory of the root (proc, sys, dev), created if the image lacks it.
/// It must be a real directory: a symlink there could point a mount outside the root.
fn real_dir(root_fd: &rustix::fd::OwnedFd, root: &Path, name: &str) -> Result<PathBuf> {
    let path = root.join(name);
    match fs::mkdirat(root_fd, name, Mode::from(0o755)) {
        Ok(()) | Err(Errno::EXIST) => {}
        Err(e) => return Err(Error::sys("mkdir", path.display(), e)),
    }
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    fs::openat2(root_fd, name, flags, Mode::empty(), ResolveFlags::NO_SYMLINKS)
        .ctx("open (must be a directory, not a symlink)", path.display())?;
    Ok(path)
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

fn mkdir(path: &Path) -> Result<()> {
    fs::mkdir(path, Mode::from(0o755)).ctx("mkdir", path.display())
}
