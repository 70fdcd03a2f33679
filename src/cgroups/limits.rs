//! The resource flags: their parsing and checks (all before anything is created), and
//! their translation into cgroup files for v1 and v2.

use crate::error::{Error, Result};
use crate::spec::Resources;

pub const CPU_PERIOD: u64 = 100_000;
/// The kernel refuses quotas under 1 ms.
const MIN_QUOTA: u64 = 1_000;

fn bad(flag: &str, text: &str, why: impl Into<String>) -> Error {
    Error::msg(format!("--{flag} {text}"), why)
}

/// `--cpus 1.5` -> quota over a 100 ms period. At most the machine's CPU count.
pub fn parse_cpus(text: &str, online: usize) -> Result<u64> {
    let cpus: f64 = text.trim().parse().map_err(|_| bad("cpus", text, "expected a number of CPUs like 0.5 or 2"))?;
    if !cpus.is_finite() || cpus <= 0.0 {
        return Err(bad("cpus", text, "must be more than 0"));
    }
    if cpus > online as f64 {
        return Err(bad("cpus", text, format!("this machine has {online} CPUs")));
    }
    let quota = (cpus * CPU_PERIOD as f64).round() as u64;
    if quota < MIN_QUOTA {
        return Err(bad("cpus", text, "must be at least 0.01"));
    }
    Ok(quota)
}

/// `--cpu-percent 50`: percent of one CPU, so 50 is `--cpus 0.5` and 150 is 1.5.
pub fn parse_cpu_percent(text: &str, online: usize) -> Result<u64> {
    let pct: u64 = text.trim().parse().map_err(|_| bad("cpu-percent", text, "expected a whole percentage like 50"))?;
    if pct == 0 || pct > 100 * online as u64 {
        return Err(bad("cpu-percent", text, format!("must be 1 to {} (100 per CPU)", 100 * online)));
    }
    Ok(pct * CPU_PERIOD / 100)
}

/// v1 cpu.shares range.
pub fn parse_shares(text: &str) -> Result<u64> {
    match text.trim().parse::<u64>() {
        Ok(n) if (2..=262_144).contains(&n) => Ok(n),
        _ => Err(bad("cpu-shares", text, "expected a whole number from 2 to 262144 (default 1024)")),
    }
}

/// `--memory-swap`: a size, or -1 for unlimited swap.
pub fn parse_memory_swap(text: &str) -> Result<i64> {
    if text.trim() == "-1" {
        return Ok(-1);
    }
    let n = crate::cli::parse_size("memory-swap", text)
        .map_err(|_| bad("memory-swap", text, "expected a size like 256m, or -1 for unlimited swap"))?;
    i64::try_from(n).map_err(|_| bad("memory-swap", text, "too large"))
}

/// A cpuset list ("0-1,3"): well formed, and naming only what `online` (same syntax)
/// has, since the kernel would refuse the write later with a bare EINVAL.
pub fn parse_cpuset(flag: &str, text: &str, online: &str) -> Result<String> {
    let wanted = parse_list(text).ok_or_else(|| bad(flag, text, "expected a list like 0-2,4"))?;
    let have = parse_list(online).unwrap_or_default();
    if let Some(missing) = wanted.iter().find(|n| !have.contains(n)) {
        return Err(bad(flag, text, format!("{missing} is not online here (online: {})", online.trim())));
    }
    Ok(text.trim().to_string())
}

/// "0-2,4" -> [0, 1, 2, 4]; None when malformed.
pub fn parse_list(text: &str) -> Option<Vec<u32>> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let mut out = Vec::new();
    for part in text.split(',') {
        let (lo, hi) = match part.split_once('-') {
            Some((lo, hi)) => (lo, hi),
            None => (part, part),
        };
        let num = |s: &str| (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then(|| s.parse::<u32>().ok())?;
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo > hi || hi - lo > 65_536 {
            return None;
        }
        out.extend(lo..=hi);
    }
    Some(out)
}

pub fn online_cpus() -> String {
    std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_else(|_| "0".into())
}

pub fn online_mems() -> String {
    std::fs::read_to_string("/sys/devices/system/node/online").unwrap_or_else(|_| "0".into())
}

/// Checks between flags, docker's rules: swap needs a memory limit it is not below.
pub fn check(res: &Resources) -> Result<()> {
    if let Some(swap) = res.memory_swap.filter(|&s| s >= 0) {
        let Some(mem) = res.memory else {
            return Err(Error::msg("--memory-swap", "needs --memory as well (it is memory plus swap)"));
        };
        if (swap as u64) < mem {
            return Err(Error::msg(
                format!("--memory-swap {swap}"),
                format!("is memory plus swap, so it must be at least --memory ({mem})"),
            ));
        }
    }
    Ok(())
}

/// crun's quadratic fit from v1 shares [2, 262144] to v2 weight [1, 10000] that maps
/// the default 1024 to the default 100 (youki's linear map gives 39).
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    let l = (shares as f64).log2();
    // (l^2 + 125 l) / 612 - 7/34, over one denominator so 1024 gives exactly 10^2.
    let exponent = (l * l + 125.0 * l - 126.0) / 612.0;
    10f64.powf(exponent).ceil() as u64
}

/// The swap total for the kernel: unset means docker's default of as much swap as
/// memory; -1 unlimited.
fn swap_total(res: &Resources) -> Option<i64> {
    match (res.memory, res.memory_swap) {
        (_, Some(s)) => Some(s),
        (Some(m), None) => i64::try_from(m).ok().map(|m| m.saturating_mul(2)),
        (None, None) => None,
    }
}

/// A cgroup file and the value to write, in the order they must be written.
pub type Setting = (&'static str, &'static str, String);

/// v1 settings as (controller, file, value). `memsw` says whether swap accounting is
/// on; an explicit --memory-swap without it is refused by the caller.
pub fn v1_settings(res: &Resources, memsw: bool) -> Vec<Setting> {
    let mut out = Vec::new();
    if let Some(m) = res.memory {
        out.push(("memory", "memory.limit_in_bytes", m.to_string()));
        if memsw && let Some(total) = swap_total(res) {
            out.push(("memory", "memory.memsw.limit_in_bytes", total.to_string()));
        }
    }
    if let Some(q) = res.cpu_quota {
        out.push(("cpu", "cpu.cfs_period_us", res.cpu_period.unwrap_or(CPU_PERIOD).to_string()));
        out.push(("cpu", "cpu.cfs_quota_us", q.to_string()));
    }
    if let Some(s) = res.cpu_shares {
        out.push(("cpu", "cpu.shares", s.to_string()));
    }
    same_in_both(res, &mut out);
    out
}

/// v2 settings as (controller, file, value).
pub fn v2_settings(res: &Resources, swap_file: bool) -> Vec<Setting> {
    let mut out = Vec::new();
    if let Some(m) = res.memory {
        out.push(("memory", "memory.max", m.to_string()));
        if swap_file && let Some(total) = swap_total(res) {
            let swap = if total < 0 { "max".to_string() } else { (total as u64).saturating_sub(m).to_string() };
            out.push(("memory", "memory.swap.max", swap));
        }
    }
    if let Some(q) = res.cpu_quota {
        out.push(("cpu", "cpu.max", format!("{q} {}", res.cpu_period.unwrap_or(CPU_PERIOD))));
    }
    if let Some(s) = res.cpu_shares {
        out.push(("cpu", "cpu.weight", shares_to_weight(s).to_string()));
    }
    same_in_both(res, &mut out);
    out
}

/// The settings whose files are the same in v1 and v2: cpuset and pids.
fn same_in_both(res: &Resources, out: &mut Vec<Setting>) {
    if let Some(c) = &res.cpuset_cpus {
        out.push(("cpuset", "cpuset.cpus", c.clone()));
    }
    if let Some(m) = &res.cpuset_mems {
        out.push(("cpuset", "cpuset.mems", m.clone()));
    }
    if let Some(p) = res.pids_limit {
        out.push(("pids", "pids.max", p.to_string()));
    }
}

/// "64 MiB" for messages.
pub fn human_size(n: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (unit, shift) in UNITS {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{} {unit}", n >> shift);
        }
    }
    for (unit, shift) in UNITS {
        if n >= 1 << shift {
            return format!("{:.1} {unit}", n as f64 / (1u64 << shift) as f64);
        }
    }
    format!("{n} B")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_map_to_weight_quadratically_like_crun() {
        assert_eq!(shares_to_weight(1024), 100);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(512), 59);
        assert_eq!(shares_to_weight(2048), 174);
    }

    #[test]
    fn cpus_become_a_quota_over_100ms() {
        assert_eq!(parse_cpus("0.5", 2).unwrap(), 50_000);
        assert_eq!(parse_cpus("2", 2).unwrap(), 200_000);
        assert_eq!(parse_cpu_percent("50", 2).unwrap(), 50_000);
        assert_eq!(parse_cpu_percent("150", 2).unwrap(), 150_000);
        for bad in ["0", "-1", "3", "abc", "NaN", "inf", "0.001"] {
            assert!(parse_cpus(bad, 2).is_err(), "{bad} accepted");
        }
        for bad in ["0", "201", "-5", "5.5"] {
            assert!(parse_cpu_percent(bad, 2).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn cpuset_lists_are_checked_against_what_is_online() {
        assert_eq!(parse_list("0-2,4"), Some(vec![0, 1, 2, 4]));
        assert!(parse_cpuset("cpuset-cpus", "0-1", "0-1\n").is_ok());
        for bad in ["", "1-0", "a", "0,,1", "-1", "0-", "2", "0-3"] {
            assert!(parse_cpuset("cpuset-cpus", bad, "0-1\n").is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn swap_follows_docker() {
        let res = Resources { memory: Some(64 << 20), memory_swap: Some(64 << 20), ..Default::default() };
        let v2 = v2_settings(&res, true);
        assert!(v2.contains(&("memory", "memory.swap.max", "0".into())));
        let v1 = v1_settings(&res, true);
        assert!(v1.contains(&("memory", "memory.memsw.limit_in_bytes", (64u64 << 20).to_string())));
        let unlimited = Resources { memory: Some(1 << 20), memory_swap: Some(-1), ..Default::default() };
        assert!(v2_settings(&unlimited, true).contains(&("memory", "memory.swap.max", "max".into())));
        let unset = Resources { memory: Some(1 << 20), ..Default::default() };
        assert!(v2_settings(&unset, true).contains(&("memory", "memory.swap.max", (1u64 << 20).to_string())));
        assert!(check(&Resources { memory_swap: Some(1 << 20), ..Default::default() }).is_err());
        assert!(check(&Resources { memory: Some(2 << 20), memory_swap: Some(1 << 20), ..Default::default() }).is_err());
        assert_eq!(parse_memory_swap("-1").unwrap(), -1);
        assert!(parse_memory_swap("-5").is_err());
    }

    #[test]
    fn cpu_quota_is_written_as_quota_and_period() {
        let res = Resources { cpu_quota: Some(50_000), ..Default::default() };
        assert_eq!(v2_settings(&res, false), vec![("cpu", "cpu.max", "50000 100000".to_string())]);
        assert_eq!(v1_settings(&res, false)[1], ("cpu", "cpu.cfs_quota_us", "50000".to_string()));
    }

    #[test]
    fn sizes_read_well() {
        assert_eq!(human_size(64 << 20), "64 MiB");
        assert_eq!(human_size(1536 << 10), "1536 KiB");
        assert_eq!(human_size((1536 << 10) + 1), "1.5 MiB");
    }
}
