//! The container's /dev: a small tmpfs holding the usual device nodes, a devpts of its
//! own, shm and mqueue. As real root the nodes are made with mknod (cheaper than a bind
//! mount each, to make and to tear down); in a user namespace, where mknod is refused,
//! they are bind mounts of the host's.

use crate::error::{Context, Result};
use crate::mounts;
use rustix::fs::{self, Mode, OFlags};
use rustix::mount::MountFlags;
use std::path::Path;

/// Name, major, minor (Documentation/admin-guide/devices.txt).
const NODES: [(&str, u32, u32); 6] =
    [("null", 1, 3), ("zero", 1, 5), ("full", 1, 7), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)];

const LINKS: [(&str, &str); 5] = [
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
];

/// Builds /dev under `dev` (an existing directory in the new root). `user_ns` says the
/// container has its own user namespace, in which gid 5 (tty) may not be mapped.
pub fn populate(dev: &Path, user_ns: bool) -> Result<()> {
    mounts::mount_fs("tmpfs", dev, MountFlags::NOSUID | MountFlags::STRICTATIME, "mode=755,size=65536k")?;
    // Root in a user namespace husk did not make (husk inside another container) gets
    // EPERM from mknod too: then every node is bound.
    let mut bind = user_ns;
    for (node, major, minor) in NODES {
        let target = dev.join(node);
        let rw = Mode::from(0o666);
        if !bind {
            match fs::mknodat(fs::CWD, &target, fs::FileType::CharacterDevice, rw, fs::makedev(major, minor)) {
                // Not left to the umask: every user in the container may use these.
                Ok(()) => {
                    fs::chmod(&target, rw).ctx("chmod", target.display())?;
                    continue;
                }
                Err(rustix::io::Errno::PERM) => bind = true,
                Err(e) => return Err(crate::error::Error::sys("mknod", target.display(), e)),
            }
        }
        fs::open(&target, OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC, rw).ctx("create", target.display())?;
        mounts::bind(&Path::new("/dev").join(node), &target, false)?;
    }
    for (name, to) in LINKS {
        let link = dev.join(name);
        fs::symlink(to, &link).ctx("symlink", link.display())?;
    }
    let pts = dev.join("pts");
    mkdir(&pts)?;
    let pts_opts =
        if user_ns { "newinstance,ptmxmode=0666,mode=0620" } else { "newinstance,ptmxmode=0666,mode=0620,gid=5" };
    mounts::mount_fs("devpts", &pts, MountFlags::NOSUID | MountFlags::NOEXEC, pts_opts)?;
    let shm = dev.join("shm");
    mkdir(&shm)?;
    mounts::mount_fs(
        "tmpfs",
        &shm,
        MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC,
        "mode=1777,size=65536k",
    )?;
    let mqueue = dev.join("mqueue");
    mkdir(&mqueue)?;
    mounts::mount_fs("mqueue", &mqueue, MountFlags::NOSUID | MountFlags::NODEV | MountFlags::NOEXEC, "")
}

fn mkdir(path: &Path) -> Result<()> {
    fs::mkdir(path, Mode::from(0o755)).ctx("mkdir", path.display())
}
