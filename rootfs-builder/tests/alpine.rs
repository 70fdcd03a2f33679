//! The reference Alpine minirootfs: built image is clean and equals the tarball.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

use common::*;

#[test]
fn alpine_image_is_fsck_clean_and_matches_the_tarball() {
    let Some(tar) = alpine_tarball() else { return };
    let dir = scratch("alpine-match");
    let image = dir.join("alpine.ext4");
    build(&tar, &image, &[]);
    assert_fsck_clean(&image);
    let got = read_image(&image);
    assert_image_matches(&got, &read_tar(&tar));
    assert_eq!(got["/lost+found"].kind, 'd');
    // The journal is valid and empty.
    let log = &debugfs(&image, &["logdump".to_string()])[0];
    assert!(log.contains("Journal starts at block"), "{log}");
    assert_eq!(leftovers(&dir, &["alpine.ext4"]), Vec::<String>::new());
}

/// The same tarball recompressed with xz, zstd and bzip2 (by their own tools) gives the
/// same tree: the format is told from the bytes, the name says nothing.
#[test]
fn xz_zstd_and_bzip2_tarballs_give_the_same_tree_as_gzip() {
    let Some(tar) = alpine_tarball() else { return };
    let dir = scratch("alpine-formats");
    let plain = Command::new("gzip").arg("-dc").arg(&tar).output().unwrap();
    assert!(plain.status.success());
    let expected = read_tar(&tar);
    for tool in ["xz", "zstd", "bzip2"] {
        let input = dir.join(format!("rootfs-{tool}.tar"));
        let packed = Command::new("sh")
            .arg("-c")
            .arg(format!("{tool} -c > '{}'", input.display()))
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write;
                c.stdin.take().unwrap().write_all(&plain.stdout)?;
                c.wait()
            });
        if !packed.is_ok_and(|s| s.success()) {
            eprintln!("SKIPPED {tool}: no {tool} command to make the input");
            continue;
        }
        let image = dir.join(format!("{tool}.ext4"));
        build(&input, &image, &[]);
        assert_fsck_clean(&image);
        assert_image_matches(&read_image(&image), &expected);
    }
}

#[test]
fn alpine_image_built_by_nobody_keeps_root_owners() {
    let Some(tar) = alpine_tarball() else { return };
    let dir = scratch("alpine-nobody");
    let image = dir.join("alpine.ext4");
    let is_root = fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m) == 0).unwrap_or(false);
    let status = if is_root {
        // Only the scratch directory is writable for uid 65534.
        Command::new("chown").args(["65534:65534"]).arg(&dir).status().unwrap();
        fs::set_permissions(&dir, fs::Permissions::from_mode(0o755)).unwrap();
        Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", bin()])
            .arg(&tar)
            .arg("-o")
            .arg(&image)
            .arg("-q")
            .status()
            .unwrap()
    } else {
        Command::new(bin()).arg(&tar).arg("-o").arg(&image).arg("-q").status().unwrap()
    };
    assert!(status.success());
    let owner = std::os::unix::fs::MetadataExt::uid(&fs::metadata(&image).unwrap());
    if is_root {
        assert_eq!(owner, 65534, "image must have been written by nobody");
    }
    assert_fsck_clean(&image);
    let got = read_image(&image);
    assert_eq!(got["/etc/passwd"].uid, 0);
    assert_eq!(got["/bin/busybox"].gid, 0);
    assert_image_matches(&got, &read_tar(&tar));
}

#[test]
fn reproducible_builds_are_byte_identical() {
    let Some(tar) = alpine_tarball() else { return };
    let dir = scratch("reproducible");
    let (a, b) = (dir.join("a.ext4"), dir.join("b.ext4"));
    build(&tar, &a, &["--reproducible"]);
    build(&tar, &b, &["--reproducible"]);
    assert_fsck_clean(&a);
    assert!(fs::read(&a).unwrap() == fs::read(&b).unwrap(), "images differ");
    // Without the flag the UUID is random.
    let c = dir.join("c.ext4");
    build(&tar, &c, &[]);
    assert!(fs::read(&a).unwrap() != fs::read(&c).unwrap());
}

#[test]
fn add_binary_brings_interpreter_and_libraries() {
    let Some(tar) = alpine_tarball() else { return };
    let host_bin = "/bin/ls";
    let dir = scratch("add-binary");
    let image = dir.join("img.ext4");
    build(&tar, &image, &["--add-binary", host_bin]);
    assert_fsck_clean(&image);
    let got = read_image(&image);
    let ls = &got["/bin/ls"];
    assert_eq!(ls.kind, '-');
    assert_eq!(ls.sha256.as_deref(), Some(sha256(&fs::read(host_bin).unwrap()).as_str()));
    let interp = &got["/lib64/ld-linux-x86-64.so.2"];
    let real_interp = match &interp.target {
        Some(t) if interp.kind == 'l' => normalize(format!("/lib64/{}", String::from_utf8_lossy(t)).as_bytes()),
        _ => "/lib64/ld-linux-x86-64.so.2".to_string(),
    };
    if interp.kind == 'l' && interp.target.as_ref().unwrap().starts_with(b"/") {
        let t = String::from_utf8_lossy(interp.target.as_ref().unwrap()).into_owned();
        assert_eq!(got[&t].kind, '-', "interpreter target {t} missing");
    } else {
        assert_eq!(got[&real_interp].kind, '-', "interpreter target {real_interp} missing");
    }
    let libc = got.iter().find(|(p, e)| p.ends_with("/libc.so.6") && e.kind == '-').map(|(p, _)| p.clone());
    assert!(libc.is_some(), "libc.so.6 missing from image");
    // Alpine's own files are untouched.
    assert_eq!(got["/bin/busybox"].kind, '-');
}

#[test]
fn add_copies_a_host_tree_owned_by_root() {
    let Some(tar) = alpine_tarball() else { return };
    let dir = scratch("add-tree");
    let src = dir.join("src");
    fs::create_dir_all(src.join("sub")).unwrap();
    fs::write(src.join("sub/hello.txt"), b"hello\n").unwrap();
    fs::set_permissions(src.join("sub/hello.txt"), fs::Permissions::from_mode(0o4755)).unwrap();
    std::os::unix::fs::symlink("sub/hello.txt", src.join("link")).unwrap();
    fs::write(dir.join("single"), b"one file").unwrap();
    let image = dir.join("img.ext4");
    let add_tree = format!("{}:/opt/app", src.display());
    let add_file = format!("{}:/etc/single.conf", dir.join("single").display());
    build(&tar, &image, &["--add", &add_tree, "--add", &add_file]);
    assert_fsck_clean(&image);
    let got = read_image(&image);
    let hello = &got["/opt/app/sub/hello.txt"];
    assert_eq!((hello.uid, hello.gid, hello.perm), (0, 0, 0o4755));
    assert_eq!(hello.sha256.as_deref(), Some(sha256(b"hello\n").as_str()));
    assert_eq!(got["/opt/app/link"].target.as_deref(), Some(&b"sub/hello.txt"[..]));
    assert_eq!(got["/etc/single.conf"].sha256.as_deref(), Some(sha256(b"one file").as_str()));
}
