//! Paths inside a container's root, resolved as if that root were `/`: openat2 with
//! RESOLVE_IN_ROOT (or RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS) where the kernel has it
//! (Linux 5.6), else the same rules applied by hand, one component at a time.
//!
//! The walk never lets the kernel resolve more than one name: each component is opened
//! O_PATH | O_NOFOLLOW relative to the directory reached so far, a symlink is read and
//! its target walked the same way (an absolute target restarts at the root), and `..`
//! returns to the directory the walk came from, kept on its own stack, never above the
//! root. A directory renamed out of the root while the walk holds it is the one case
//! that rule cannot see, so the result's path (/proc/self/fd) is checked to still lie
//! under the root's: EXDEV otherwise, as openat2 refuses an escape.

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{self, FileType, Mode, OFlags, ResolveFlags};
use rustix::io::{Errno, Result};

/// How a path may be resolved.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum How {
    /// Symlinks followed, absolute ones and `..` clamped to the root (RESOLVE_IN_ROOT).
    InRoot,
    /// No symlink anywhere, no `..` above the root, and a directory at the end
    /// (RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS with O_DIRECTORY | O_NOFOLLOW).
    DirBeneath,
}

/// The kernel's limit on symlinks followed in one resolution (ELOOP beyond it).
const MAX_SYMLINKS: usize = 40;

/// An O_PATH descriptor of `rel` inside `root`.
pub fn open(root: &OwnedFd, rel: &str, how: How) -> Result<OwnedFd> {
    let (flags, resolve) = match how {
        How::InRoot => (OFlags::empty(), ResolveFlags::IN_ROOT),
        How::DirBeneath => (OFlags::DIRECTORY | OFlags::NOFOLLOW, ResolveFlags::NO_SYMLINKS | ResolveFlags::BENEATH),
    };
    let path = if rel.is_empty() { "." } else { rel };
    match fs::openat2(root, path, OFlags::PATH | OFlags::CLOEXEC | flags, Mode::empty(), resolve) {
        // ENOSYS before 5.6; EPERM from seccomp profiles that predate it.
        Err(Errno::NOSYS | Errno::PERM) => walk(root, rel, how),
        other => other,
    }
}

/// openat2's resolution without openat2 (see the module's comment).
pub fn walk(root: &OwnedFd, rel: &str, how: How) -> Result<OwnedFd> {
    if how == How::DirBeneath && rel.starts_with('/') {
        return Err(Errno::XDEV);
    }
    // Components still to walk, the next one last.
    let mut todo: Vec<String> = rel.split('/').rev().map(str::to_string).collect();
    // The directories walked into below the root; empty when at the root.
    let mut stack: Vec<OwnedFd> = Vec::new();
    let mut links = 0;
    while let Some(part) = todo.pop() {
        match part.as_str() {
            "" | "." => continue,
            ".." => {
                if stack.pop().is_none() && how == How::DirBeneath {
                    return Err(Errno::XDEV);
                }
                continue;
            }
            _ => {}
        }
        let here = stack.last().unwrap_or(root);
        let fd = fs::openat(here, part.as_str(), OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
        let kind = FileType::from_raw_mode(fs::fstat(&fd)?.st_mode);
        if kind == FileType::Symlink {
            links += 1;
            if how == How::DirBeneath && todo.is_empty() {
                // O_NOFOLLOW opens a final symlink itself, which O_DIRECTORY refuses.
                return Err(Errno::NOTDIR);
            }
            if how == How::DirBeneath || links > MAX_SYMLINKS {
                return Err(Errno::LOOP);
            }
            let target = fs::readlinkat(&fd, "", Vec::new())?;
            let target = target.to_str().map_err(|_| Errno::INVAL)?;
            if target.starts_with('/') {
                stack.clear();
            }
            todo.extend(target.split('/').rev().map(str::to_string));
            continue;
        }
        // Anything but the last component must be a directory, as for the kernel (which
        // also says ENOTDIR for "file/" and "file/..").
        let last = todo.is_empty();
        if kind != FileType::Directory && (!last || how == How::DirBeneath) {
            return Err(Errno::NOTDIR);
        }
        stack.push(fd);
    }
    let found = match stack.pop() {
        Some(fd) => fd,
        None => fs::openat(root, ".", OFlags::PATH | OFlags::CLOEXEC, Mode::empty())?,
    };
    check_beneath(root, &found)?;
    Ok(found)
}

/// EXDEV unless `fd`'s current path is `root`'s or below it.
fn check_beneath(root: &OwnedFd, fd: &OwnedFd) -> Result<()> {
    let path_of = |fd: &OwnedFd| fs::readlink(crate::mounts::fd_path(&fd.as_fd()), Vec::new());
    let (top, found) = (path_of(root)?, path_of(fd)?);
    let (top, found) = (top.as_bytes(), found.as_bytes());
    let inside =
        top == b"/" || found.strip_prefix(top).is_some_and(|rest| rest.is_empty() || rest.first() == Some(&b'/'));
    if inside { Ok(()) } else { Err(Errno::XDEV) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, symlink};
    use std::path::{Path, PathBuf};

    /// A tree with symlinks that try every way out of it, beside an "outside" file the
    /// walk must never reach.
    fn tree() -> (PathBuf, OwnedFd) {
        let base = std::env::temp_dir().join(format!("husk-resolve-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        let root = base.join("root");
        for d in ["etc", "usr/lib", "var", "a/b/c"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        std::fs::write(root.join("etc/passwd"), "inside").unwrap();
        std::fs::write(base.join("passwd"), "outside").unwrap();
        std::fs::create_dir_all(base.join("etc")).unwrap();
        std::fs::write(base.join("etc/passwd"), "outside").unwrap();
        let links: [(&str, &str); 9] = [
            ("abs", "/etc"),
            ("up", "../../../../.."),
            ("up-etc", "../etc"),
            ("var/run", "../../../.."),
            ("a/b/c/back", "../../../../../etc/passwd"),
            ("a/b/rel", "c/../../../usr/lib"),
            ("loop1", "loop2"),
            ("loop2", "loop1"),
            ("lib", "usr/lib"),
        ];
        for (at, to) in links {
            symlink(to, root.join(at)).unwrap();
        }
        let fd = fs::open(&root, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).unwrap();
        (base, fd)
    }

    fn ino(fd: &OwnedFd) -> u64 {
        fs::fstat(fd).unwrap().st_ino
    }

    fn ino_of(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().ino()
    }

    #[test]
    fn the_walk_resolves_every_path_as_openat2_does() {
        let (base, root) = tree();
        let paths = [
            "",
            ".",
            "etc",
            "etc/passwd",
            "/etc/passwd",
            "abs/passwd",
            "up",
            "up/etc/passwd",
            "up-etc/passwd",
            "var/run/etc/passwd",
            "a/b/c/back",
            "a/b/rel",
            "lib",
            "lib/",
            "a/b/c/../../../../..",
            "..",
            "../..",
            "loop1",
            "missing",
            "etc/passwd/",
            "etc/passwd/..",
            "a/missing/x",
            "abs/../up/../etc",
        ];
        for how in [How::InRoot, How::DirBeneath] {
            for path in paths {
                let walked = walk(&root, path, how).map(|fd| ino(&fd));
                let kernel = open(&root, path, how).map(|fd| ino(&fd));
                assert_eq!(walked, kernel, "{path:?} resolved {how:?}");
            }
        }
        // Every escape lands inside: the root's own /etc/passwd.
        let passwd = ino_of(&base.join("root/etc/passwd"));
        for path in ["abs/passwd", "up/etc/passwd", "up-etc/passwd", "var/run/etc/passwd", "a/b/c/back"] {
            assert_eq!(walk(&root, path, How::InRoot).map(|fd| ino(&fd)), Ok(passwd), "{path}");
        }
        assert_eq!(walk(&root, "up/etc", How::DirBeneath).map(|_| ()), Err(Errno::LOOP));
        assert_eq!(walk(&root, "..", How::DirBeneath).map(|_| ()), Err(Errno::XDEV));
        std::fs::remove_dir_all(base).unwrap();
    }
}
