//! The image store's commands: load, images, rmi, tag; pull (registry.rs) and save
//! (save.rs). husk runs
//! them for `husk load` and the rest, calling this program by the name "husk" so that
//! its messages, help and exit codes are husk's (docker's: 125 for bad usage).

use std::ffi::OsString;
use std::fs;
use std::io::{self, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{Context, Error, Result};
use crate::oci;
use crate::refs::{self, Ref};
use crate::store::{self, Store};

#[rustfmt::skip]
pub const VERBS: [&str; 17] = [
    "load", "images", "rmi", "tag", "pull", "save", "export", "cp", "commit", "import", "inspect", "ps",
    "completion", "man", "volume", "stats", "port",
];

/// "husk" when husk runs this program for its image commands, else "rootfs-builder".
pub fn program() -> &'static str {
    let arg0 = std::env::args_os().next().unwrap_or_default();
    if Path::new(&arg0).file_name().is_some_and(|n| n == "husk") { "husk" } else { "rootfs-builder" }
}

const LOAD: &str = "\
Usage: {P} load [OPTIONS]

Load images from an archive into the image store: a docker save archive, an OCI
archive or OCI image layout directory (podman save, skopeo copy, buildah push),
plain or compressed with gzip, xz, zstd or bzip2.

Options:
  -i, --input PATH       archive or layout directory (default: standard input)
  -t, --tag NAME         name the (single) image NAME, besides the names the
                         archive gives it
      --platform [linux/]ARCH  for a multi-platform image (default: this machine's)
  -q, --quiet            no progress
      --store DIR        the image store (default: see 'husk images --help')
";

const IMAGES: &str = "\
Usage: {P} images [OPTIONS] [REPOSITORY[:TAG]]

List the images in the image store.

Options:
  -a, --all              accepted (the store keeps no intermediate images)
  -q, --quiet            only the image IDs
      --no-trunc         full image IDs
      --store DIR        the image store: $HUSK_STORE, else /var/lib/husk for root
                         and $XDG_DATA_HOME/husk (~/.local/share/husk) otherwise
";

const RMI: &str = "\
Usage: {P} rmi [OPTIONS] IMAGE [IMAGE...]

Remove images (by name or ID) from the image store; an image's files go when its
last name does. Containers already running from it keep running.

Options:
  -f, --force            remove an image by ID even when several names refer to it
      --store DIR        the image store
";

const TAG: &str = "\
Usage: {P} tag SOURCE_IMAGE TARGET_IMAGE

Give a stored image (by name or ID) another name.

Options:
      --store DIR        the image store
";

fn help(text: &str) -> Result<u8> {
    print!("{}", text.replace("{P}", program()));
    Ok(0)
}

pub fn usage(verb: &str, why: impl std::fmt::Display) -> Error {
    Error::usage(verb.to_string(), format!("{why} (see '{} {verb} --help')", program()))
}

/// Runs store command `verb` with `args` (after the verb); the exit code.
pub fn main(verb: &str, args: Vec<OsString>) -> Result<u8> {
    match verb {
        "load" => load(args),
        "images" => images(args),
        "rmi" => rmi(args),
        "tag" => tag(args),
        "save" => crate::save::save(args),
        "export" => crate::export::export(args),
        "cp" => crate::export::cp(args),
        "commit" => crate::commit::commit(args),
        "import" => crate::import::import(args),
        "inspect" => crate::inspect::inspect(args),
        "ps" => crate::ps::ps(args),
        "completion" => crate::completion::completion(args),
        "man" => crate::completion::man(args),
        "volume" => crate::volume::volume(args),
        "stats" => crate::stats::stats(args),
        "port" => crate::inspect::port(args),
        _ => crate::registry::pull(args),
    }
}

/// The options every store command parses; `extra` takes the rest.
pub struct Parsed {
    pub store: PathBuf,
    pub quiet: bool,
    pub words: Vec<String>,
}

pub fn parse(
    verb: &str,
    args: Vec<OsString>,
    helptext: &str,
    mut extra: impl FnMut(&mut lexopt::Parser, &str) -> Result<bool>,
) -> Result<Option<Parsed>> {
    use lexopt::prelude::*;
    let mut p = lexopt::Parser::from_args(args);
    let mut out = Parsed { store: store::default_root(), quiet: false, words: Vec::new() };
    let err = |e: lexopt::Error| usage(verb, e);
    while let Some(arg) = p.next().map_err(err)? {
        match arg {
            Short('h') | Long("help") => {
                help(helptext)?;
                return Ok(None);
            }
            Long("store") => out.store = p.value().map_err(err)?.into(),
            Short('q') | Long("quiet") => out.quiet = true,
            Value(v) => out.words.push(v.into_string().map_err(|_| usage(verb, "an argument is not UTF-8"))?),
            Short(c) => {
                if !extra(&mut p, &format!("-{c}"))? {
                    return Err(usage(verb, format!("unknown option -{c}")));
                }
            }
            Long(l) => {
                let l = format!("--{l}");
                if !extra(&mut p, &l)? {
                    return Err(usage(verb, format!("unknown option {l}")));
                }
            }
        }
    }
    Ok(Some(out))
}

/// Refuses a count of arguments outside `min..=max`, in docker's words.
pub fn arity(verb: &str, words: &[String], min: usize, max: usize) -> Result<()> {
    if (min..=max).contains(&words.len()) {
        return Ok(());
    }
    let want = match (min, max) {
        (n, m) if n == m => format!("exactly {n}"),
        (n, usize::MAX) => format!("at least {n}"),
        (n, m) => format!("{n} to {m}"),
    };
    Err(usage(verb, format!("requires {want} argument{}", if max == 1 { "" } else { "s" })))
}

fn value(p: &mut lexopt::Parser, verb: &str) -> Result<String> {
    p.value().map_err(|e| usage(verb, e))?.into_string().map_err(|_| usage(verb, "a value is not UTF-8"))
}

fn load(args: Vec<OsString>) -> Result<u8> {
    let (mut input, mut tag, mut platform) = (None, None, None);
    let Some(o) = parse("load", args, LOAD, |p, a| {
        match a {
            "-i" | "--input" => input = Some(value(p, "load")?),
            "-t" | "--tag" => tag = Some(Ref::parse(&value(p, "load")?)?),
            "--platform" => platform = Some(value(p, "load")?),
            _ => return Ok(false),
        }
        Ok(true)
    })?
    else {
        return Ok(0);
    };
    if let Some(w) = o.words.first() {
        return Err(usage("load", format!("unexpected argument '{w}' (the archive goes with -i)")));
    }
    let arch = platform.as_deref().map(crate::cli::parse_platform).transpose()?;
    let path = PathBuf::from(input.unwrap_or_else(|| "-".into()));
    if path == Path::new("-") && io::stdin().is_terminal() {
        return Err(usage("load", "standard input is a terminal: give the archive with -i FILE or a redirect"));
    }
    let mut store = Store::open(&o.store, o.quiet)?;
    // A stream, or a compressed archive: unpacked aside first (an archive is read in
    // place, by offsets).
    let spool = store.partial(&format!("load-{}.tar", std::process::id()));
    let result = (|| {
        let source = match oci::detect(&path)? {
            Some(s) => s,
            None => {
                if path.is_dir() {
                    return Err(Error::new(format!("'{}'", path.display()), "not an OCI image layout"));
                }
                let mut reader = crate::input::open(&path, None)?;
                let mut out = fs::File::create(&spool).ctx(|| format!("creating '{}'", spool.display()))?;
                io::copy(&mut reader, &mut out).ctx(|| format!("reading '{}'", path.display()))?;
                oci::detect(&spool)?.ok_or_else(|| {
                    Error::new(
                        format!("'{}'", path.display()),
                        "not an image archive (docker save, OCI archive or layout); \
                         a root filesystem tarball becomes an image with 'rootfs-builder TARBALL -o IMAGE.ext4'",
                    )
                })?
            }
        };
        let images = oci::resolve_all(&source, arch.as_deref())?;
        if tag.is_some() && images.len() > 1 {
            return Err(usage("load", "--tag names one image; the archive holds several"));
        }
        for image in &images {
            let mut names = Vec::new();
            for n in &image.names {
                match Ref::parse(n) {
                    Ok(r) => names.extend(r.full()),
                    Err(_) if !o.quiet => eprintln!("{}: ignoring the archive's name '{n}'", program()),
                    Err(_) => {}
                }
            }
            names.extend(tag.as_ref().and_then(Ref::full));
            let id = store.add(&source, image, &names)?;
            if names.is_empty() {
                println!("Loaded image ID: sha256:{id}");
            }
            for n in &names {
                let (repo, tag) = refs::split_full(n);
                println!("Loaded image: {}:{tag}", refs::short_repo(repo));
            }
        }
        Ok(0)
    })();
    let _ = fs::remove_file(&spool);
    result
}

fn images(args: Vec<OsString>) -> Result<u8> {
    let mut no_trunc = false;
    let Some(o) = parse("images", args, IMAGES, |_, a| {
        match a {
            "--no-trunc" => no_trunc = true,
            "-a" | "--all" => {}
            _ => return Ok(false),
        }
        Ok(true)
    })?
    else {
        return Ok(0);
    };
    let filter = match o.words.as_slice() {
        [] => None,
        [one] => Some(one.as_str()),
        _ => return Err(usage("images", "at most one REPOSITORY[:TAG]")),
    };
    let mut entries = store::read_index(&o.store)?;
    entries.sort_by(|a, b| b.created.cmp(&a.created).then(a.name.cmp(&b.name)));
    if let Some(f) = filter {
        // docker's: a repository alone matches every tag of it.
        let r = Ref::parse(f)?;
        let explicit_tag = f.rsplit('/').next().is_some_and(|last| last.contains(':'));
        entries.retain(|e| {
            e.name.as_deref().is_some_and(|n| {
                let (repo, tag) = refs::split_full(n);
                repo == r.full_repo() && (!explicit_tag || Some(tag) == r.tag.as_deref())
            })
        });
    }
    let id = |e: &store::Entry| if no_trunc { format!("sha256:{}", e.id) } else { e.id[..12.min(e.id.len())].into() };
    let mut out = io::stdout().lock();
    if o.quiet {
        let mut seen = std::collections::HashSet::new();
        for e in &entries {
            if seen.insert(&e.id) {
                let _ = writeln!(out, "{}", id(e));
            }
        }
        return Ok(0);
    }
    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64);
    let rows: Vec<[String; 5]> = entries
        .iter()
        .map(|e| {
            let (repo, tag) = match &e.name {
                Some(n) => {
                    let (r, t) = refs::split_full(n);
                    (refs::short_repo(r), t.to_string())
                }
                None => ("<none>".into(), "<none>".into()),
            };
            let created = parse_rfc3339(&e.created).map_or("N/A".into(), |t| ago(now - t));
            [repo, tag, id(e), created, human_size(e.bytes)]
        })
        .collect();
    let head = ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"].map(String::from);
    let widths: Vec<usize> =
        (0..5).map(|c| rows.iter().chain([&head]).map(|r| r[c].len()).max().unwrap_or(0)).collect();
    for row in [&head].into_iter().chain(&rows) {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c < 4 {
                line.push_str(&format!("{cell:<w$}   ", w = widths[c]));
            } else {
                line.push_str(cell);
            }
        }
        let _ = writeln!(out, "{line}");
    }
    Ok(0)
}

fn rmi(args: Vec<OsString>) -> Result<u8> {
    let mut force = false;
    let Some(o) = parse("rmi", args, RMI, |_, a| {
        match a {
            "-f" | "--force" => force = true,
            _ => return Ok(false),
        }
        Ok(true)
    })?
    else {
        return Ok(0);
    };
    arity("rmi", &o.words, 1, usize::MAX)?;
    let mut store = Store::open(&o.store, true)?;
    let mut failed = None;
    for what in &o.words {
        let found = store.find(what);
        let Some(&first) = found.first() else {
            eprintln!("{}: rmi {what}: no such image", program());
            failed = Some(1);
            continue;
        };
        let id = store.entries[first].id.clone();
        let by_name = found.len() == 1 && store.entries[first].name.as_deref().is_some_and(|n| !n.starts_with(&id));
        let by_name = by_name && !what.trim_start_matches("sha256:").chars().all(|c| c.is_ascii_hexdigit());
        if !by_name && found.len() > 1 && !force {
            eprintln!(
                "{}: rmi {what}: image {} has several names; remove them by name, or force with -f",
                program(),
                &id[..12]
            );
            failed = Some(1);
            continue;
        }
        let last = store.entries.iter().filter(|e| e.id == id).count() == found.len();
        let users = if last { containers_using(&store.image_file(&id)) } else { Vec::new() };
        if !users.is_empty() && !force {
            eprintln!(
                "{}: rmi {what}: container {} uses image {} (remove it first, or force with -f)",
                program(),
                users.join(", "),
                &id[..12]
            );
            failed = Some(1);
            continue;
        }
        let mut gone = Vec::new();
        for &i in found.iter().rev() {
            gone.push(store.entries.remove(i));
        }
        for e in gone.iter().rev() {
            if let Some(n) = &e.name {
                let (repo, tag) = refs::split_full(n);
                println!("Untagged: {}:{tag}", refs::short_repo(repo));
            }
        }
        if !store.entries.iter().any(|e| e.id == id) {
            store.save()?;
            store.collect()?;
            println!("Deleted: sha256:{id}");
        } else {
            store.save()?;
        }
    }
    Ok(failed.unwrap_or(0))
}

/// The husk containers (any state, under the state root husk uses here) whose root is
/// `image`; none when husk cannot be asked.
fn containers_using(image: &Path) -> Vec<String> {
    let shown = image.display().to_string();
    crate::ps::records()
        .unwrap_or_default()
        .iter()
        .filter(|c| c["root"].as_str() == Some(&shown))
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect()
}

fn tag(args: Vec<OsString>) -> Result<u8> {
    let Some(o) = parse("tag", args, TAG, |_, _| Ok(false))? else { return Ok(0) };
    arity("tag", &o.words, 2, 2)?;
    let [source, target] = o.words.as_slice() else { unreachable!("two arguments") };
    let target = Ref::parse(target)?.full().ok_or_else(|| usage("tag", "the target names a tag, not a digest"))?;
    let mut store = Store::open(&o.store, true)?;
    let Some(&i) = store.find(source).first() else {
        return Err(Error::new(format!("tag {source}"), "no such image"));
    };
    let entry = store.entries[i].clone();
    store.name(&entry, &[target]);
    store.save()?;
    Ok(0)
}

/// Seconds since the epoch of an RFC 3339 time (`2024-09-06T22:20:07.123Z`, offsets
/// allowed).
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, sec) = (num(0..4)?, num(5..7)?, num(8..10)?, num(11..13)?, num(14..16)?, num(17..19)?);
    // Days from civil (Howard Hinnant's algorithm).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * (if mo > 2 { mo - 3 } else { mo + 9 }) + 2) / 5 + d - 1;
    let days = era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
    let mut t = days * 86400 + h * 3600 + mi * 60 + sec;
    let rest = s.get(19..)?.trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    if let Some(off) = rest.strip_prefix(['+', '-']) {
        let sign = if rest.starts_with('-') { -1 } else { 1 };
        let oh: i64 = off.get(0..2)?.parse().ok()?;
        let om: i64 = off.get(3..5)?.parse().ok()?;
        t -= sign * (oh * 3600 + om * 60);
    }
    Some(t)
}

/// docker's "N units ago".
fn ago(secs: i64) -> String {
    let secs = secs.max(0);
    let (n, unit) = match secs {
        0..60 => return "Less than a minute ago".into(),
        60..120 => return "About a minute ago".into(),
        120..3600 => (secs / 60, "minutes"),
        3600..7200 => return "About an hour ago".into(),
        7200..172800 => (secs / 3600, "hours"),
        172800..1209600 => (secs / 86400, "days"),
        1209600..5259600 => (secs / 604800, "weeks"),
        5259600..63115200 => (secs / 2629800, "months"),
        _ => (secs / 31557600, "years"),
    };
    format!("{n} {unit} ago")
}

/// docker's sizes: decimal units, three significant digits.
pub fn human_size(bytes: u64) -> String {
    let mut v = bytes as f64;
    let mut unit = 0;
    while v >= 1000.0 && unit < 4 {
        v /= 1000.0;
        unit += 1;
    }
    let digits = if v >= 100.0 {
        0
    } else if v >= 10.0 {
        1
    } else {
        2
    };
    let text = format!("{v:.digits$}");
    let text = if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.') } else { &text };
    format!("{text}{}", ["B", "kB", "MB", "GB", "TB"][unit])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_and_sizes_read_as_docker_shows_them() {
        assert_eq!(parse_rfc3339("1970-01-02T00:00:01Z"), Some(86401));
        assert_eq!(parse_rfc3339("2024-09-06T22:20:07.123456789Z"), Some(1725661207));
        assert_eq!(parse_rfc3339("2024-09-07T00:20:07+02:00"), Some(1725661207));
        assert_eq!(human_size(7_797_760), "7.8MB");
        assert_eq!(human_size(123_456), "123kB");
        assert_eq!(human_size(999), "999B");
        assert_eq!(ago(3 * 86400), "3 days ago");
    }
}
