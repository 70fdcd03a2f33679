//! `husk stats`: containers' CPU, memory, network and pids as docker shows them, with
//! the CPU and pids limits beside. husk's own record (`husk inspect --raw`) carries the
//! cgroup counters and the saved limits; this samples it, redraws the table in place on
//! a terminal (one table after another when piped) and renders `--format` templates.

use serde_json::{Map, Value};
use std::ffi::OsString;
use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use crate::container::run_husk;
use crate::error::{Error, Result};
use crate::inspect::container_id;
use crate::template::Listing;
use crate::verbs::{self, parse};

const HELP: &str = "\
Usage: {P} stats [OPTIONS] [NAME...]

Show running containers' CPU %, memory use and limit, network I/O, pids, and their
CPU and pids limits, redrawn every second on a terminal.

Options:
  -a, --all              all containers (default: running ones)
      --format TEMPLATE  a Go template ('{{.Name}} {{.CPUPerc}}'); 'table TEMPLATE'
                         adds the headers; 'json': a JSON line each
      --no-stream        one sample, then exit
      --no-trunc         whole IDs
";

const DEFAULT: &str = "table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.CPULimit}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.PIDs}}\t{{.PIDsLimit}}";

pub fn stats(args: Vec<OsString>) -> Result<u8> {
    let (mut all, mut format, mut once, mut no_trunc) = (false, None, false, false);
    let Some(o) = parse("stats", args, HELP, |p, a| {
        match a {
            "-a" | "--all" => all = true,
            "--no-stream" => once = true,
            "--no-trunc" => no_trunc = true,
            "--format" => {
                let v = p.value().map_err(|e| verbs::usage("stats", e))?;
                format = Some(v.into_string().map_err(|_| verbs::usage("stats", "not UTF-8"))?);
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?
    else {
        return Ok(0);
    };
    let listing =
        Listing::new(format.as_deref(), DEFAULT).map_err(|why| verbs::usage("stats", format!("template: {why}")))?;
    // Named containers must exist (and run) now, as docker's stats insists.
    for name in &o.words {
        let raw = sample_of(&[name.as_str()])?;
        if raw.first().is_none_or(|r| r["state"] != "running") && !all {
            return Err(Error::new(format!("container {name}"), "is not running"));
        }
    }
    let terminal = std::io::stdout().is_terminal() && !once;
    let mut before = sample(&o.words, all)?;
    let mut at = Instant::now();
    let mut first = true;
    loop {
        std::thread::sleep(Duration::from_millis(if first { 500 } else { 1000 }));
        first = false;
        let now = sample(&o.words, all)?;
        let wall = at.elapsed().as_nanos() as f64;
        at = Instant::now();
        let rows: Vec<Value> =
            now.iter().map(|r| row(r, before.iter().find(|b| b["name"] == r["name"]), wall, !no_trunc)).collect();
        let text = listing.render(&headers(), &rows).map_err(|why| Error::new("stats: template", why))?;
        let text = text.unwrap_or_default();
        let mut out = std::io::stdout().lock();
        // A terminal gets the table redrawn in place (docker's clear and home).
        let clear = if terminal { "\x1b[2J\x1b[H" } else { "" };
        writeln!(out, "{clear}{text}").and_then(|_| out.flush()).map_err(|e| Error::new("stdout", e))?;
        if once {
            return Ok(0);
        }
        before = now;
    }
}

fn sample_of(names: &[&str]) -> Result<Vec<Value>> {
    let mut args = vec!["inspect", "--raw"];
    args.extend(names);
    let text = run_husk(&args)?;
    Ok(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

/// The containers shown: those named, else the running ones (all with -a).
fn sample(names: &[String], all: bool) -> Result<Vec<Value>> {
    let mut records = if names.is_empty() {
        crate::ps::records()?
    } else {
        let names: Vec<&str> = names.iter().map(String::as_str).collect();
        sample_of(&names)?
    };
    if names.is_empty() && !all {
        records.retain(|r| r["state"] == "running");
    }
    Ok(records)
}

/// Bytes as docker's BytesSize: binary units, four significant digits.
fn binary(bytes: f64) -> String {
    scaled(bytes, 1024.0, ["B", "KiB", "MiB", "GiB", "TiB"], 4)
}

/// Bytes as docker's HumanSizeWithPrecision(.., 3): decimal units.
fn decimal(bytes: f64) -> String {
    scaled(bytes, 1000.0, ["B", "kB", "MB", "GB", "TB"], 3)
}

fn scaled(bytes: f64, base: f64, units: [&str; 5], digits: i32) -> String {
    let (mut v, mut i) = (bytes, 0);
    while v >= base && i + 1 < units.len() {
        v /= base;
        i += 1;
    }
    format!("{}{}", significant(v, digits), units[i])
}

/// Go's %.Ng: N significant digits, trailing zeros dropped.
fn significant(v: f64, digits: i32) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let magnitude = v.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
}

/// Received and sent bytes of the container's interfaces but lo, from its init's view of
/// its network namespace.
fn net_io(pid: &Value) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{}/net/dev", pid.as_u64()?)).ok()?;
    let mut sums = (0, 0);
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else { continue };
        if name.trim() == "lo" {
            continue;
        }
        let fields: Vec<u64> = rest.split_whitespace().filter_map(|f| f.parse().ok()).collect();
        if fields.len() >= 9 {
            sums = (sums.0 + fields[0], sums.1 + fields[8]);
        }
    }
    Some(sums)
}

fn host_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let kb: u64 = text.lines().find(|l| l.starts_with("MemTotal:"))?.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

fn row(r: &Value, prev: Option<&Value>, wall: f64, trunc: bool) -> Value {
    let running = r["state"] == "running";
    let res = &r["spec"]["resources"];
    let cpu = match (r["cpu_nanos"].as_u64(), prev.and_then(|p| p["cpu_nanos"].as_u64())) {
        (Some(now), Some(then)) if running && wall > 0.0 => now.saturating_sub(then) as f64 * 100.0 / wall,
        _ => 0.0,
    };
    let cpu_limit = match (res["cpuQuota"].as_f64(), res["cpuPeriod"].as_f64()) {
        (Some(q), Some(p)) if q > 0.0 && p > 0.0 => format!("{}%", significant(q * 100.0 / p, 4)),
        _ => "-".into(),
    };
    let usage = if running { r["memory"].as_u64().unwrap_or(0) } else { 0 };
    let limit = res["memory"].as_u64().or_else(host_memory).unwrap_or(0);
    let mem_perc = if limit > 0 { usage as f64 * 100.0 / limit as f64 } else { 0.0 };
    let (rx, tx) = if running { net_io(&r["pid"]).unwrap_or((0, 0)) } else { (0, 0) };
    let id = container_id(r);
    let fields = [
        ("BlockIO", "-".into()),
        ("CPULimit", cpu_limit.into()),
        ("CPUPerc", format!("{cpu:.2}%").into()),
        ("Container", r["name"].clone()),
        ("ID", if trunc { id[..12].to_string() } else { id }.into()),
        ("MemPerc", format!("{mem_perc:.2}%").into()),
        ("MemUsage", format!("{} / {}", binary(usage as f64), binary(limit as f64)).into()),
        ("Name", r["name"].clone()),
        ("NetIO", format!("{} / {}", decimal(rx as f64), decimal(tx as f64)).into()),
        ("PIDs", if running { r["pids"].as_u64().unwrap_or(0) } else { 0 }.to_string().into()),
        ("PIDsLimit", res["pidsLimit"].as_u64().map_or("-".to_string(), |l| l.to_string()).into()),
    ];
    Value::Object(fields.into_iter().map(|(k, v): (&str, Value)| (k.to_string(), v)).collect::<Map<_, _>>())
}

fn headers() -> Value {
    let names = [
        ("BlockIO", "BLOCK I/O"),
        ("CPULimit", "CPU LIMIT"),
        ("CPUPerc", "CPU %"),
        ("Container", "CONTAINER"),
        ("ID", "CONTAINER ID"),
        ("MemPerc", "MEM %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("Name", "NAME"),
        ("NetIO", "NET I/O"),
        ("PIDs", "PIDS"),
        ("PIDsLimit", "PIDS LIMIT"),
    ];
    Value::Object(names.into_iter().map(|(k, v)| (k.to_string(), Value::from(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sizes_and_limits_read_as_dockers() {
        assert_eq!(binary(1_568_768.0), "1.496MiB");
        assert_eq!(binary(134_217_728.0), "128MiB");
        assert_eq!(binary(0.0), "0B");
        assert_eq!(decimal(648.0), "648B");
        assert_eq!(decimal(1234.0), "1.23kB");
        let r = json!({"name": "w", "state": "running", "pid": null, "memory": 1048576, "cpu_nanos": 1_500_000_000u64,
            "pids": 3, "created": 1, "spec": {"resources": {"memory": 134217728, "cpuQuota": 50000,
            "cpuPeriod": 100000, "pidsLimit": 50}}});
        let mut before = r.clone();
        before["cpu_nanos"] = json!(1_000_000_000u64);
        let row = row(&r, Some(&before), 1e9, true);
        assert_eq!(row["CPUPerc"], "50.00%");
        assert_eq!(row["CPULimit"], "50%");
        assert_eq!(row["MemUsage"], "1MiB / 128MiB");
        assert_eq!(row["MemPerc"], "0.78%");
        assert_eq!((row["PIDs"].as_str(), row["PIDsLimit"].as_str()), (Some("3"), Some("50")));
    }
}
