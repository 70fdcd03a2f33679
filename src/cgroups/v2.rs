//! v2 specifics: controllers enabled top-down through cgroup.subtree_control, and
//! cgroup.kill for teardown.

use super::{procs, read, write};
use crate::error::{Error, Result};
use std::path::Path;
use std::time::{Duration, Instant};

/// Controllers a child of `dir` can get: those listed in `dir`'s cgroup.controllers.
pub fn available(dir: &Path) -> Vec<String> {
    read(&dir.join("cgroup.controllers")).split_ascii_whitespace().map(str::to_string).collect()
}

/// Enables `wanted` in cgroup.subtree_control of every cgroup from `mount` down to
/// `parent` (inclusive), so that `parent`'s children get them. Only missing ones are
/// written: a cgroup that holds processes refuses the write with EBUSY ("no internal
/// processes"), which husk reports; husk's own parent never holds processes.
pub fn enable(mount: &Path, parent: &Path, wanted: &[&str]) -> Result<()> {
    if wanted.is_empty() {
        return Ok(());
    }
    let rel = parent.strip_prefix(mount).unwrap_or(Path::new(""));
    let mut dir = mount.to_path_buf();
    let mut steps = vec![dir.clone()];
    for part in rel.components() {
        dir.push(part);
        steps.push(dir.clone());
    }
    for dir in steps {
        let enabled = read(&dir.join("cgroup.subtree_control"));
        let missing: Vec<String> = wanted
            .iter()
            .filter(|c| !enabled.split_ascii_whitespace().any(|e| e == **c))
            .map(|c| format!("+{c}"))
            .collect();
        if missing.is_empty() {
            continue;
        }
        let file = dir.join("cgroup.subtree_control");
        if let Err(e) = write(&file, &missing.join(" ")) {
            if e.errno == Some(rustix::io::Errno::BUSY) {
                return Err(Error::msg(
                    format!("enable {} in {}", missing.join(" "), file.display()),
                    "the cgroup holds processes (cgroup v2 allows controllers only for cgroups without them); \
                     run husk from another cgroup or give the container another cgroup parent",
                ));
            }
            return Err(e);
        }
    }
    Ok(())
}

/// Kills everything in `dir`: cgroup.kill where the kernel has it (5.14+), else
/// freeze, kill and thaw.
pub fn kill_all(dir: &Path) {
    let mut kill_file = write(&dir.join("cgroup.kill"), "1").is_ok();
    let frozen = !kill_file && write(&dir.join("cgroup.freeze"), "1").is_ok();
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let pids = procs(dir);
        if pids.is_empty() || Instant::now() > deadline {
            break;
        }
        if !kill_file {
            pids.into_iter().for_each(super::kill);
        } else {
            // Processes cloned while cgroup.kill ran may remain: once more by hand.
            kill_file = false;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    if frozen {
        let _ = write(&dir.join("cgroup.freeze"), "0");
    }
}
