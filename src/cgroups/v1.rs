//! v1 specifics: cpuset's empty-by-default cpus/mems, swap accounting, and the
//! freeze-kill-thaw teardown.

use super::{procs, read, write};
use crate::error::Result;
use std::path::Path;
use std::time::{Duration, Instant};

/// A new v1 cpuset cgroup has empty cpus and mems, and nothing can join it until they
/// are set: copy them from the parent when empty.
pub fn fill_cpuset(dir: &Path) -> Result<()> {
    let Some(parent) = dir.parent() else { return Ok(()) };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if read(&dir.join(file)).trim().is_empty() {
            write(&dir.join(file), read(&parent.join(file)).trim())?;
        }
    }
    Ok(())
}

/// Whether swap accounting is on (memory.memsw.* exist only then).
pub fn has_memsw(memory_dir: &Path) -> bool {
    memory_dir.join("memory.memsw.limit_in_bytes").exists()
}

/// Kills everything in `dirs` (one cgroup per hierarchy, all holding the same
/// processes). With a freezer the processes are frozen first so that a fork bomb cannot
/// outrun the kill loop.
pub fn kill_all(dirs: &[&Path], freezer: Option<&Path>) {
    let frozen = freezer.filter(|f| write(&f.join("freezer.state"), "FROZEN").is_ok());
    if let Some(f) = frozen {
        let deadline = Instant::now() + Duration::from_secs(1);
        while read(&f.join("freezer.state")).trim() != "FROZEN" && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let pids: Vec<i32> = dirs.iter().flat_map(|d| procs(d)).collect();
        if pids.is_empty() || Instant::now() > deadline {
            break;
        }
        for pid in pids {
            super::kill(pid);
        }
        if let Some(f) = frozen {
            // Killed tasks only die once thawed.
            let _ = write(&f.join("freezer.state"), "THAWED");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    if let Some(f) = frozen {
        let _ = write(&f.join("freezer.state"), "THAWED");
    }
}
