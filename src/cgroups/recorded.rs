//! The cgroups a container recorded, as the OCI verbs act on them after `husk create`
//! has gone: their processes, freezing, and removal at `husk delete`.

use super::*;

fn unified(path: &Path) -> bool {
    rustix::fs::statfs(path).is_ok_and(|s| s.f_type == linux_raw_sys::general::CGROUP2_SUPER_MAGIC as i64)
}

/// Every process in the container's cgroups (and cgroups made below them), once.
pub fn pids(state_dir: &Path) -> Vec<i32> {
    // A process is in one cgroup per hierarchy: listed once (few pids, no sort).
    let mut all = Vec::new();
    for pid in recorded(state_dir).iter().flat_map(|d| subtree(d)).flat_map(|d| procs(&d)) {
        if !all.contains(&pid) {
            all.push(pid);
        }
    }
    all
}

/// The cgroup whose freezer stops the container: v1's freezer hierarchy, else the
/// unified one (cgroup.freeze, Linux 5.2).
fn freezer(state_dir: &Path) -> Option<(PathBuf, bool)> {
    let dirs = recorded(state_dir);
    if let Some(d) = dirs.iter().find(|d| d.join("freezer.state").exists()) {
        return Some((d.clone(), false));
    }
    dirs.into_iter().find(|d| unified(d) && d.join("cgroup.freeze").exists()).map(|d| (d, true))
}

/// Whether the container's processes are frozen.
pub fn frozen(state_dir: &Path) -> bool {
    match freezer(state_dir) {
        Some((d, false)) => read(&d.join("freezer.state")).trim_ascii() == "FROZEN",
        Some((d, true)) => read(&d.join("cgroup.freeze")).trim_ascii() == "1",
        None => false,
    }
}

/// Freezes (`on`) or thaws the container, waiting until the kernel says it is done.
pub fn freeze(state_dir: &Path, on: bool) -> Result<()> {
    let Some((dir, v2)) = freezer(state_dir) else {
        return Err(Error::msg("pause", "the container has no freezer cgroup (v1 freezer or cgroup2)"));
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let done = if v2 {
            write(&dir.join("cgroup.freeze"), if on { "1" } else { "0" })?;
            read(&dir.join("cgroup.events")).lines().any(|l| l == if on { "frozen 1" } else { "frozen 0" })
        } else {
            let want = if on { "FROZEN" } else { "THAWED" };
            write(&dir.join("freezer.state"), want)?;
            read(&dir.join("freezer.state")).trim_ascii() == want
        };
        if done {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err(Error::msg(format!("freezer {}", dir.display()), "the processes did not freeze in time"));
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// Kills whatever is left in the cgroups and removes them.
pub fn destroy(state_dir: &Path) {
    for dir in recorded(state_dir).iter().rev() {
        if unified(dir) {
            v2::kill_all(dir);
        } else {
            let freezer = dir.join("freezer.state").exists().then_some(dir.as_path());
            v1::kill_all(&[dir.as_path()], freezer);
        }
        for sub in subtree(dir) {
            remove(&sub);
        }
    }
}
