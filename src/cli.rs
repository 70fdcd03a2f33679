//! Argument parsing shared by every subcommand: one table of flags per command drives
//! parsing, `--help` and the "similar flags" hint for typos.

use crate::error::{Error, Result};
use lexopt::{Arg as Lex, Parser, ValueExt};
use std::ffi::OsString;

pub struct Flag {
    pub long: &'static str,
    pub short: Option<char>,
    /// The value's name in help ("SIZE"), or None for a switch.
    pub value: Option<&'static str>,
    pub help: &'static str,
}

pub const fn flag(long: &'static str, short: Option<char>, value: Option<&'static str>, help: &'static str) -> Flag {
    Flag { long, short, value, help }
}

pub struct Command {
    pub name: &'static str,
    pub usage: &'static str,
    pub about: &'static str,
    pub flags: &'static [Flag],
}

pub enum Arg {
    /// A flag by its long name, with its value when it takes one.
    Flag(&'static str, Option<String>),
    Positional(String),
    Help,
}

pub struct Cli {
    parser: Parser,
    cmd: &'static Command,
}

impl Cli {
    pub fn new(cmd: &'static Command, args: Vec<OsString>) -> Cli {
        Cli { parser: Parser::from_args(args), cmd }
    }

    pub fn next(&mut self) -> Result<Option<Arg>> {
        let lex = match self.parser.next() {
            Ok(Some(lex)) => lex,
            Ok(None) => return Ok(None),
            Err(e) => return Err(self.usage_error(&e.to_string())),
        };
        let flag = match lex {
            Lex::Long("help") | Lex::Short('h') => return Ok(Some(Arg::Help)),
            Lex::Value(v) => return Ok(Some(Arg::Positional(self.utf8(v)?))),
            Lex::Long(long) => {
                let long = long.to_string();
                self.cmd.flags.iter().find(|f| f.long == long).ok_or_else(|| self.unknown(&format!("--{long}")))?
            }
            Lex::Short(c) => {
                self.cmd.flags.iter().find(|f| f.short == Some(c)).ok_or_else(|| self.unknown(&format!("-{c}")))?
            }
        };
        let value = match flag.value {
            None => None,
            Some(_) => match self.parser.value() {
                Ok(v) => Some(self.utf8(v)?),
                Err(_) => return Err(self.usage_error(&format!("--{} needs a value", flag.long))),
            },
        };
        Ok(Some(Arg::Flag(flag.long, value)))
    }

    /// Everything after the first positional argument, untouched: it belongs to the
    /// container's command, flags included.
    pub fn rest(&mut self) -> Result<Vec<String>> {
        let raw: Vec<OsString> = match self.parser.raw_args() {
            Ok(raw) => raw.collect(),
            Err(e) => return Err(self.usage_error(&e.to_string())),
        };
        raw.into_iter().map(|v| self.utf8(v)).collect()
    }

    fn utf8(&self, v: OsString) -> Result<String> {
        v.string().map_err(|_| self.usage_error("arguments must be valid UTF-8"))
    }

    fn unknown(&self, given: &str) -> Error {
        let name = given.trim_start_matches('-');
        let similar: Vec<String> =
            self.cmd.flags.iter().filter(|f| similar(name, f.long)).map(|f| format!("--{}", f.long)).collect();
        let mut why = format!("unknown flag {given}");
        if !similar.is_empty() {
            why.push_str(&format!(" (similar: {})", similar.join(", ")));
        }
        self.usage_error(&why)
    }

    pub fn usage_error(&self, why: &str) -> Error {
        Error::msg(format!("husk {}", self.cmd.name), format!("{why}; see 'husk {} --help'", self.cmd.name))
    }
}

/// A typo is a long name within edit distance 2, or one that contains the other.
fn similar(given: &str, known: &str) -> bool {
    if given.len() >= 3 && (known.contains(given) || given.contains(known)) {
        return true;
    }
    edit_distance(given, known) <= 2
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = (prev + usize::from(ca != *cb)).min(row[j] + 1).min(cur + 1);
            prev = cur;
        }
    }
    row[b.len()]
}

pub fn help(cmd: &Command) -> String {
    let mut out = format!("Usage: husk {} {}\n\n{}\n\nOptions:\n", cmd.name, cmd.usage, cmd.about);
    for f in cmd.flags {
        let short = f.short.map(|c| format!("-{c}, ")).unwrap_or_else(|| "    ".into());
        let value = f.value.map(|v| format!(" {v}")).unwrap_or_default();
        let left = format!("  {short}--{}{value}", f.long);
        out.push_str(&format!("{left:<34}{}\n", f.help));
    }
    out.push_str(&format!("{:<34}{}\n", "  -h, --help", "Show this help"));
    out
}

/// Parses "128m", "1g", "4096" (bytes, with k/m/g/t binary suffixes).
pub fn parse_size(flag: &str, text: &str) -> Result<u64> {
    let bad = || Error::msg(format!("--{flag} {text}"), "expected a positive size like 512k, 128m or 2g");
    let lower = text.trim().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let (digits, shift) = match lower.chars().last() {
        Some('k') => (&lower[..lower.len() - 1], 10),
        Some('m') => (&lower[..lower.len() - 1], 20),
        Some('g') => (&lower[..lower.len() - 1], 30),
        Some('t') => (&lower[..lower.len() - 1], 40),
        _ => (lower, 0),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let n = n.checked_mul(1u64 << shift).ok_or_else(bad)?;
    if n == 0 {
        return Err(bad());
    }
    Ok(n)
}

/// Parses a positive integer flag value.
pub fn parse_u64(flag: &str, text: &str) -> Result<u64> {
    match text.parse::<u64>() {
        Ok(n) if n > 0 => Ok(n),
        _ => Err(Error::msg(format!("--{flag} {text}"), "expected a positive integer")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_accept_binary_suffixes_and_refuse_nonsense() {
        assert_eq!(parse_size("memory", "128m").unwrap(), 128 << 20);
        assert_eq!(parse_size("memory", "1G").unwrap(), 1 << 30);
        assert_eq!(parse_size("memory", "4096").unwrap(), 4096);
        assert_eq!(parse_size("memory", "64mb").unwrap(), 64 << 20);
        for bad in ["-5", "12qq", "0", "", "m", "1.5g"] {
            assert!(parse_size("memory", bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn typos_find_the_flag_meant() {
        assert!(similar("hostnme", "hostname"));
        assert!(similar("env", "env-file"));
        assert!(!similar("zzz", "hostname"));
    }
}
