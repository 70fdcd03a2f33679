//! Container images as input: an OCI layout of two layers built here (the Alpine tarball,
//! then a layer that adds files, deletes /etc/motd with a whiteout and makes /lib/apk
//! opaque), as a directory, as an archive, as a docker save archive, and behind a
//! multi-platform index. Each image must equal the reference tree computed by applying
//! the same layers to the tarball's entries, and be fsck-clean.

mod common;

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::process::Command;

use common::*;
use sha2::{Digest, Sha256};

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The second layer: a whiteout of /etc/motd, /etc/hello, /lib/apk made opaque with one
/// file of its own.
fn layer_two() -> Vec<u8> {
    let mut ar = tar::Builder::new(Vec::new());
    let mut file = |path: &str, data: &[u8]| {
        let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
        ar.append_data(&mut h, path, data).unwrap();
    };
    file("etc/.wh.motd", b"");
    file("etc/hello", b"hello\n");
    let mut dir = header(tar::EntryType::Directory, 0o750, 0);
    ar.append_data(&mut dir, "lib/apk/", &b""[..]).unwrap();
    let mut opq = header(tar::EntryType::Regular, 0o644, 0);
    ar.append_data(&mut opq, "lib/apk/.wh..wh..opq", &b""[..]).unwrap();
    let mut mine = header(tar::EntryType::Regular, 0o600, 5);
    ar.append_data(&mut mine, "lib/apk/mine", &b"mine\n"[..]).unwrap();
    ar.into_inner().unwrap()
}

/// The tree the image must hold: the tarball's entries with the second layer applied.
fn expected(tarball: &Path, dir: &Path, two: &[u8]) -> BTreeMap<String, Entry> {
    let mut tree = read_tar(tarball);
    tree.remove("/etc/motd");
    tree.retain(|path, _| !path.starts_with("/lib/apk/"));
    let layer = dir.join("layer-two.tar");
    fs::write(&layer, two).unwrap();
    for (path, entry) in read_tar(&layer) {
        if !path.rsplit('/').next().unwrap_or("").starts_with(".wh.") && path != "/" && path != "/etc" && path != "/lib"
        {
            tree.insert(path, entry);
        }
    }
    tree
}

/// An OCI layout in `dir`: blobs, a manifest per (platform, layers), an index of them.
fn write_layout(dir: &Path, platforms: &[(&str, &[&[u8]])], nested: bool) {
    fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    let blob = |bytes: &[u8]| {
        let d = sha(bytes);
        fs::write(dir.join("blobs/sha256").join(&d), bytes).unwrap();
        (format!("sha256:{d}"), bytes.len())
    };
    let mut manifests = Vec::new();
    for (arch, layers) in platforms {
        let descs: Vec<String> = layers
            .iter()
            .map(|l| {
                let (d, n) = blob(l);
                format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"{d}","size":{n}}}"#)
            })
            .collect();
        let config = format!(r#"{{"architecture":"{arch}","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}}}}"#);
        let (cd, cn) = blob(config.as_bytes());
        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{cn}}},"layers":[{}]}}"#,
            descs.join(",")
        );
        let (md, mn) = blob(manifest.as_bytes());
        manifests.push(format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{md}","size":{mn},"platform":{{"architecture":"{arch}","os":"linux"}}}}"#
        ));
    }
    let mut index = format!(r#"{{"schemaVersion":2,"manifests":[{}]}}"#, manifests.join(","));
    if nested {
        let (d, n) = blob(index.as_bytes());
        index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{d}","size":{n}}}]}}"#
        );
    }
    fs::write(dir.join("index.json"), index).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
}

fn tar_of(dir: &Path, out: &Path) {
    let ok = Command::new("tar").arg("-cf").arg(out).arg("-C").arg(dir).arg(".").status().unwrap();
    assert!(ok.success());
}

fn built(input: &Path, image: &Path, extra: &[&str]) -> BTreeMap<String, Entry> {
    build(input, image, extra);
    assert_fsck_clean(image);
    read_image(image)
}

#[test]
fn an_oci_layout_of_two_layers_is_the_tarball_with_the_second_applied() {
    let Some(tarball) = alpine_tarball() else { return };
    let dir = scratch("oci-two-layers");
    let one = fs::read(&tarball).unwrap(); // a gzip layer, as registries serve them
    let two = layer_two();
    let want = expected(&tarball, &dir, &two);
    let layout = dir.join("layout");
    write_layout(&layout, &[("amd64", &[&one, &two])], false);
    let config = dir.join("config.json");
    assert_image_matches(&built(&layout, &dir.join("dir.ext4"), &["--config", config.to_str().unwrap()]), &want);
    let config: serde_json::Value = serde_json::from_slice(&fs::read(&config).unwrap()).unwrap();
    assert_eq!(config["architecture"], "amd64", "the image's config document: {config}");
    // The same layout as an archive (oci-archive, podman save --format oci-archive).
    let archive = dir.join("oci.tar");
    tar_of(&layout, &archive);
    assert_image_matches(&built(&archive, &dir.join("archive.ext4"), &[]), &want);
}

#[test]
fn a_docker_save_archive_gives_the_same_tree() {
    let Some(tarball) = alpine_tarball() else { return };
    let dir = scratch("docker-save");
    let one = Command::new("gzip").arg("-dc").arg(&tarball).output().unwrap().stdout;
    let two = layer_two();
    let want = expected(&tarball, &dir, &two);
    let save = dir.join("save");
    for (name, bytes) in [("aaaa", &one), ("bbbb", &two)] {
        fs::create_dir_all(save.join(name)).unwrap();
        fs::write(save.join(name).join("layer.tar"), bytes).unwrap();
    }
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["sha256:{}","sha256:{}"]}}}}"#,
        sha(&one),
        sha(&two)
    );
    fs::write(save.join("cfg.json"), config).unwrap();
    let manifest = r#"[{"Config":"cfg.json","RepoTags":["alpine:test"],"Layers":["aaaa/layer.tar","bbbb/layer.tar"]}]"#;
    fs::write(save.join("manifest.json"), manifest).unwrap();
    let archive = dir.join("docker.tar");
    tar_of(&save, &archive);
    assert_image_matches(&built(&archive, &dir.join("docker.ext4"), &[]), &want);
    // A tarball has no config to write.
    let out = run(&[tarball.to_str().unwrap(), "-o", dir.join("t.ext4").to_str().unwrap(), "--config", "/dev/null"]);
    assert_eq!(out.status.code(), Some(2), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn a_multi_platform_index_gives_the_asked_platform() {
    let Some(tarball) = alpine_tarball() else { return };
    let dir = scratch("oci-platforms");
    let one = fs::read(&tarball).unwrap();
    let two = layer_two();
    let layout = dir.join("layout");
    // arm64: the tarball alone; amd64: both layers. Behind a nested index.
    write_layout(&layout, &[("arm64", &[&one]), ("amd64", &[&one, &two])], true);
    let amd = built(&layout, &dir.join("amd64.ext4"), &["--platform", "linux/amd64"]);
    assert_image_matches(&amd, &expected(&tarball, &dir, &two));
    let arm = built(&layout, &dir.join("arm64.ext4"), &["--platform", "arm64"]);
    assert_image_matches(&arm, &read_tar(&tarball));
    let out = run(&[layout.to_str().unwrap(), "-o", dir.join("x.ext4").to_str().unwrap(), "--platform", "s390x"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no manifest for linux/s390x"), "{err}");
}

#[test]
fn a_corrupted_blob_is_refused_with_its_digest_and_leaves_nothing() {
    let Some(tarball) = alpine_tarball() else { return };
    let dir = scratch("oci-corrupt");
    let two = layer_two();
    let layout = dir.join("layout");
    write_layout(&layout, &[("amd64", &[&fs::read(&tarball).unwrap(), &two])], false);
    let digest = sha(&two);
    let blob = layout.join("blobs/sha256").join(&digest);
    let mut bytes = fs::read(&blob).unwrap();
    // The last byte of the end-of-archive blocks: the tar itself still reads, only the
    // digest can tell.
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    fs::write(&blob, bytes).unwrap();
    let image = dir.join("img.ext4");
    let out = run(&[layout.to_str().unwrap(), "-o", image.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains(&format!("not sha256:{digest}")) && err.lines().count() == 1, "{err}");
    assert_eq!(leftovers(&dir, &["layout", "layer-two.tar"]), Vec::<String>::new());
}

/// A root filesystem that happens to have /manifest.json or /index.json (an application's
/// own file) is still a root filesystem: without layer directories or blobs beside them,
/// those names do not make an image.
#[test]
fn a_rootfs_with_a_stray_manifest_json_stays_a_rootfs() {
    let dir = scratch("stray-manifest");
    let mut ar = tar::Builder::new(Vec::new());
    for (path, data) in [("manifest.json", &b"[]"[..]), ("index.json", b"{}"), ("etc/hostname", b"box\n")] {
        let mut h = header(tar::EntryType::Regular, 0o644, data.len() as u64);
        ar.append_data(&mut h, path, data).unwrap();
    }
    let input = dir.join("rootfs.tar");
    fs::write(&input, ar.into_inner().unwrap()).unwrap();
    let tree = built(&input, &dir.join("img.ext4"), &[]);
    assert_image_matches(&tree, &read_tar(&input));
}
