//! The image store, read side: `husk run NAME` finds a stored image's ext4 file and its
//! config here. rootfs-builder writes the store (its store.rs has the layout; `husk
//! pull`, `load`, `images`, `rmi` and `tag` run it, see `forward`); husk only reads its
//! index.json, which is replaced whole, so no lock is needed.

use crate::error::{Error, Result};
use crate::json::{self, Value};
use std::ffi::OsString;
use std::path::PathBuf;

/// $HUSK_STORE, else /var/lib/husk for root and $XDG_DATA_HOME/husk
/// (~/.local/share/husk) otherwise: rootfs-builder's rule. Named volumes live under it
/// too (`volumes/NAME/_data`, docker's layout; `husk volume` is rootfs-builder's).
pub fn root() -> PathBuf {
    let var = |k| std::env::var_os(k).filter(|v| !v.is_empty());
    if let Some(dir) = var("HUSK_STORE") {
        return dir.into();
    }
    if rustix::process::geteuid().is_root() {
        return "/var/lib/husk".into();
    }
    var("XDG_DATA_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(var("HOME").unwrap_or_default()).join(".local/share"))
        .join("husk")
}

/// docker's full form of a name: `alpine` is `docker.io/library/alpine:latest`.
fn full_name(r: &str) -> String {
    let tagged = if r.rsplit('/').next().unwrap_or(r).contains(':') { r.to_string() } else { format!("{r}:latest") };
    match r.split_once('/') {
        None => format!("docker.io/library/{tagged}"),
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => tagged,
        Some(_) => format!("docker.io/{tagged}"),
    }
}

/// A stored image: its root filesystem (an ext4 file in root's store, a directory in a
/// store written without root) and its config (the OCI image config, whose
/// `config` object has Cmd, Entrypoint, Env, WorkingDir, User, ...).
pub struct Stored {
    pub file: PathBuf,
    config: Value,
}

impl Stored {
    fn get(&self, key: &str) -> Option<&Value> {
        self.config.get("config")?.get(key)
    }

    /// The config's list `key` (Cmd, Entrypoint, Env) as strings.
    pub fn strings(&self, key: &str) -> Vec<String> {
        let list = self.get(key).and_then(Value::as_array).unwrap_or_default();
        list.iter().filter_map(Value::as_str).map(str::to_string).collect()
    }

    /// The config's string `key` (WorkingDir, User), None when empty.
    pub fn string(&self, key: &str) -> Option<String> {
        self.get(key).and_then(Value::as_str).filter(|s| !s.is_empty()).map(str::to_string)
    }
}

/// The stored image `reference` names: a name, or an ID (its first 12 or more characters).
pub fn find(reference: &str) -> Result<Stored> {
    let dir = root();
    let read = |path: PathBuf| std::fs::read_to_string(path).ok().and_then(|t| json::parse(&t).ok());
    let full = full_name(reference);
    let mut found = None;
    let index = read(dir.join("index.json")).unwrap_or(Value::Null);
    for m in index.get("manifests").and_then(Value::as_array).unwrap_or_default() {
        let note = |k| m.get("annotations").and_then(|a| a.get(k)).and_then(Value::as_str).unwrap_or_default();
        let id = note("husk.image.id");
        // A name, or an ID by at least its 12 characters (docker's short ID).
        if note("io.containerd.image.name") == full || reference.len() >= 12 && id.starts_with(reference) {
            found = Some(id);
        }
    }
    let id = found.filter(|id| id.len() == 64 && !id.contains('/'));
    match id.and_then(|id| Some((id, read(dir.join("blobs/sha256").join(id))?))) {
        Some((id, config)) => Ok(Stored { file: dir.join("images").join(id), config }),
        None => Err(Error::msg(
            format!("image \"{reference}\""),
            "not in the image store (see husk images; husk pull or husk load it)",
        )),
    }
}

/// `husk pull`, `load`, `images`, `rmi`, `tag`: rootfs-builder (beside husk, else on
/// PATH) does the image work, so husk carries no HTTP, TLS or decompression; it is run
/// by the name "husk" so that it speaks as husk.
pub fn forward(command: &str, args: Vec<OsString>) -> Result<u8> {
    let own = |o: OsString| o.to_string_lossy().into_owned();
    let mut argv = vec!["husk".to_string(), command.to_string()];
    argv.extend(args.into_iter().map(own));
    let argv = crate::exec::CArgs::new("arguments", &argv)?;
    // husk's own directory first, then PATH.
    let exe = rustix::fs::readlink("/proc/self/exe", Vec::new()).map(|p| p.into_bytes()).unwrap_or_default();
    let mut path = exe[..exe.iter().rposition(|&b| b == b'/').unwrap_or(0)].to_vec();
    path.push(b':');
    path.extend(std::env::var_os("PATH").unwrap_or_default().as_encoded_bytes());
    let err = husk_init::exec_search(c"rootfs-builder", argv.as_ptr(), husk_init::sys::environ(), &path);
    Err(Error::msg(command, format!("needs rootfs-builder beside husk or on PATH: {}", crate::error::strerror(err))))
}
