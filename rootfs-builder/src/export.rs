//! `export` (a running container's root as a tar stream) and `cp` (files between a
//! running container and the host, either way). The container's files are read and
//! written through descriptors below its root (container.rs, tree_io.rs); what is
//! mounted inside it (/proc, /sys, /dev, volumes, /etc/hosts) is not its files: a mount
//! point's directory is exported empty, and a mounted file as it reads.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use rustix::fd::OwnedFd;
use rustix::fs::{FileType, Mode, OFlags};

use crate::container::Container;
use crate::error::{Context, Error, Result};
use crate::tree_io::{self, TarWriter};
use crate::verbs;

const EXPORT: &str = "\
Usage: {P} export [OPTIONS] CONTAINER

Write a running container's root filesystem as a tar archive (its mounts, such as
/proc, /sys and /dev, as empty directories).

Options:
  -o, --output FILE      write to FILE (default: standard output, not a terminal)
";

const CP: &str = "\
Usage: {P} cp [OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-
       {P} cp [OPTIONS] SRC_PATH CONTAINER:DEST_PATH

Copy files between a running container and the host, as docker cp does: a directory
is copied with what is in it (SRC_PATH/. copies only what is in it); DEST_PATH names
the copy, or the directory to put it in when one exists there; - writes a tar
archive to standard output. Modes and times are kept; the copies are owned by the
caller (from a container) or by the container's root (into one), unless -a.

Options:
  -a, --archive          keep the source's owners (uid and gid as the container sees them)
";

pub fn export(args: Vec<OsString>) -> Result<u8> {
    let mut output: Option<PathBuf> = None;
    let Some(o) = verbs::parse("export", args, EXPORT, |p, a| {
        match a {
            "-o" | "--output" => output = Some(p.value().map_err(|e| Error::usage("export", e))?.into()),
            _ => return Ok(false),
        }
        Ok(true)
    })?
    else {
        return Ok(0);
    };
    verbs::arity("export", &o.words, 1, 1)?;
    let name = &o.words[0];
    if output.is_none() && io::stdout().is_terminal() {
        return Err(Error::usage("export", "refusing to write an archive to a terminal: use -o FILE or a redirect"));
    }
    let c = Container::find(name)?;
    let write = |out: &mut dyn io::Write| -> Result<()> {
        let mut w = TarWriter::new(out, ids_inside(&c));
        let mut filter = |path: &[u8], st: &rustix::fs::Stat| {
            let mounted = c.mounts.contains(path);
            (true, !(mounted && FileType::from_raw_mode(st.st_mode) == FileType::Directory))
        };
        w.add(&c.root, b"", b"", &mut filter)?;
        w.tar.into_inner().and_then(|o| o.flush()).ctx(|| "writing the archive".to_string())
    };
    match output {
        None => write(&mut io::stdout().lock()),
        Some(path) => write_file(&path, write),
    }?;
    Ok(0)
}

/// Writes `path` through `write`: to a temporary file beside it, renamed when complete.
pub fn write_file(path: &std::path::Path, write: impl FnOnce(&mut dyn io::Write) -> Result<()>) -> Result<()> {
    let name = path.file_name().unwrap_or_default().to_string_lossy().into_owned();
    let tmp = path.with_file_name(format!(".{name}.tmp-{}", std::process::id()));
    let mut file = File::create(&tmp).ctx(|| format!("creating '{}'", tmp.display()))?;
    let result = write(&mut file)
        .and_then(|()| file.sync_all().ctx(|| format!("writing '{}'", tmp.display())))
        .and_then(|()| fs::rename(&tmp, path).ctx(|| format!("renaming to '{}'", path.display())));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The container's view of a host owner (its user namespace's map).
fn ids_inside(c: &Container) -> Box<dyn Fn(u32, u32) -> (u32, u32)> {
    let (u, g) = (c.uid_map.clone(), c.gid_map.clone());
    Box::new(move |uid, gid| (crate::container::map(&u, uid, true), crate::container::map(&g, gid, true)))
}

/// Splits a path into its directory and last component (`.` for a path ending in `/.`).
fn split(path: &str) -> (String, Vec<u8>) {
    let trimmed = path.trim_end_matches('/');
    let trimmed = if trimmed.is_empty() { "/" } else { trimmed };
    match trimmed.rsplit_once('/') {
        Some(("", leaf)) => ("/".into(), leaf.as_bytes().to_vec()),
        Some((dir, leaf)) => (dir.into(), leaf.as_bytes().to_vec()),
        None if trimmed == "/" => ("/".into(), Vec::new()),
        None => (".".into(), trimmed.as_bytes().to_vec()),
    }
}

/// `CONTAINER:PATH` split, or None for a host path.
fn remote(p: &str) -> Option<(&str, &str)> {
    p.split_once(':').filter(|(c, _)| !c.is_empty() && !c.contains('/'))
}

fn host_dir(path: &str) -> Result<OwnedFd> {
    rustix::fs::open(path, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .ctx(|| format!("'{path}'"))
}

pub fn cp(args: Vec<OsString>) -> Result<u8> {
    let mut archive = false;
    let Some(o) = verbs::parse("cp", args, CP, |_, a| {
        match a {
            "-a" | "--archive" => archive = true,
            _ => return Ok(false),
        }
        Ok(true)
    })?
    else {
        return Ok(0);
    };
    verbs::arity("cp", &o.words, 2, 2)?;
    let (src, dst) = (&o.words[0], &o.words[1]);
    // CONTAINER:PATH (a host path with a ':' is written ./a:b, as with docker).
    let caller = (rustix::process::geteuid().as_raw(), rustix::process::getegid().as_raw());
    match (remote(src), remote(dst)) {
        (Some(_), Some(_)) => Err(Error::usage("cp", "copying between containers is not supported")),
        (None, None) => Err(Error::usage("cp", "one of the paths must be CONTAINER:PATH")),
        (Some((name, path)), None) => {
            let c = Container::find(name)?;
            let (dir, leaf) = split(path);
            let from = c.resolve(&dir, true).map_err(|e| Error::new(format!("{name}:{path}"), e.why))?;
            tree_io::lstat(&from, &leaf).ctx(|| format!("{name}:{path}"))?;
            let inside = ids_inside(&c);
            if dst == "-" {
                if io::stdout().is_terminal() {
                    return Err(Error::usage("cp", "refusing to write an archive to a terminal"));
                }
                let mut w = TarWriter::new(io::stdout().lock(), inside);
                let base = if leaf.is_empty() || leaf == b"." { Vec::new() } else { leaf.clone() };
                w.add(&from, &leaf, &base, &mut |_, _| (true, true))?;
                w.tar.into_inner().and_then(|mut o| o.flush()).ctx(|| "writing the archive".to_string())?;
                return Ok(0);
            }
            let ids = move |u, g| if archive { inside(u, g) } else { caller };
            into(&from, &leaf, dst, &ids)
        }
        (None, Some((name, path))) => {
            let c = Container::find(name)?;
            let (sdir, sleaf) = split(src);
            let from = host_dir(&sdir)?;
            tree_io::lstat(&from, &sleaf).ctx(|| format!("'{src}'"))?;
            let root = (crate::container::map(&c.uid_map, 0, false), crate::container::map(&c.gid_map, 0, false));
            let ids = move |u, g| if archive { (u, g) } else { root };
            let (ddir, dleaf) = split(path);
            let to = c.resolve(&ddir, true).map_err(|e| Error::new(format!("{name}:{path}"), e.why))?;
            place(&from, &sleaf, src.ends_with("/."), &to, &dleaf, &ids)
        }
    }
    .map(|()| 0)
}

/// Copies `from`/`leaf` (from a container) to the host's `dst`.
fn into(from: &OwnedFd, leaf: &[u8], dst: &str, ids: &dyn Fn(u32, u32) -> (u32, u32)) -> Result<()> {
    let (ddir, dleaf) = split(dst);
    let to = host_dir(&ddir)?;
    place(from, leaf, leaf == b".", &to, &dleaf, ids)
}

/// docker cp's rule for where a copy goes: into `to`/`dleaf` when that is an existing
/// directory (as the source's name, or its contents for `SRC/.`), else as `dleaf`.
fn place(
    from: &OwnedFd,
    sleaf: &[u8],
    contents: bool,
    to: &OwnedFd,
    dleaf: &[u8],
    ids: &dyn Fn(u32, u32) -> (u32, u32),
) -> Result<()> {
    let sdir = tree_io::lstat(from, sleaf).is_ok_and(|s| FileType::from_raw_mode(s.st_mode) == FileType::Directory);
    let existing = tree_io::lstat(to, dleaf).ok().map(|s| FileType::from_raw_mode(s.st_mode));
    match existing {
        Some(FileType::Directory) if contents => {
            let src = tree_io::open_dir(from, sleaf).ctx(|| "the source".to_string())?;
            let dst = tree_io::open_dir(to, dleaf).ctx(|| "the destination".to_string())?;
            for child in tree_io::entries(&src).ctx(|| "the source".to_string())? {
                tree_io::copy(&src, &child, &dst, &child, ids)?;
            }
            Ok(())
        }
        Some(FileType::Directory) => {
            let dst = tree_io::open_dir(to, dleaf).ctx(|| "the destination".to_string())?;
            tree_io::copy(from, sleaf, &dst, sleaf, ids)
        }
        Some(_) if sdir => Err(Error::new("cp", "cannot copy a directory over a file")),
        _ => tree_io::copy(from, sleaf, to, dleaf, ids),
    }
}
