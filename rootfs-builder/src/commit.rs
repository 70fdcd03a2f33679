//! `commit`: a running container's changes as a new layer on its image, stored as a new
//! image. The container is frozen (`husk pause`) while its root is compared with its
//! image's tree as the image's layers make it (names, types, modes, owners, sizes,
//! modification times, link targets: a file rewritten with the same size and time is
//! missed, as with docker's naive diff): what is new or changed goes into the layer,
//! what is gone becomes a whiteout. Mounts inside the container (/proc, /sys, /dev,
//! volumes, /etc/hosts) are not its files and are left out. A container whose root is
//! a directory or an image outside the store is committed as a one-layer image.

use std::collections::{BTreeMap, HashSet};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use rustix::fs::FileType;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::container::Container;
use crate::error::{Context, Error, Result};
use crate::oci::{self, Image, Layer, Source};
use crate::refs::Ref;
use crate::store::{OCI_MANIFEST, Store};
use crate::tree_io::TarWriter;
use crate::verbs;

const HELP: &str = "\
Usage: {P} commit [OPTIONS] CONTAINER [REPOSITORY[:TAG]]

Store a running container's changes as a new image: its image with one more layer
(or, for a container run from a directory, one layer of everything). The new
image's config is the container's: its command, environment, working directory.

Options:
  -m, --message TEXT     a comment in the image's history
  -a, --author TEXT      the image's author
  -p, --pause BOOL       freeze the container while its files are read (default true)
      --store DIR        the image store (default: see '{P} images --help')
";

/// What a layer says of a path, to compare with the container's file.
#[derive(Clone)]
struct Facts {
    kind: tar::EntryType,
    mode: u32,
    uid: u64,
    gid: u64,
    size: u64,
    mtime: u64,
    link: Vec<u8>,
}

fn facts(entry: &mut tar::Entry<'_, Box<dyn Read>>) -> Facts {
    let h = entry.header();
    Facts {
        kind: h.entry_type(),
        mode: h.mode().unwrap_or(0) & 0o7777,
        uid: h.uid().unwrap_or(0),
        gid: h.gid().unwrap_or(0),
        size: h.size().unwrap_or(0),
        mtime: h.mtime().unwrap_or(0),
        link: entry.link_name_bytes().map(|l| l.into_owned()).unwrap_or_default(),
    }
}

/// Whether the container's file (`st`, its owner as the container sees it) differs
/// from what the image has there.
fn changed(st: &rustix::fs::Stat, owner: (u32, u32), f: &Facts, link: impl FnOnce() -> Vec<u8>) -> bool {
    use tar::EntryType as E;
    let kind = FileType::from_raw_mode(st.st_mode);
    let same_kind = matches!(
        (kind, f.kind),
        (FileType::RegularFile, E::Regular | E::Continuous)
            | (FileType::Directory, E::Directory)
            | (FileType::Symlink, E::Symlink)
            | (FileType::CharacterDevice, E::Char)
            | (FileType::BlockDevice, E::Block)
            | (FileType::Fifo, E::Fifo)
    );
    if !same_kind
        || st.st_mode & 0o7777 != f.mode && kind != FileType::Symlink
        || u64::from(owner.0) != f.uid
        || u64::from(owner.1) != f.gid
    {
        return true;
    }
    match kind {
        FileType::RegularFile => st.st_size as u64 != f.size || st.st_mtime.max(0) as u64 != f.mtime,
        FileType::Symlink => link() != f.link,
        _ => false,
    }
}

/// Now as RFC 3339 (UTC).
pub fn now() -> String {
    rfc3339(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64))
}

/// Seconds since the epoch as RFC 3339 (UTC).
pub fn rfc3339(secs: i64) -> String {
    let (days, rem) = (secs.div_euclid(86400), secs.rem_euclid(86400));
    // Civil from days (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Hashes what passes through it on the way to `inner`.
pub struct Hashed<W> {
    pub inner: W,
    pub hash: Sha256,
    pub size: u64,
}

impl<W> Hashed<W> {
    pub fn new(inner: W) -> Hashed<W> {
        Hashed { inner, hash: Sha256::new(), size: 0 }
    }
}

impl<W: Write> Write for Hashed<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hash.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// The stored image a container runs, when its root is one of the store's ext4 files:
/// its manifest and config.
fn base_of(store: &Store, c: &Container) -> Result<Option<(Value, Value)>> {
    let root = c.spec["root"]["path"].as_str().unwrap_or_default();
    let path = std::path::Path::new(root);
    let in_store = path.parent().is_some_and(|p| p == store.root.join("images"));
    let Some(id) = path.file_name().and_then(|n| n.to_str()).filter(|_| in_store) else {
        return Ok(None);
    };
    let Some(entry) = store.entries.iter().find(|e| e.id == id) else { return Ok(None) };
    let read = |hex: &str| -> Result<Value> {
        let bytes = fs::read(store.blob(hex)).ctx(|| format!("reading blob {hex}"))?;
        oci::parse_json(&bytes, "a stored blob")
    };
    Ok(Some((read(entry.manifest.trim_start_matches("sha256:"))?, read(id)?)))
}

pub fn commit(args: Vec<OsString>) -> Result<u8> {
    let (mut message, mut author, mut pause) = (None, None, true);
    let Some(o) = verbs::parse("commit", args, HELP, |p, a| {
        let mut v = || p.value().map(|v| v.to_string_lossy().into_owned()).map_err(|e| Error::usage("commit", e));
        match a {
            "-m" | "--message" => message = Some(v()?),
            "-a" | "--author" => author = Some(v()?),
            "-p" | "--pause" => pause = v()? != "false",
            _ => return Ok(false),
        }
        Ok(true)
    })?
    else {
        return Ok(0);
    };
    let (name, target) = match o.words.as_slice() {
        [n] => (n, None),
        [n, t] => (
            n,
            Some(Ref::parse(t)?.full().ok_or_else(|| Error::usage("commit", "a new image gets a tag, not a digest"))?),
        ),
        _ => return Err(verbs::arity("commit", &o.words, 1, 2).unwrap_err()),
    };
    let c = Container::find(name)?;
    let mut store = Store::open(&o.store, true)?;
    let base = base_of(&store, &c)?;
    let src = Source::Dir(store.root.clone());
    let base_layers: Vec<Value> = base.as_ref().and_then(|(m, _)| m["layers"].as_array().cloned()).unwrap_or_default();
    let layers: Vec<Layer> = base_layers
        .iter()
        .map(|l| {
            let hex = l["digest"].as_str().unwrap_or_default().trim_start_matches("sha256:").to_string();
            Layer { name: format!("blobs/sha256/{hex}"), sha256: hex }
        })
        .collect();
    let mut tree: BTreeMap<Vec<u8>, (usize, Facts)> = oci::survivors(&src, &layers, |_, e| facts(e))?;
    // A hard link's facts are its target's.
    let links: Vec<(Vec<u8>, Vec<u8>)> = tree
        .iter()
        .filter(|(_, (_, f))| f.kind == tar::EntryType::Link)
        .map(|(p, (_, f))| (p.clone(), crate::tree::normalize(&f.link).map(|p| p.join(&b'/')).unwrap_or_default()))
        .collect();
    for (path, target) in links {
        if let Some((_, t)) = tree.get(&target) {
            let f = t.clone();
            tree.insert(path, (0, f));
        }
    }

    let part = store.partial(&format!("commit-{}.tar.gz", std::process::id()));
    let result = (|| -> Result<String> {
        let file = File::create(&part).ctx(|| format!("creating '{}'", part.display()))?;
        let gz = flate2::write::GzEncoder::new(
            Hashed { inner: file, hash: Sha256::new(), size: 0 },
            flate2::Compression::default(),
        );
        let out = Hashed { inner: gz, hash: Sha256::new(), size: 0 };
        let (uid_map, gid_map) = (c.uid_map.clone(), c.gid_map.clone());
        let inside = move |u, g| (crate::container::map(&uid_map, u, true), crate::container::map(&gid_map, g, true));
        let mut w = TarWriter::new(out, Box::new(inside.clone()));
        let mut seen = HashSet::new();
        let mut walked_dirs = HashSet::new();
        {
            let _frozen = pause.then(|| c.pause());
            let root = &c.root;
            let mut filter = |path: &[u8], st: &rustix::fs::Stat| {
                if path.is_empty() {
                    walked_dirs.insert(Vec::new());
                    return (false, true);
                }
                seen.insert(path.to_vec());
                if c.mounts.contains(path) {
                    return (false, false);
                }
                let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
                if is_dir {
                    walked_dirs.insert(path.to_vec());
                }
                let write = match tree.get(path) {
                    None => true,
                    Some((_, f)) => changed(st, inside(st.st_uid, st.st_gid), f, || {
                        let rel = std::str::from_utf8(path).unwrap_or_default();
                        rustix::fs::readlinkat(root, rel, Vec::new()).map(|l| l.into_bytes()).unwrap_or_default()
                    }),
                };
                (write, is_dir)
            };
            w.add(root, b"", b"", &mut filter)?;
        }
        // What the image has and the container no longer does, where the container's
        // own directory was walked (not hidden by a mount), once per deleted subtree.
        let mut gone: Vec<&Vec<u8>> = Vec::new();
        for path in tree.keys().filter(|p| !p.is_empty() && !seen.contains(*p)) {
            let parent = path.iter().rposition(|&b| b == b'/').map_or(&path[..0], |i| &path[..i]);
            let under_gone = gone.last().is_some_and(|g| path.starts_with(g) && path.get(g.len()) == Some(&b'/'));
            if walked_dirs.contains(parent) && !under_gone {
                gone.push(path);
            }
        }
        for path in gone {
            w.whiteout(path)?;
        }
        let out = w.tar.into_inner().ctx(|| format!("writing '{}'", part.display()))?;
        let diff_id = oci::hex(&out.hash.finalize());
        let file = out.inner.finish().ctx(|| format!("writing '{}'", part.display()))?;
        file.inner.sync_all().ctx(|| format!("writing '{}'", part.display()))?;
        let digest = oci::hex(&file.hash.finalize());
        let blob = store.blob(&digest);
        fs::rename(&part, &blob).ctx(|| format!("renaming to '{}'", blob.display()))?;
        let now = now();
        let base_config = base.as_ref().map(|(_, cfg)| cfg);
        let config = new_config(base_config, &c.spec, &diff_id, &now, message.as_deref(), author.as_deref());
        let config_bytes = serde_json::to_vec(&config).unwrap_or_default();
        let config_hex = store.put_bytes(&config_bytes)?;
        let mut descriptors: Vec<Value> = base_layers.iter().map(oci_layer).collect();
        descriptors.push(json!({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{digest}"), "size": file.size}));
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{config_hex}"), "size": config_bytes.len()},
            "layers": descriptors,
        });
        let mut all = layers.clone();
        all.push(Layer { name: format!("blobs/sha256/{digest}"), sha256: digest });
        let image = Image {
            layers: all,
            config,
            config_bytes,
            manifest: Some(serde_json::to_vec(&manifest).unwrap_or_default()),
            names: Vec::new(),
        };
        store.add(&src, &image, &target.iter().cloned().collect::<Vec<_>>())
    })();
    let _ = fs::remove_file(&part);
    println!("sha256:{}", result?);
    Ok(0)
}

/// A base layer's descriptor with OCI's media type (a docker schema 2 one named as OCI
/// does: the same bytes).
fn oci_layer(l: &Value) -> Value {
    let media = l["mediaType"].as_str().unwrap_or_default();
    let oci = match media {
        "application/vnd.docker.image.rootfs.diff.tar.gzip" => "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.diff.tar" => "application/vnd.oci.image.layer.v1.tar",
        other => other,
    };
    json!({"mediaType": oci, "digest": l["digest"], "size": l["size"]})
}

/// The new image's config: the base's (or a new one), one more layer and history
/// entry, and the container's command, environment and working directory, as docker
/// commit takes them.
fn new_config(
    base: Option<&Value>,
    spec: &Value,
    diff_id: &str,
    now: &str,
    message: Option<&str>,
    author: Option<&str>,
) -> Value {
    let mut config = base.cloned().unwrap_or_else(|| {
        json!({"architecture": oci::host_arch(), "os": "linux", "config": {}, "rootfs": {"type": "layers", "diff_ids": []}})
    });
    config["created"] = json!(now);
    if let Some(a) = author {
        config["author"] = json!(a);
    }
    if !config["rootfs"]["diff_ids"].is_array() {
        config["rootfs"] = json!({"type": "layers", "diff_ids": []});
    }
    if let Some(ids) = config["rootfs"]["diff_ids"].as_array_mut() {
        ids.push(json!(format!("sha256:{diff_id}")));
    }
    let mut step = json!({"created": now, "created_by": "husk commit"});
    if let Some(m) = message {
        step["comment"] = json!(m);
    }
    match config["history"].as_array_mut() {
        Some(h) => h.push(step),
        None => config["history"] = json!([step]),
    }
    let process = &spec["process"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.as_str().map(str::to_string))
            .collect()
    };
    let args = strings(&process["args"]);
    if !config["config"].is_object() {
        config["config"] = json!({});
    }
    let cc = &mut config["config"];
    let entrypoint = strings(&cc["Entrypoint"]);
    if !entrypoint.is_empty() && args.starts_with(&entrypoint) {
        cc["Cmd"] = json!(args[entrypoint.len()..]);
    } else {
        cc["Entrypoint"] = Value::Null;
        cc["Cmd"] = json!(args);
    }
    // husk's own additions at run time are not the image's.
    let base_env = strings(&cc["Env"]);
    let had = |k: &str| base_env.iter().any(|e| e.starts_with(&format!("{k}=")));
    let env: Vec<String> = strings(&process["env"])
        .into_iter()
        .filter(|e| {
            !e.starts_with("HOSTNAME=")
                && (!e.starts_with("HOME=") || had("HOME"))
                && (!e.starts_with("TERM=") || had("TERM"))
        })
        .collect();
    cc["Env"] = json!(env);
    if let Some(cwd) = process["cwd"].as_str() {
        cc["WorkingDir"] = json!(cwd);
    }
    config
}
