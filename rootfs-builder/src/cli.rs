//! Command-line parsing.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use crate::error::{Error, Result};

pub const HELP: &str = "\
rootfs-builder: turn a root filesystem tarball or a container image into an
ext4 image (no mkfs, no mount, no root privileges needed)

Usage: rootfs-builder [OPTIONS] INPUT -o IMAGE.ext4
       rootfs-builder [OPTIONS] IMAGE --layers DIR
       rootfs-builder load|pull|save|images|rmi|tag|export|cp|commit ... (husk's image store)

INPUT is a tar file, plain or compressed with gzip, xz, zstd or bzip2
(detected from its content, never its name), or - for standard input; or a
container image: an OCI image layout (a directory, or a tar archive of one)
or a docker save archive, whose layers are applied in order with their
whiteouts, every blob checked against its digest.

Options:
  -o, --output IMAGE       image to write (required); written to a temporary
                           file next to it and renamed when complete
  -s, --size SIZE          image size in bytes, suffixes k, m, g, t (powers of
                           1024); default: contents + max(20%, 16 MiB) free
  -N, --inodes N           number of inodes; default: one per 16 KiB of image,
                           at least the contents + 20%
  -L, --label LABEL        volume label (at most 16 bytes)
  -U, --uuid UUID          filesystem UUID (default: random)
      --reproducible       byte-identical output for identical input: UUID and
                           hash seed derived from the input, timestamps from
                           SOURCE_DATE_EPOCH (or 0)
      --no-journal         no jbd2 journal (for images mounted read-only)
      --add HOST:DEST      copy a host file or directory tree to DEST in the
                           image, owned by root:root (repeatable)
      --preserve-owner     --add keeps host uid/gid instead of root:root
      --add-binary PATH    copy a dynamically linked host program to the same
                           path, with its ELF interpreter and all shared
                           libraries it needs (repeatable)
      --platform [linux/]ARCH  for an image: the manifest for ARCH (amd64,
                           arm64, ...; default: this machine's)
      --layers DIR         for an image: one ext4 per layer instead of one image,
                           DIR/0.ext4 (bottom), 1.ext4, ..., whiteouts in
                           overlayfs's form, for husk run --image DIR/0.ext4
                           --layer DIR/1.ext4 ...
      --config FILE        for an image: write its config document (Cmd,
                           Entrypoint, Env, WorkingDir, User, ...) to FILE
  -q, --quiet              no progress line, summary or warnings
  -h, --help               show this help
  -V, --version            show the version
";

#[derive(Debug, Default, Clone)]
pub struct Options {
    pub input: PathBuf,
    pub output: PathBuf,
    pub size: Option<u64>,
    pub inodes: Option<u64>,
    pub label: Vec<u8>,
    pub uuid: Option<[u8; 16]>,
    pub reproducible: bool,
    pub journal: bool,
    pub adds: Vec<(PathBuf, Vec<u8>)>,
    pub preserve_owner: bool,
    pub binaries: Vec<PathBuf>,
    pub quiet: bool,
    pub platform: Option<String>,
    pub config: Option<PathBuf>,
    /// --layers DIR: one image per layer.
    pub layers: Option<PathBuf>,
    /// Whiteouts written as overlayfs's (set per layer image by --layers).
    pub overlay: bool,
}

pub enum Command {
    Build(Box<Options>),
    Help,
    Version,
}

pub fn parse_size(s: &str) -> Option<u64> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last()? {
        (i, 'k' | 'K') => (&s[..i], 1u64 << 10),
        (i, 'm' | 'M') => (&s[..i], 1 << 20),
        (i, 'g' | 'G') => (&s[..i], 1 << 30),
        (i, 't' | 'T') => (&s[..i], 1 << 40),
        _ => (s, 1),
    };
    num.parse::<u64>().ok()?.checked_mul(mult)
}

pub fn parse_uuid(s: &str) -> Option<[u8; 16]> {
    let hex: Vec<u8> = s.bytes().filter(|&b| b != b'-').collect();
    if hex.len() != 32 || s.len() != 36 {
        return None;
    }
    let mut out = [0u8; 16];
    for (i, pair) in hex.chunks(2).enumerate() {
        out[i] = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}

/// `--platform [linux/]ARCH`: the architecture (docker's variant suffix, as in
/// linux/arm64/v8, is accepted and ignored).
pub fn parse_platform(v: &str) -> Result<String> {
    let arch = v.strip_prefix("linux/").unwrap_or(v);
    let arch = arch.split_once('/').map_or(arch, |(a, _)| a);
    if arch.is_empty() || arch.contains(':') {
        return Err(Error::usage("--platform", format!("'{v}': expected linux/ARCH or ARCH")));
    }
    Ok(arch.to_string())
}

fn utf8(flag: &str, v: OsString) -> Result<String> {
    v.into_string().map_err(|_| Error::usage(flag.to_string(), "value is not valid UTF-8"))
}

/// `args` starts with the program name, like `std::env::args_os()`.
pub fn parse(args: impl IntoIterator<Item = OsString>) -> Result<Command> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_iter(args);
    let mut o = Options { journal: true, ..Options::default() };
    let mut input = None;
    let mut output = None;
    let err = |e: lexopt::Error| Error::usage("arguments", e);
    while let Some(arg) = p.next().map_err(err)? {
        match arg {
            Short('h') | Long("help") => return Ok(Command::Help),
            Short('V') | Long("version") => return Ok(Command::Version),
            Short('o') | Long("output") => output = Some(PathBuf::from(p.value().map_err(err)?)),
            Short('s') | Long("size") => {
                let v = utf8("--size", p.value().map_err(err)?)?;
                o.size = Some(
                    parse_size(&v)
                        .ok_or_else(|| Error::usage("--size", format!("'{v}' is not a size like 512m or 2g")))?,
                );
            }
            Short('N') | Long("inodes") => {
                let v = utf8("--inodes", p.value().map_err(err)?)?;
                o.inodes = Some(v.parse().map_err(|_| Error::usage("--inodes", format!("'{v}' is not a number")))?);
            }
            Short('L') | Long("label") => {
                let v = p.value().map_err(err)?.into_vec();
                if v.len() > 16 {
                    return Err(Error::usage("--label", "at most 16 bytes"));
                }
                o.label = v;
            }
            Short('U') | Long("uuid") => {
                let v = utf8("--uuid", p.value().map_err(err)?)?;
                o.uuid = Some(parse_uuid(&v).ok_or_else(|| Error::usage("--uuid", format!("'{v}' is not a UUID")))?);
            }
            Long("reproducible") => o.reproducible = true,
            Long("no-journal") => o.journal = false,
            Long("preserve-owner") => o.preserve_owner = true,
            Short('q') | Long("quiet") => o.quiet = true,
            Long("config") => o.config = Some(PathBuf::from(p.value().map_err(err)?)),
            Long("layers") => o.layers = Some(PathBuf::from(p.value().map_err(err)?)),
            Long("platform") => {
                let v = p.value().map_err(err)?.to_string_lossy().into_owned();
                o.platform = Some(parse_platform(&v)?);
            }
            Long("add") => {
                let v = p.value().map_err(err)?.into_vec();
                let Some(colon) = v.iter().position(|&b| b == b':') else {
                    return Err(Error::usage("--add", "expected HOST_PATH:DEST"));
                };
                let dest = v[colon + 1..].to_vec();
                if dest.is_empty() || v[..colon].is_empty() {
                    return Err(Error::usage("--add", "expected HOST_PATH:DEST"));
                }
                o.adds.push((PathBuf::from(OsString::from_vec(v[..colon].to_vec())), dest));
            }
            Long("add-binary") => o.binaries.push(PathBuf::from(p.value().map_err(err)?)),
            Value(v) if input.is_none() => input = Some(PathBuf::from(v)),
            Value(v) => {
                return Err(Error::usage("arguments", format!("unexpected argument '{}'", v.to_string_lossy())));
            }
            _ => return Err(err(arg.unexpected())),
        }
    }
    o.input = input.ok_or_else(|| Error::usage("arguments", "missing TARBALL (try --help)"))?;
    o.output = match (output, &o.layers) {
        (Some(_), Some(_)) => return Err(Error::usage("--layers", "writes DIR/N.ext4; leave out -o")),
        (Some(out), None) => out,
        (None, Some(_)) => PathBuf::new(),
        (None, None) => return Err(Error::usage("arguments", "missing -o IMAGE (try --help)")),
    };
    Ok(Command::Build(Box::new(o)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_suffixes() {
        assert_eq!(parse_size("4096"), Some(4096));
        assert_eq!(parse_size("64m"), Some(64 << 20));
        assert_eq!(parse_size("2G"), Some(2 << 30));
        assert_eq!(parse_size("x"), None);
    }

    #[test]
    fn uuids_need_the_dashed_form() {
        let u = parse_uuid("01234567-89ab-cdef-0123-456789abcdef").unwrap();
        assert_eq!(u[0], 0x01);
        assert_eq!(u[15], 0xef);
        assert!(parse_uuid("0123456789abcdef0123456789abcdef").is_none());
    }
}
