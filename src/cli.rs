//! Argument parsing shared by every subcommand: one table of flags per command drives
//! parsing, `--help` and the "similar flags" hint for typos. Each flag carries its
//! handler, so a flag in a table without one does not compile; `parse` is the one way
//! a command reads its arguments.

use crate::error::{Error, Result};
use lexopt::{Arg as Lex, Parser, ValueExt};
use std::ffi::OsString;

pub struct Flag<O: 'static> {
    pub long: &'static str,
    pub short: Option<char>,
    /// The value's name in help ("SIZE"), or None for a switch.
    pub value: Option<&'static str>,
    pub help: &'static str,
    /// Applies the flag (a switch gets an empty value) to the command's options.
    pub set: fn(&mut O, String) -> Result<()>,
}

pub const fn flag<O>(
    long: &'static str,
    short: Option<char>,
    value: Option<&'static str>,
    help: &'static str,
    set: fn(&mut O, String) -> Result<()>,
) -> Flag<O> {
    Flag { long, short, value, help, set }
}

pub struct Command<O: 'static> {
    pub name: &'static str,
    pub usage: &'static str,
    pub about: &'static str,
    pub flags: &'static [Flag<O>],
    /// From the first positional argument on, everything is the container command's,
    /// flags included (run, exec, init, create).
    pub command_follows: bool,
}

/// A command's table as the parser and the help see it, whatever its options' type.
pub trait Table {
    fn name(&self) -> &'static str;
    fn usage(&self) -> &'static str;
    fn about(&self) -> &'static str;
    fn command_follows(&self) -> bool;
    /// (long, short, value name, help) of flag `i`.
    fn flag(&self, i: usize) -> Option<(&'static str, Option<char>, Option<&'static str>, &'static str)>;
}

impl<O> Table for Command<O> {
    fn name(&self) -> &'static str {
        self.name
    }
    fn usage(&self) -> &'static str {
        self.usage
    }
    fn about(&self) -> &'static str {
        self.about
    }
    fn command_follows(&self) -> bool {
        self.command_follows
    }
    fn flag(&self, i: usize) -> Option<(&'static str, Option<char>, Option<&'static str>, &'static str)> {
        self.flags.get(i).map(|f| (f.long, f.short, f.value, f.help))
    }
}

fn flags(t: &dyn Table) -> impl Iterator<Item = (usize, &'static str, Option<char>, Option<&'static str>)> + '_ {
    (0..).map_while(move |i| t.flag(i).map(|(l, s, v, _)| (i, l, s, v)))
}

/// Parses `args` for `cmd`: its options (each flag applied by its handler, in order) and
/// its positional arguments. None when --help was printed.
pub fn parse<O: Default>(cmd: &'static Command<O>, args: Vec<OsString>) -> Result<Option<(O, Vec<String>)>> {
    let mut opts = O::default();
    let positionals = lex(cmd, args, &mut |i, value| (cmd.flags[i].set)(&mut opts, value))?;
    Ok(positionals.map(|p| (opts, p)))
}

/// The parser's one loop, shared by every command's options type.
fn lex(
    t: &dyn Table,
    args: Vec<OsString>,
    apply: &mut dyn FnMut(usize, String) -> Result<()>,
) -> Result<Option<Vec<String>>> {
    let mut parser = Parser::from_args(args);
    let mut positionals = Vec::new();
    loop {
        let lex = match parser.next() {
            Ok(Some(lex)) => lex,
            Ok(None) => return Ok(Some(positionals)),
            Err(e) => return Err(lex_error(t, e)),
        };
        let (i, long, value) = match lex {
            Lex::Long("help") | Lex::Short('h') => {
                print!("{}", help(t));
                return Ok(None);
            }
            Lex::Value(v) => {
                positionals.push(utf8(t, v)?);
                if t.command_follows() {
                    let raw: Vec<OsString> = match parser.raw_args() {
                        Ok(raw) => raw.collect(),
                        Err(e) => return Err(lex_error(t, e)),
                    };
                    for v in raw {
                        positionals.push(utf8(t, v)?);
                    }
                    return Ok(Some(positionals));
                }
                continue;
            }
            Lex::Long(long) => {
                let long = long.to_string();
                let found = flags(t).find(|f| f.1 == long).ok_or_else(|| unknown(t, &format!("--{long}")))?;
                (found.0, found.1, found.3)
            }
            Lex::Short(c) => {
                let found = flags(t).find(|f| f.2 == Some(c)).ok_or_else(|| unknown(t, &format!("-{c}")))?;
                (found.0, found.1, found.3)
            }
        };
        let value = match value {
            None => String::new(),
            Some(_) => match parser.value() {
                Ok(v) => utf8(t, v)?,
                Err(_) => return Err(usage_error(t, &format!("--{long} needs a value"))),
            },
        };
        apply(i, value)?;
    }
}

/// lexopt's one error here (`--switch=value`), said without its Display, whose quoting
/// of OsStrings costs 1 KB of binary.
fn lex_error(t: &dyn Table, e: lexopt::Error) -> Error {
    let why = match e {
        lexopt::Error::UnexpectedValue { option, .. } => format!("{option} takes no value"),
        _ => "arguments must be valid UTF-8".to_string(),
    };
    usage_error(t, &why)
}

fn utf8(t: &dyn Table, v: OsString) -> Result<String> {
    v.string().map_err(|_| usage_error(t, "arguments must be valid UTF-8"))
}

fn unknown(t: &dyn Table, given: &str) -> Error {
    let name = given.trim_start_matches('-');
    let similar: Vec<String> = flags(t).filter(|f| similar(name, f.1)).map(|f| format!("--{}", f.1)).collect();
    let mut why = format!("unknown flag {given}");
    if !similar.is_empty() {
        why.push_str(&format!(" (similar: {})", similar.join(", ")));
    }
    usage_error(t, &why)
}

/// "husk: unknown flag --x: see 'husk run --help'", docker's two lines in one.
pub fn usage_error(t: &dyn Table, why: &str) -> Error {
    Error::msg(why, format!("see 'husk {} --help'", t.name()))
}

/// A handler for a switch.
pub fn on(flag: &mut bool) -> Result<()> {
    *flag = true;
    Ok(())
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

pub fn help(t: &dyn Table) -> String {
    let mut out = format!("Usage: husk {} {}\n\n{}\n\nOptions:\n", t.name(), t.usage(), t.about());
    for (long, short, value, text) in (0..).map_while(|i| t.flag(i)) {
        let short = short.map(|c| format!("-{c}, ")).unwrap_or_else(|| "    ".into());
        let value = value.map(|v| format!(" {v}")).unwrap_or_default();
        let left = format!("  {short}--{long}{value}");
        // A long left column still keeps two spaces before the text.
        out.push_str(&format!("{left:<32}  {text}\n"));
    }
    out.push_str(&format!("{:<32}  {}\n", "  -h, --help", "Show this help"));
    out
}

/// Parses a size as docker does: "128m", "1.5g", "4096" (bytes), binary k/m/g/t/p
/// suffixes with an optional "b" or "ib". The fraction is done in integers: float
/// parsing would cost the binary several KB.
pub fn parse_size(flag: &str, text: &str) -> Result<u64> {
    let bad = || Error::msg(format!("--{flag} {text}"), "expected a positive size like 512k, 128m or 1.5g");
    let lower = text.trim_ascii().to_ascii_lowercase();
    let lower = lower.strip_suffix('b').unwrap_or(&lower);
    let lower = lower.strip_suffix('i').unwrap_or(lower);
    let split = lower.len() - usize::from(lower.ends_with(|c: char| c.is_ascii_alphabetic()));
    let shift = match &lower[split..] {
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        "" => 0,
        _ => return Err(bad()),
    };
    let number = lower[..split].trim_end();
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    let digits = |d: &str| d.bytes().all(|b| b.is_ascii_digit());
    // Three decimals ("1.125g") are plenty and keep the arithmetic in 64 bits.
    if whole.is_empty() || !digits(whole) || !digits(fraction) || fraction.len() > 3 {
        return Err(bad());
    }
    let scale = 10u64.pow(fraction.len() as u32);
    let fraction: u64 = if fraction.is_empty() { 0 } else { fraction.parse().map_err(|_| bad())? };
    let n = whole.parse::<u64>().ok().and_then(|w| w.checked_mul(1 << shift)).ok_or_else(bad)?;
    match n.checked_add((fraction << shift) / scale) {
        Some(n) if n > 0 => Ok(n),
        _ => Err(bad()),
    }
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
        assert_eq!(parse_size("memory", "1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_size("memory", "512 MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("memory", "0.5k").unwrap(), 512);
        for bad in ["-5", "12qq", "0", "", "m", "1.5.1g", ".5g", "1e3", "2x"] {
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
