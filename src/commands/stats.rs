//! `husk stats`: CPU, memory and pids of running containers, from their cgroups.

use crate::cgroups::{self, limits::decimal};
use crate::cli::{self, Command, flag, on};
use crate::commands::manage::human;
use crate::error::Result;
use crate::state::{self, ContainerDir, Status};
use std::ffi::OsString;
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct StatsOpts {
    once: bool,
}

pub static STATS: Command<StatsOpts> = Command {
    name: "stats",
    usage: "[--no-stream] [NAME...]",
    about: "Show CPU %, memory usage / limit and pids of running containers (all when no NAME).",
    flags: &[flag("no-stream", None, None, "Print one sample and exit", |o, _| on(&mut o.once))],
    command_follows: false,
};

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let Some((StatsOpts { once }, names)) = cli::parse(&STATS, args)? else { return Ok(0) };
    for name in &names {
        state::find_running(name)?;
    }
    loop {
        let targets: Vec<String> = if names.is_empty() {
            state::names()
                .into_iter()
                .filter(|n| ContainerDir::open(n).and_then(|d| d.load()).is_ok_and(|s| s.status == Status::Running))
                .collect()
        } else {
            names.clone()
        };
        let dirs: Vec<_> = targets.iter().map(|n| cgroups::recorded(&state::root().join(n))).collect();
        // CPU % is the cgroup's CPU time over a half-second window.
        let before: Vec<_> = dirs.iter().map(|d| cgroups::cpu_nanos(d)).collect();
        let start = Instant::now();
        std::thread::sleep(Duration::from_millis(500));
        let wall = start.elapsed().as_nanos() as u64;
        println!("{:<20} {:>8} {:>24} {:>6}", "NAME", "CPU %", "MEM USAGE / LIMIT", "PIDS");
        for ((name, d), cpu0) in targets.iter().zip(&dirs).zip(before) {
            let cpu = match (cpu0, cgroups::cpu_nanos(d)) {
                (Some(a), Some(b)) => format!("{}%", decimal(b.saturating_sub(a) * 100, wall, 1)),
                _ => "-".into(),
            };
            let usage = cgroups::memory_usage(d).map(human).unwrap_or_else(|| "-".into());
            let limit = cgroups::memory_limit(d).map(human).unwrap_or_else(|| "unlimited".into());
            let pids = cgroups::pids(d).map(|p| p.to_string()).unwrap_or_else(|| "-".into());
            println!("{:<20} {:>8} {:>24} {:>6}", name, cpu, format!("{usage} / {limit}"), pids);
        }
        if once {
            return Ok(0);
        }
    }
}
