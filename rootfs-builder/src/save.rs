//! `save`: stored images out as one archive that both kinds of loader take: an OCI image
//! layout (oci-layout, index.json, blobs/) with docker's manifest.json beside it, as
//! docker 25 and later write it. The blobs are the stored ones, unchanged, so the
//! digests a registry or another store knows stay true.

use std::collections::HashSet;
use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, IsTerminal, Write};
use std::path::PathBuf;

use serde_json::{Value, json};

use crate::error::{Context, Error, Result};
use crate::refs;
use crate::store::Store;
use crate::verbs;

const HELP: &str = "\
Usage: {P} save [OPTIONS] IMAGE [IMAGE...]

Write stored images (by name or ID) to a tar archive: an OCI image layout with
docker's manifest.json, which podman load, docker load, skopeo and '{P} load' read.

Options:
  -o, --output FILE      write to FILE (default: standard output, not a terminal)
      --store DIR        the image store (default: see '{P} images --help')
";

pub fn save(args: Vec<OsString>) -> Result<u8> {
    let mut output: Option<PathBuf> = None;
    let Some(o) = verbs::parse("save", args, HELP, |p, a| {
        match a {
            "-o" | "--output" => output = Some(p.value().map_err(|e| Error::usage("save", e))?.into()),
            _ => return Ok(false),
        }
        Ok(true)
    })?
    else {
        return Ok(0);
    };
    verbs::arity("save", &o.words, 1, usize::MAX)?;
    if output.is_none() && io::stdout().is_terminal() {
        return Err(Error::usage("save", "refusing to write an archive to a terminal: use -o FILE or a redirect"));
    }
    let store = Store::open(&o.store, true)?;
    let mut chosen = Vec::new();
    for what in &o.words {
        let found = store.find(what);
        if found.is_empty() {
            return Err(Error::new(format!("save {what}"), "no such image"));
        }
        // A name saves that name; an ID saves the image under all its names.
        chosen.extend(found.into_iter().map(|i| store.entries[i].clone()));
    }
    let mut index = Vec::new();
    let mut docker = Vec::new();
    let mut blobs = Vec::new();
    let mut seen = HashSet::new();
    let mut by_id: Vec<(String, Value)> = Vec::new();
    for e in &chosen {
        let hex = e.manifest.trim_start_matches("sha256:");
        let manifest_bytes = fs::read(store.blob(hex)).ctx(|| format!("reading the manifest of {}", e.id))?;
        let manifest = crate::oci::parse_json(&manifest_bytes, "a stored manifest")?;
        let mut notes = json!({});
        if let Some(name) = &e.name {
            notes["io.containerd.image.name"] = json!(name);
            notes["org.opencontainers.image.ref.name"] = json!(refs::split_full(name).1);
        }
        index
            .push(json!({ "mediaType": e.media, "digest": e.manifest, "size": e.manifest_size, "annotations": notes }));
        let digests = |v: &Value| v["digest"].as_str().unwrap_or_default().trim_start_matches("sha256:").to_string();
        let layers: Vec<String> =
            manifest["layers"].as_array().map(Vec::as_slice).unwrap_or_default().iter().map(digests).collect();
        for b in [hex.to_string(), digests(&manifest["config"])].into_iter().chain(layers.iter().cloned()) {
            if seen.insert(b.clone()) {
                blobs.push(b);
            }
        }
        let short = e.name.as_ref().map(|n| {
            let (repo, tag) = refs::split_full(n);
            format!("{}:{tag}", refs::short_repo(repo))
        });
        match by_id.iter_mut().find(|(id, _)| *id == e.id) {
            Some((_, item)) => {
                if let (Some(s), Some(tags)) = (short, item["RepoTags"].as_array_mut()) {
                    tags.push(json!(s));
                }
            }
            None => {
                let layers: Vec<String> = layers.iter().map(|l| format!("blobs/sha256/{l}")).collect();
                let item = json!({
                    "Config": format!("blobs/sha256/{}", digests(&manifest["config"])),
                    "RepoTags": short.into_iter().collect::<Vec<_>>(),
                    "Layers": layers,
                });
                by_id.push((e.id.clone(), item));
            }
        }
    }
    docker.extend(by_id.into_iter().map(|(_, item)| item));
    let index =
        json!({ "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": index });
    let write = |out: &mut dyn Write| -> io::Result<()> {
        let mut tar = tar::Builder::new(out);
        let mut file = |name: &str, bytes: &[u8]| {
            let mut h = tar::Header::new_ustar();
            h.set_size(bytes.len() as u64);
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut h, name, bytes)
        };
        file("oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#)?;
        file("index.json", &serde_json::to_vec(&index).unwrap_or_default())?;
        file("manifest.json", &serde_json::to_vec(&docker).unwrap_or_default())?;
        for dir in ["blobs/", "blobs/sha256/"] {
            let mut h = tar::Header::new_ustar();
            h.set_entry_type(tar::EntryType::Directory);
            h.set_mode(0o755);
            h.set_size(0);
            tar.append_data(&mut h, dir, io::empty())?;
        }
        for b in &blobs {
            let path = store.blob(b);
            let mut f = File::open(&path)?;
            let mut h = tar::Header::new_ustar();
            h.set_size(f.metadata()?.len());
            h.set_mode(0o644);
            h.set_entry_type(tar::EntryType::Regular);
            tar.append_data(&mut h, format!("blobs/sha256/{b}"), &mut f)?;
        }
        tar.into_inner()?.flush()
    };
    match output {
        None => write(&mut io::stdout().lock()).ctx(|| "writing the archive to standard output".to_string())?,
        Some(path) => {
            let tmp = path.with_file_name(format!(
                ".{}.tmp-{}",
                path.file_name().unwrap_or_default().to_string_lossy(),
                std::process::id()
            ));
            let result = File::create(&tmp).and_then(|mut f| {
                write(&mut f)?;
                f.sync_all()
            });
            let result = result.and_then(|()| fs::rename(&tmp, &path));
            if result.is_err() {
                let _ = fs::remove_file(&tmp);
            }
            result.ctx(|| format!("writing '{}'", path.display()))?;
        }
    }
    Ok(0)
}
