//! The named image store husk runs images from: an OCI image layout whose index names
//! the images, plus each image's root filesystem as a ready ext4 file.
//!
//! ```text
//! STORE/oci-layout, STORE/index.json   the layout; one index entry per (image, name)
//! STORE/blobs/sha256/HEX               manifests, configs, layers (shared ones once)
//! STORE/images/ID                      the image's layers applied: an ext4 file husk
//!                                      mounts read-only, or in a store written without
//!                                      root a directory (husk runs it rootless)
//! STORE/partial/HEX                    a blob being downloaded (a pull resumes it)
//! STORE/lock                           held by every writer
//! ```
//! An index entry carries the image's full name (`io.containerd.image.name`, as
//! containerd's layouts do), its ID (`husk.image.id`: the config's sha256, docker's image
//! ID), its content size and creation time. husk reads the index without the lock:
//! every file is complete before the index names it (written aside and renamed), and an
//! image leaves the index before its files go.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::error::{Context, Error, Result};
use crate::oci::{self, Image, Layer, Source};

pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const NAME: &str = "io.containerd.image.name";
const TAG: &str = "org.opencontainers.image.ref.name";
const ID: &str = "husk.image.id";
const SIZE: &str = "husk.image.size";
const CREATED: &str = "org.opencontainers.image.created";

/// Whether this process runs as root (its files then get an ext4 per image).
pub fn is_root() -> bool {
    fs::metadata("/proc/self").is_ok_and(|m| m.uid() == 0)
}

/// Where the store is: $HUSK_STORE, else /var/lib/husk for root and
/// $XDG_DATA_HOME/husk (~/.local/share/husk) for anyone else — as husk computes it.
pub fn default_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("HUSK_STORE").filter(|d| !d.is_empty()) {
        return dir.into();
    }
    if is_root() {
        return "/var/lib/husk".into();
    }
    match std::env::var_os("XDG_DATA_HOME").filter(|d| !d.is_empty()) {
        Some(d) => PathBuf::from(d).join("husk"),
        None => PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/".into())).join(".local/share/husk"),
    }
}

/// One index entry: an image under one name (or none: a dangling image).
#[derive(Clone)]
pub struct Entry {
    pub manifest: String,
    pub media: String,
    pub manifest_size: u64,
    pub id: String,
    pub name: Option<String>,
    pub bytes: u64,
    pub created: String,
}

pub struct Store {
    pub root: PathBuf,
    pub entries: Vec<Entry>,
    _lock: File,
}

fn io_err(what: impl FnOnce() -> String) -> impl FnOnce(io::Error) -> Error {
    move |e| Error::new(what(), e)
}

impl Store {
    /// The store at `root`, made if missing, locked for writing (waiting for another
    /// writer, and saying so).
    pub fn open(root: &Path, quiet: bool) -> Result<Store> {
        for dir in ["blobs/sha256", "images", "partial"] {
            let d = root.join(dir);
            fs::create_dir_all(&d).ctx(|| format!("creating the image store '{}'", d.display()))?;
        }
        let lock_path = root.join("lock");
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .ctx(|| format!("opening '{}'", lock_path.display()))?;
        if lock.try_lock().is_err() {
            if !quiet {
                eprintln!("waiting for another writer of the image store '{}'", root.display());
            }
            lock.lock().ctx(|| format!("locking '{}'", lock_path.display()))?;
        }
        sweep(root);
        let layout = root.join("oci-layout");
        if !layout.exists() {
            write_atomic(&layout, br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        }
        let entries = read_index(root)?;
        Ok(Store { root: root.to_path_buf(), entries, _lock: lock })
    }

    pub fn blob(&self, hex: &str) -> PathBuf {
        self.root.join("blobs/sha256").join(hex)
    }

    /// The image's root: an ext4 file, or a directory in a store written without root.
    pub fn image_file(&self, id: &str) -> PathBuf {
        self.root.join("images").join(id)
    }

    pub fn partial(&self, hex: &str) -> PathBuf {
        self.root.join("partial").join(hex)
    }

    /// Copies `from` into the blob `hex`, checking its digest; a blob already stored is
    /// not copied again. Returns its size.
    pub fn put_blob(&self, hex: &str, from: &mut dyn Read, shown: &str) -> Result<u64> {
        let path = self.blob(hex);
        if let Ok(m) = fs::metadata(&path) {
            return Ok(m.len());
        }
        let tmp = self.partial(&format!("{hex}.copy-{}", std::process::id()));
        let result = (|| {
            let mut out = File::create(&tmp).map_err(io_err(|| format!("creating '{}'", tmp.display())))?;
            let mut hash = Sha256::new();
            let mut buf = vec![0u8; 1 << 16];
            let mut size = 0u64;
            loop {
                let n = from.read(&mut buf).ctx(|| format!("reading {shown}"))?;
                if n == 0 {
                    break;
                }
                hash.update(&buf[..n]);
                out.write_all(&buf[..n]).ctx(|| format!("writing '{}'", tmp.display()))?;
                size += n as u64;
            }
            oci::check_digest(&oci::hex(&hash.finalize()), &format!("sha256:{hex}"), shown)?;
            out.sync_all().ctx(|| format!("writing '{}'", tmp.display()))?;
            fs::rename(&tmp, &path).ctx(|| format!("renaming to '{}'", path.display()))?;
            Ok(size)
        })();
        if result.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        result
    }

    pub fn put_bytes(&self, bytes: &[u8]) -> Result<String> {
        let hex = oci::bytes_sha256(bytes);
        self.put_blob(&hex, &mut &bytes[..], "a manifest or config")?;
        Ok(hex)
    }

    /// Adds `image` (its blobs read from `src`) under `names`; returns its ID. Its ext4
    /// is written unless an image with the same ID is stored.
    pub fn add(&mut self, src: &Source, image: &Image, names: &[String]) -> Result<String> {
        let mut layers = Vec::new();
        let mut descriptors = Vec::new();
        for layer in &image.layers {
            let shown = format!("layer '{}' of '{}'", layer.name, src.shown());
            let size = self.put_blob(&layer.sha256, &mut src.open(&layer.name)?, &shown)?;
            layers.push(Layer { name: format!("blobs/sha256/{}", layer.sha256), sha256: layer.sha256.clone() });
            descriptors.push(json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar",
                "digest": format!("sha256:{}", layer.sha256),
                "size": size,
            }));
        }
        let id = self.put_bytes(&image.config_bytes)?;
        // An old docker save archive has no manifest: the one it would have.
        let manifest = match &image.manifest {
            Some(bytes) => bytes.clone(),
            None => serde_json::to_vec(&json!({
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": "application/vnd.oci.image.config.v1+json",
                    "digest": format!("sha256:{id}"),
                    "size": image.config_bytes.len(),
                },
                "layers": descriptors,
            }))
            .unwrap_or_default(),
        };
        let media =
            oci::parse_json(&manifest, "the image manifest")?["mediaType"].as_str().unwrap_or(OCI_MANIFEST).to_string();
        let manifest_hex = self.put_bytes(&manifest)?;
        let known = self.entries.iter().find(|e| e.id == id).map(|e| e.bytes);
        let file = self.image_file(&id);
        let bytes = match known {
            Some(bytes) if file.exists() => bytes,
            // Without root: a directory, unpacked aside and renamed into place.
            _ if !is_root() => {
                let tmp = self.partial(&format!("{id}.rootfs-{}", std::process::id()));
                let stored = Image { layers, ..clone_image(image) };
                let result =
                    crate::unpack::unpack(&Source::Dir(self.root.clone()), &stored.layers, &tmp).and_then(|n| {
                        fs::rename(&tmp, &file).map(|()| n).ctx(|| format!("renaming to '{}'", file.display()))
                    });
                if result.is_err() {
                    let _ = crate::unpack::remove(&tmp);
                }
                result?
            }
            _ => {
                let stored = Image { layers, ..clone_image(image) };
                let o = crate::cli::Options {
                    output: file,
                    journal: false,
                    quiet: true,
                    reproducible: false,
                    ..Default::default()
                };
                crate::write_image(&o, Some((&Source::Dir(self.root.clone()), &stored)))?
            }
        };
        let created = image.config["created"].as_str().unwrap_or_default().to_string();
        let entry = Entry {
            manifest: format!("sha256:{manifest_hex}"),
            media,
            manifest_size: manifest.len() as u64,
            id: id.clone(),
            name: None,
            bytes,
            created,
        };
        self.name(&entry, names);
        self.save()?;
        Ok(id)
    }

    /// Gives `entry`'s image `names` (taken from any image that had them; an image
    /// left with no name stays, dangling, as docker keeps it).
    pub fn name(&mut self, entry: &Entry, names: &[String]) {
        for name in names {
            for e in self.entries.iter_mut().filter(|e| e.name.as_ref() == Some(name)) {
                e.name = None;
            }
            self.entries.push(Entry { name: Some(name.clone()), ..entry.clone() });
        }
        if names.is_empty() && !self.entries.iter().any(|e| e.id == entry.id) {
            self.entries.push(entry.clone());
        }
        // One entry per name; an unnamed entry only for an image with no name.
        let mut seen = HashSet::new();
        let named: HashSet<String> = self.entries.iter().filter(|e| e.name.is_some()).map(|e| e.id.clone()).collect();
        self.entries.retain(|e| match &e.name {
            Some(_) => true,
            None => !named.contains(&e.id) && seen.insert(e.id.clone()),
        });
    }

    /// The index's entries for `what`: a name (as given or normalized), or an ID or
    /// its prefix (`sha256:` optional).
    pub fn find(&self, what: &str) -> Vec<usize> {
        let full = crate::refs::Ref::parse(what).ok().and_then(|r| r.full());
        let by_name: Vec<usize> = (0..self.entries.len())
            .filter(|&i| self.entries[i].name.is_some() && self.entries[i].name == full)
            .collect();
        if !by_name.is_empty() {
            return by_name;
        }
        let hex = what.strip_prefix("sha256:").unwrap_or(what);
        if hex.is_empty() || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Vec::new();
        }
        let ids: HashSet<&str> = self.entries.iter().filter(|e| e.id.starts_with(hex)).map(|e| e.id.as_str()).collect();
        if ids.len() != 1 {
            return Vec::new();
        }
        (0..self.entries.len()).filter(|&i| ids.contains(self.entries[i].id.as_str())).collect()
    }

    /// Writes the index (aside, then renamed over the old one).
    pub fn save(&self) -> Result<()> {
        let manifests: Vec<Value> = self
            .entries
            .iter()
            .map(|e| {
                let mut notes = json!({ ID: e.id, SIZE: e.bytes.to_string(), CREATED: e.created });
                if let Some(name) = &e.name {
                    notes[NAME] = json!(name);
                    notes[TAG] = json!(crate::refs::split_full(name).1);
                }
                json!({ "mediaType": e.media, "digest": e.manifest, "size": e.manifest_size, "annotations": notes })
            })
            .collect();
        let index = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        });
        write_atomic(&self.root.join("index.json"), &serde_json::to_vec_pretty(&index).unwrap_or_default())
    }

    /// Removes the files of images no entry names any more: their ext4 files, and every
    /// blob no remaining manifest refers to.
    pub fn collect(&self) -> Result<()> {
        let mut keep = HashSet::new();
        let mut ids = HashSet::new();
        for e in &self.entries {
            ids.insert(e.id.clone());
            let hex = e.manifest.trim_start_matches("sha256:").to_string();
            if let Ok(bytes) = fs::read(self.blob(&hex))
                && let Ok(m) = serde_json::from_slice::<Value>(&bytes)
            {
                let layers = m["layers"].as_array().cloned().unwrap_or_default();
                for d in layers.iter().chain([&m["config"]]) {
                    if let Some(h) = d["digest"].as_str().and_then(|d| d.strip_prefix("sha256:")) {
                        keep.insert(h.to_string());
                    }
                }
            }
            keep.insert(hex);
        }
        for (dir, kept) in [("blobs/sha256", &keep), ("images", &ids)] {
            let dir = self.root.join(dir);
            for f in fs::read_dir(&dir).ctx(|| format!("reading '{}'", dir.display()))?.flatten() {
                let kept = kept.contains(&*f.file_name().to_string_lossy());
                if !kept {
                    crate::unpack::remove(&f.path()).ctx(|| format!("removing '{}'", f.path().display()))?;
                }
            }
        }
        Ok(())
    }
}

/// Removes what writers killed midway left: temporary files and directories (their names
/// carry the writer's pid), never a download that a pull resumes (STORE/partial/HEX).
/// Called with the lock held, so no live writer owns any of them.
fn sweep(root: &Path) {
    for (dir, temporary) in [("partial", "-"), ("images", "."), ("", ".tmp-")] {
        let Ok(list) = fs::read_dir(root.join(dir)) else { continue };
        for e in list.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let leftover = if temporary == "." { name.starts_with('.') } else { name.contains(temporary) };
            if leftover && (!dir.is_empty() || e.file_type().is_ok_and(|t| t.is_file())) {
                let _ = crate::unpack::remove(&e.path());
            }
        }
    }
}

fn clone_image(i: &Image) -> Image {
    Image {
        layers: Vec::new(),
        config: i.config.clone(),
        config_bytes: i.config_bytes.clone(),
        manifest: i.manifest.clone(),
        names: i.names.clone(),
    }
}

pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    let result = fs::write(&tmp, bytes).and_then(|()| fs::rename(&tmp, path));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.ctx(|| format!("writing '{}'", path.display()))
}

/// The index's entries, read without the lock (the index is replaced whole); none when
/// the store does not exist.
pub fn read_index(root: &Path) -> Result<Vec<Entry>> {
    let path = root.join("index.json");
    let bytes = match fs::read(&path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(Error::new(format!("reading '{}'", path.display()), e)),
    };
    let index = oci::parse_json(&bytes, &format!("'{}'", path.display()))?;
    let text = |v: &Value| v.as_str().unwrap_or_default().to_string();
    Ok(index["manifests"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|m| m["annotations"][ID].is_string())
        .map(|m| {
            let notes = &m["annotations"];
            Entry {
                manifest: text(&m["digest"]),
                media: text(&m["mediaType"]),
                manifest_size: m["size"].as_u64().unwrap_or(0),
                id: text(&notes[ID]),
                name: notes[NAME].as_str().map(str::to_string),
                bytes: notes[SIZE].as_str().and_then(|s| s.parse().ok()).unwrap_or(0),
                created: text(&notes[CREATED]),
            }
        })
        .collect())
}
