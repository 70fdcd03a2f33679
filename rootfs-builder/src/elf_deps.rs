//! Finding what a dynamically linked host binary needs at run time: its ELF
//! interpreter and the transitive closure of its DT_NEEDED libraries,
//! searched the way ld.so does (RPATH/RUNPATH, ld.so.conf, default dirs).

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const PT_LOAD: u32 = 1;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;

/// ld.so's own search path after ld.so.conf: the multiarch directories (Debian's layout)
/// of the architecture rootfs-builder was built for, then the traditional ones.
#[cfg(not(target_arch = "aarch64"))]
const DEFAULT_DIRS: [&str; 5] = ["/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64", "/lib", "/usr/lib"];
#[cfg(target_arch = "aarch64")]
const DEFAULT_DIRS: [&str; 5] = ["/lib/aarch64-linux-gnu", "/usr/lib/aarch64-linux-gnu", "/lib64", "/lib", "/usr/lib"];

#[derive(Debug, Default)]
pub struct Elf {
    pub machine: u16,
    pub interp: Option<String>,
    pub needed: Vec<String>,
    pub rpath: Vec<String>,
    pub runpath: Vec<String>,
}

fn u16_at(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(d.get(at..at + 2)?.try_into().ok()?))
}
fn u32_at(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(d.get(at..at + 4)?.try_into().ok()?))
}
fn u64_at(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_le_bytes(d.get(at..at + 8)?.try_into().ok()?))
}

fn cstr(d: &[u8], at: usize) -> Option<String> {
    let rest = d.get(at..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

/// Parse the parts of a 64-bit little-endian ELF file the loader cares about.
pub fn parse(d: &[u8]) -> std::result::Result<Elf, String> {
    if d.get(..4) != Some(b"\x7fELF") {
        return Err("not an ELF file".into());
    }
    if d.get(4..6) != Some(&[2, 1][..]) {
        return Err("only 64-bit little-endian ELF files are supported".into());
    }
    let bad = || "truncated or malformed ELF headers".to_string();
    let machine = u16_at(d, 0x12).ok_or_else(bad)?;
    let phoff = u64_at(d, 0x20).ok_or_else(bad)? as usize;
    let phentsize = u16_at(d, 0x36).ok_or_else(bad)? as usize;
    let phnum = u16_at(d, 0x38).ok_or_else(bad)? as usize;
    let mut elf = Elf { machine, ..Elf::default() };
    let mut loads = Vec::new();
    let mut dynamic = None;
    for i in 0..phnum {
        let ph = phoff + i * phentsize;
        let ptype = u32_at(d, ph).ok_or_else(bad)?;
        let offset = u64_at(d, ph + 8).ok_or_else(bad)?;
        let vaddr = u64_at(d, ph + 16).ok_or_else(bad)?;
        let filesz = u64_at(d, ph + 32).ok_or_else(bad)?;
        match ptype {
            PT_LOAD => loads.push((vaddr, offset, filesz)),
            PT_INTERP => elf.interp = Some(cstr(d, offset as usize).ok_or_else(bad)?),
            PT_DYNAMIC => dynamic = Some((offset as usize, filesz as usize)),
            _ => {}
        }
    }
    let Some((dyn_off, dyn_size)) = dynamic else {
        return Ok(elf);
    };
    let mut entries = Vec::new();
    let mut strtab = None;
    for i in 0..dyn_size / 16 {
        let tag = u64_at(d, dyn_off + i * 16).ok_or_else(bad)?;
        let val = u64_at(d, dyn_off + i * 16 + 8).ok_or_else(bad)?;
        if tag == 0 {
            break;
        }
        if tag == DT_STRTAB {
            strtab = Some(val);
        }
        entries.push((tag, val));
    }
    // DT_STRTAB is a virtual address; map it back to a file offset.
    let strtab = strtab.ok_or("dynamic section without a string table")?;
    let str_off = loads
        .iter()
        .find(|&&(vaddr, _, filesz)| strtab >= vaddr && strtab < vaddr + filesz)
        .map(|&(vaddr, offset, _)| (strtab - vaddr + offset) as usize)
        .ok_or("string table outside the loaded segments")?;
    for (tag, val) in entries {
        let s = || cstr(d, str_off + val as usize).ok_or_else(bad);
        match tag {
            DT_NEEDED => elf.needed.push(s()?),
            DT_RPATH => elf.rpath.extend(s()?.split(':').map(str::to_string)),
            DT_RUNPATH => elf.runpath.extend(s()?.split(':').map(str::to_string)),
            _ => {}
        }
    }
    Ok(elf)
}

/// Directories from /etc/ld.so.conf and its includes (`dir/*.conf` globs).
fn ld_so_conf_dirs(file: &Path, depth: u32, out: &mut Vec<String>) {
    let Ok(text) = fs::read_to_string(file) else {
        return;
    };
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        if let Some(pattern) = line.strip_prefix("include") {
            let pattern = pattern.trim();
            let (dir, name) = pattern.rsplit_once('/').unwrap_or((".", pattern));
            let (prefix, suffix) = name.split_once('*').unwrap_or((name, ""));
            let Ok(rd) = fs::read_dir(dir) else { continue };
            let mut files: Vec<PathBuf> = rd
                .filter_map(|e| e.ok())
                .filter(|e| {
                    let n = e.file_name().to_string_lossy().into_owned();
                    n.starts_with(prefix) && n.ends_with(suffix)
                })
                .map(|e| e.path())
                .collect();
            files.sort();
            if depth < 4 {
                for f in files {
                    ld_so_conf_dirs(&f, depth + 1, out);
                }
            }
        } else if line.starts_with('/') {
            out.push(line.to_string());
        }
    }
}

fn read_elf(path: &Path) -> Result<Elf> {
    let data = fs::read(path).map_err(|e| Error::new(format!("reading '{}'", path.display()), e))?;
    parse(&data).map_err(|e| Error::new(format!("'{}'", path.display()), e))
}

/// Whether `path` is an ELF object the same loader could use.
fn usable(path: &Path, machine: u16) -> bool {
    path.is_file() && read_elf(path).is_ok_and(|e| e.machine == machine)
}

/// The binary, its interpreter and every library it needs, as host paths
/// (not canonicalized: the paths the loader would open).
pub fn closure(binary: &Path) -> Result<Vec<PathBuf>> {
    let root = read_elf(binary)?;
    let machine = root.machine;
    let mut conf_dirs = Vec::new();
    ld_so_conf_dirs(Path::new("/etc/ld.so.conf"), 0, &mut conf_dirs);
    let mut out = vec![binary.to_path_buf()];
    if let Some(interp) = &root.interp {
        out.push(PathBuf::from(interp));
    }
    let mut seen: HashSet<PathBuf> = out.iter().cloned().collect();
    let mut found: HashMap<String, PathBuf> = HashMap::new();
    let mut queue = VecDeque::from([(binary.to_path_buf(), root)]);
    while let Some((path, elf)) = queue.pop_front() {
        let origin = path.parent().unwrap_or(Path::new("/")).to_string_lossy().into_owned();
        let mut dirs: Vec<String> = Vec::new();
        if elf.runpath.is_empty() {
            dirs.extend(elf.rpath.iter().cloned());
        }
        dirs.extend(elf.runpath.iter().cloned());
        let dirs: Vec<String> = dirs
            .iter()
            .map(|d| d.replace("${ORIGIN}", &origin).replace("$ORIGIN", &origin))
            .chain(conf_dirs.iter().cloned())
            .chain(DEFAULT_DIRS.iter().map(|d| d.to_string()))
            .collect();
        for lib in &elf.needed {
            let hit = if lib.contains('/') {
                Some(PathBuf::from(lib))
            } else if let Some(p) = found.get(lib) {
                Some(p.clone())
            } else {
                dirs.iter().map(|d| Path::new(d).join(lib)).find(|p| usable(p, machine))
            };
            let Some(hit) = hit else {
                return Err(Error::new(
                    format!("--add-binary '{}'", binary.display()),
                    format!("library '{lib}' needed by '{}' not found", path.display()),
                ));
            };
            found.insert(lib.clone(), hit.clone());
            if seen.insert(hit.clone()) {
                out.push(hit.clone());
                let elf = read_elf(&hit)?;
                queue.push_back((hit, elf));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_elf_and_32_bit() {
        assert!(parse(b"#!/bin/sh\n").is_err());
        let mut ident = b"\x7fELF\x01\x01\x01".to_vec();
        ident.resize(64, 0);
        assert!(parse(&ident).unwrap_err().contains("64-bit"));
    }
}
