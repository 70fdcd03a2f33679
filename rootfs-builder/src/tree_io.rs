//! Walking a file tree through directory descriptors (never by path, so a symlink swapped
//! in by the container mid-walk leads nowhere): into a tar stream (export, commit's
//! layer, cp to `-`), or copied into another tree (cp, both ways). Regular files,
//! directories, symlinks, hard links (in a tar), device nodes and fifos; sockets are
//! skipped. Extended attributes are not carried (see the README's limits).

use std::collections::HashMap;
use std::fs::File;
use std::io::{self, Write};

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, Stat, Timestamps};

use crate::error::{Context, Error, Result};

pub fn open_dir(dir: impl AsFd, name: &[u8]) -> io::Result<OwnedFd> {
    let name = if name.is_empty() { &b"."[..] } else { name };
    Ok(rustix::fs::openat(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?)
}

pub fn lstat(dir: impl AsFd, name: &[u8]) -> io::Result<Stat> {
    let name = if name.is_empty() { &b"."[..] } else { name };
    Ok(rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW | AtFlags::EMPTY_PATH)?)
}

/// A directory's entries but `.` and `..`, sorted (archives come out the same each time).
pub fn entries(dir: &OwnedFd) -> io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    for e in Dir::read_from(dir)? {
        let name = e?.file_name().to_bytes().to_vec();
        if name != b"." && name != b".." {
            names.push(name);
        }
    }
    names.sort();
    Ok(names)
}

/// What a walk asks of each entry: (write it, walk what is below it).
pub type Filter<'a> = dyn FnMut(&[u8], &Stat) -> (bool, bool) + 'a;

/// Writes a tar stream of the tree at `dir`/`name` with the archive names `prefix`...;
/// `ids` turns the files' uid and gid into the archive's.
pub struct TarWriter<W: Write> {
    pub tar: tar::Builder<W>,
    links: HashMap<(u64, u64), Vec<u8>>,
    pub ids: Box<dyn Fn(u32, u32) -> (u32, u32)>,
}

impl<W: Write> TarWriter<W> {
    pub fn new(out: W, ids: Box<dyn Fn(u32, u32) -> (u32, u32)>) -> TarWriter<W> {
        let mut tar = tar::Builder::new(out);
        tar.mode(tar::HeaderMode::Complete);
        TarWriter { tar, links: HashMap::new(), ids }
    }

    /// Adds `dir`/`name` as `path` (no leading '/'; empty for the top, written as
    /// `./`), and below it what `filter` takes.
    pub fn add(&mut self, dir: &OwnedFd, name: &[u8], path: &[u8], filter: &mut Filter) -> Result<()> {
        let shown = || format!("'/{}'", String::from_utf8_lossy(path));
        let st = lstat(dir, name).ctx(shown)?;
        let (write, descend) = filter(path, &st);
        if write {
            self.entry(dir, name, path, &st).ctx(shown)?;
        }
        if FileType::from_raw_mode(st.st_mode) == FileType::Directory && descend {
            let sub = open_dir(dir, name).ctx(shown)?;
            for child in entries(&sub).ctx(shown)? {
                let mut p = path.to_vec();
                if !p.is_empty() {
                    p.push(b'/');
                }
                p.extend_from_slice(&child);
                self.add(&sub, &child, &p, filter)?;
            }
        }
        Ok(())
    }

    /// A whiteout: `path`'s last component prefixed with `.wh.`, an empty file.
    pub fn whiteout(&mut self, path: &[u8]) -> Result<()> {
        let (parent, leaf) = match path.iter().rposition(|&b| b == b'/') {
            Some(i) => (&path[..=i], &path[i + 1..]),
            None => (&b""[..], path),
        };
        let name = [parent, b".wh.", leaf].concat();
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_size(0);
        h.set_mode(0o644);
        self.tar.append_data(&mut h, os(&name), io::empty()).ctx(|| format!("'/{}'", String::from_utf8_lossy(path)))
    }

    fn entry(&mut self, dir: &OwnedFd, name: &[u8], path: &[u8], st: &Stat) -> io::Result<()> {
        let kind = FileType::from_raw_mode(st.st_mode);
        let mut h = tar::Header::new_gnu();
        let (uid, gid) = (self.ids)(st.st_uid, st.st_gid);
        h.set_uid(u64::from(uid));
        h.set_gid(u64::from(gid));
        h.set_mode(st.st_mode & 0o7777);
        h.set_mtime(st.st_mtime.max(0) as u64);
        h.set_size(0);
        let archive_name: Vec<u8> = if path.is_empty() { b"./".to_vec() } else { path.to_vec() };
        let name_os = if name.is_empty() { &b"."[..] } else { name };
        match kind {
            FileType::Directory => {
                h.set_entry_type(tar::EntryType::Directory);
                let mut n = archive_name;
                if !n.ends_with(b"/") {
                    n.push(b'/');
                }
                self.tar.append_data(&mut h, os(&n), io::empty())
            }
            FileType::RegularFile => {
                if st.st_nlink > 1 {
                    let key = (st.st_dev, st.st_ino);
                    if let Some(first) = self.links.get(&key) {
                        h.set_entry_type(tar::EntryType::Link);
                        return self.tar.append_link(&mut h, os(&archive_name), os(first));
                    }
                    self.links.insert(key, archive_name.clone());
                }
                let fd = rustix::fs::openat(
                    dir,
                    name_os,
                    OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )?;
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(st.st_size as u64);
                // A file that grows or shrinks while read is cut or padded to its size.
                let file = File::from(fd);
                let mut body = io::Read::chain(io::Read::take(file, st.st_size as u64), io::repeat(0));
                self.tar.append_data(&mut h, os(&archive_name), io::Read::take(&mut body, st.st_size as u64))
            }
            FileType::Symlink => {
                let target = rustix::fs::readlinkat(dir, name_os, Vec::new())?;
                h.set_entry_type(tar::EntryType::Symlink);
                self.tar.append_link(&mut h, os(&archive_name), os(target.as_bytes()))
            }
            FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
                h.set_entry_type(match kind {
                    FileType::CharacterDevice => tar::EntryType::Char,
                    FileType::BlockDevice => tar::EntryType::Block,
                    _ => tar::EntryType::Fifo,
                });
                h.set_device_major(rustix::fs::major(st.st_rdev))?;
                h.set_device_minor(rustix::fs::minor(st.st_rdev))?;
                self.tar.append_data(&mut h, os(&archive_name), io::empty())
            }
            _ => Ok(()),
        }
    }
}

fn os(b: &[u8]) -> &std::path::Path {
    use std::os::unix::ffi::OsStrExt;
    std::path::Path::new(std::ffi::OsStr::from_bytes(b))
}

/// Copies `src`/`sname` to `dst`/`dname`, replacing a file or symlink there, merging into
/// a directory; `ids` gives each copy's owner from the source's.
pub fn copy(
    src: &OwnedFd,
    sname: &[u8],
    dst: &OwnedFd,
    dname: &[u8],
    ids: &dyn Fn(u32, u32) -> (u32, u32),
) -> Result<()> {
    let shown = || format!("'{}'", String::from_utf8_lossy(sname));
    let st = lstat(src, sname).ctx(shown)?;
    let (uid, gid) = ids(st.st_uid, st.st_gid);
    let (uid, gid) = (Some(rustix::fs::Uid::from_raw(uid)), Some(rustix::fs::Gid::from_raw(gid)));
    let mode = Mode::from_raw_mode(st.st_mode & 0o7777);
    let times = Timestamps {
        last_access: rustix::fs::Timespec { tv_sec: st.st_atime, tv_nsec: st.st_atime_nsec as _ },
        last_modification: rustix::fs::Timespec { tv_sec: st.st_mtime, tv_nsec: st.st_mtime_nsec as _ },
    };
    let dshown = || format!("'{}'", String::from_utf8_lossy(dname));
    let replace = |dst: &OwnedFd| {
        // Whatever is in the way, unless it is a directory (merged into).
        if lstat(dst, dname).is_ok_and(|d| FileType::from_raw_mode(d.st_mode) != FileType::Directory) {
            let _ = rustix::fs::unlinkat(dst, dname, AtFlags::empty());
        }
    };
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => {
            match rustix::fs::mkdirat(dst, dname, Mode::from_raw_mode(0o700)) {
                Ok(()) | Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(Error::new(dshown(), e)),
            }
            let from = open_dir(src, sname).ctx(shown)?;
            let to = open_dir(dst, dname).ctx(dshown)?;
            for child in entries(&from).ctx(shown)? {
                copy(&from, &child, &to, &child, ids)?;
            }
            rustix::fs::fchown(&to, uid, gid).ctx(dshown)?;
            rustix::fs::fchmod(&to, mode).ctx(dshown)?;
            rustix::fs::futimens(&to, &times).ctx(dshown)?;
        }
        FileType::RegularFile => {
            let from =
                rustix::fs::openat(src, sname, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())
                    .ctx(shown)?;
            replace(dst);
            let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::TRUNC | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            let to = rustix::fs::openat(dst, dname, flags, Mode::from_raw_mode(0o600)).ctx(dshown)?;
            let (mut from, mut to) = (File::from(from), File::from(to));
            io::copy(&mut from, &mut to).ctx(dshown)?;
            rustix::fs::fchown(&to, uid, gid).ctx(dshown)?;
            rustix::fs::fchmod(&to, mode).ctx(dshown)?;
            rustix::fs::futimens(&to, &times).ctx(dshown)?;
        }
        FileType::Symlink => {
            let target = rustix::fs::readlinkat(src, sname, Vec::new()).ctx(shown)?;
            replace(dst);
            rustix::fs::symlinkat(target.as_c_str(), dst, dname).ctx(dshown)?;
            rustix::fs::chownat(dst, dname, uid, gid, AtFlags::SYMLINK_NOFOLLOW).ctx(dshown)?;
            rustix::fs::utimensat(dst, dname, &times, AtFlags::SYMLINK_NOFOLLOW).ctx(dshown)?;
        }
        FileType::CharacterDevice | FileType::BlockDevice | FileType::Fifo => {
            replace(dst);
            let kind = FileType::from_raw_mode(st.st_mode);
            rustix::fs::mknodat(dst, dname, kind, mode, st.st_rdev).ctx(dshown)?;
            rustix::fs::chownat(dst, dname, uid, gid, AtFlags::SYMLINK_NOFOLLOW).ctx(dshown)?;
            rustix::fs::chmodat(dst, dname, mode, AtFlags::empty()).ctx(dshown)?;
        }
        _ => {}
    }
    Ok(())
}
