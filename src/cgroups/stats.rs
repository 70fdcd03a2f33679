//! What a container uses, read from its cgroups: live figures for `ps` and `stats` from
//! the directories recorded in its state directory (`cgroups::recorded`), whichever
//! hierarchy each is in, and the totals after it exits, before its cgroups go.

use super::limits::human_size;
use super::read;
use std::path::{Path, PathBuf};

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Stats {
    pub memory_peak: Option<u64>,
    /// Microseconds.
    pub cpu_usage: Option<u64>,
    pub cpu_user: Option<u64>,
    pub cpu_system: Option<u64>,
    pub oom_kills: Option<u64>,
    pub pids_peak: Option<u64>,
}

/// USER_HZ, the unit of cpuacct.stat; 100 on every Linux architecture husk builds for.
const USER_HZ_US: u64 = 10_000;

/// "key value" lines (cpu.stat, memory.events, cpuacct.stat, memory.oom_control).
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim_ascii().parse().ok())?
    })
}

fn number(dir: &Path, file: &str) -> Option<u64> {
    read(&dir.join(file)).trim_ascii().parse().ok()
}

impl Stats {
    pub fn read_v1_memory(&mut self, dir: &Path) {
        self.memory_peak = number(dir, "memory.max_usage_in_bytes");
        self.oom_kills = keyed(&read(&dir.join("memory.oom_control")), "oom_kill");
    }

    pub fn read_v1_cpuacct(&mut self, dir: &Path) {
        self.cpu_usage = number(dir, "cpuacct.usage").map(|ns| ns / 1000);
        let stat = read(&dir.join("cpuacct.stat"));
        self.cpu_user = keyed(&stat, "user").map(|t| t * USER_HZ_US);
        self.cpu_system = keyed(&stat, "system").map(|t| t * USER_HZ_US);
    }

    /// pids.peak exists on v2 and, since Linux 6.1 or so, on v1 too.
    pub fn read_pids(&mut self, dir: &Path) {
        self.pids_peak = number(dir, "pids.peak");
    }

    pub fn read_v2_memory(&mut self, dir: &Path) {
        self.memory_peak = number(dir, "memory.peak");
        self.oom_kills = keyed(&read(&dir.join("memory.events")), "oom_kill");
    }

    /// cpu.stat's usage lines are there even without the cpu controller.
    pub fn read_v2_cpu(&mut self, dir: &Path) {
        let stat = read(&dir.join("cpu.stat"));
        self.cpu_usage = keyed(&stat, "usage_usec");
        self.cpu_user = keyed(&stat, "user_usec");
        self.cpu_system = keyed(&stat, "system_usec");
    }

    pub fn lines(&self) -> Vec<String> {
        let na = || "n/a".to_string();
        let secs = |us: u64| format!("{}.{:06} s", us / 1_000_000, us % 1_000_000);
        vec![
            format!(
                "memory peak: {}",
                self.memory_peak.map(|b| format!("{b} bytes ({})", human_size(b))).unwrap_or_else(na)
            ),
            format!(
                "cpu time: {} (user {}, system {})",
                self.cpu_usage.map(secs).unwrap_or_else(na),
                self.cpu_user.map(secs).unwrap_or_else(na),
                self.cpu_system.map(secs).unwrap_or_else(na)
            ),
            format!("oom kills: {}", self.oom_kills.map(|n| n.to_string()).unwrap_or_else(na)),
            format!("pids peak: {}", self.pids_peak.map(|n| n.to_string()).unwrap_or_else(na)),
        ]
    }
}

/// The first of `files` found in any of the container's cgroups.
fn first(dirs: &[PathBuf], files: &[&str]) -> Option<u64> {
    dirs.iter().find_map(|dir| files.iter().find_map(|f| number(dir, f)))
}

pub fn memory_usage(dirs: &[PathBuf]) -> Option<u64> {
    first(dirs, &["memory.current", "memory.usage_in_bytes"])
}

pub fn pids(dirs: &[PathBuf]) -> Option<u64> {
    first(dirs, &["pids.current"])
}

/// CPU time used so far, in nanoseconds (v2 cpu.stat usage_usec, v1 cpuacct.usage).
pub fn cpu_nanos(dirs: &[PathBuf]) -> Option<u64> {
    dirs.iter().find_map(|dir| {
        keyed(&read(&dir.join("cpu.stat")), "usage_usec").map(|us| us * 1000).or_else(|| number(dir, "cpuacct.usage"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keyed_files_are_read_by_key() {
        let oom = "oom_kill_disable 0\nunder_oom 0\noom_kill 2\n";
        assert_eq!(keyed(oom, "oom_kill"), Some(2));
        assert_eq!(keyed("usage_usec 1500\nuser_usec 1000\n", "user_usec"), Some(1000));
        assert_eq!(keyed("", "oom_kill"), None);
    }

    #[test]
    fn missing_values_print_as_na() {
        let s = Stats { cpu_usage: Some(2_500_000), ..Default::default() };
        let lines = s.lines();
        assert_eq!(lines[1], "cpu time: 2.500000 s (user n/a, system n/a)");
        assert_eq!(lines[3], "pids peak: n/a");
    }
}
