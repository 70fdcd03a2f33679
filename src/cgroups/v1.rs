//! v1 specifics: cpuset's empty-by-default cpus/mems, swap accounting, the devices
//! controller's lists, and the freeze-kill-thaw teardown.

use super::{procs, read, write};
use crate::error::Result;
use crate::spec::{DeviceRule, access_text};
use std::path::Path;
use std::time::{Duration, Instant};

/// A new v1 cpuset cgroup has empty cpus and mems, and nothing can join it until they
/// are set: copy them from the parent when empty.
pub fn fill_cpuset(dir: &Path) -> Result<()> {
    let Some(parent) = dir.parent() else { return Ok(()) };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if read(&dir.join(file)).trim_ascii().is_empty() {
            write(&dir.join(file), read(&parent.join(file)).trim_ascii())?;
        }
    }
    Ok(())
}

/// The device policy as the v1 devices controller takes it, on a host without cgroup2
/// (where the device program cannot be attached): each rule a line like `c 1:3 rwm`
/// written to devices.allow or devices.deny in order. The first rule, `a *:* rwm`
/// denied, empties the new cgroup's list (inherited from the parent: everything).
pub fn write_device_rules(dir: &Path, rules: &[DeviceRule]) -> Result<()> {
    for rule in rules {
        let file = if rule.allow { "devices.allow" } else { "devices.deny" };
        write(&dir.join(file), &rule_text(rule))?;
    }
    Ok(())
}

fn rule_text(r: &DeviceRule) -> String {
    let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
    format!("{} {}:{} {}", r.kind, num(r.major), num(r.minor), access_text(r.access))
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
        while read(&f.join("freezer.state")).trim_ascii() != "FROZEN" && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
        }
    }
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        // Nested cgroups (a runtime inside the container) hold processes too.
        let pids: Vec<i32> = dirs.iter().flat_map(|d| super::subtree(d)).flat_map(|d| procs(&d)).collect();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_rules_read_as_the_devices_controller_writes_them() {
        let rules = crate::spec::default_device_rules();
        assert_eq!(rule_text(&rules[0]), "a *:* mrw");
        assert_eq!(rule_text(&rules[1]), "c 1:3 mrw");
        let loop_read = DeviceRule { allow: true, kind: 'b', major: Some(7), minor: Some(2), access: 2 };
        assert_eq!(rule_text(&loop_read), "b 7:2 r");
        let pts = DeviceRule { allow: true, kind: 'c', major: Some(136), minor: None, access: 6 };
        assert_eq!(rule_text(&pts), "c 136:* rw");
    }
}
