//! An image's layers applied into a directory, for a store written by a user without
//! root: husk runs images from ext4 files only as root (loop devices), and rootless it
//! runs this directory under its overlay instead. The files belong to the user (who is
//! root inside a rootless container); the owners the image gives are lost, device
//! nodes are skipped, modes and times are kept. Every entry is created through a
//! directory descriptor resolved inside the tree (openat2 RESOLVE_IN_ROOT), so a
//! symlink in the image cannot lead a later entry outside it.

use std::fs::{self, File};
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use rustix::fd::OwnedFd;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps};

use crate::error::{Context, Error, Result};
use crate::oci::{Layer, Source};

fn times(mtime: u64) -> Timestamps {
    let t = Timespec { tv_sec: mtime as i64, tv_nsec: 0 };
    Timestamps { last_access: t, last_modification: t }
}

/// The directory `comps` inside `root`, made (0755) where missing.
fn dir_of(root: &OwnedFd, comps: &[Vec<u8>]) -> io::Result<OwnedFd> {
    let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
    let mut path = Vec::new();
    for c in comps {
        let parent = rustix::fs::openat2(
            root,
            if path.is_empty() { &b"."[..] } else { &path },
            flags,
            Mode::empty(),
            ResolveFlags::IN_ROOT,
        )?;
        match rustix::fs::mkdirat(&parent, c.as_slice(), Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e.into()),
        }
        if !path.is_empty() {
            path.push(b'/');
        }
        path.extend_from_slice(c);
    }
    let p: &[u8] = if path.is_empty() { b"." } else { &path };
    Ok(rustix::fs::openat2(root, p, flags, Mode::empty(), ResolveFlags::IN_ROOT)?)
}

/// Applies `layers` from `src` into the new directory `dest`.
pub fn unpack(src: &Source, layers: &[Layer], dest: &Path) -> Result<u64> {
    let shown = || format!("'{}'", dest.display());
    fs::create_dir(dest).ctx(shown)?;
    let root = rustix::fs::open(dest, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).ctx(shown)?;
    let survivors = crate::oci::survivors(src, layers, |i, _| i)?;
    let mut dirs: Vec<(Vec<Vec<u8>>, u32, u64)> = Vec::new();
    let mut bytes = 0;
    for (li, layer) in layers.iter().enumerate() {
        crate::oci::each_entry(src, layer, false, |i, entry| {
            let comps = crate::tree::normalize(&entry.path_bytes())?;
            if survivors.get(&comps.join(&b'/')) != Some(&(li, i)) {
                return Ok(());
            }
            let what = || format!("entry '{}'", String::from_utf8_lossy(&comps.join(&b'/')));
            let h = entry.header();
            let (mode, mtime) = (h.mode().unwrap_or(0o644) & 0o7777, h.mtime().unwrap_or(0));
            let kind = h.entry_type();
            let Some((leaf, parents)) = comps.split_last() else {
                dirs.push((Vec::new(), mode, mtime));
                return Ok(());
            };
            let parent = dir_of(&root, parents).ctx(what)?;
            match kind {
                tar::EntryType::Directory => {
                    dir_of(&root, &comps).ctx(what)?;
                    dirs.push((comps.clone(), mode, mtime));
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
                    let fd =
                        rustix::fs::openat(&parent, leaf.as_slice(), flags, Mode::from_raw_mode(0o600)).ctx(what)?;
                    let mut file = File::from(fd);
                    bytes += io::copy(&mut (entry as &mut dyn Read), &mut file).ctx(what)?;
                    file.set_permissions(fs::Permissions::from_mode(mode)).ctx(what)?;
                    rustix::fs::futimens(&file, &times(mtime)).ctx(what)?;
                }
                tar::EntryType::Symlink => {
                    let target = entry.link_name_bytes().unwrap_or_default().into_owned();
                    rustix::fs::symlinkat(target.as_slice(), &parent, leaf.as_slice()).ctx(what)?;
                    let _ = rustix::fs::utimensat(&parent, leaf.as_slice(), &times(mtime), AtFlags::SYMLINK_NOFOLLOW);
                }
                tar::EntryType::Link => {
                    let target = crate::tree::normalize(&entry.link_name_bytes().unwrap_or_default())?;
                    let (tleaf, tparents) =
                        target.split_last().ok_or_else(|| Error::new(what(), "a link to the root"))?;
                    let tdir = dir_of(&root, tparents).ctx(what)?;
                    rustix::fs::linkat(&tdir, tleaf.as_slice(), &parent, leaf.as_slice(), AtFlags::empty())
                        .ctx(what)?;
                }
                tar::EntryType::Fifo => {
                    let m = Mode::from_raw_mode(mode);
                    rustix::fs::mknodat(&parent, leaf.as_slice(), FileType::Fifo, m, 0).ctx(what)?;
                }
                // Device nodes need privileges the store's user lacks; the container
                // gets its own /dev.
                _ => {}
            }
            Ok(())
        })?;
    }
    // Directories' modes and times last: a read-only directory takes no new entries.
    dirs.sort_by_key(|d| std::cmp::Reverse(d.0.len()));
    for (comps, mode, mtime) in dirs {
        let fd = dir_of(&root, &comps).ctx(shown)?;
        let path = format!("/proc/self/fd/{}", rustix::fd::AsRawFd::as_raw_fd(&fd));
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).ctx(shown)?;
        let _ = rustix::fs::utimensat(rustix::fs::CWD, path.as_str(), &times(mtime), AtFlags::empty());
    }
    Ok(bytes)
}

/// Removes a directory tree even where its directories are read-only (as images have
/// them), as their owner can.
pub fn remove(path: &Path) -> io::Result<()> {
    let meta = fs::symlink_metadata(path)?;
    if meta.is_dir() {
        fs::set_permissions(path, fs::Permissions::from_mode(0o700))?;
        for e in fs::read_dir(path)? {
            remove(&e?.path())?;
        }
        fs::remove_dir(path)
    } else {
        fs::remove_file(path)
    }
}
