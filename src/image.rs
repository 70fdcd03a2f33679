//! The layers of a container's root, resolved by the launcher before the clone (P1): a
//! directory is used as it is, an image file gets a loop device. The child mounts them
//! inside its own mount namespace (rootfs.rs), so nothing is mounted on the host; as
//! root the launcher mounts an image's filesystem itself, detached (below).
//!
//! With a subordinate id range (`--userns` as root) the image's files, owned by ids 0..n
//! on disk, must appear as 0..n inside: the launcher then mounts each layer itself as a
//! detached mount (a clone of the directory, or the ext4 image through fsmount), gives it
//! the container's id map once the user namespace exists (P3, an idmapped mount), and the
//! child attaches the inherited descriptor where it would have mounted the layer. Such a
//! mount is never attached on the host: it lives in the child's mount namespace only.

use crate::error::{Context, Error, Result};
use crate::loopdev::{self, LoopDevice};
use crate::spec::{RootSource, RootWrite, Spec};
use rustix::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use rustix::mount::{FsMountFlags, FsOpenFlags, MountAttrFlags, OpenTreeFlags};
use std::path::{Path, PathBuf};

/// One layer as the child mounts it.
#[derive(Debug, Clone)]
pub enum Layer {
    Dir(PathBuf),
    /// A loop device holding an ext4 image; `clean` when its journal needs no recovery,
    /// so that a read-only mount may skip loading it.
    Device {
        path: String,
        clean: bool,
    },
    /// A layer the launcher mounted detached (see the module's note), by descriptor.
    Detached(RawFd),
}

/// The root's layers, bottom first (the root source, then each --layer), and the loop
/// devices that must stay attached until the container has mounted them.
pub struct Layers {
    pub layers: Vec<Layer>,
    /// The detached layers' mounts, until `idmap` has given them the container's ids
    /// (or, without an id map, until the child has its copies).
    detached: Vec<OwnedFd>,
    idmapped: bool,
    _devices: Vec<LoopDevice>,
}

impl Layers {
    /// Attaches the image layers and makes the persistent overlay directory, if any
    /// (the one thing of the root made on the host, as docker makes volume directories).
    pub fn attach(spec: &Spec) -> Result<Layers> {
        // Refused before anything exists: without idmapped mounts the range would see
        // every file of the image as nobody's.
        let idmapped = spec.idmapped_root();
        if idmapped && !husk_init::sys::have_mount_setattr() {
            return Err(Error::msg(
                "--userns with a subordinate range",
                "this kernel has no idmapped mounts (mount_setattr, Linux 5.12) to give the image's files to that range; run without --userns",
            ));
        }
        if let RootWrite::Persist(dir) = &spec.root.write {
            std::fs::create_dir_all(dir).ctx("create the overlay directory", dir.display())?;
        }
        let writable_image = spec.root.write == RootWrite::Direct;
        if let (RootWrite::Persist(dir), true) = (&spec.root.write, idmapped) {
            own_overlay_dirs(dir, spec)?;
        }
        let mut devices = Vec::new();
        let mut layers = Vec::new();
        let mut detached = Vec::new();
        let base = match &spec.root.source {
            RootSource::Dir(dir) => dir.as_path(),
            RootSource::Image(file) => file.as_path(),
        };
        let mut resolve = |path: &Path, writable: bool| -> Result<()> {
            let layer = if path.is_dir() {
                Layer::Dir(path.to_path_buf())
            } else {
                let dev = loopdev::attach(path, !writable)?;
                let layer = Layer::Device { path: dev.path.clone(), clean: dev.clean };
                devices.push(dev);
                layer
            };
            // As root the launcher mounts an image itself too: the child, born into its
            // cgroup, may not open the loop device under the device policy it inherits
            // (husk's shared default), and the launcher is not in that cgroup.
            if idmapped || (matches!(layer, Layer::Device { .. }) && crate::privilege::full()) {
                let fd = mount_detached(&layer, writable, path)?;
                layers.push(Layer::Detached(fd.as_raw_fd()));
                detached.push(fd);
            } else {
                layers.push(layer);
            }
            Ok(())
        };
        resolve(base, writable_image)?;
        for layer in &spec.root.layers {
            resolve(layer, false)?;
        }
        Ok(Layers { layers, detached, idmapped, _devices: devices })
    }

    /// P3, once the child's user namespace has its maps: gives every detached layer those
    /// maps, then closes the launcher's descriptors (the child holds its own copies).
    pub fn idmap(&mut self, pid: rustix::process::Pid) -> Result<()> {
        if self.detached.is_empty() || !self.idmapped {
            self.detached.clear();
            return Ok(());
        }
        let path = format!("/proc/{}/ns/user", pid.as_raw_nonzero());
        let userns = rustix::fs::open(&path, rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::CLOEXEC, 0.into())
            .ctx("open", &path)?;
        for fd in self.detached.drain(..) {
            husk_init::sys::mount_idmap(fd.as_fd(), userns.as_fd()).ctx("mount_setattr (idmap)", "root layer")?;
        }
        Ok(())
    }
}

/// A layer as a detached mount: a clone of the directory's mount at that directory, or
/// the image's ext4 filesystem (read-only, `noload` when its journal is clean, as the
/// child would mount it).
fn mount_detached(layer: &Layer, writable: bool, file: &Path) -> Result<OwnedFd> {
    let flags = OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC;
    match layer {
        Layer::Dir(dir) => rustix::mount::open_tree(rustix::fs::CWD, dir, flags).ctx("open_tree", dir.display()),
        Layer::Device { path, clean } => {
            let ctx = rustix::mount::fsopen("ext4", FsOpenFlags::FSOPEN_CLOEXEC).ctx("fsopen ext4", path)?;
            rustix::mount::fsconfig_set_string(&ctx, "source", path.as_str()).ctx("fsconfig source", path)?;
            if !writable {
                rustix::mount::fsconfig_set_flag(&ctx, "ro").ctx("fsconfig ro", path)?;
                if *clean {
                    rustix::mount::fsconfig_set_flag(&ctx, "noload").ctx("fsconfig noload", path)?;
                }
            }
            rustix::mount::fsconfig_create(&ctx).ctx(&format!("mount {path} (ext4) of image"), file.display())?;
            let attr = if writable { MountAttrFlags::empty() } else { MountAttrFlags::MOUNT_ATTR_RDONLY };
            rustix::mount::fsmount(&ctx, FsMountFlags::FSMOUNT_CLOEXEC, attr).ctx("fsmount", path)
        }
        Layer::Detached(_) => unreachable!("layers are resolved once"),
    }
}

/// A persistent overlay directory's upper and work directories belong to the
/// container's root, as the host sees it, so that the child can write them.
fn own_overlay_dirs(dir: &Path, spec: &Spec) -> Result<()> {
    let (uid, gid) = spec.root_host_ids();
    for sub in ["upper", "work"] {
        let path = dir.join(sub);
        std::fs::create_dir_all(&path).ctx("create the overlay directory", path.display())?;
        rustix::fs::chown(&path, Some(uid), Some(gid)).ctx("chown", path.display())?;
    }
    Ok(())
}
