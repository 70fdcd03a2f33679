//! The standard device nodes and links of a container's /dev (a tmpfs the spec mounts).
//! As real root the nodes are made with mknod (cheaper than a bind mount each, to make
//! and to tear down); in a user namespace, where mknod is refused, they are bind mounts
//! of the host's.

use crate::error::{Context, Result};
use crate::mounts;
use rustix::fd::OwnedFd;
use rustix::fs::{self, Mode, OFlags};
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

/// Fills the directory `dev` (named `shown` in errors). `bind` says the container has
/// its own user namespace, where mknod is refused.
pub fn populate(dev: &OwnedFd, shown: &Path, bind: bool) -> Result<()> {
    // Root in a user namespace husk did not make (husk inside another container) gets
    // EPERM from mknod too: then every node is bound.
    let mut bind = bind;
    let rw = Mode::from(0o666);
    for (node, major, minor) in NODES {
        let target = shown.join(node);
        if !bind {
            match fs::mknodat(dev, node, fs::FileType::CharacterDevice, rw, fs::makedev(major, minor)) {
                // Not left to the umask: every user in the container may use these.
                Ok(()) => {
                    fs::chmodat(dev, node, rw, fs::AtFlags::empty()).ctx("chmod", target.display())?;
                    continue;
                }
                Err(rustix::io::Errno::PERM) => bind = true,
                Err(e) => return Err(crate::error::Error::sys("mknod", target.display(), e)),
            }
        }
        fs::openat(dev, node, OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC, rw).ctx("create", target.display())?;
        let at = format!("{}/{node}", mounts::fd_path(dev));
        mounts::bind(&Path::new("/dev").join(node), Path::new(&at), false)?;
    }
    for (name, to) in LINKS {
        fs::symlinkat(to, dev, name).ctx("symlink", shown.join(name).display())?;
    }
    Ok(())
}

/// A node the spec asks for at `node.path` inside the root `root` (named `shown`):
/// mknod with the host's numbers and mode, or, where mknod is refused, a bind of the
/// host's node.
pub fn make_node(root: &OwnedFd, shown: &Path, node: &crate::spec::DeviceNode, bind: bool) -> Result<()> {
    let (dir, file) = node.path.rsplit_once('/').unwrap_or(("", &node.path));
    let parent = mounts::open_in_root(root, if dir.is_empty() { "/" } else { dir }, mounts::Kind::Dir, shown)?;
    let target = shown.join(node.path.trim_start_matches('/'));
    let kind = if node.kind == 'b' { fs::FileType::BlockDevice } else { fs::FileType::CharacterDevice };
    let mode = Mode::from(node.mode & 0o7777);
    if !bind {
        let mknod = || fs::mknodat(&parent, file, kind, mode, fs::makedev(node.major, node.minor));
        let made = match mknod() {
            // config.json may list a standard node (/dev/null) again, with its own mode:
            // the spec's node replaces the one `populate` made.
            Err(rustix::io::Errno::EXIST) => {
                fs::unlinkat(&parent, file, fs::AtFlags::empty()).ctx("replace", target.display())?;
                mknod()
            }
            other => other,
        };
        match made {
            Ok(()) => return fs::chmodat(&parent, file, mode, fs::AtFlags::empty()).ctx("chmod", target.display()),
            Err(rustix::io::Errno::PERM) => {}
            Err(e) => return Err(crate::error::Error::sys("mknod", target.display(), e)),
        }
    }
    fs::openat(&parent, file, OFlags::CREATE | OFlags::WRONLY | OFlags::CLOEXEC, mode)
        .ctx("create", target.display())?;
    let at = format!("{}/{file}", mounts::fd_path(&parent));
    mounts::bind(Path::new(&node.source), Path::new(&at), false)
}
