//! `import`: a root filesystem tarball as a one-layer image in the store, as `docker
//! import` makes one. The layer is stored gzip-compressed whatever the tarball's
//! compression was (OCI has no xz or bzip2 layers); `--change` sets the config's Cmd,
//! Entrypoint, Env, WorkingDir and User with Dockerfile syntax.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use sha2::Digest;

use crate::commit::Hashed;
use crate::error::{Context, Error, Result};
use crate::oci::{self, Image, Layer, Source};
use crate::refs::Ref;
use crate::store::{OCI_MANIFEST, Store};
use crate::verbs::{self, program};

const HELP: &str = "\
Usage: {P} import [OPTIONS] FILE|- [REPOSITORY[:TAG]]

Create an image from a root filesystem tarball (gzip, xz, zstd, bzip2 or plain) as
its one layer. An image archive (docker save, OCI) is loaded with '{P} load'.

Options:
  -c, --change LINE      a Dockerfile line for the config (repeatable): CMD,
                         ENTRYPOINT (JSON or shell form), ENV K=V, WORKDIR, USER
  -m, --message TEXT     a comment in the image's history
      --store DIR        the image store (default: see '{P} images --help')
";

/// A Dockerfile CMD/ENTRYPOINT value: a JSON array, or the shell form.
fn command(v: &str) -> Value {
    match serde_json::from_str::<Vec<String>>(v.trim()) {
        Ok(list) => json!(list),
        Err(_) => json!(["/bin/sh", "-c", v.trim()]),
    }
}

/// Applies one `--change` line to the config's `config` object.
fn change(c: &mut Value, line: &str) -> Result<()> {
    let bad =
        || Error::usage(format!("--change '{line}'"), "expected CMD, ENTRYPOINT, ENV, WORKDIR or USER and a value");
    let (key, value) = line.trim().split_once([' ', '\t']).ok_or_else(bad)?;
    let value = value.trim();
    match key.to_ascii_uppercase().as_str() {
        "CMD" => c["Cmd"] = command(value),
        "ENTRYPOINT" => c["Entrypoint"] = command(value),
        "WORKDIR" => c["WorkingDir"] = json!(value),
        "USER" => c["User"] = json!(value),
        "ENV" => {
            let kv = match value.split_once('=') {
                Some(_) => value.to_string(),
                None => value.replacen([' ', '\t'], "=", 1),
            };
            let key = kv.split('=').next().unwrap_or_default().to_string();
            if !c["Env"].is_array() {
                c["Env"] = json!([]);
            }
            let env = c["Env"].as_array_mut().ok_or_else(bad)?;
            env.retain(|e| e.as_str().and_then(|e| e.split('=').next()) != Some(key.as_str()));
            env.push(json!(kv));
        }
        _ => return Err(bad()),
    }
    Ok(())
}

pub fn import(args: Vec<OsString>) -> Result<u8> {
    let (mut changes, mut message) = (Vec::new(), None);
    let Some(o) = verbs::parse("import", args, HELP, |p, a| {
        let mut v = || p.value().map(|v| v.to_string_lossy().into_owned()).map_err(|e| Error::usage("import", e));
        match a {
            "-c" | "--change" => changes.push(v()?),
            "-m" | "--message" => message = Some(v()?),
            _ => return Ok(false),
        }
        Ok(true)
    })?
    else {
        return Ok(0);
    };
    let (file, name) = match o.words.as_slice() {
        [f] => (f, None),
        [f, n] => (
            f,
            Some(Ref::parse(n)?.full().ok_or_else(|| Error::usage("import", "a new image gets a tag, not a digest"))?),
        ),
        _ => return Err(verbs::arity("import", &o.words, 1, 2).unwrap_err()),
    };
    let mut config = json!({
        "architecture": oci::host_arch(),
        "os": "linux",
        "created": crate::commit::now(),
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
    });
    for line in &changes {
        change(&mut config["config"], line)?;
    }
    let path = PathBuf::from(file);
    if oci::detect(&path)?.is_some() {
        return Err(Error::new(
            format!("'{file}'"),
            format!("is an image archive: '{} load -i {file}' reads it", program()),
        ));
    }
    let mut store = Store::open(&o.store, o.quiet)?;
    let part = store.partial(&format!("import-{}.tar.gz", std::process::id()));
    let result = (|| {
        let (digest, size, diff_id) = write_layer(&path, &part)?;
        let blob = store.blob(&digest);
        fs::rename(&part, &blob).ctx(|| format!("renaming to '{}'", blob.display()))?;
        config["rootfs"] = json!({"type": "layers", "diff_ids": [format!("sha256:{diff_id}")]});
        let mut step = json!({"created": config["created"], "created_by": format!("husk import {file}")});
        if let Some(m) = &message {
            step["comment"] = json!(m);
        }
        config["history"] = json!([step]);
        let config_bytes = serde_json::to_vec(&config).unwrap_or_default();
        let config_hex = store.put_bytes(&config_bytes)?;
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": format!("sha256:{config_hex}"), "size": config_bytes.len()},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": format!("sha256:{digest}"), "size": size}],
        });
        let image = Image {
            layers: vec![Layer { name: format!("blobs/sha256/{digest}"), sha256: digest }],
            config,
            config_bytes,
            manifest: Some(serde_json::to_vec(&manifest).unwrap_or_default()),
            names: Vec::new(),
        };
        let names: Vec<String> = name.into_iter().collect();
        store.add(&Source::Dir(store.root.clone()), &image, &names)
    })();
    let _ = fs::remove_file(&part);
    println!("sha256:{}", result?);
    Ok(0)
}

/// The tarball at `path` (or stdin), decompressed and recompressed with gzip into
/// `part`: (the blob's sha256, its size, the plain tar's sha256).
fn write_layer(path: &Path, part: &Path) -> Result<(String, u64, String)> {
    let mut input = crate::input::open(path, None)?;
    let file = File::create(part).ctx(|| format!("creating '{}'", part.display()))?;
    let gz = flate2::write::GzEncoder::new(Hashed::new(file), flate2::Compression::default());
    let mut plain = Hashed::new(gz);
    io::copy(&mut input, &mut plain).ctx(|| format!("reading '{}'", path.display()))?;
    let diff_id = oci::hex(&plain.hash.finalize());
    let out = plain.inner.finish().ctx(|| format!("writing '{}'", part.display()))?;
    out.inner.sync_all().ctx(|| format!("writing '{}'", part.display()))?;
    Ok((oci::hex(&out.hash.finalize()), out.size, diff_id))
}
