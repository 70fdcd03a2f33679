//! A bundle's config.json (runtime-spec 1.0-1.2) read into a `Spec`.
//! TEMPORARY minimal loader, replaced by the full one.

use crate::error::{Error, Result};
use crate::json::Value;
use crate::spec::*;
use std::path::{Path, PathBuf};

/// What a bundle gives beyond the `Spec`: what `state` reports back.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub spec: Spec,
    /// The bundle directory, absolute.
    pub dir: PathBuf,
    pub oci_version: String,
    /// config.json's annotations, in order.
    pub annotations: Vec<(String, String)>,
}

fn strs(v: Option<&Value>) -> Vec<String> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
        .unwrap_or_default()
}

pub fn process(v: &Value, _container: &Spec) -> Result<Process> {
    let user = v.get("user");
    let caps = v.get("capabilities").map(|c| Capabilities {
        bounding: strs(c.get("bounding")),
        effective: strs(c.get("effective")),
        inheritable: strs(c.get("inheritable")),
        permitted: strs(c.get("permitted")),
        ambient: strs(c.get("ambient")),
    });
    Ok(Process {
        args: strs(v.get("args")),
        env: strs(v.get("env")),
        cwd: v.get("cwd").and_then(Value::as_str).unwrap_or("/").to_string(),
        terminal: v.get("terminal").and_then(Value::as_bool).unwrap_or(false),
        stdin: false,
        user: User {
            uid: user.and_then(|u| u.get("uid")).and_then(Value::as_u64).unwrap_or(0) as u32,
            gid: user.and_then(|u| u.get("gid")).and_then(Value::as_u64).unwrap_or(0) as u32,
            ..Default::default()
        },
        rlimits: vec![],
        capabilities: caps,
        no_new_privileges: v.get("noNewPrivileges").and_then(Value::as_bool).unwrap_or(false),
    })
}

/// Reads `dir/config.json` for container `id`. Errors are one line naming the field.
pub fn load(dir: &Path, id: &str) -> Result<Bundle> {
    let text = std::fs::read_to_string(dir.join("config.json"))
        .map_err(|e| Error::msg(format!("{}/config.json", dir.display()), e.to_string()))?;
    let v = crate::json::parse(&text).map_err(|e| Error::msg("config.json", e))?;
    let mut spec = crate::spec::example();
    spec.name = id.to_string();
    spec.process = process(v.get("process").unwrap_or(&Value::Null), &spec)?;
    let root = v.get("root").and_then(|r| r.get("path")).and_then(Value::as_str).unwrap_or("rootfs");
    spec.root.source = RootSource::Dir(dir.join(root));
    spec.root.write = RootWrite::Direct;
    spec.hostname = v.get("hostname").and_then(Value::as_str).unwrap_or("husk").to_string();
    spec.cgroups_path = v.get("linux").and_then(|l| l.get("cgroupsPath")).and_then(Value::as_str).map(String::from);
    Ok(Bundle { spec, dir: dir.to_path_buf(), oci_version: "1.0.0".into(), annotations: vec![] })
}
