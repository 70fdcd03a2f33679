//! Helpers shared by the integration tests: running the builder, checking
//! images with e2fsck, reading them back through debugfs, and describing
//! what a tarball should produce.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use sha2::{Digest, Sha256};

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_rootfs-builder")
}

/// A fresh, empty directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

pub fn alpine_tarball() -> Option<PathBuf> {
    let path = match std::env::var_os("HUSK_ALPINE_TARBALL") {
        Some(p) => PathBuf::from(p),
        None => {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/images/alpine-minirootfs-3.20.3-x86_64.tar.gz")
        }
    };
    if path.is_file() {
        Some(path)
    } else {
        eprintln!("SKIPPED: Alpine tarball not found at {} (set HUSK_ALPINE_TARBALL)", path.display());
        None
    }
}

pub fn run(args: &[&str]) -> Output {
    Command::new(bin()).args(args).output().unwrap()
}

/// Build an image and insist on success.
pub fn build(tar: &Path, image: &Path, extra: &[&str]) {
    let mut args = vec![tar.to_str().unwrap(), "-o", image.to_str().unwrap(), "-q"];
    args.extend_from_slice(extra);
    let out = run(&args);
    assert!(out.status.success(), "build failed: {}", String::from_utf8_lossy(&out.stderr));
}

pub fn assert_fsck_clean(image: &Path) {
    let out = Command::new("e2fsck").arg("-fn").arg(image).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "e2fsck -fn not clean:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Run debugfs commands on an image; returns each command's output.
pub fn debugfs(image: &Path, cmds: &[String]) -> Vec<String> {
    if cmds.is_empty() {
        return Vec::new();
    }
    let script = image.with_extension("cmds");
    fs::write(&script, cmds.join("\n") + "\n").unwrap();
    let out = Command::new("debugfs").arg("-f").arg(&script).arg(image).output().unwrap();
    fs::remove_file(&script).unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let mut sections: Vec<String> = Vec::new();
    for line in text.lines() {
        if line.starts_with("debugfs: ") {
            sections.push(String::new());
        } else if let Some(s) = sections.last_mut() {
            s.push_str(line);
            s.push('\n');
        }
    }
    assert_eq!(sections.len(), cmds.len(), "debugfs output:\n{text}\n{}", String::from_utf8_lossy(&out.stderr));
    sections
}

pub fn sha256(data: &[u8]) -> String {
    Sha256::digest(data).iter().map(|b| format!("{b:02x}")).collect()
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Entry {
    /// File type letter: - d l c b p s
    pub kind: char,
    pub perm: u32,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: i64,
    pub target: Option<Vec<u8>>,
    pub dev: Option<(u32, u32)>,
    pub sha256: Option<String>,
}

fn kind_of_mode(mode: u32) -> char {
    match mode >> 12 {
        0o10 => '-',
        0o04 => 'd',
        0o12 => 'l',
        0o02 => 'c',
        0o06 => 'b',
        0o01 => 'p',
        0o14 => 's',
        _ => '?',
    }
}

fn field<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(key)? + key.len();
    text[at..].split_whitespace().next()
}

/// Read every entry of an image through debugfs (ls -p, stat, dump), so the
/// check does not depend on our own reading of the format.
pub fn read_image(image: &Path) -> BTreeMap<String, Entry> {
    let dump_dir = image.with_extension("dump");
    let _ = fs::remove_dir_all(&dump_dir);
    fs::create_dir_all(&dump_dir).unwrap();
    let mut entries: BTreeMap<String, (u32, Entry)> = BTreeMap::new();
    let mut level = vec!["/".to_string()];
    while !level.is_empty() {
        let cmds: Vec<String> = level.iter().map(|d| format!("ls -p \"{d}\"")).collect();
        let outs = debugfs(image, &cmds);
        let mut next = Vec::new();
        for (dir, out) in level.iter().zip(outs) {
            for line in out.lines().filter(|l| l.starts_with('/')) {
                let body = &line[1..line.len() - 1];
                let mut parts = body.splitn(5, '/');
                let ino: u32 = parts.next().unwrap().parse().unwrap();
                let mode = u32::from_str_radix(parts.next().unwrap(), 8).unwrap();
                // debugfs prints ids as signed ints
                let uid = parts.next().unwrap().parse::<i64>().unwrap() as u32;
                let gid = parts.next().unwrap().parse::<i64>().unwrap() as u32;
                let (name, size) = parts.next().unwrap().rsplit_once('/').unwrap();
                if name == "." || name == ".." || ino == 0 {
                    continue;
                }
                let path = if dir == "/" { format!("/{name}") } else { format!("{dir}/{name}") };
                let e = Entry {
                    kind: kind_of_mode(mode),
                    perm: mode & 0o7777,
                    uid,
                    gid,
                    size: size.parse().unwrap_or(0),
                    ..Entry::default()
                };
                if e.kind == 'd' {
                    next.push(path.clone());
                }
                entries.insert(path, (ino, e));
            }
        }
        level = next;
    }
    let paths: Vec<String> = entries.keys().cloned().collect();
    let stats = debugfs(image, &paths.iter().map(|p| format!("stat \"{p}\"")).collect::<Vec<_>>());
    let mut dumps = Vec::new();
    for (i, (path, st)) in paths.iter().zip(stats).enumerate() {
        let e = &mut entries.get_mut(path).unwrap().1;
        let mtime = field(&st, "mtime: ").unwrap().split(':').next().unwrap();
        e.mtime = u32::from_str_radix(mtime.trim_start_matches("0x"), 16).unwrap() as i32 as i64;
        if let Some(at) = st.find("Fast link dest: \"") {
            let rest = &st[at + 17..];
            e.target = Some(rest.as_bytes()[..rest.rfind('"').unwrap()].to_vec());
        } else if e.kind == 'l' || e.kind == '-' {
            dumps.push((i, path.clone()));
        }
        if let Some(at) = st.find("Device major/minor number: ") {
            let (ma, mi) = st[at + 27..].split_whitespace().next().unwrap().split_once(':').unwrap();
            e.dev = Some((ma.parse().unwrap(), mi.parse().unwrap()));
        }
        if e.kind == 'd' {
            e.size = 0;
        }
    }
    let cmds: Vec<String> = dumps.iter().map(|(i, p)| format!("dump \"{p}\" \"{}/{i}\"", dump_dir.display())).collect();
    debugfs(image, &cmds);
    for (i, path) in dumps {
        let data = fs::read(dump_dir.join(i.to_string())).unwrap();
        let e = &mut entries.get_mut(&path).unwrap().1;
        if e.kind == 'l' {
            e.target = Some(data);
        } else {
            e.sha256 = Some(sha256(&data));
        }
    }
    fs::remove_dir_all(&dump_dir).unwrap();
    entries.into_iter().map(|(k, (_, e))| (k, e)).collect()
}

/// Inode numbers by path, to check hard links share one.
pub fn inode_of(image: &Path, path: &str) -> u32 {
    let out = &debugfs(image, &[format!("stat \"{path}\"")])[0];
    field(out, "Inode: ").unwrap_or_else(|| panic!("{path} not in image: {out}")).parse().unwrap()
}

/// Lexical normalization the builder promises: `..` stops at the root.
pub fn normalize(path: &[u8]) -> String {
    let mut out: Vec<&[u8]> = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    let mut s = String::new();
    for c in out {
        s.push('/');
        s.push_str(&String::from_utf8_lossy(c));
    }
    if s.is_empty() { "/".into() } else { s }
}

/// What the image should contain, according to the tar crate's reading.
pub fn read_tar(path: &Path) -> BTreeMap<String, Entry> {
    let raw = fs::read(path).unwrap();
    let data: Vec<u8> = if raw.starts_with(&[0x1f, 0x8b]) {
        let mut v = Vec::new();
        flate2::read::MultiGzDecoder::new(&raw[..]).read_to_end(&mut v).unwrap();
        v
    } else {
        raw
    };
    let mut ar = tar::Archive::new(&data[..]);
    let mut out: BTreeMap<String, Entry> = BTreeMap::new();
    for entry in ar.entries().unwrap() {
        let mut entry = entry.unwrap();
        let path = normalize(&entry.path_bytes());
        let h = entry.header().clone();
        let t = h.entry_type();
        let mut e = Entry {
            perm: h.mode().unwrap() & 0o7777,
            uid: h.uid().unwrap() as u32,
            gid: h.gid().unwrap() as u32,
            mtime: h.mtime().unwrap() as i64,
            ..Entry::default()
        };
        if t.is_hard_link() {
            let target = normalize(&entry.link_name_bytes().unwrap());
            let linked = out[&target].clone();
            out.insert(path, linked);
            continue;
        }
        e.kind = match t {
            _ if t.is_dir() => 'd',
            _ if t.is_symlink() => 'l',
            _ if t.is_character_special() => 'c',
            _ if t.is_block_special() => 'b',
            _ if t.is_fifo() => 'p',
            _ => '-',
        };
        match e.kind {
            '-' => {
                let mut v = Vec::new();
                entry.read_to_end(&mut v).unwrap();
                e.size = v.len() as u64;
                e.sha256 = Some(sha256(&v));
            }
            'l' => {
                let target = entry.link_name_bytes().unwrap().into_owned();
                e.size = target.len() as u64;
                e.target = Some(target);
            }
            'c' | 'b' => e.dev = Some((h.device_major().unwrap().unwrap(), h.device_minor().unwrap().unwrap())),
            _ => {}
        }
        if e.kind == 'd'
            && let Some(old) = out.get(&path)
            && old.kind == 'd'
        {
            out.insert(path, e);
            continue;
        }
        // A replaced directory takes its subtree with it.
        let prefix = format!("{path}/");
        out.retain(|k, _| !k.starts_with(&prefix));
        out.insert(path, e);
    }
    out
}

/// Every tar entry must be in the image exactly; the image may only add
/// /lost+found and directories that entries needed.
pub fn assert_image_matches(image: &BTreeMap<String, Entry>, expected: &BTreeMap<String, Entry>) {
    let mut problems = Vec::new();
    for (path, want) in expected {
        if path == "/" {
            continue;
        }
        match image.get(path) {
            None => problems.push(format!("{path}: missing from image")),
            Some(got) if got != want => problems.push(format!("{path}:\n  image {got:?}\n  tar   {want:?}")),
            _ => {}
        }
    }
    for (path, got) in image {
        if !expected.contains_key(path) && path != "/lost+found" && got.kind != 'd' {
            problems.push(format!("{path}: in image but not in the archive"));
        }
    }
    assert!(problems.is_empty(), "{} differences:\n{}", problems.len(), problems.join("\n"));
}

/// Append a raw entry whose name bytes are written as given (the tar crate
/// refuses `..` and absolute names, which is exactly what some tests need).
pub fn append_raw(ar: &mut tar::Builder<Vec<u8>>, name: &[u8], kind: tar::EntryType, data: &[u8], link: &[u8]) {
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link);
    h.set_entry_type(kind);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(data.len() as u64);
    h.set_mtime(1_700_000_000);
    h.set_cksum();
    ar.append(&h, data).unwrap();
}

/// A pax extended header with the given records, for the next entry.
pub fn append_pax(ar: &mut tar::Builder<Vec<u8>>, records: &[(&str, &[u8])]) {
    let mut body = Vec::new();
    for (k, v) in records {
        let base = k.len() + v.len() + 3;
        // The length field counts its own digits.
        let mut len = base + 1;
        while len != base + len.to_string().len() {
            len = base + len.to_string().len();
        }
        body.extend_from_slice(format!("{len} {k}=").as_bytes());
        body.extend_from_slice(v);
        body.push(b'\n');
    }
    let mut h = tar::Header::new_ustar();
    h.set_path("PaxHeader").unwrap();
    h.set_entry_type(tar::EntryType::XHeader);
    h.set_size(body.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    ar.append(&h, &body[..]).unwrap();
}

/// A header for append_data / append_link with sensible defaults.
pub fn header(kind: tar::EntryType, mode: u32, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_size(size);
    h.set_mtime(1_700_000_000);
    h.set_uid(0);
    h.set_gid(0);
    h
}

/// Files in a directory other than `keep`: proves no temp files linger.
pub fn leftovers(dir: &Path, keep: &[&str]) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !keep.contains(&n.as_str()))
        .collect()
}
