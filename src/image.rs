//! The layers of a container's root, resolved by the launcher before the clone (P1): a
//! directory is used as it is, an image file gets a loop device. The child mounts them
//! inside its own mount namespace (rootfs.rs), so nothing is mounted on the host.

use crate::error::{Context, Result};
use crate::loopdev::{self, LoopDevice};
use crate::spec::{DeviceRule, RootSource, RootWrite, Spec};
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
}

/// The root's layers, bottom first (the root source, then each --layer), and the loop
/// devices that must stay attached until the container has mounted them.
pub struct Layers {
    pub layers: Vec<Layer>,
    _devices: Vec<LoopDevice>,
}

impl Layers {
    /// The device rules the container's own mounts of these layers need under its
    /// device policy: read for each read-only layer, read and write for a root image
    /// written directly. Nothing else of the host's block devices is allowed.
    pub fn device_rules(&self, spec: &Spec) -> Result<Vec<DeviceRule>> {
        let mut rules = Vec::new();
        for (i, layer) in self.layers.iter().enumerate() {
            let Layer::Device { path, .. } = layer else { continue };
            let st = rustix::fs::stat(path.as_str()).ctx("stat", path)?;
            let writable = i == 0 && spec.root.write == RootWrite::Direct;
            rules.push(DeviceRule {
                allow: true,
                kind: 'b',
                major: Some(rustix::fs::major(st.st_rdev)),
                minor: Some(rustix::fs::minor(st.st_rdev)),
                access: if writable { 6 } else { 2 },
            });
        }
        Ok(rules)
    }

    /// Attaches the image layers and makes the persistent overlay directory, if any
    /// (the one thing of the root made on the host, as docker makes volume directories).
    pub fn attach(spec: &Spec) -> Result<Layers> {
        if let RootWrite::Persist(dir) = &spec.root.write {
            std::fs::create_dir_all(dir).ctx("create the overlay directory", dir.display())?;
        }
        let writable_image = spec.root.write == RootWrite::Direct;
        let mut devices = Vec::new();
        let mut layers = Vec::new();
        let base = match &spec.root.source {
            RootSource::Dir(dir) => dir.as_path(),
            RootSource::Image(file) => file.as_path(),
        };
        let mut resolve = |path: &Path, writable: bool| -> Result<()> {
            if path.is_dir() {
                layers.push(Layer::Dir(path.to_path_buf()));
            } else {
                let dev = loopdev::attach(path, !writable)?;
                layers.push(Layer::Device { path: dev.path.clone(), clean: dev.clean });
                devices.push(dev);
            }
            Ok(())
        };
        resolve(base, writable_image)?;
        for layer in &spec.root.layers {
            resolve(layer, false)?;
        }
        Ok(Layers { layers, _devices: devices })
    }
}
