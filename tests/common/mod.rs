//! Helpers shared by the integration tests: an Alpine root filesystem, a private state
//! root, and the husk binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub const HUSK: &str = env!("CARGO_BIN_EXE_husk");

/// A fresh directory under the system temp dir, unique per call.
pub fn temp_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("husk-test-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The Alpine minirootfs, extracted once per test binary; None (after a loud SKIPPED
/// line) when the tarball is missing.
pub fn alpine_rootfs(test: &str) -> Option<PathBuf> {
    static ROOTFS: OnceLock<Option<PathBuf>> = OnceLock::new();
    let rootfs = ROOTFS.get_or_init(|| {
        let tarball = std::env::var_os("HUSK_ALPINE_TARBALL").map(PathBuf::from).unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/images/alpine-minirootfs-3.20.3-x86_64.tar.gz")
        });
        if !tarball.exists() {
            return None;
        }
        let dir = temp_dir("alpine");
        let ok = Command::new("tar").arg("xzf").arg(&tarball).arg("-C").arg(&dir).status().is_ok_and(|s| s.success());
        ok.then_some(dir)
    });
    if rootfs.is_none() {
        eprintln!("SKIPPED: {test}: no Alpine tarball (set HUSK_ALPINE_TARBALL)");
    }
    rootfs.clone()
}

/// `husk run --rootfs ROOTFS` with its own state root.
pub fn husk_run(state_root: &Path, rootfs: &Path) -> Command {
    let mut cmd = Command::new(HUSK);
    cmd.env("HUSK_ROOT", state_root).arg("run").arg("--rootfs").arg(rootfs);
    cmd
}

pub fn is_root() -> bool {
    rustix::process::geteuid().is_root()
}
