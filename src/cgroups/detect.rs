//! Which cgroup hierarchies exist and where this process sits in each, from
//! /proc/self/mountinfo and /proc/self/cgroup. Every controller is used where it is
//! mounted: v1 hierarchies, the unified (v2) hierarchy, or both (hybrid), so a hybrid
//! host (cgroup2 at /sys/fs/cgroup/unified beside v1 memory, cpu, pids) needs no mode.

use std::path::{Path, PathBuf};

/// The controllers husk creates cgroups for on v1, and enables on v2 when available.
pub const V1_CONTROLLERS: [&str; 7] = ["memory", "cpu", "cpuacct", "cpuset", "pids", "freezer", "devices"];
pub const V2_CONTROLLERS: [&str; 4] = ["cpu", "cpuset", "memory", "pids"];

#[derive(Debug, Clone, PartialEq)]
pub struct Hierarchy {
    /// Where it is mounted, e.g. /sys/fs/cgroup/memory.
    pub mount: PathBuf,
    /// v1 controllers bound to it; empty for the unified hierarchy.
    pub controllers: Vec<String>,
    /// This process's cgroup, as a host path under `mount`.
    pub current: PathBuf,
}

impl Hierarchy {
    pub fn has(&self, controller: &str) -> bool {
        self.controllers.iter().any(|c| c == controller)
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Layout {
    /// v1 hierarchies that carry at least one controller husk uses.
    pub v1: Vec<Hierarchy>,
    pub unified: Option<Hierarchy>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    V1,
    V2,
    Hybrid,
    None,
}

impl Layout {
    pub fn read() -> Layout {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
        let cgroup = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        Layout::parse(&mountinfo, &cgroup)
    }

    pub fn parse(mountinfo: &str, proc_cgroup: &str) -> Layout {
        let mounts: Vec<CgroupMount> = mountinfo.lines().filter_map(CgroupMount::parse).collect();
        let mut layout = Layout::default();
        for line in proc_cgroup.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_id), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
                continue;
            };
            if ctrls.is_empty() {
                let Some(m) = mounts.iter().find(|m| m.v2) else { continue };
                layout.unified =
                    Some(Hierarchy { mount: m.point.clone(), controllers: Vec::new(), current: m.host_path(path) });
                continue;
            }
            let wanted: Vec<String> = ctrls.split(',').map(str::to_string).collect();
            if !wanted.iter().any(|c| V1_CONTROLLERS.contains(&c.as_str())) {
                continue;
            }
            // A hierarchy can be mounted more than once; any mount of it will do, the
            // one showing its root is preferred.
            let found = mounts
                .iter()
                .filter(|m| !m.v2 && wanted.iter().all(|c| m.options.contains(c)))
                .min_by_key(|m| m.root != "/");
            if let Some(m) = found {
                layout.v1.push(Hierarchy { mount: m.point.clone(), controllers: wanted, current: m.host_path(path) });
            }
        }
        layout
    }

    pub fn mode(&self) -> Mode {
        match (self.v1.is_empty(), &self.unified) {
            (true, Some(_)) => Mode::V2,
            (false, Some(_)) => Mode::Hybrid,
            (false, None) => Mode::V1,
            (true, None) => Mode::None,
        }
    }

    /// The v1 hierarchy carrying `controller`, if any.
    pub fn v1_with(&self, controller: &str) -> Option<&Hierarchy> {
        self.v1.iter().find(|h| h.has(controller))
    }
}

struct CgroupMount {
    point: PathBuf,
    root: String,
    v2: bool,
    options: Vec<String>,
}

impl CgroupMount {
    /// One mountinfo line: ID PARENT MAJ:MIN ROOT POINT OPTS [OPTIONAL...] - FSTYPE SRC SUPER
    fn parse(line: &str) -> Option<CgroupMount> {
        let (left, right) = line.split_once(" - ")?;
        let left: Vec<&str> = left.split(' ').collect();
        let right: Vec<&str> = right.split(' ').collect();
        let fstype = *right.first()?;
        if fstype != "cgroup" && fstype != "cgroup2" {
            return None;
        }
        Some(CgroupMount {
            point: PathBuf::from(unescape(left.get(4)?)),
            root: unescape(left.get(3)?),
            v2: fstype == "cgroup2",
            options: right.get(2).map(|s| s.split(',').map(str::to_string).collect()).unwrap_or_default(),
        })
    }

    /// A /proc/self/cgroup path as a host path: the mount shows the hierarchy from
    /// `root` down, so the path is taken relative to it.
    fn host_path(&self, path: &str) -> PathBuf {
        let rel = if self.root == "/" {
            Some(path)
        } else {
            path.strip_prefix(self.root.as_str()).filter(|r| r.is_empty() || r.starts_with('/'))
        };
        // Outside the mounted part (another cgroup namespace): the mount's top is the
        // nearest place husk can use.
        let rel = rel.unwrap_or("/").trim_start_matches('/');
        if rel.is_empty() { self.point.clone() } else { self.point.join(rel) }
    }
}

/// mountinfo escapes space, tab, newline and backslash as octal.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c)) {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `a/b` under `base`, for a relative or absolute cgroup path written by the user.
pub fn join(base: &Path, rel: &str) -> PathBuf {
    let rel = rel.trim_start_matches('/');
    if rel.is_empty() { base.to_path_buf() } else { base.join(rel) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID_MOUNTINFO: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const HYBRID_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
6:freezer:/
5:devices:/
4:memory:/process_api/0413
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";

    #[test]
    fn hybrid_layout_uses_each_controller_where_it_is_mounted() {
        let l = Layout::parse(HYBRID_MOUNTINFO, HYBRID_CGROUP);
        assert_eq!(l.mode(), Mode::Hybrid);
        assert_eq!(l.v1_with("memory").unwrap().current, PathBuf::from("/sys/fs/cgroup/memory/process_api/0413"));
        assert_eq!(l.v1_with("cpuacct").unwrap().mount, PathBuf::from("/sys/fs/cgroup/cpuacct"));
        assert_eq!(l.v1_with("pids").unwrap().current, PathBuf::from("/sys/fs/cgroup/pids"));
        // Known, for the device policy of a host without cgroup2; unused here.
        assert_eq!(l.v1_with("devices").unwrap().mount, PathBuf::from("/sys/fs/cgroup/devices"));
        assert_eq!(l.unified.unwrap().current, PathBuf::from("/sys/fs/cgroup/unified"));
    }

    #[test]
    fn unified_only_is_v2_with_the_current_path() {
        let mi = "25 20 0:23 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate\n";
        let l = Layout::parse(mi, "0::/user.slice/user-1000.slice/session-2.scope\n");
        assert_eq!(l.mode(), Mode::V2);
        assert_eq!(
            l.unified.unwrap().current,
            PathBuf::from("/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope")
        );
    }

    #[test]
    fn comounted_v1_controllers_share_a_hierarchy() {
        let mi = "\
30 25 0:26 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
31 25 0:27 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
";
        let l = Layout::parse(mi, "3:cpu,cpuacct:/docker/abc\n2:memory:/docker/abc\n");
        assert_eq!(l.mode(), Mode::V1);
        let cpu = l.v1_with("cpuacct").unwrap();
        assert_eq!(cpu.current, PathBuf::from("/sys/fs/cgroup/cpu,cpuacct/docker/abc"));
        assert!(cpu.has("cpu"));
    }

    #[test]
    fn a_mount_of_a_subtree_maps_paths_relative_to_its_root() {
        let mi = "40 30 0:38 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw\n";
        let l = Layout::parse(mi, "0::/docker/abc/sub\n");
        assert_eq!(l.unified.unwrap().current, PathBuf::from("/sys/fs/cgroup/sub"));
        let l = Layout::parse(mi, "0::/\n");
        assert_eq!(l.unified.unwrap().current, PathBuf::from("/sys/fs/cgroup"));
    }

    #[test]
    fn escaped_mount_points_are_decoded() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
