//! Copying host files into the image: `--add HOST:DEST` trees and
//! `--add-binary` programs with their loader and libraries.

use std::collections::HashMap;
use std::fs::{self, File, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::builder::Builder;
use crate::elf_deps;
use crate::error::{Context, Error, Result};
use crate::tree::{self, Kind, Meta};

pub struct HostAdd {
    /// Keep host uid/gid instead of making everything root:root.
    pub preserve_owner: bool,
    /// (dev, ino) of multiply-linked host files already added, for hard links.
    links: HashMap<(u64, u64), Vec<u8>>,
}

fn meta_of(md: &Metadata, preserve_owner: bool) -> Meta {
    Meta {
        perm: (md.mode() & 0o7777) as u16,
        uid: if preserve_owner { md.uid() } else { 0 },
        gid: if preserve_owner { md.gid() } else { 0 },
        mtime: md.mtime(),
        mtime_nsec: md.mtime_nsec() as u32,
        xattrs: Vec::new(),
    }
}

fn dev_numbers(rdev: u64) -> (u32, u32) {
    let major = ((rdev >> 8) & 0xfff) | ((rdev >> 32) & !0xfff);
    let minor = (rdev & 0xff) | ((rdev >> 12) & !0xff);
    (major as u32, minor as u32)
}

fn join(dest: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = dest.to_vec();
    p.push(b'/');
    p.extend_from_slice(name);
    p
}

impl HostAdd {
    pub fn new(preserve_owner: bool) -> HostAdd {
        HostAdd { preserve_owner, links: HashMap::new() }
    }

    /// `--add`: a file or a whole tree; the top path is followed if it is a
    /// symlink, symlinks inside the tree are copied as symlinks.
    pub fn add_tree(&mut self, b: &mut Builder, host: &Path, dest: &[u8]) -> Result<()> {
        let md = fs::metadata(host).ctx(|| format!("--add '{}'", host.display()))?;
        self.add_one(b, host, dest, &md)
    }

    fn add_one(&mut self, b: &mut Builder, host: &Path, dest: &[u8], md: &Metadata) -> Result<()> {
        let what = || format!("--add '{}'", host.display());
        let meta = meta_of(md, self.preserve_owner);
        let ft = md.file_type();
        if ft.is_dir() {
            b.add(dest, Kind::Dir { entries: Default::default() }, meta)?;
            let mut children: Vec<PathBuf> =
                fs::read_dir(host).ctx(what)?.map(|e| e.map(|e| e.path())).collect::<std::io::Result<_>>().ctx(what)?;
            children.sort();
            for child in children {
                let cmd = fs::symlink_metadata(&child).ctx(|| format!("--add '{}'", child.display()))?;
                let name = child.file_name().expect("read_dir entries have names").as_bytes();
                self.add_one(b, &child, &join(dest, name), &cmd)?;
            }
            Ok(())
        } else if ft.is_file() {
            if md.nlink() > 1 {
                if let Some(first) = self.links.get(&(md.dev(), md.ino())) {
                    return b.link(dest, &first.clone());
                }
                self.links.insert((md.dev(), md.ino()), dest.to_vec());
            }
            let mut f = File::open(host).ctx(what)?;
            b.add_file(dest, meta, md.len(), &mut f)
        } else if ft.is_symlink() {
            let target = fs::read_link(host).ctx(what)?;
            b.add(dest, Kind::Symlink(target.as_os_str().as_bytes().to_vec()), meta)
        } else if ft.is_char_device() || ft.is_block_device() {
            let (major, minor) = dev_numbers(md.rdev());
            let kind = if ft.is_char_device() { Kind::CharDev(major, minor) } else { Kind::BlockDev(major, minor) };
            b.add(dest, kind, meta)
        } else if ft.is_fifo() {
            b.add(dest, Kind::Fifo, meta)
        } else if ft.is_socket() {
            b.add(dest, Kind::Socket, meta)
        } else {
            Err(Error::new(what(), "unsupported file type"))
        }
    }

    /// `--add-binary`: the program, its interpreter and libraries at their
    /// host paths. Symlinks are stored as symlinks and their targets too.
    pub fn add_binary(&mut self, b: &mut Builder, binary: &Path) -> Result<()> {
        let abs = if binary.is_absolute() {
            binary.to_path_buf()
        } else {
            std::env::current_dir().ctx(|| "current directory".to_string())?.join(binary)
        };
        for path in elf_deps::closure(&abs)? {
            self.add_following_links(b, &path)?;
        }
        Ok(())
    }

    fn add_following_links(&mut self, b: &mut Builder, path: &Path) -> Result<()> {
        let mut cur: Vec<u8> = lexical(path.as_os_str().as_bytes())?;
        for _ in 0..40 {
            let host = Path::new(std::ffi::OsStr::from_bytes(&cur));
            let what = || format!("--add-binary '{}'", host.display());
            let md = fs::symlink_metadata(host).ctx(what)?;
            if !md.file_type().is_symlink() {
                return self.add_one(b, host, &cur, &md);
            }
            let target = fs::read_link(host).ctx(what)?;
            let target = target.as_os_str().as_bytes().to_vec();
            b.add(&cur, Kind::Symlink(target.clone()), meta_of(&md, false))?;
            // Resolve against the link's directory as the image will see it.
            let next = if target.starts_with(b"/") {
                target
            } else {
                let parent = cur.iter().rposition(|&c| c == b'/').map_or(&cur[..0], |i| &cur[..i]);
                join(parent, &target)
            };
            cur = lexical(&next)?;
        }
        Err(Error::new(format!("--add-binary '{}'", path.display()), "too many levels of symbolic links"))
    }
}

/// Absolute, normalized form of a path, as bytes.
fn lexical(path: &[u8]) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    for c in tree::normalize(path)? {
        out.push(b'/');
        out.extend_from_slice(&c);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::dev_numbers;

    #[test]
    fn device_numbers_split_like_glibc() {
        assert_eq!(dev_numbers(0x0103), (1, 3));
        assert_eq!(dev_numbers((259 << 8) | 5), (259, 5));
    }
}
