//! `husk volume create|ls|inspect|rm|prune`: named volumes, kept in the image store as
//! docker keeps them (`volumes/NAME/_data`). `husk run -v NAME:/path` makes one at first
//! use; these verbs manage them. A volume a container (any state) mounts is not removed.

use serde_json::Value;
use std::ffi::OsString;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::commit::rfc3339;
use crate::error::{Context, Error, Result};
use crate::inspect::pretty;
use crate::template::Template;
use crate::verbs::{self, arity, parse};

const HELP: &str = "\
Usage: {P} volume COMMAND [OPTIONS] [NAME...]

Manage named volumes (directories in the image store: STORE/volumes/NAME/_data).
'husk run -v NAME:/path' creates one at first use.

Commands:
  create [NAME]          create a volume (a generated name when none is given)
  ls                     list volumes (-q: names only)
  inspect NAME...        show volumes as JSON (-f TEMPLATE: through a Go template)
  rm [-f] NAME...        remove volumes no container uses (-f: even then)
  prune [-f]             remove every volume no container uses

Options:
  -f, --force            rm: even when a container uses it; prune: accepted
      --format TEMPLATE  inspect, ls: render through a Go template
  -q, --quiet            ls: names only
      --store DIR        the image store
";

fn dir(store: &Path) -> PathBuf {
    store.join("volumes")
}

fn valid(name: &str) -> bool {
    name.len() >= 2
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"_.-".contains(&b))
}

/// The volume names in the store, sorted.
fn names(store: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir(store))
        .map(|d| d.flatten().filter_map(|e| e.file_name().into_string().ok()).filter(|n| valid(n)).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// The containers mounting each volume's directory (by their saved specs).
fn users(store: &Path, name: &str) -> Vec<String> {
    let data = dir(store).join(name).join("_data");
    let shown = fs::canonicalize(&data).unwrap_or(data).display().to_string();
    crate::ps::records()
        .unwrap_or_default()
        .iter()
        .filter(|r| {
            r["spec"]["mounts"].as_array().is_some_and(|m| m.iter().any(|m| m["source"].as_str() == Some(&shown)))
        })
        .filter_map(|r| r["name"].as_str().map(String::from))
        .collect()
}

fn object(store: &Path, name: &str) -> Result<Value> {
    let path = dir(store).join(name);
    let meta = fs::metadata(&path).ctx(|| format!("volume {name}"))?;
    Ok(serde_json::json!({
        "CreatedAt": rfc3339(meta.ctime()),
        "Driver": "local",
        "Labels": {},
        "Mountpoint": path.join("_data").display().to_string(),
        "Name": name,
        "Options": {},
        "Scope": "local",
    }))
}

pub fn volume(mut args: Vec<OsString>) -> Result<u8> {
    // docker's -f is --format for inspect and ls, --force for rm and prune.
    let verb = args.iter().find(|a| !a.to_string_lossy().starts_with('-')).cloned().unwrap_or_default();
    if verb == "inspect" || verb == "ls" {
        args.iter_mut().filter(|a| *a == "-f").for_each(|a| *a = "--format".into());
    }
    let (mut force, mut format) = (false, None);
    let Some(o) = parse("volume", args, HELP, |p, a| {
        match a {
            "-f" | "--force" => force = true,
            "--format" => {
                let v = p.value().map_err(|e| verbs::usage("volume", e))?;
                format = Some(v.into_string().map_err(|_| verbs::usage("volume", "not UTF-8"))?);
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?
    else {
        return Ok(0);
    };
    let (verb, words) =
        o.words.split_first().ok_or_else(|| verbs::usage("volume", "expected create, ls, inspect, rm or prune"))?;
    let words = words.to_vec();
    let store = o.store;
    let template = match &format {
        Some(t) => Some(Template::parse(t).map_err(|why| verbs::usage("volume", format!("template: {why}")))?),
        None => None,
    };
    match verb.as_str() {
        "create" => {
            arity("volume create", &words, 0, 1)?;
            let name = match words.first() {
                Some(n) if valid(n) => n.clone(),
                Some(n) => {
                    return Err(verbs::usage("volume create", format!("{n}: a name is [a-zA-Z0-9][a-zA-Z0-9_.-]+")));
                }
                None => {
                    let mut bytes = [0u8; 32];
                    fs::File::open("/dev/urandom")
                        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut bytes))
                        .ctx(|| "/dev/urandom".into())?;
                    bytes.iter().map(|b| format!("{b:02x}")).collect()
                }
            };
            let data = dir(&store).join(&name).join("_data");
            fs::create_dir_all(&data).ctx(|| format!("creating '{}'", data.display()))?;
            println!("{name}");
            Ok(0)
        }
        "ls" | "list" => {
            arity("volume ls", &words, 0, 0)?;
            let names = names(&store);
            match (&template, o.quiet) {
                (_, true) => names.iter().for_each(|n| println!("{n}")),
                (Some(t), _) => {
                    for n in &names {
                        println!(
                            "{}",
                            t.execute(&object(&store, n)?).map_err(|why| Error::new("volume ls: template", why))?
                        );
                    }
                }
                (None, _) => {
                    println!("{:<10}VOLUME NAME", "DRIVER");
                    names.iter().for_each(|n| println!("{:<10}{n}", "local"));
                }
            }
            Ok(0)
        }
        "inspect" => {
            arity("volume inspect", &words, 1, usize::MAX)?;
            let mut found = Vec::new();
            let mut failed = false;
            for n in &words {
                match object(&store, n) {
                    Ok(v) if valid(n) => found.push(v),
                    _ => {
                        eprintln!("Error: No such volume: {n}");
                        failed = true;
                    }
                }
            }
            match &template {
                Some(t) => {
                    for v in &found {
                        println!("{}", t.execute(v).map_err(|why| Error::new("volume inspect: template", why))?);
                    }
                }
                None => println!("{}", pretty(&Value::Array(found))),
            }
            Ok(failed.into())
        }
        "rm" | "remove" => {
            arity("volume rm", &words, 1, usize::MAX)?;
            let mut failed = false;
            for n in &words {
                let result = if !valid(n) || !dir(&store).join(n).is_dir() {
                    Err(Error::new(format!("volume {n}"), "no such volume"))
                } else {
                    remove(&store, n, force)
                };
                match result {
                    Ok(()) => println!("{n}"),
                    Err(e) => {
                        eprintln!("{}: {e}", verbs::program());
                        failed = true;
                    }
                }
            }
            Ok(failed.into())
        }
        "prune" => {
            arity("volume prune", &words, 0, 0)?;
            let mut freed = 0u64;
            println!("Deleted Volumes:");
            for n in names(&store) {
                let size = tree_size(&dir(&store).join(&n));
                if remove(&store, &n, false).is_ok() {
                    println!("{n}");
                    freed += size;
                }
            }
            println!("\nTotal reclaimed space: {}", verbs::human_size(freed));
            Ok(0)
        }
        other => Err(verbs::usage("volume", format!("unknown command {other} (create, ls, inspect, rm, prune)"))),
    }
}

fn remove(store: &Path, name: &str, force: bool) -> Result<()> {
    let users = users(store, name);
    if !users.is_empty() && !force {
        return Err(Error::new(format!("volume {name}"), format!("volume is in use by {}", users.join(", "))));
    }
    let path = dir(store).join(name);
    fs::remove_dir_all(&path).ctx(|| format!("removing '{}'", path.display()))
}

fn tree_size(path: &Path) -> u64 {
    let Ok(meta) = fs::symlink_metadata(path) else { return 0 };
    if !meta.is_dir() {
        return meta.len();
    }
    fs::read_dir(path).map(|d| d.flatten().map(|e| tree_size(&e.path())).sum()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn volume_names_follow_dockers_rule() {
        for good in ["data", "my-vol_1.x", "a1"] {
            assert!(super::valid(good), "{good}");
        }
        for bad in ["a", "-x", ".hidden", "a/b", "a b", ""] {
            assert!(!super::valid(bad), "{bad}");
        }
    }
}
