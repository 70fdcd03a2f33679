//! Container images made by the tests themselves: an OCI layout whose first layer is the
//! Alpine tarball and whose second adds a program, deletes /etc/motd with a whiteout and
//! makes /opt/x opaque; its config sets Entrypoint, Cmd, Env, WorkingDir and User. The
//! same image as an OCI archive and as an old-style docker save archive.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

pub fn sha256(bytes: &[u8]) -> String {
    let mut child = Command::new("sha256sum").stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(bytes).unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout)[..64].to_string()
}

/// `bytes` through `gzip ARG` (a thread feeds it while its output is read).
fn through_gzip(arg: &str, bytes: &[u8]) -> Vec<u8> {
    let mut child = Command::new("gzip").arg(arg).stdin(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let data = bytes.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&data).unwrap());
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out.stdout
}

pub fn gunzip(bytes: &[u8]) -> Vec<u8> {
    if bytes.starts_with(&[0x1f, 0x8b]) { through_gzip("-dc", bytes) } else { bytes.to_vec() }
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    through_gzip("-nc", bytes)
}

/// `sh -c CMD`'s stdout, after asserting success.
pub fn sh_out(cmd: &str) -> String {
    let out = Command::new("sh").arg("-c").arg(cmd).output().unwrap();
    assert!(out.status.success(), "{cmd}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A fresh scratch directory for one image test: `images-KIND-NAME-PID`.
pub fn scratch_dir(kind: &str, name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(format!("images-{kind}-{name}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    dir
}

/// husk with a store and state root of `dir`'s own, and `env` besides.
pub fn husk_in(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> std::process::Output {
    Command::new(super::husk())
        .env("HUSK_STORE", dir.join("store"))
        .env("HUSK_ROOT", dir.join("state"))
        .envs(env.iter().copied())
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// `husk_in`'s stdout, after asserting success.
pub fn husk_ok(dir: &Path, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = husk_in(dir, env, args);
    assert!(out.status.success(), "husk {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The second layer, as a tar made by tar(1) from a staged tree: `hello` says which
/// variant it is.
pub fn layer_two(dir: &Path, hello: &str) -> Vec<u8> {
    let stage = dir.join(format!("stage-{hello}"));
    let _ = fs::remove_dir_all(&stage);
    for d in ["etc", "usr/local/bin", "opt/x"] {
        fs::create_dir_all(stage.join(d)).unwrap();
    }
    fs::write(stage.join("etc/.wh.motd"), "").unwrap();
    fs::write(stage.join("etc/hello"), format!("{hello}\n")).unwrap();
    fs::write(stage.join("opt/x/.wh..wh..opq"), "").unwrap();
    fs::write(stage.join("opt/x/mine"), "mine\n").unwrap();
    fs::write(stage.join("usr/local/bin/greet"), "#!/bin/sh\necho \"$GREETING $* from $(pwd) as $(id -un)\"\n")
        .unwrap();
    sh_out(&format!("chmod 755 {0}/usr/local/bin/greet && chown 1:1 {0}/opt/x/mine", stage.display()));
    let tar = dir.join(format!("layer-{hello}.tar"));
    sh_out(&format!("tar --numeric-owner -cf {} -C {} .", tar.display(), stage.display()));
    fs::read(tar).unwrap()
}

/// The first layer: the Alpine tarball with an /opt/x the second layer empties.
pub fn layer_one(dir: &Path, tarball: &Path) -> Vec<u8> {
    let stage = dir.join("stage-one");
    let _ = fs::remove_dir_all(&stage);
    fs::create_dir_all(stage.join("opt/x")).unwrap();
    fs::write(stage.join("opt/x/old"), "old\n").unwrap();
    let tar = dir.join("layer-one.tar");
    sh_out(&format!(
        "gzip -dc {} > {t} && tar --numeric-owner --no-recursion -rf {t} -C {} ./opt/x ./opt/x/old && gzip -n {t}",
        tarball.display(),
        stage.display(),
        t = tar.display()
    ));
    fs::read(dir.join("layer-one.tar.gz")).unwrap()
}

pub const CONFIG: &str = r#""Entrypoint":["/usr/local/bin/greet"],"Cmd":["world"],"Env":["PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin","GREETING=hello"],"WorkingDir":"/srv","User":"nobody""#;

pub struct Layout {
    pub dir: PathBuf,
    /// The image config's bytes (its sha256 is the image ID).
    pub config: Vec<u8>,
    pub manifest_digest: String,
}

fn blob(dir: &Path, bytes: &[u8]) -> (String, usize) {
    let d = sha256(bytes);
    fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
    fs::write(dir.join("blobs/sha256").join(&d), bytes).unwrap();
    (format!("sha256:{d}"), bytes.len())
}

/// A manifest of `layers` for `arch` with the test config, stored in `dir`'s blobs:
/// (manifest digest, size, config bytes).
pub fn manifest(dir: &Path, layers: &[&[u8]], arch: &str) -> (String, usize, Vec<u8>) {
    let mut descs = Vec::new();
    let mut diff_ids = Vec::new();
    for l in layers {
        let (d, n) = blob(dir, l);
        let media = if l.starts_with(&[0x1f, 0x8b]) { "tar+gzip" } else { "tar" };
        descs
            .push(format!(r#"{{"mediaType":"application/vnd.oci.image.layer.v1.{media}","digest":"{d}","size":{n}}}"#));
        diff_ids.push(format!("\"sha256:{}\"", sha256(&gunzip(l))));
    }
    let config = format!(
        r#"{{"architecture":"{arch}","os":"linux","created":"2024-09-06T22:20:07Z","config":{{{CONFIG}}},"rootfs":{{"type":"layers","diff_ids":[{}]}}}}"#,
        diff_ids.join(",")
    );
    let (cd, cn) = blob(dir, config.as_bytes());
    let manifest = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{cd}","size":{cn}}},"layers":[{}]}}"#,
        descs.join(",")
    );
    let (md, mn) = blob(dir, manifest.as_bytes());
    (md, mn, config.into_bytes())
}

/// An OCI layout in `dir` of one image named `name` (a full reference), or, with
/// `other_arch`, of an index holding the host's image and one for `other_arch` whose
/// /etc/hello differs.
pub fn layout(dir: &Path, one: &[u8], two: &[u8], name: &str, other_arch: Option<(&str, &[u8])>) -> Layout {
    let host = if cfg!(target_arch = "aarch64") { "arm64" } else { "amd64" };
    let (md, mn, config) = manifest(dir, &[one, two], host);
    let tag = name.rsplit(':').next().unwrap();
    let entry = match other_arch {
        None => format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{md}","size":{mn},"annotations":{{"io.containerd.image.name":"{name}","org.opencontainers.image.ref.name":"{tag}"}}}}"#
        ),
        Some((arch, two)) => {
            let (od, on, _) = manifest(dir, &[one, two], arch);
            let index = format!(
                r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{od}","size":{on},"platform":{{"architecture":"{arch}","os":"linux"}}}},{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{md}","size":{mn},"platform":{{"architecture":"{host}","os":"linux"}}}}]}}"#
            );
            let (id, isz) = blob(dir, index.as_bytes());
            format!(
                r#"{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{id}","size":{isz},"annotations":{{"io.containerd.image.name":"{name}","org.opencontainers.image.ref.name":"{tag}"}}}}"#
            )
        }
    };
    fs::write(dir.join("index.json"), format!(r#"{{"schemaVersion":2,"manifests":[{entry}]}}"#)).unwrap();
    fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    Layout { dir: dir.to_path_buf(), config, manifest_digest: md }
}

/// The same image as docker save wrote it before OCI layouts: uncompressed layer tars
/// in directories, the config as `ID.json`, manifest.json naming it `name`.
pub fn docker_save(dir: &Path, one: &[u8], two: &[u8], config: &[u8], name: &str) -> PathBuf {
    let stage = dir.join("docker-save");
    let _ = fs::remove_dir_all(&stage);
    let id = sha256(config);
    for (i, l) in [one, two].iter().enumerate() {
        fs::create_dir_all(stage.join(format!("l{i}"))).unwrap();
        fs::write(stage.join(format!("l{i}/layer.tar")), gunzip(l)).unwrap();
    }
    fs::write(stage.join(format!("{id}.json")), config).unwrap();
    fs::write(
        stage.join("manifest.json"),
        format!(r#"[{{"Config":"{id}.json","RepoTags":["{name}"],"Layers":["l0/layer.tar","l1/layer.tar"]}}]"#),
    )
    .unwrap();
    let out = dir.join("docker-save.tar");
    sh_out(&format!("tar -cf {} -C {} .", out.display(), stage.display()));
    out
}

pub fn tar_of(dir: &Path, out: &Path) {
    sh_out(&format!("tar -cf {} -C {} .", out.display(), dir.display()));
}
