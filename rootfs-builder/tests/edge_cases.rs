//! Archives the tests write themselves, one per awkward corner of tar and ext4.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;
use tar::EntryType;

fn write_tar(dir: &Path, name: &str, ar: tar::Builder<Vec<u8>>) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, ar.into_inner().unwrap()).unwrap();
    path
}

fn file(ar: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]) {
    ar.append_data(&mut header(EntryType::Regular, mode, data.len() as u64), path, data).unwrap();
}

fn dir_entry(ar: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32) {
    ar.append_data(&mut header(EntryType::Directory, mode, 0), path, &[][..]).unwrap();
}

fn symlink(ar: &mut tar::Builder<Vec<u8>>, path: &str, target: &str) {
    ar.append_link(&mut header(EntryType::Symlink, 0o777, 0), path, target).unwrap();
}

/// Build, check e2fsck, and compare the whole image with the archive.
fn round_trip(dir: &Path, tar: &Path) -> std::collections::BTreeMap<String, Entry> {
    let image = dir.join("img.ext4");
    build(tar, &image, &[]);
    assert_fsck_clean(&image);
    let got = read_image(&image);
    assert_image_matches(&got, &read_tar(tar));
    got
}

#[test]
fn hard_links_share_one_inode() {
    let dir = scratch("hardlinks");
    let mut ar = tar::Builder::new(Vec::new());
    file(&mut ar, "a/original", 0o640, b"shared contents");
    ar.append_link(&mut header(EntryType::Link, 0o640, 0), "a/second", "a/original").unwrap();
    ar.append_link(&mut header(EntryType::Link, 0o640, 0), "b/third", "a/original").unwrap();
    let tar = write_tar(&dir, "t.tar", ar);
    round_trip(&dir, &tar);
    let image = dir.join("img.ext4");
    let ino = inode_of(&image, "/a/original");
    assert_eq!(inode_of(&image, "/a/second"), ino);
    assert_eq!(inode_of(&image, "/b/third"), ino);
    let st = &debugfs(&image, &["stat /a/original".into()])[0];
    assert!(st.contains("Links: 3"), "{st}");
}

#[test]
fn long_names_survive_gnu_and_pax_headers() {
    let dir = scratch("longnames");
    let component = "c".repeat(255);
    let deep: String = (0..30).map(|i| format!("directory-{i:02}/")).collect::<String>() + "leaf.txt";
    assert!(deep.len() > 255);
    let mut ar = tar::Builder::new(Vec::new());
    file(&mut ar, &format!("{}/over-100", "x".repeat(120)), 0o644, b"gnu longname");
    file(&mut ar, &deep, 0o644, b"deep");
    file(&mut ar, &format!("max/{component}"), 0o644, b"255-byte component");
    symlink(&mut ar, "longlink", &"t".repeat(300));
    let pax_path = format!("pax/{}/file", "p".repeat(200));
    append_pax(&mut ar, &[("path", pax_path.as_bytes())]);
    append_raw(&mut ar, b"short-name-replaced-by-pax", EntryType::Regular, b"pax path", b"");
    let pax_target = "q".repeat(150);
    append_pax(&mut ar, &[("linkpath", pax_target.as_bytes())]);
    append_raw(&mut ar, b"pax-symlink", EntryType::Symlink, b"", b"ignored");
    let tar = write_tar(&dir, "t.tar", ar);
    let got = round_trip(&dir, &tar);
    assert!(got.contains_key(&format!("/{pax_path}")));
    assert_eq!(got["/pax-symlink"].target.as_deref(), Some(pax_target.as_bytes()));
    assert!(got.contains_key(&format!("/max/{component}")));
}

#[test]
fn over_long_name_component_is_rejected_cleanly() {
    let dir = scratch("name256");
    let mut ar = tar::Builder::new(Vec::new());
    file(&mut ar, &"n".repeat(256), 0o644, b"x");
    let tar = write_tar(&dir, "t.tar", ar);
    let out = run(&[tar.to_str().unwrap(), "-o", dir.join("img.ext4").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("longer than 255 bytes"));
    assert_eq!(leftovers(&dir, &["t.tar"]), Vec::<String>::new());
}

#[test]
fn symlink_chains_and_the_60_byte_boundary() {
    let dir = scratch("symlinks");
    let mut ar = tar::Builder::new(Vec::new());
    file(&mut ar, "target", 0o644, b"end of chain");
    symlink(&mut ar, "one", "two");
    symlink(&mut ar, "two", "three");
    symlink(&mut ar, "three", "target");
    symlink(&mut ar, "abs", "/etc/../target");
    symlink(&mut ar, "dangling", "does/not/exist");
    symlink(&mut ar, "len59", &"a".repeat(59));
    symlink(&mut ar, "len60", &"b".repeat(60));
    symlink(&mut ar, "len4000", &"c/".repeat(2000));
    let tar = write_tar(&dir, "t.tar", ar);
    round_trip(&dir, &tar);
    let image = dir.join("img.ext4");
    let st = debugfs(&image, &["stat /len59".into(), "stat /len60".into()]);
    assert!(st[0].contains("Fast link dest") && st[0].contains("Blockcount: 0"), "{}", st[0]);
    assert!(!st[1].contains("Fast link dest") && st[1].contains("Blockcount: 8"), "{}", st[1]);
}

#[test]
fn devices_fifos_and_special_modes_are_reproduced() {
    let dir = scratch("devices");
    let mut ar = tar::Builder::new(Vec::new());
    for (path, kind, major, minor) in [
        ("dev/null", EntryType::Char, 1, 3),
        ("dev/sda1", EntryType::Block, 8, 1),
        ("dev/nvme-big", EntryType::Block, 259, 70000),
        ("dev/big-major", EntryType::Char, 4000, 5),
    ] {
        let mut h = header(kind, 0o660, 0);
        h.set_device_major(major).unwrap();
        h.set_device_minor(minor).unwrap();
        h.set_uid(0);
        h.set_gid(6);
        ar.append_data(&mut h, path, &[][..]).unwrap();
    }
    ar.append_data(&mut header(EntryType::Fifo, 0o600, 0), "run/fifo", &[][..]).unwrap();
    dir_entry(&mut ar, "tmp", 0o1777);
    file(&mut ar, "bin/suid", 0o4755, b"#!/bin/true\n");
    file(&mut ar, "bin/sgid", 0o2711, b"#!/bin/true\n");
    let mut h = header(EntryType::Regular, 0o600, 5);
    h.set_uid(4_000_000_000);
    h.set_gid(3_000_000_000);
    ar.append_data(&mut h, "home/bigid", &b"ids!\n"[..]).unwrap();
    let tar = write_tar(&dir, "t.tar", ar);
    let got = round_trip(&dir, &tar);
    assert_eq!(got["/dev/nvme-big"].dev, Some((259, 70000)));
    assert_eq!(got["/tmp"].perm, 0o1777);
    assert_eq!(got["/home/bigid"].uid, 4_000_000_000);
}

fn sparse_source(dir: &Path) -> PathBuf {
    let src = dir.join("src");
    fs::create_dir_all(&src).unwrap();
    let f = fs::File::create(src.join("sparse")).unwrap();
    f.set_len(1 << 30).unwrap();
    use std::os::unix::fs::FileExt;
    f.write_all_at(b"start", 0).unwrap();
    f.write_all_at(b"middle", 512 << 20).unwrap();
    f.write_all_at(b"end", (1 << 30) - 3).unwrap();
    src
}

#[test]
fn sparse_gigabyte_file_costs_no_space() {
    let dir = scratch("sparse");
    let src = sparse_source(&dir);
    for format in ["gnu", "pax"] {
        let tar = dir.join(format!("{format}.tar"));
        let st = Command::new("tar")
            .args(["-cSf", tar.to_str().unwrap(), &format!("--format={format}"), "-C", src.to_str().unwrap(), "sparse"])
            .status()
            .unwrap();
        assert!(st.success());
        assert!(fs::metadata(&tar).unwrap().len() < 1 << 20, "tar itself must be sparse");
        let image = dir.join(format!("{format}.ext4"));
        build(&tar, &image, &[]);
        assert_fsck_clean(&image);
        assert!(fs::metadata(&image).unwrap().len() < 64 << 20, "image grew with the holes");
        let st = &debugfs(&image, &["stat /sparse".into()])[0];
        assert!(st.contains("Size: 1073741824"), "{st}");
        assert!(st.contains("Blockcount: 24"), "three data blocks expected: {st}");
        // Contents: dump and look at the three written places.
        let out = dir.join(format!("{format}.out"));
        debugfs(&image, &[format!("dump /sparse {}", out.display())]);
        let data = fs::read(&out).unwrap();
        assert_eq!(data.len(), 1 << 30);
        assert_eq!(&data[..5], b"start");
        assert_eq!(&data[512 << 20..(512 << 20) + 6], b"middle");
        assert_eq!(&data[(1 << 30) - 3..], b"end");
        assert!(data[6..4096].iter().all(|&b| b == 0));
        fs::remove_file(&out).unwrap();
    }
}

#[test]
fn file_with_thousands_of_extents_round_trips() {
    let dir = scratch("extents");
    // Alternate data and zero blocks: every data block is its own extent,
    // which needs leaf blocks and an index level (depth 2).
    let mut data = vec![0u8; 2 * 4096 * 2000];
    for i in 0..2000 {
        data[i * 8192..i * 8192 + 8].copy_from_slice(&(i as u64 + 1).to_le_bytes());
    }
    let mut ar = tar::Builder::new(Vec::new());
    file(&mut ar, "fragmented", 0o644, &data);
    let tar = write_tar(&dir, "t.tar", ar);
    round_trip(&dir, &tar);
    let st = &debugfs(&dir.join("img.ext4"), &["stat /fragmented".into()])[0];
    assert!(st.contains("(ETB1)"), "expected a depth-2 extent tree: {st}");
}

#[test]
fn extended_attributes_from_pax_are_stored() {
    let dir = scratch("xattrs");
    let cap = [1u8, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
    let mut ar = tar::Builder::new(Vec::new());
    append_pax(&mut ar, &[("SCHILY.xattr.security.capability", &cap)]);
    file(&mut ar, "usr/bin/ping", 0o755, b"ELF-ish");
    let big = vec![b'v'; 600];
    append_pax(&mut ar, &[("SCHILY.xattr.user.big", &big), ("SCHILY.xattr.user.small", b"s")]);
    file(&mut ar, "big-xattr", 0o644, b"data");
    let tar = write_tar(&dir, "t.tar", ar);
    round_trip(&dir, &tar);
    let image = dir.join("img.ext4");
    let out = debugfs(&image, &["ea_list /usr/bin/ping".into(), "ea_list /big-xattr".into(), "stat /big-xattr".into()]);
    assert!(out[0].contains("security.capability (20) = 01 00 00 02 00 20 00 00"), "{}", out[0]);
    assert!(out[1].contains("user.big (600)") && out[1].contains("user.small (1)"), "{}", out[1]);
    assert!(!out[2].contains("File ACL: 0"), "600-byte value needs an xattr block: {}", out[2]);
}

#[test]
fn ten_thousand_files_in_one_directory() {
    let dir = scratch("many");
    let mut ar = tar::Builder::new(Vec::new());
    for i in 0..10_000 {
        let data = format!("{i}\n");
        file(&mut ar, &format!("many/file-with-a-longish-name-{i:05}"), 0o644, data.as_bytes());
    }
    let tar = write_tar(&dir, "t.tar", ar);
    let image = dir.join("img.ext4");
    build(&tar, &image, &[]);
    assert_fsck_clean(&image);
    let out = &debugfs(&image, &["ls -p /many".into(), "cat /many/file-with-a-longish-name-09999".into()]);
    let names = out[0].lines().filter(|l| l.contains("/file-with-a-longish-name-")).count();
    assert_eq!(names, 10_000);
    assert_eq!(out[1], "9999\n");
}

#[test]
fn empty_archives_give_an_empty_clean_image() {
    let dir = scratch("empty");
    for (name, bytes) in [("zeros.tar", vec![0u8; 1024]), ("nothing.tar", Vec::new())] {
        let tar = dir.join(name);
        fs::write(&tar, bytes).unwrap();
        let image = dir.join(format!("{name}.ext4"));
        build(&tar, &image, &[]);
        assert_fsck_clean(&image);
        let got = read_image(&image);
        assert_eq!(got.keys().collect::<Vec<_>>(), vec!["/lost+found"]);
    }
}

#[test]
fn dot_dot_and_absolute_paths_stay_inside_the_image() {
    let dir = scratch("escape");
    let out_dir = dir.join("out");
    fs::create_dir_all(&out_dir).unwrap();
    let mut ar = tar::Builder::new(Vec::new());
    append_raw(&mut ar, b"../../escape.txt", EntryType::Regular, b"up", b"");
    append_raw(&mut ar, b"/abs/file", EntryType::Regular, b"abs", b"");
    append_raw(&mut ar, b"a/../../b", EntryType::Regular, b"b", b"");
    append_raw(&mut ar, b"etc", EntryType::Symlink, b"", b"/host-etc");
    append_raw(&mut ar, b"etc/passwd", EntryType::Regular, b"via link", b"");
    let tar = write_tar(&dir, "t.tar", ar);
    let image = out_dir.join("img.ext4");
    build(&tar, &image, &[]);
    assert_fsck_clean(&image);
    let got = read_image(&image);
    assert_eq!(got["/escape.txt"].sha256.as_deref(), Some(sha256(b"up").as_str()));
    assert_eq!(got["/abs/file"].sha256.as_deref(), Some(sha256(b"abs").as_str()));
    assert_eq!(got["/b"].sha256.as_deref(), Some(sha256(b"b").as_str()));
    // A symlink in the middle of a path is followed inside the image only.
    assert_eq!(got["/host-etc/passwd"].sha256.as_deref(), Some(sha256(b"via link").as_str()));
    assert_eq!(leftovers(&out_dir, &["img.ext4"]), Vec::<String>::new());
    assert_eq!(leftovers(&dir, &["t.tar", "out"]), Vec::<String>::new());
}

#[test]
fn later_entries_replace_earlier_ones() {
    let dir = scratch("replace");
    let mut ar = tar::Builder::new(Vec::new());
    file(&mut ar, "x", 0o644, b"first version, longer than the second");
    file(&mut ar, "x", 0o600, b"second");
    dir_entry(&mut ar, "d", 0o700);
    file(&mut ar, "d/kept", 0o644, b"kept");
    let mut h = header(EntryType::Directory, 0o751, 0);
    h.set_uid(5);
    ar.append_data(&mut h, "d", &[][..]).unwrap();
    symlink(&mut ar, "s", "x");
    file(&mut ar, "s", 0o644, b"now a file");
    file(&mut ar, "f", 0o644, b"becomes a dir");
    dir_entry(&mut ar, "f", 0o755);
    let tar = write_tar(&dir, "t.tar", ar);
    let got = round_trip(&dir, &tar);
    assert_eq!(got["/x"].sha256.as_deref(), Some(sha256(b"second").as_str()));
    assert_eq!((got["/d"].perm, got["/d"].uid), (0o751, 5));
    assert!(got.contains_key("/d/kept"));
    assert_eq!(got["/f"].kind, 'd');
}
