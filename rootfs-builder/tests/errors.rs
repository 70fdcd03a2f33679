//! Bad input and bad usage: one clear line on stderr, the right exit code,
//! and never a partial image or temporary file left behind.

mod common;

use std::fs;
use std::io::Write;
use std::path::Path;

use common::*;

fn assert_fails_cleanly(dir: &Path, input: &Path, code: i32, needle: &str) {
    let image = dir.join("img.ext4");
    let out = run(&[input.to_str().unwrap(), "-o", image.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    assert!(stderr.starts_with("rootfs-builder: ") && stderr.lines().count() == 1, "stderr: {stderr}");
    assert!(stderr.contains(needle), "expected '{needle}' in: {stderr}");
    let input_name = input.file_name().unwrap().to_str().unwrap();
    assert_eq!(leftovers(dir, &[input_name]), Vec::<String>::new());
}

fn small_tar() -> Vec<u8> {
    let mut ar = tar::Builder::new(Vec::new());
    let data = vec![7u8; 100_000];
    ar.append_data(&mut header(tar::EntryType::Regular, 0o644, data.len() as u64), "file", &data[..]).unwrap();
    ar.into_inner().unwrap()
}

#[test]
fn truncated_gzip_is_an_error_and_leaves_nothing() {
    let dir = scratch("truncated-gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&small_tar()).unwrap();
    let bytes = gz.finish().unwrap();
    let input = dir.join("t.tar.gz");
    fs::write(&input, &bytes[..bytes.len() / 2]).unwrap();
    assert_fails_cleanly(&dir, &input, 1, "t.tar.gz");
}

#[test]
fn truncated_plain_tar_is_an_error_and_leaves_nothing() {
    let dir = scratch("truncated-tar");
    let input = dir.join("t.tar");
    fs::write(&input, &small_tar()[..50_000]).unwrap();
    assert_fails_cleanly(&dir, &input, 1, "unexpected end of archive");
}

#[test]
fn garbage_input_is_an_error_and_leaves_nothing() {
    let dir = scratch("garbage");
    let input = dir.join("garbage.bin");
    let mut x: u64 = 0x1234_5678;
    let noise: Vec<u8> = (0..10_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect();
    fs::write(&input, noise).unwrap();
    assert_fails_cleanly(&dir, &input, 1, "corrupt tar header");
}

#[test]
fn damaged_xz_zstd_and_bzip2_streams_are_errors_and_leave_nothing() {
    for (name, bytes) in [
        ("rootfs.tar.xz", &b"\xfd7zXZ\x00rest-of-stream"[..]),
        ("rootfs.tar.zst", &b"\x28\xb5\x2f\xfdrest-of-frame"[..]),
        ("rootfs.tar.bz2", &b"BZh9rest-of-stream"[..]),
    ] {
        let dir = scratch(&format!("bad-{name}"));
        let input = dir.join(name);
        fs::write(&input, bytes).unwrap();
        assert_fails_cleanly(&dir, &input, 1, "");
    }
    // Real streams cut in half: each decoder notices the missing end.
    for tool in ["xz", "zstd", "bzip2"] {
        let Some(packed) = compress(tool, &small_tar()) else {
            eprintln!("SKIPPED truncated {tool}: no {tool} command");
            continue;
        };
        let dir = scratch(&format!("cut-{tool}"));
        let input = dir.join("rootfs.tar.c");
        fs::write(&input, &packed[..packed.len() / 2]).unwrap();
        assert_fails_cleanly(&dir, &input, 1, "");
    }
}

/// `data` through `tool -c`; None without the tool.
fn compress(tool: &str, data: &[u8]) -> Option<Vec<u8>> {
    let mut child = std::process::Command::new(tool)
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .ok()?;
    let mut stdin = child.stdin.take()?;
    let data = data.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data));
    let out = child.wait_with_output().ok()?;
    writer.join().ok()?.ok()?;
    out.status.success().then_some(out.stdout)
}

#[test]
fn missing_input_is_an_error() {
    let dir = scratch("missing");
    let out = run(&["/nonexistent/rootfs.tar", "-o", dir.join("img.ext4").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("rootfs-builder: opening '/nonexistent/rootfs.tar': "));
    assert_eq!(leftovers(&dir, &[]), Vec::<String>::new());
}

#[test]
fn too_small_size_is_an_error_and_leaves_nothing() {
    let dir = scratch("too-small");
    let input = dir.join("t.tar");
    let mut ar = tar::Builder::new(Vec::new());
    let data = vec![1u8; 3 << 20];
    ar.append_data(&mut header(tar::EntryType::Regular, 0o644, data.len() as u64), "big", &data[..]).unwrap();
    fs::write(&input, ar.into_inner().unwrap()).unwrap();
    let image = dir.join("img.ext4");
    let out = run(&[input.to_str().unwrap(), "-o", image.to_str().unwrap(), "--size", "2m", "--no-journal"]);
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(leftovers(&dir, &["t.tar"]), Vec::<String>::new());
}

#[test]
fn usage_errors_exit_2_and_help_lists_every_flag() {
    assert_eq!(run(&[]).status.code(), Some(2));
    assert_eq!(run(&["x.tar"]).status.code(), Some(2));
    assert_eq!(run(&["x.tar", "-o", "y", "--size", "lots"]).status.code(), Some(2));
    assert_eq!(run(&["x.tar", "-o", "y", "--bogus"]).status.code(), Some(2));
    let help = run(&["--help"]);
    assert!(help.status.success());
    let text = String::from_utf8_lossy(&help.stdout);
    for flag in [
        "--output",
        "--size",
        "--inodes",
        "--label",
        "--uuid",
        "--reproducible",
        "--no-journal",
        "--add ",
        "--add-binary",
        "--preserve-owner",
        "--quiet",
        "--help",
        "--version",
    ] {
        assert!(text.contains(flag), "--help lacks {flag}");
    }
}

#[test]
fn size_label_uuid_and_no_journal_options_apply() {
    let dir = scratch("options");
    let input = dir.join("t.tar");
    fs::write(&input, small_tar()).unwrap();
    let image = dir.join("img.ext4");
    let uuid = "0b1c2d3e-4f50-4617-8829-3a4b5c6d7e8f";
    build(
        &input,
        &image,
        &["--size", "96m", "--label", "husk-root", "--uuid", uuid, "--no-journal", "--inodes", "5000"],
    );
    assert_fsck_clean(&image);
    assert_eq!(fs::metadata(&image).unwrap().len(), 96 << 20);
    let stats = &debugfs(&image, &["stats".into()])[0];
    assert!(stats.contains("Filesystem volume name:   husk-root"), "{stats}");
    assert!(stats.contains(&format!("Filesystem UUID:          {uuid}")), "{stats}");
    assert!(!stats.contains("has_journal"), "{stats}");
    let inodes: u64 = stats.lines().find(|l| l.starts_with("Inode count:")).unwrap()[12..].trim().parse().unwrap();
    assert!((5000..5100).contains(&inodes), "{inodes}");
}

#[test]
fn stdin_input_works() {
    let dir = scratch("stdin");
    let image = dir.join("img.ext4");
    let mut child = std::process::Command::new(bin())
        .args(["-", "-o", image.to_str().unwrap(), "-q"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&small_tar()).unwrap();
    assert!(child.wait().unwrap().success());
    assert_fsck_clean(&image);
    let got = read_image(&image);
    assert_eq!(got["/file"].size, 100_000);
}

/// Image input that cannot be read is refused with the reason, never turned into an image
/// of blobs that would not run: a compressed image archive (its blobs are read in place),
/// an image with no manifest for this machine, and a directory that is no OCI layout.
#[test]
fn unreadable_images_and_plain_directories_are_refused_with_the_reason() {
    let archive = |entries: &[(&str, &[u8])]| {
        let mut ar = tar::Builder::new(Vec::new());
        for (path, data) in entries {
            ar.append_data(&mut header(tar::EntryType::Regular, 0o644, data.len() as u64), path, *data).unwrap();
        }
        ar.into_inner().unwrap()
    };
    let layout = br#"{"imageLayoutVersion":"1.0.0"}"#;
    let index = br#"{"schemaVersion":2,"manifests":[]}"#;
    let oci = archive(&[("oci-layout", layout), ("index.json", index), ("blobs/sha256/00", b"x")]);
    let old_save = archive(&[("0123abcd/layer.tar", b"x"), ("0123abcd/json", b"{}"), ("manifest.json", b"[]")]);
    let gzip = |data: &[u8]| {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    };
    let cases: [(&str, Vec<u8>, &str); 3] = [
        ("oci.tar.gz", gzip(&oci), "a compressed container image archive"),
        ("docker-save.tar.gz", gzip(&old_save), "a compressed container image archive"),
        ("oci.tar", oci.clone(), "no manifest for linux/"),
    ];
    for (name, bytes, reason) in cases {
        let dir = scratch(&format!("image-{name}"));
        let input = dir.join(name);
        fs::write(&input, bytes).unwrap();
        assert_fails_cleanly(&dir, &input, 1, reason);
    }
    let dir = scratch("image-plain-dir");
    let plain = dir.join("tree");
    fs::create_dir_all(plain.join("etc")).unwrap();
    let image = dir.join("img.ext4");
    let out = run(&[plain.to_str().unwrap(), "-o", image.to_str().unwrap()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("neither a tarball nor an OCI image layout") && stderr.lines().count() == 1, "{stderr}");
    assert!(!image.exists());
}
