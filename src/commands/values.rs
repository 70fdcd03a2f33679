//! The syntax of flag values that become resource limits and network settings: docker's
//! spelling, parsed by the front end into the spec's units. Range checks against the
//! machine are the spec's (`Spec::validate`); these only read the text.

use crate::error::{Context, Error, Result};
use crate::network;
use crate::spec::NetworkMode;
use std::path::PathBuf;

fn bad(flag: &str, text: &str, why: impl Into<String>) -> Error {
    Error::msg(format!("--{flag} {text}"), why)
}

/// `--cpus 1.5` -> a quota in microseconds over `period`. Read as a decimal by hand, to
/// the microsecond: the standard float parser's tables cost 14 KB of the binary.
pub fn cpus(text: &str, period: u64) -> Result<u64> {
    let t = text.trim_ascii();
    let (whole, frac) = t.split_once('.').unwrap_or((t, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() && frac.is_empty() || !digits(whole) || !digits(frac) || whole.len() > 9 {
        return Err(bad("cpus", text, "expected a number of CPUs like 0.5 or 2"));
    }
    // CPUs in millionths, rounded at the seventh decimal.
    let mut millionths = whole.parse::<u64>().unwrap_or(0) * 1_000_000;
    let mut scale = 100_000;
    for (i, b) in frac.bytes().enumerate() {
        let d = u64::from(b - b'0');
        if i < 6 {
            millionths += d * scale;
            scale /= 10;
        } else {
            millionths += u64::from(i == 6 && d >= 5);
            break;
        }
    }
    if millionths == 0 {
        return Err(bad("cpus", text, "must be more than 0"));
    }
    Ok((millionths * period + 500_000) / 1_000_000)
}

/// `--cpu-percent 50`: percent of one CPU, so 50 is `--cpus 0.5` and 150 is 1.5.
pub fn cpu_percent(text: &str, period: u64) -> Result<u64> {
    match text.trim_ascii().parse::<u64>() {
        Ok(pct) if pct > 0 => Ok(pct.saturating_mul(period) / 100),
        _ => Err(bad("cpu-percent", text, "expected a whole percentage like 50")),
    }
}

/// `--cpu-shares`: a whole number (its range is checked with the spec).
pub fn shares(text: &str) -> Result<u64> {
    text.trim_ascii().parse::<u64>().map_err(|_| bad("cpu-shares", text, "expected a whole number from 2 to 262144"))
}

/// `--memory-swap`: a size, or -1 for unlimited swap.
pub fn memory_swap(text: &str) -> Result<i64> {
    if text.trim_ascii() == "-1" {
        return Ok(-1);
    }
    let n = crate::cli::parse_size("memory-swap", text)
        .map_err(|_| bad("memory-swap", text, "expected a size like 256m, or -1 for unlimited swap"))?;
    i64::try_from(n).map_err(|_| bad("memory-swap", text, "too large"))
}

/// A cpuset list ("0-1,3"), well formed (whether it is online is checked with the spec).
pub fn cpuset(flag: &str, text: &str) -> Result<String> {
    crate::spec::parse_list(text).ok_or_else(|| bad(flag, text, "expected a list like 0-2,4"))?;
    Ok(text.trim_ascii().to_string())
}

/// `--network`'s value.
pub fn network(text: &str) -> Result<NetworkMode> {
    let bad = |why: &str| Error::msg(format!("--network {text}"), why.to_string());
    let unknown =
        "no such network (husk network ls) or mode (none, host, bridge[:NAME], pasta, ns:PATH, container:NAME)";
    Ok(match text.split_once(':') {
        None => match text {
            "none" => NetworkMode::None,
            "pasta" => NetworkMode::Pasta,
            "host" => NetworkMode::Host,
            "bridge" => NetworkMode::Bridge(network::DEFAULT_BRIDGE.to_string()),
            // A network made by `husk network create`, named as docker users do.
            name if network::exists(name) => NetworkMode::Bridge(name.to_string()),
            _ => return Err(bad(unknown)),
        },
        Some(("bridge", name)) => {
            network::link::check_name("--network bridge:", name)?;
            NetworkMode::Bridge(name.to_string())
        }
        Some(("ns", path)) => {
            if !path.starts_with('/') {
                return Err(bad("the namespace path must be absolute"));
            }
            std::fs::metadata(path).ctx(&format!("--network ns:{path}"), "")?;
            NetworkMode::Path(PathBuf::from(path))
        }
        Some(("container", name)) if !name.is_empty() => NetworkMode::Container(name.to_string()),
        _ => return Err(bad(unknown)),
    })
}

/// `--add-host NAME:IP` (or NAME=IP) as an /etc/hosts line.
pub fn add_host(text: &str) -> Result<String> {
    let bad = || Error::msg(format!("--add-host {text}"), "expected NAME:IP");
    let (name, ip) = text.split_once(['=', ':']).ok_or_else(bad)?;
    ip.parse::<std::net::IpAddr>().map_err(|_| bad())?;
    Ok(format!("{ip}\t{name}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_become_a_quota_over_the_period() {
        assert_eq!(cpus("0.5", 100_000).unwrap(), 50_000);
        assert_eq!(cpus("2", 100_000).unwrap(), 200_000);
        assert_eq!(cpus(" 1.25 ", 100_000).unwrap(), 125_000);
        assert_eq!(cpus(".5", 100_000).unwrap(), 50_000);
        assert_eq!(cpus("3.", 100_000).unwrap(), 300_000);
        assert_eq!(cpus("0.0000015", 1_000_000).unwrap(), 2, "rounded at the seventh decimal");
        assert_eq!(cpus("0.333333", 100_000).unwrap(), 33_333);
        assert_eq!(cpu_percent("50", 100_000).unwrap(), 50_000);
        assert_eq!(cpu_percent("150", 100_000).unwrap(), 150_000);
        for bad in ["0", "-1", "abc", "NaN", "inf", ".", "", "0.0", "1.2.3", "1e3", "+1"] {
            assert!(cpus(bad, 100_000).is_err(), "{bad} accepted");
        }
        for bad in ["0", "-5", "5.5"] {
            assert!(cpu_percent(bad, 100_000).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn swap_takes_a_size_or_minus_one() {
        assert_eq!(memory_swap("-1").unwrap(), -1);
        assert_eq!(memory_swap("1m").unwrap(), 1 << 20);
        assert!(memory_swap("-5").is_err());
        assert!(cpuset("cpuset-cpus", "0-").is_err());
        assert_eq!(cpuset("cpuset-cpus", " 0-1 ").unwrap(), "0-1");
    }
}
