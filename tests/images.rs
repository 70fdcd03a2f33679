//! Images: rootfs-builder's ext4 checked by the kernel itself (loop-mounted and walked,
//! mounted read-write and remounted), and husk booting images through loop devices with
//! an overlay on top, persistent upper layers, stacked layers, and no leaks.

mod common;
use common::*;
use std::path::{Path, PathBuf};
use std::process::Command;

fn tmp(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("images-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn sh_ok(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every entry with its type, mode, owner, size, link target and content hash.
fn tree(dir: &Path) -> String {
    sh_ok(&format!(
        "cd {} && find . -mindepth 1 ! -path './lost+found*' -printf '%y %m %U %G %s %l %p\\n' | sort -k7 | \
         while read -r t m u g s l p; do h=; [ \"$t\" = f ] && h=$(sha256sum \"$p\" | cut -c1-64); \
         [ \"$t\" = d ] && s=-; echo \"$t $m $u $g $s $l $p $h\"; done",
        dir.display()
    ))
}

#[test]
fn an_unprivileged_build_of_alpine_is_what_the_kernel_mounts() {
    if !can_run("img-tree") {
        return;
    }
    let dir = tmp("tree");
    std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let image = dir.join("alpine.ext4");
    // Built as nobody: no root, no mkfs, no mount.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(builder())
        .arg("-q")
        .arg(tarball().unwrap())
        .arg("-o")
        .arg(&image)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    sh_ok(&format!("e2fsck -fn {}", image.display()));

    let reference = dir.join("ref");
    std::fs::create_dir(&reference).unwrap();
    sh_ok(&format!("tar -xpf {} --numeric-owner -C {}", tarball().unwrap().display(), reference.display()));
    let mnt = dir.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    sh_ok(&format!("mount -o loop,ro {} {}", image.display(), mnt.display()));
    let walked = tree(&mnt);
    sh_ok(&format!("umount {}", mnt.display()));
    assert_eq!(walked, tree(&reference), "the mounted image differs from the tarball");
    assert!(walked.lines().count() > 400, "suspiciously small tree");
}

#[test]
fn the_image_mounts_read_write_and_writes_survive_a_remount() {
    if !can_run("img-rw") {
        return;
    }
    let dir = tmp("rw");
    let image = dir.join("alpine.ext4");
    build_image(&tarball().unwrap(), &image);
    let mnt = dir.join("mnt");
    std::fs::create_dir(&mnt).unwrap();
    sh_ok(&format!(
        "mount -o loop {i} {m} && mkdir {m}/new && head -c 3000000 /dev/urandom > {m}/new/blob && \
         sha256sum {m}/new/blob | cut -c1-64 > {d}/sum && rm {m}/etc/motd && umount {m}",
        i = image.display(),
        m = mnt.display(),
        d = dir.display()
    ));
    // The loop device lets go of the image after umount in a kernel work item: until its
    // last writes are flushed, a checker may read a half-written image.
    sh_ok(&format!(
        "for i in $(seq 50); do e2fsck -fn {} >/dev/null 2>&1 && exit 0; sleep 0.1; done; exit 1",
        image.display()
    ));
    let after = sh_ok(&format!(
        "mount -o loop,ro {i} {m} && sha256sum {m}/new/blob | cut -c1-64; ls {m}/etc/motd 2>&1; umount {m}",
        i = image.display(),
        m = mnt.display()
    ));
    let expected = std::fs::read_to_string(dir.join("sum")).unwrap();
    assert!(after.starts_with(&expected), "{after}");
    assert!(after.contains("No such file"), "deleted file came back: {after}");
}

#[test]
fn husk_boots_an_image_without_changing_it() {
    if !can_run("img-run") {
        return;
    }
    let dir = tmp("run");
    let image = dir.join("alpine.ext4");
    build_image(&tarball().unwrap(), &image);
    let sum = sh_ok(&format!("sha256sum {}", image.display()));
    let img = image.to_str().unwrap();
    let run = |extra: &[&str], script: &str| {
        let mut cmd = Command::new(husk());
        cmd.env("HUSK_ROOT", state_root("img-run"))
            .args(["run", "--image", img])
            .args(extra)
            .args(["--", "sh", "-c", script]);
        let out = cmd.output().unwrap();
        (String::from_utf8_lossy(&out.stdout).into_owned(), out.status.code().unwrap_or(-1))
    };
    let (out, code) = run(&[], "echo x > /newfile && cat /newfile && cat /etc/alpine-release");
    assert_eq!(code, 0);
    assert!(out.starts_with("x\n3.20"), "{out}");
    assert_eq!(sh_ok(&format!("sha256sum {}", image.display())), sum, "the image changed");
    assert!(!Path::new("/newfile").exists());

    // --persist keeps the upper layer: the file is there in the next run.
    let keep = dir.join("keep");
    let keep_arg = keep.to_str().unwrap();
    assert_eq!(run(&["--persist", keep_arg], "echo kept > /kept && rm /etc/motd").1, 0);
    let (out, code) = run(&["--persist", keep_arg], "cat /kept; ls /etc/motd 2>/dev/null || echo motd-gone");
    assert_eq!((out.as_str(), code), ("kept\nmotd-gone\n", 0));
    assert_eq!(sh_ok(&format!("sha256sum {}", image.display())), sum, "the image changed");

    // --rw-image writes into the image itself, which stays clean.
    assert_eq!(run(&["--rw-image"], "echo inside > /inimage").1, 0);
    sh_ok(&format!("e2fsck -fn {}", image.display()));
    assert_eq!(sh_ok(&format!("debugfs -R 'cat /inimage' {} 2>/dev/null", image.display())), "inside\n");
}

#[test]
fn layers_stack_and_whiteouts_hide_lower_files() {
    if !can_run("img-layers") {
        return;
    }
    let dir = tmp("layers");
    let image = dir.join("alpine.ext4");
    build_image(&tarball().unwrap(), &image);
    // A directory layer adds one file, an image layer adds another and replaces a third.
    let dlayer = dir.join("dlayer");
    std::fs::create_dir_all(dlayer.join("opt")).unwrap();
    std::fs::write(dlayer.join("opt/from-dir"), "dir layer\n").unwrap();
    let src = dir.join("src");
    std::fs::create_dir_all(src.join("opt")).unwrap();
    std::fs::write(src.join("opt/from-image"), "image layer\n").unwrap();
    std::fs::write(src.join("opt/from-dir"), "image layer wins\n").unwrap();
    sh_ok(&format!("tar -cf {}/layer.tar -C {} opt", dir.display(), src.display()));
    let ilayer = dir.join("layer.ext4");
    build_image(&dir.join("layer.tar"), &ilayer);
    let keep = dir.join("keep");
    let args = |script: &str| {
        let out = Command::new(husk())
            .env("HUSK_ROOT", state_root("img-layers"))
            .args(["run", "--image"])
            .arg(&image)
            .arg("--layer")
            .arg(&dlayer)
            .arg("--layer")
            .arg(&ilayer)
            .arg("--persist")
            .arg(&keep)
            .args(["--", "sh", "-c", script])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert_eq!(
        args("cat /opt/from-dir /opt/from-image; rm /opt/from-image /bin/ls"),
        "image layer wins\nimage layer\n"
    );
    let out = args("for f in /opt/*; do echo ${f#/opt/}; done; [ -e /bin/ls ] || echo ls-deleted");
    assert_eq!(out, "from-dir\nls-deleted\n", "the upper layer's whiteouts hide lower files");
    assert!(src.join("opt/from-image").exists() && dlayer.join("opt/from-dir").exists());
}

#[test]
fn two_hundred_runs_leave_no_loop_device_mount_or_directory() {
    if !can_run("img-leaks") {
        return;
    }
    let dir = tmp("leaks");
    let image = dir.join("alpine.ext4");
    build_image(&tarball().unwrap(), &image);
    let loops = || sh_ok(&format!("losetup -j {} | wc -l", image.display()));
    // Other tests of this file mount their images on the host meanwhile: not ours to count.
    let others = format!("/images-.*-{}/", std::process::id());
    let mounts = || sh_ok(&format!("grep -cv -- '{others}' /proc/self/mountinfo"));
    let (loops_before, mounts_before) = (loops(), mounts());
    let root = state_root("img-leaks");
    for i in 0..200 {
        let out = Command::new(husk())
            .env("HUSK_ROOT", &root)
            .args(["run", "--image"])
            .arg(&image)
            .args(["--", "/bin/true"])
            .output()
            .unwrap();
        assert!(out.status.success(), "run {i}: {}", String::from_utf8_lossy(&out.stderr));
    }
    assert_eq!(loops(), loops_before, "loop devices left attached");
    assert_eq!(loops().trim(), "0");
    assert_eq!(mounts(), mounts_before, "mounts left");
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0, "state directories left");
}

#[test]
fn image_misuse_is_refused_before_anything_is_created() {
    if !can_run("img-bad") {
        return;
    }
    let root = state_root("img-bad");
    let alpine = alpine();
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--image", "/no/such.ext4"], "--image /no/such.ext4: No such file or directory"),
        (vec!["--image", "/tmp"], "is not a regular file"),
        (vec!["--rootfs", alpine.to_str().unwrap(), "--image", "/etc/passwd"], "exclude each other"),
        (vec!["--rootfs", alpine.to_str().unwrap(), "--rw-image"], "--rw-image goes with --image"),
        (
            vec!["--rootfs", alpine.to_str().unwrap(), "--rootfs-rw", "--persist", "/tmp/x"],
            "--persist needs the overlay",
        ),
        (vec!["--rootfs", alpine.to_str().unwrap(), "--layer", "/no/such/layer"], "--layer /no/such/layer"),
        (vec!["--image", "/etc/passwd"], "image /etc/passwd: is not an ext4 filesystem"),
    ];
    for (args, expect) in cases {
        let out =
            Command::new(husk()).env("HUSK_ROOT", &root).arg("run").args(&args).args(["--", "true"]).output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(125), "{args:?}: {err}");
        assert!(err.contains(expect) && err.lines().count() == 1, "{args:?}: {err}");
    }
    assert_eq!(sh_ok("losetup -j /etc/passwd | wc -l").trim(), "0");
    assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
}
