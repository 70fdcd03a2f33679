//! `husk logs`: a detached container's output, from its rotated log files.

use crate::cli::{self, Command, flag, on};
use crate::error::{Context, Error, Result};
use crate::state::{ContainerDir, Status};
use std::ffi::OsString;
use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

#[derive(Default)]
pub struct LogsOpts {
    follow: bool,
    tail: Option<usize>,
}

pub static LOGS: Command<LogsOpts> = Command {
    name: "logs",
    usage: "[-f] [--tail N] NAME",
    about: "Print a detached container's output (stdout and stderr, in order).",
    flags: &[
        flag("follow", Some('f'), None, "Keep printing new output until the container exits", |o, _| on(&mut o.follow)),
        flag("tail", Some('n'), Some("N"), "Only the last N lines", |o, n| {
            Ok(o.tail = Some(n.parse().map_err(|_| Error::msg(format!("--tail {n}"), "expected a number"))?))
        }),
    ],
    command_follows: false,
};

pub fn main(args: Vec<OsString>) -> Result<u8> {
    let Some((LogsOpts { follow, tail }, mut names)) = cli::parse(&LOGS, args)? else { return Ok(0) };
    if names.len() > 1 {
        return Err(cli::usage_error(&LOGS, &format!("unexpected argument \"{}\"", names[1])));
    }
    let name = names.pop();
    let Some(name) = name else { return Err(cli::usage_error(&LOGS, "no container named")) };
    let dir = ContainerDir::open(&name)?;
    let log = dir.log();
    if !log.exists() {
        return Err(Error::container(&name, "has no log (only detached containers keep one)"));
    }
    let mut text = std::fs::read(log.with_extension("1")).unwrap_or_default();
    text.extend(std::fs::read(&log).ctx("read", log.display())?);
    let start = match tail {
        Some(n) => tail_start(&text, n),
        None => 0,
    };
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&text[start..]);
    let _ = out.flush();
    if !follow {
        return Ok(0);
    }
    // Follow: read what is appended; a rotation shows as a file shorter than our offset.
    let mut offset = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
    loop {
        let running = dir.load().is_ok_and(|st| st.status != Status::Exited);
        let len = std::fs::metadata(&log).map(|m| m.len()).unwrap_or(0);
        if len < offset {
            offset = 0;
        }
        if len > offset {
            let mut file = std::fs::File::open(&log).ctx("open", log.display())?;
            file.seek(SeekFrom::Start(offset)).ctx("seek", log.display())?;
            let mut buf = Vec::new();
            file.read_to_end(&mut buf).ctx("read", log.display())?;
            offset += buf.len() as u64;
            let _ = out.write_all(&buf);
            let _ = out.flush();
        } else if !running {
            return Ok(0);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where the last `n` lines start.
fn tail_start(text: &[u8], n: usize) -> usize {
    if n == 0 {
        return text.len();
    }
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut seen = 0;
    for (i, &b) in body.iter().enumerate().rev() {
        if b == b'\n' {
            seen += 1;
            if seen == n {
                return i + 1;
            }
        }
    }
    0
}

#[cfg(test)]
mod tests {
    #[test]
    fn tail_counts_lines_from_the_end() {
        let text = b"a\nb\nc\n";
        assert_eq!(&text[super::tail_start(text, 2)..], b"b\nc\n");
        assert_eq!(&text[super::tail_start(text, 9)..], b"a\nb\nc\n");
        assert_eq!(&text[super::tail_start(text, 0)..], b"");
    }
}
