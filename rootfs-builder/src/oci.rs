//! Container images as input: an OCI image layout (a directory, or a tar archive of one,
//! as `skopeo copy oci-archive:` and `podman save --format oci-archive` write) and a
//! `docker save` archive (its `manifest.json`, old or new layout). The image's layers are
//! applied in order into one tree, with OCI whiteouts (`.wh.NAME` deletes NAME from the
//! layers below, `.wh..wh..opq` empties a directory of them) and every blob checked
//! against its digest.
//!
//! The image is written while the archive streams, so an entry a later layer deletes
//! must never reach it (its blocks would belong to nothing): a first pass reads only
//! the layers' headers and decides which entry of which layer each path ends up as; the
//! second pass adds exactly those.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::rc::Rc;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::builder::Builder;
use crate::error::{Context, Error, Result};

/// Where an image's files are: a layout directory, or a tar archive indexed by name
/// (offset and size of each regular file, read in place).
pub enum Source {
    Dir(PathBuf),
    Tar { path: PathBuf, files: HashMap<String, (u64, u64)> },
}

/// One layer to apply: its file in the source, and the sha256 (hex) its bytes must have.
#[derive(Clone)]
pub struct Layer {
    pub name: String,
    pub sha256: String,
}

const INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// Whether the names at the top of an archive or directory (`has`; `blobs`: a `blobs/`
/// directory with files; `layer_tars`: directories holding a `layer.tar`, as docker
/// writes them, or `.tar` files at the top, as podman's docker-archive does) are an image's:
/// an OCI layout (`oci-layout`, or `index.json` beside `blobs/`) or a docker save
/// archive (`manifest.json` beside layer directories or `blobs/`). A root filesystem
/// with a stray `/manifest.json` is not one.
pub fn marks_image(has: impl Fn(&str) -> bool, blobs: bool, layer_tars: bool) -> bool {
    has("oci-layout") || (has("index.json") && blobs) || (has("manifest.json") && (blobs || layer_tars))
}

/// The image at `path`, if it is one (`marks_image`): a directory, or an uncompressed
/// tar archive.
pub fn detect(path: &Path) -> Result<Option<Source>> {
    if path.is_dir() {
        let image = marks_image(|n| path.join(n).is_file(), path.join("blobs").is_dir(), false);
        return Ok(image.then(|| Source::Dir(path.to_path_buf())));
    }
    let Ok(mut file) = File::open(path) else { return Ok(None) };
    let mut head = [0u8; 512];
    // A plain tar header: "ustar" at 257. Compressed input is a rootfs tarball (or, for
    // an image, refused later with the reason).
    if file.read_exact(&mut head).is_err() || &head[257..262] != b"ustar" {
        return Ok(None);
    }
    file.seek(SeekFrom::Start(0)).ctx(|| format!("reading '{}'", path.display()))?;
    let mut files = HashMap::new();
    let mut archive = tar::Archive::new(file);
    let reading = || format!("reading '{}'", path.display());
    for entry in archive.entries_with_seek().ctx(reading)? {
        let entry = entry.ctx(reading)?;
        if entry.header().entry_type().is_file() {
            let name = String::from_utf8_lossy(&entry.path_bytes()).trim_start_matches("./").to_string();
            files.insert(name, (entry.raw_file_position(), entry.size()));
        }
    }
    let blobs = files.keys().any(|k| k.starts_with("blobs/"));
    let layer_tars = files.keys().any(|k| match k.split_once('/') {
        Some((_, rest)) => rest == "layer.tar",
        None => k.ends_with(".tar"),
    });
    let image = marks_image(|n| files.contains_key(n), blobs, layer_tars);
    Ok(image.then(|| Source::Tar { path: path.to_path_buf(), files }))
}

impl Source {
    pub fn shown(&self) -> String {
        match self {
            Source::Dir(p) | Source::Tar { path: p, .. } => p.display().to_string(),
        }
    }

    fn has(&self, name: &str) -> bool {
        match self {
            Source::Dir(dir) => dir.join(name).is_file(),
            Source::Tar { files, .. } => files.contains_key(name),
        }
    }

    pub fn open(&self, name: &str) -> Result<Box<dyn Read>> {
        let what = || format!("'{}' in '{}'", name, self.shown());
        match self {
            Source::Dir(dir) => Ok(Box::new(File::open(dir.join(name)).ctx(what)?)),
            Source::Tar { path, files } => {
                let &(offset, size) = files.get(name).ok_or_else(|| Error::new(what(), "missing from the image"))?;
                let mut file = File::open(path).ctx(what)?;
                file.seek(SeekFrom::Start(offset)).ctx(what)?;
                Ok(Box::new(file.take(size)))
            }
        }
    }

    fn json(&self, name: &str) -> Result<Value> {
        Ok(self.bytes_json(name)?.1)
    }

    /// A JSON file, as its bytes and parsed.
    fn bytes_json(&self, name: &str) -> Result<(Vec<u8>, Value)> {
        let mut bytes = Vec::new();
        self.open(name)?.read_to_end(&mut bytes).ctx(|| format!("reading '{name}' in '{}'", self.shown()))?;
        let value = parse_json(&bytes, &format!("'{name}' in '{}'", self.shown()))?;
        Ok((bytes, value))
    }

    /// A blob by its descriptor's digest, checked, as its bytes and parsed.
    fn blob_json(&self, digest: &str) -> Result<(Vec<u8>, Value)> {
        let name = blob_name(digest, &self.shown())?;
        let (bytes, value) = self.bytes_json(&name)?;
        check_digest(&bytes_sha256(&bytes), digest, &name)?;
        Ok((bytes, value))
    }
}

pub fn parse_json(bytes: &[u8], what: &str) -> Result<Value> {
    serde_json::from_slice(bytes).map_err(|e| Error::new(what.to_string(), e))
}

pub fn blob_name(digest: &str, shown: &str) -> Result<String> {
    match digest.split_once(':') {
        Some(("sha256", hex)) if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Ok(format!("blobs/sha256/{hex}"))
        }
        _ => Err(Error::new(format!("'{shown}'"), format!("digest '{digest}' is not a sha256 digest"))),
    }
}

pub fn bytes_sha256(bytes: &[u8]) -> String {
    hex(&Sha256::digest(bytes))
}

pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn check_digest(got: &str, want: &str, name: &str) -> Result<()> {
    if want.strip_prefix("sha256:") == Some(got) {
        return Ok(());
    }
    Err(Error::new(format!("'{name}'"), format!("content is sha256:{got}, not {want} as the image says")))
}

/// The host's architecture as OCI names it.
pub fn host_arch() -> &'static str {
    if cfg!(target_arch = "aarch64") { "arm64" } else { "amd64" }
}

/// An image for one platform: its layers, bottom first, and its config document (the
/// OCI image config: architecture, os, config with Cmd, Entrypoint, Env, WorkingDir,
/// User, ExposedPorts, Labels, ..., rootfs, history).
#[derive(Clone)]
pub struct Image {
    pub layers: Vec<Layer>,
    pub config: Value,
    /// The config as stored: its sha256 is the image's ID.
    pub config_bytes: Vec<u8>,
    /// The manifest as read (OCI or docker schema 2); None for an old docker save
    /// archive, which has none.
    pub manifest: Option<Vec<u8>>,
    /// The names the archive gives the image (references as written there).
    pub names: Vec<String>,
}

/// The image in `src` for `arch` (default: this machine's): the first one, where an
/// archive holds several.
pub fn resolve(src: &Source, arch: Option<&str>) -> Result<Image> {
    let mut all = resolve_all(src, arch)?;
    Ok(all.swap_remove(0))
}

/// Every image in `src` for `arch` (never empty).
pub fn resolve_all(src: &Source, arch: Option<&str>) -> Result<Vec<Image>> {
    let arch = arch.unwrap_or(host_arch());
    let shown = || format!("'{}'", src.shown());
    if src.has("index.json") {
        let index = src.json("index.json")?;
        let mut images = Vec::new();
        for entry in index["manifests"].as_array().map(Vec::as_slice).unwrap_or_default() {
            if !fits(entry, arch) {
                continue;
            }
            let notes = &entry["annotations"];
            let names = ["io.containerd.image.name", "org.opencontainers.image.ref.name"]
                .iter()
                .filter_map(|k| notes[*k].as_str())
                // A bare tag ("3.20", as skopeo writes) names no repository.
                .filter(|n| n.contains(['/', ':']))
                .take(1)
                .map(str::to_string)
                .collect();
            if let Some(mut image) = descend(src, entry, arch)? {
                image.names = names;
                images.push(image);
            }
        }
        if images.is_empty() {
            return Err(Error::new(shown(), format!("no manifest for linux/{arch} in the image")));
        }
        return Ok(images);
    }
    // docker save before OCI layouts: manifest.json lists layer files by path, whose
    // digests (of the uncompressed tar) are the config's rootfs.diff_ids.
    let manifest = src.json("manifest.json")?;
    let mut images = Vec::new();
    for item in manifest.as_array().map(Vec::as_slice).unwrap_or_default() {
        let config_name = item["Config"].as_str().unwrap_or_default();
        let (config_bytes, config) = src.bytes_json(config_name)?;
        let files = item["Layers"].as_array().cloned().unwrap_or_default();
        let ids = config["rootfs"]["diff_ids"].as_array().cloned().unwrap_or_default();
        if files.is_empty() || files.len() != ids.len() {
            return Err(Error::new(shown(), "manifest.json and the image config disagree on the layers"));
        }
        let layers = files
            .iter()
            .zip(&ids)
            .map(|(f, id)| {
                let sha256 = id.as_str().and_then(|d| d.strip_prefix("sha256:")).unwrap_or_default().to_string();
                Layer { name: f.as_str().unwrap_or_default().to_string(), sha256 }
            })
            .collect();
        let names = item["RepoTags"].as_array().map(Vec::as_slice).unwrap_or_default();
        let names = names.iter().filter_map(|n| n.as_str().map(str::to_string)).collect();
        images.push(Image { layers, config, config_bytes, manifest: None, names });
    }
    if images.is_empty() {
        return Err(Error::new(shown(), "manifest.json lists no image"));
    }
    Ok(images)
}

/// Whether a descriptor's platform (if it names one) is linux/`arch`.
fn fits(m: &Value, arch: &str) -> bool {
    let p = &m["platform"];
    p.is_null() || (p["architecture"] == arch && p["os"].as_str().is_none_or(|os| os == "linux"))
}

/// The image a descriptor leads to, through nested indexes (multi-platform images)
/// down to the manifest for `arch`; None when an index has none for it.
fn descend(src: &Source, descriptor: &Value, arch: &str) -> Result<Option<Image>> {
    let mut chosen = descriptor.clone();
    loop {
        let digest = chosen["digest"].as_str().unwrap_or_default();
        let media = chosen["mediaType"].as_str().unwrap_or_default();
        let (bytes, next) = src.blob_json(digest)?;
        if media == INDEX || media == DOCKER_LIST || next["manifests"].is_array() {
            let manifests = next["manifests"].as_array().map(Vec::as_slice).unwrap_or_default();
            let Some(m) = manifests.iter().find(|m| fits(m, arch)) else { return Ok(None) };
            chosen = m.clone();
            continue;
        }
        let (config_bytes, config) = src.blob_json(next["config"]["digest"].as_str().unwrap_or_default())?;
        let layers = manifest_layers(src, &next)?;
        return Ok(Some(Image { layers, config, config_bytes, manifest: Some(bytes), names: Vec::new() }));
    }
}

fn manifest_layers(src: &Source, manifest: &Value) -> Result<Vec<Layer>> {
    let layers = manifest["layers"].as_array().cloned().unwrap_or_default();
    if layers.is_empty() {
        return Err(Error::new(format!("'{}'", src.shown()), "the image manifest lists no layers"));
    }
    layers
        .iter()
        .map(|l| {
            let digest = l["digest"].as_str().unwrap_or_default();
            let name = blob_name(digest, &src.shown())?;
            Ok(Layer { name, sha256: digest.trim_start_matches("sha256:").to_string() })
        })
        .collect()
}

/// Hashes every byte read through it into a hash the caller keeps a handle on.
struct Hashing<R> {
    inner: R,
    hash: Rc<RefCell<Sha256>>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hash.borrow_mut().update(&buf[..n]);
        Ok(n)
    }
}

/// The entries of one layer, decompressed (gzip, zstd, ... by their bytes).
pub fn each_entry(
    src: &Source,
    layer: &Layer,
    verify: bool,
    mut f: impl FnMut(usize, &mut tar::Entry<'_, Box<dyn Read>>) -> Result<()>,
) -> Result<()> {
    let shown = format!("layer '{}' of '{}'", layer.name, src.shown());
    let hash = Rc::new(RefCell::new(Sha256::new()));
    let mut hashing = Hashing { inner: src.open(&layer.name)?, hash: hash.clone() };
    let mut magic = [0u8; 6];
    let n = read_up_to(&mut hashing, &mut magic).ctx(|| format!("reading {shown}"))?;
    let head = io::Cursor::new(magic[..n].to_vec());
    let stream = crate::input::decompress(head.chain(hashing), &magic[..n], &shown)?;
    let mut archive = tar::Archive::new(stream);
    for (i, entry) in archive.entries().ctx(|| format!("reading {shown}"))?.enumerate() {
        let mut entry = entry.ctx(|| format!("reading {shown}"))?;
        f(i, &mut entry).map_err(|e| Error::new(format!("{} in {shown}", e.what), e.why))?;
    }
    if verify {
        // The rest of the blob (the archive's end blocks, the compressor's trailer).
        io::copy(&mut archive.into_inner(), &mut io::sink()).ctx(|| format!("reading {shown}"))?;
        let got = hex(&hash.replace(Sha256::new()).finalize());
        check_digest(&got, &format!("sha256:{}", layer.sha256), &layer.name)?;
    }
    Ok(())
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn key(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.join(&b'/')
}

/// Removes `path` and everything below it that came from a layer below `layer`
/// (`layer` None: from any layer).
fn remove_below<V>(s: &mut BTreeMap<Vec<u8>, (usize, V)>, path: &[u8], layer: Option<usize>, itself: bool) {
    let mut prefix = path.to_vec();
    if !prefix.is_empty() {
        prefix.push(b'/');
    }
    let doomed: Vec<Vec<u8>> = s
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .filter(|(_, (l, _))| layer.is_none_or(|top| *l < top))
        .map(|(k, _)| k.clone())
        .collect();
    for k in doomed {
        s.remove(&k);
    }
    if itself {
        s.remove(path);
    }
}

/// The first pass: which entry of which layer each path of the final tree is, with
/// what `make` records of it, the whiteouts and opaque directories applied.
pub fn survivors<V>(
    src: &Source,
    layers: &[Layer],
    mut make: impl FnMut(usize, &mut tar::Entry<'_, Box<dyn Read>>) -> V,
) -> Result<BTreeMap<Vec<u8>, (usize, V)>> {
    let mut survivors = BTreeMap::new();
    for (li, layer) in layers.iter().enumerate() {
        each_entry(src, layer, true, |i, entry| {
            let parts = crate::tree::normalize(&entry.path_bytes())?;
            let Some(name) = parts.last() else {
                survivors.insert(Vec::new(), (li, make(i, entry)));
                return Ok(());
            };
            let parent = key(&parts[..parts.len() - 1]);
            if name == b".wh..wh..opq" {
                remove_below(&mut survivors, &parent, Some(li), false);
            } else if let Some(hidden) = name.strip_prefix(b".wh.") {
                let mut target = parent;
                if !target.is_empty() {
                    target.push(b'/');
                }
                target.extend_from_slice(hidden);
                remove_below(&mut survivors, &target, None, true);
            } else {
                let path = key(&parts);
                if !entry.header().entry_type().is_dir() {
                    remove_below(&mut survivors, &path, None, false);
                }
                survivors.insert(path, (li, make(i, entry)));
            }
            Ok(())
        })?;
    }
    Ok(survivors)
}

/// Applies `layers` in order into the builder's tree (see the module's note).
pub fn apply(b: &mut Builder, src: &Source, layers: &[Layer]) -> Result<()> {
    let survivors = survivors(src, layers, |i, _| i)?;
    for (li, layer) in layers.iter().enumerate() {
        each_entry(src, layer, false, |i, entry| {
            let parts = crate::tree::normalize(&entry.path_bytes())?;
            if survivors.get(&key(&parts)) == Some(&(li, i)) {
                crate::tar_reader::add_entry(b, entry)?;
            }
            // Anything else is replaced or deleted by a later layer, or is a whiteout
            // (an instruction, not a file).
            Ok(())
        })?;
    }
    Ok(())
}

/// Writes one layer as it is, for overlayfs to stack (`--layers`): `.wh.NAME` becomes
/// overlayfs's whiteout (a character device 0/0 named NAME), `.wh..wh..opq` its opaque
/// directory (the xattr trusted.overlay.opaque=y on the directory).
pub fn apply_overlay(b: &mut Builder, src: &Source, layer: &Layer) -> Result<()> {
    use crate::tree::{Kind, Meta, Xattr};
    let mut opaque = Vec::new();
    each_entry(src, layer, true, |_, entry| {
        let parts = crate::tree::normalize(&entry.path_bytes())?;
        let Some(name) = parts.last() else { return crate::tar_reader::add_entry(b, entry) };
        let parent = key(&parts[..parts.len() - 1]);
        let meta = |perm| Meta {
            perm,
            uid: 0,
            gid: 0,
            mtime: entry.header().mtime().unwrap_or(0) as i64,
            mtime_nsec: 0,
            xattrs: Vec::new(),
        };
        if name == b".wh..wh..opq" {
            opaque.push((parent, meta(0o755)));
            Ok(())
        } else if let Some(hidden) = name.strip_prefix(b".wh.") {
            let target = if parent.is_empty() { hidden.to_vec() } else { [&parent[..], b"/", hidden].concat() };
            b.add(&target, Kind::CharDev(0, 0), meta(0))
        } else {
            crate::tar_reader::add_entry(b, entry)
        }
    })?;
    let flag = Xattr { index: 4, name: b"overlay.opaque".to_vec(), value: b"y".to_vec() };
    for (dir, meta) in opaque {
        let id = match b.tree.lookup(&dir)? {
            Some(id) => id,
            None => {
                b.add(&dir, Kind::Dir { entries: BTreeMap::new() }, meta)?;
                b.tree.lookup(&dir)?.unwrap_or(crate::tree::ROOT)
            }
        };
        b.tree.nodes[id].meta.xattrs.push(flag.clone());
    }
    Ok(())
}
