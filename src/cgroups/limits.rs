//! The resource limits' translation into cgroup files for v1 and v2. Their values were
//! checked by `Spec::validate`; front ends parse their own syntax.

use crate::spec::Resources;

/// The CFS period used when the spec gives none: 100 ms, as docker's --cpus.
pub const CPU_PERIOD: u64 = 100_000;

/// crun's quadratic fit from v1 shares [2, 262144] to v2 weight [1, 10000] that maps
/// the default 1024 to the default 100 (youki's linear map gives 39):
/// weight = ceil(10^((l^2 + 125 l - 126) / 612)) with l = log2(shares). Computed in
/// fixed point: the floating-point pow and log2 would bring 10 KB of libm tables.
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
    let l = log2_fixed(shares);
    // 10^e <= w  <=>  e * log2(10) <= log2(w), all in 2^-48 units (l < 2^53 here).
    let exponent_log2_10 = (l * l / ONE + 125 * l - 126 * ONE) * LOG2_10 / ONE / 612;
    // The smallest weight reaching it; a little slack so that exact powers of ten
    // (1024 shares: exactly 100) are not lost to rounding.
    let (mut lo, mut hi) = (1u64, 10_000u64);
    while lo < hi {
        let mid = (lo + hi) / 2;
        if log2_fixed(mid) + 16 >= exponent_log2_10 { hi = mid } else { lo = mid + 1 }
    }
    lo
}

/// 1 in the 48-bit fixed point of `log2_fixed`: enough that every shares value gives
/// the weight the floating-point formula gives (checked for all of 3..262144).
const ONE: i128 = 1 << 48;
/// log2(10) in that fixed point.
const LOG2_10: i128 = 935_039_633_142_894;

/// log2(x) for x >= 1, with 48 fractional bits: the integer part from the leading
/// zeros, then one fractional bit per squaring of the mantissa.
fn log2_fixed(x: u64) -> i128 {
    let int = 63 - i128::from(x.leading_zeros());
    // The mantissa x / 2^int in [1, 2), with 62 fractional bits.
    let mut m = (u128::from(x) << 62) >> int;
    let mut frac = 0i128;
    for bit in (0..48).rev() {
        m = (m * m) >> 62;
        if m >= 2 << 62 {
            m >>= 1;
            frac |= 1 << bit;
        }
    }
    (int << 48) | frac
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

/// Files that only some kernels or I/O schedulers have: a weight is a hint, so where
/// the host lacks the file it is skipped rather than refused.
pub const OPTIONAL: [&str; 2] = ["blkio.weight", "io.weight"];

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
    if let Some(r) = res.memory_reservation {
        out.push(("memory", "memory.soft_limit_in_bytes", r.to_string()));
    }
    if let Some(w) = res.blkio_weight {
        out.push(("blkio", "blkio.weight", w.to_string()));
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
    if let Some(r) = res.memory_reservation {
        out.push(("memory", "memory.low", r.to_string()));
    }
    // blkio.weight's 10..=1000 is within io.weight's 1..=10000, with the same default 100
    // at the same place in the range's proportions that runc and crun keep.
    if let Some(w) = res.blkio_weight {
        out.push(("io", "io.weight", w.to_string()));
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
/// `num / den` with `places` decimals, rounded half up: integer arithmetic, because
/// formatting floats costs the binary several KB of tables and code.
pub fn decimal(num: u64, den: u64, places: u32) -> String {
    let scale = 10u128.pow(places);
    let scaled = (u128::from(num) * scale * 2 + u128::from(den)) / (u128::from(den.max(1)) * 2);
    // Printed as u64: u128's Display costs 0.8 KB of binary.
    let (whole, frac) = ((scaled / scale) as u64, (scaled % scale) as u64);
    if places == 0 { whole.to_string() } else { format!("{whole}.{frac:0width$}", width = places as usize) }
}

pub fn human_size(n: u64) -> String {
    const UNITS: [(&str, u32); 4] = [("TiB", 40), ("GiB", 30), ("MiB", 20), ("KiB", 10)];
    for (unit, shift) in UNITS {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{} {unit}", n >> shift);
        }
    }
    for (unit, shift) in UNITS {
        if n >= 1 << shift {
            return format!("{} {unit}", decimal(n, 1 << shift, 1));
        }
    }
    format!("{n} B")
}

#[cfg(test)]
mod tests {

    #[test]
    fn the_fixed_point_weight_is_the_floating_point_formula_for_every_shares_value() {
        for shares in 3..262_144u64 {
            let l = (shares as f64).log2();
            let float = 10f64.powf((l * l + 125.0 * l - 126.0) / 612.0).ceil() as u64;
            assert_eq!(shares_to_weight(shares), float, "shares {shares}");
        }
    }

    #[test]
    fn decimals_are_rounded_half_up_without_floats() {
        assert_eq!(decimal(3, 2, 2), "1.50");
        assert_eq!(decimal(1536, 1024, 1), "1.5");
        assert_eq!(decimal(1, 3, 1), "0.3");
        assert_eq!(decimal(2, 3, 2), "0.67");
        assert_eq!(decimal(95, 1000, 1), "0.1");
        assert_eq!(decimal(7, 1, 0), "7");
        assert_eq!(decimal(u64::MAX, 1, 1), "18446744073709551615.0");
    }

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
    }

    #[test]
    fn reservation_and_io_weight_go_to_each_versions_file() {
        let res = Resources { memory_reservation: Some(1 << 20), blkio_weight: Some(500), ..Default::default() };
        let v2 = v2_settings(&res, false);
        assert!(v2.contains(&("memory", "memory.low", (1u64 << 20).to_string())));
        assert!(v2.contains(&("io", "io.weight", "500".into())));
        let v1 = v1_settings(&res, false);
        assert!(v1.contains(&("memory", "memory.soft_limit_in_bytes", (1u64 << 20).to_string())));
        assert!(v1.contains(&("blkio", "blkio.weight", "500".into())));
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
