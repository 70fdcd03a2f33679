//! The image store: `husk load` of OCI and docker save archives (the tests' own, and
//! podman's when installed), `husk images`, `tag`, `rmi`, `save`, and `husk run NAME`
//! with the image config's defaults and docker's overrides.

mod common;
use common::oci_image::*;
use common::*;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn blobs(dir: &Path) -> usize {
    std::fs::read_dir(dir.join("store/blobs/sha256")).map_or(0, |d| d.count())
}

/// The test image in `dir`: its layers, layout, OCI archive and docker save archive.
struct TestImage {
    one: Vec<u8>,
    two: Vec<u8>,
    layout: Layout,
    oci_archive: PathBuf,
    docker_archive: PathBuf,
}

fn test_image(dir: &Path) -> TestImage {
    let one = layer_one(dir, &tarball().unwrap());
    let two = layer_two(dir, "amd64-or-host");
    let layout = layout(&dir.join("layout"), &one, &two, "docker.io/test/greet:1", None);
    let oci_archive = dir.join("oci.tar");
    tar_of(&layout.dir, &oci_archive);
    let docker_archive = docker_save(dir, &one, &two, &layout.config, "test/greet:docker");
    TestImage { one, two, layout, oci_archive, docker_archive }
}

#[test]
fn loaded_images_run_by_name_with_their_config_and_docker_overrides() {
    if !can_run("store-run") {
        return;
    }
    let dir = scratch_dir("store", "run");
    let img = test_image(&dir);
    let id = sha256(&img.layout.config);
    assert_eq!(husk_ok(&dir, &[], &["load", "-i", img.oci_archive.to_str().unwrap()]), "Loaded image: test/greet:1\n");
    let listed = husk_ok(&dir, &[], &["images"]);
    let line = listed.lines().nth(1).unwrap_or_default().split_whitespace().collect::<Vec<_>>();
    assert_eq!(&line[..3], ["test/greet", "1", &id[..12]], "{listed}");
    assert_eq!(husk_ok(&dir, &[], &["images", "-q"]), format!("{}\n", &id[..12]));

    // Entrypoint + Cmd, Env, WorkingDir (made), User; then each overridden as docker does.
    assert_eq!(husk_ok(&dir, &[], &["run", "--rm", "test/greet:1"]), "hello world from /srv as nobody\n");
    assert_eq!(husk_ok(&dir, &[], &["run", "--rm", "test/greet:1", "there"]), "hello there from /srv as nobody\n");
    assert_eq!(
        husk_ok(&dir, &[], &["run", "--rm", "-e", "GREETING=hi", "-w", "/tmp", "-u", "root", "docker.io/test/greet:1"]),
        "hi world from /tmp as root\n"
    );
    assert_eq!(
        husk_ok(&dir, &[], &["run", "--rm", "--entrypoint", "cat", "test/greet:1", "/etc/hello"]),
        "amd64-or-host\n"
    );
    assert_eq!(husk_ok(&dir, &[], &["run", "--rm", &id[..12], "by-id"]), "hello by-id from /srv as nobody\n");
    // The second layer's whiteout and opaque directory.
    let probe = "test ! -e /etc/motd && ls /opt/x && stat -c %u:%g /opt/x/mine";
    assert_eq!(husk_ok(&dir, &[], &["run", "--rm", "--entrypoint", "sh", "test/greet:1", "-c", probe]), "mine\n1:1\n");

    // The docker save form of the same image: the same ID, its layers stored beside the
    // compressed ones (different blobs), its ext4 shared.
    let before = blobs(&dir);
    assert_eq!(
        husk_ok(&dir, &[], &["load", "-i", img.docker_archive.to_str().unwrap()]),
        "Loaded image: test/greet:docker\n"
    );
    assert_eq!(blobs(&dir), before + 2, "the uncompressed first layer and a manifest");
    assert_eq!(husk_ok(&dir, &[], &["run", "--rm", "test/greet:docker"]), "hello world from /srv as nobody\n");
    // A second image sharing the first layer stores it once.
    let three = layer_two(&dir, "three");
    let other = layout(&dir.join("layout-3"), &img.one, &three, "docker.io/test/other:1", None);
    let before = blobs(&dir);
    husk_ok(&dir, &[], &["load", "-i", other.dir.to_str().unwrap()]);
    assert_eq!(blobs(&dir), before + 3, "only the new layer, config and manifest");

    // tag, rmi by name (the image stays while it has a name), by ID with several names.
    husk_ok(&dir, &[], &["tag", "test/greet:1", "mine:v2"]);
    assert_eq!(husk_ok(&dir, &[], &["run", "--rm", "mine:v2", "tagged"]), "hello tagged from /srv as nobody\n");
    let out = husk_in(&dir, &[], &["rmi", &id[..12]]);
    assert_eq!(out.status.code(), Some(1), "several names: refused without -f");
    assert_eq!(husk_ok(&dir, &[], &["rmi", "mine:v2"]), "Untagged: mine:v2\n");
    let out = husk_ok(&dir, &[], &["rmi", "-f", &id[..12]]);
    assert!(out.contains("Untagged: test/greet:1\n") && out.ends_with(&format!("Deleted: sha256:{id}\n")), "{out}");
    assert_eq!(std::fs::read_dir(dir.join("store/images")).unwrap().count(), 1, "the other image's ext4 stays");
    assert_eq!(husk_ok(&dir, &[], &["run", "--rm", "test/other:1"]), "hello world from /srv as nobody\n");
    assert!(dir.join("store/blobs/sha256").join(sha256(&img.one)).exists(), "shared layer kept for test/other");
    husk_ok(&dir, &[], &["rmi", "test/other:1"]);
    assert_eq!(blobs(&dir), 0, "{:?}", std::fs::read_dir(dir.join("store/blobs/sha256")).unwrap().collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_image_input_is_refused_with_the_reason_and_leaves_nothing() {
    if !can_run("store-bad") {
        return;
    }
    let dir = scratch_dir("store", "bad");
    let out = husk_in(&dir, &[], &["run", "--rm", "nosuch:1", "true"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125));
    assert!(err.contains("\"nosuch:1\"") && err.contains("husk pull or husk load"), "{err}");
    // A rootfs tarball is no image archive.
    let out = husk_in(&dir, &[], &["load", "-i", tarball().unwrap().to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains("not an image archive"), "{err}");
    assert_eq!(std::fs::read_dir(dir.join("store/partial")).unwrap().count(), 0, "no spool left");
    // A corrupted layer: refused with its digest; nothing stored.
    let img = test_image(&dir);
    let digest = sha256(&img.two);
    let blob = img.layout.dir.join("blobs/sha256").join(&digest);
    let mut bytes = std::fs::read(&blob).unwrap();
    let n = bytes.len();
    bytes[n / 2] ^= 0xff;
    std::fs::write(&blob, bytes).unwrap();
    let out = husk_in(&dir, &[], &["load", "-i", img.layout.dir.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1));
    assert!(err.contains(&format!("not sha256:{digest}")), "{err}");
    assert!(husk_ok(&dir, &[], &["images", "-q"]).is_empty());
    assert_eq!(std::fs::read_dir(dir.join("store/partial")).unwrap().count(), 0);
    assert_eq!(std::fs::read_dir(dir.join("store/images")).unwrap().count(), 0);
    // What a writer killed midway left is swept by the next writer; a download that a
    // pull would resume stays.
    let store = dir.join("store");
    let hex = "ab".repeat(32);
    for leftover in ["partial/load-999999.tar", "partial/x.copy-999999", "images/.x.tmp-999999", "index.tmp-999999"] {
        std::fs::write(store.join(leftover), "").unwrap();
    }
    std::fs::create_dir(store.join("partial/id.rootfs-999999")).unwrap();
    std::fs::write(store.join("partial").join(&hex), "half").unwrap();
    husk_ok(&dir, &[], &["load", "-i", img.oci_archive.to_str().unwrap()]);
    assert_eq!(std::fs::read_dir(store.join("partial")).unwrap().count(), 1, "only the resumable download");
    assert!(store.join("partial").join(&hex).exists());
    assert_eq!(std::fs::read_dir(store.join("images")).unwrap().count(), 1);
    assert!(!store.join("index.tmp-999999").exists());
    // Usage: docker's 125, one line.
    let out = husk_in(&dir, &[], &["images", "--bogus"]);
    assert_eq!(out.status.code(), Some(125));
    assert_eq!(String::from_utf8_lossy(&out.stderr).lines().count(), 1);
    let out = husk_in(&dir, &[], &["rmi", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    let _ = std::fs::remove_dir_all(&dir);
}

/// podman with storage of its own under `dir` (vfs: works anywhere).
fn podman(dir: &Path, args: &[&str]) -> Output {
    Command::new("podman")
        .arg("--root")
        .arg(dir.join("podman/root"))
        // podman limits the run root's path to 50 characters.
        .arg("--runroot")
        .arg(format!("/tmp/husk-podman-{}", std::process::id()))
        .args(["--storage-driver", "vfs"])
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[test]
fn podman_archives_load_and_husk_save_loads_into_podman() {
    if !can_run("store-podman") {
        return;
    }
    if Command::new("podman").arg("--version").output().is_err() {
        eprintln!("SKIPPED store-podman: podman is not installed");
        return;
    }
    let dir = scratch_dir("store", "podman");
    let img = test_image(&dir);
    let p = |args: &[&str]| {
        let out = podman(&dir, args);
        assert!(out.status.success(), "podman {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    // podman reads the tests' OCI archive, then writes both of its formats.
    p(&["load", "-q", "-i", img.oci_archive.to_str().unwrap()]);
    for format in ["oci-archive", "docker-archive"] {
        let out = dir.join(format!("{format}.tar"));
        p(&["save", "-q", "--format", format, "-o", out.to_str().unwrap(), "docker.io/test/greet:1"]);
        let loaded = husk_ok(&dir, &[], &["load", "-i", out.to_str().unwrap()]);
        assert!(loaded.contains("test/greet:1"), "{format}: {loaded}");
        assert_eq!(
            husk_ok(&dir, &[], &["run", "--rm", "test/greet:1", format]),
            format!("hello {format} from /srv as nobody\n")
        );
    }
    // husk save → podman load: the same image ID, and back into a fresh husk store.
    husk_ok(&dir, &[], &["tag", "test/greet:1", "saved:1"]);
    let saved = dir.join("saved.tar");
    husk_ok(&dir, &[], &["save", "-o", saved.to_str().unwrap(), "saved:1"]);
    p(&["rmi", "-a", "-f"]);
    let loaded = p(&["load", "-i", saved.to_str().unwrap()]);
    assert!(loaded.contains("saved:1"), "{loaded}");
    let id = p(&["image", "inspect", "--format", "{{.Id}}", "docker.io/library/saved:1"]);
    assert_eq!(id.trim().trim_start_matches("sha256:"), sha256(&img.layout.config));
    let fresh = dir.join("fresh");
    std::fs::create_dir_all(&fresh).unwrap();
    assert_eq!(husk_ok(&fresh, &[], &["load", "-i", saved.to_str().unwrap()]), "Loaded image: saved:1\n");
    assert_eq!(husk_ok(&fresh, &[], &["run", "--rm", "saved:1", "again"]), "hello again from /srv as nobody\n");
    let out = husk_in(&dir, &[], &["save", "saved:1"]);
    assert!(out.status.success() && out.stdout.len() > 1 << 20, "save to a pipe writes the archive");
    p(&["rmi", "-a", "-f"]);
    let _ = std::fs::remove_dir_all(format!("/tmp/husk-podman-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn image_layers_as_ext4_files_stack_with_overlay_whiteouts_and_docker_ones_are_refused() {
    if !can_run("store-layers") {
        return;
    }
    let dir = scratch_dir("store", "layers");
    let img = test_image(&dir);
    let layers = dir.join("layers");
    let out = Command::new(builder()).arg("-q").arg(&img.layout.dir).arg("--layers").arg(&layers).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for i in 0..2 {
        let image = layers.join(format!("{i}.ext4"));
        let fsck = Command::new("e2fsck").arg("-fn").arg(&image).output().unwrap();
        assert!(fsck.status.success(), "{}: {}", image.display(), String::from_utf8_lossy(&fsck.stdout));
    }
    let (one, two) = (layers.join("0.ext4"), layers.join("1.ext4"));
    let probe = "test -e /etc/motd || echo motd-gone; ls /opt/x; cat /etc/hello";
    let seen = husk_ok(
        &dir,
        &[],
        &["run", "--rm", "--image", one.to_str().unwrap(), "--layer", two.to_str().unwrap(), "sh", "-c", probe],
    );
    assert_eq!(seen, "motd-gone\nmine\namd64-or-host\n", "the whiteout and the opaque directory apply");
    // The second layer unpacked as a directory still holds docker's .wh. files: refused.
    let unpacked = dir.join("layer-dir");
    std::fs::create_dir(&unpacked).unwrap();
    std::fs::write(dir.join("two.tar"), &img.two).unwrap();
    let ok_tar = Command::new("tar").arg("-xf").arg(dir.join("two.tar")).arg("-C").arg(&unpacked).status().unwrap();
    assert!(ok_tar.success());
    let out = husk_in(
        &dir,
        &[],
        &["run", "--rm", "--image", one.to_str().unwrap(), "--layer", unpacked.to_str().unwrap(), "true"],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(err.contains(".wh.") && err.contains("--layers"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_rootfs_tarball_imports_as_a_one_layer_image_with_its_changes() {
    if !can_run("store-import") {
        return;
    }
    let dir = scratch_dir("store", "import");
    let tarball = tarball().unwrap();
    // (The JSON form: a shell-form CMD would be ["/bin/sh", "-c", ...] after the entrypoint.)
    let changes = [
        "-c",
        "ENTRYPOINT [\"/bin/sh\", \"-c\"]",
        "-c",
        "CMD [\"echo $GREETING from $(pwd)\"]",
        "-c",
        "ENV GREETING=hi",
    ];
    let mut args = vec!["import"];
    args.extend(changes);
    args.extend([tarball.to_str().unwrap(), "imported:1"]);
    let id = husk_ok(&dir, &[], &args);
    assert!(id.starts_with("sha256:"), "{id}");
    assert_eq!(husk_ok(&dir, &[], &["run", "--rm", "-w", "/etc", "imported:1"]), "hi from /etc\n");
    assert_eq!(husk_ok(&dir, &[], &["run", "--rm", "imported:1", "cat /etc/alpine-release"]), "3.20.3\n");
    // The layer is the tarball's tar, gzip-compressed: its diff_id is the plain tar's.
    let plain = gunzip(&std::fs::read(&tarball).unwrap());
    let config = std::fs::read_to_string(dir.join("store/blobs/sha256").join(id[7..].trim())).unwrap();
    assert!(config.contains(&format!("sha256:{}", sha256(&plain))), "{config}");
    // An image archive is not a tarball to import.
    let img = test_image(&dir);
    let out = husk_in(&dir, &[], &["import", img.oci_archive.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("husk load"));
    let _ = std::fs::remove_dir_all(&dir);
}
