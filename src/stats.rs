//! Usage figures of a container read from its cgroups: the directories recorded in its
//! state directory (`cgroups::recorded`), whichever hierarchy (v1 or v2) each is in.

use std::path::{Path, PathBuf};

fn cgroup_dirs(dirs: &[PathBuf]) -> impl Iterator<Item = &Path> {
    dirs.iter().map(PathBuf::as_path).filter(|d| d.is_dir())
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// The first of `files` found in any of the container's cgroups.
fn first(resources: &[PathBuf], files: &[&str]) -> Option<u64> {
    cgroup_dirs(resources).find_map(|dir| files.iter().find_map(|f| read_u64(&dir.join(f))))
}

pub fn memory_usage(resources: &[PathBuf]) -> Option<u64> {
    first(resources, &["memory.current", "memory.usage_in_bytes"])
}

/// The memory limit; "max" (v2) and v1's huge sentinel mean none.
pub fn memory_limit(resources: &[PathBuf]) -> Option<u64> {
    let v2 = cgroup_dirs(resources).find_map(|d| std::fs::read_to_string(d.join("memory.max")).ok());
    if let Some(text) = v2 {
        return text.trim().parse().ok();
    }
    first(resources, &["memory.limit_in_bytes"]).filter(|&l| l < (1 << 62))
}

pub fn pids(resources: &[PathBuf]) -> Option<u64> {
    first(resources, &["pids.current"])
}

/// CPU time used so far, in nanoseconds (v2 cpu.stat usage_usec, v1 cpuacct.usage).
pub fn cpu_nanos(resources: &[PathBuf]) -> Option<u64> {
    for dir in cgroup_dirs(resources) {
        if let Ok(text) = std::fs::read_to_string(dir.join("cpu.stat"))
            && let Some(usec) = text.lines().find_map(|l| l.strip_prefix("usage_usec "))
        {
            return usec.trim().parse::<u64>().ok().map(|u| u * 1000);
        }
        if let Some(ns) = read_u64(&dir.join("cpuacct.usage")) {
            return Some(ns);
        }
    }
    None
}
