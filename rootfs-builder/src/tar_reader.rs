//! Turning tar entries into tree nodes, file data streamed straight to disk.

use std::collections::BTreeMap;
use std::io::Read;

use tar::EntryType;

use crate::builder::Builder;
use crate::error::{Context, Error, Result, show};
use crate::sparse::{self, PaxSparse};
use crate::tree::{Kind, Meta, Xattr};
use crate::xattr;

/// pax mtime is decimal seconds with an optional fraction, possibly negative.
fn parse_pax_time(v: &[u8]) -> Option<(i64, u32)> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let mut digits: String = frac.chars().take(9).collect();
    if !digits.chars().all(|c| c.is_ascii_digit()) {
        return None;
    }
    while digits.len() < 9 {
        digits.push('0');
    }
    let nsec: u32 = digits.parse().ok()?;
    if s.starts_with('-') && nsec > 0 { Some((secs - 1, 1_000_000_000 - nsec)) } else { Some((secs, nsec)) }
}

/// The tar crate quotes raw header bytes in some messages; keep the one-line
/// promise and say plainly what it means.
fn describe(e: &std::io::Error) -> String {
    let msg = e.to_string();
    if msg.contains("checksum") || msg.contains("numeric field") {
        return "corrupt tar header (not a tar archive?)".to_string();
    }
    let clean: String = msg.chars().map(|c| if c.is_control() { ' ' } else { c }).take(200).collect();
    clean
}

pub fn read_archive(b: &mut Builder, input: Box<dyn Read>, name: &str) -> Result<()> {
    let mut archive = tar::Archive::new(input);
    let reading = || format!("reading '{name}'");
    let entries = archive.entries().map_err(|e| Error::new(reading(), describe(&e)))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| Error::new(reading(), describe(&e)))?;
        if let Err(e) = add_entry(b, &mut entry) {
            return Err(Error::new(format!("{} in '{name}'", e.what), e.why));
        }
    }
    Ok(())
}

pub fn add_entry(b: &mut Builder, entry: &mut tar::Entry<'_, Box<dyn Read>>) -> Result<()> {
    {
        let path = entry.path_bytes().into_owned();
        let what = || format!("entry '{}'", show(&path));
        let hdr = entry.header();
        let etype = hdr.entry_type();
        let uid = hdr.uid().ctx(what)?;
        let gid = hdr.gid().ctx(what)?;
        if uid > u32::MAX as u64 || gid > u32::MAX as u64 {
            return Err(Error::new(what(), "uid or gid does not fit in 32 bits"));
        }
        let mut meta = Meta {
            perm: (hdr.mode().ctx(what)? & 0o7777) as u16,
            uid: uid as u32,
            gid: gid as u32,
            mtime: hdr.mtime().ctx(what)? as i64,
            mtime_nsec: 0,
            xattrs: Vec::new(),
        };
        let device = if matches!(etype, EntryType::Char | EntryType::Block) {
            (hdr.device_major().ctx(what)?.unwrap_or(0), hdr.device_minor().ctx(what)?.unwrap_or(0))
        } else {
            (0, 0)
        };
        let link = entry.link_name_bytes().map(|l| l.into_owned());
        let size = entry.size();
        // Later records win, as in a pax header read top to bottom.
        let mut xattrs: BTreeMap<Vec<u8>, Xattr> = BTreeMap::new();
        let mut sparse = PaxSparse::default();
        if let Some(pax) = entry.pax_extensions().ctx(what)? {
            for ext in pax {
                let ext = ext.ctx(what)?;
                let (key, value) = (ext.key_bytes(), ext.value_bytes());
                if key == b"mtime" {
                    let (s, ns) = parse_pax_time(value).ok_or_else(|| Error::new(what(), "bad pax mtime"))?;
                    meta.mtime = s;
                    meta.mtime_nsec = ns;
                } else if let Some(full) = key.strip_prefix(b"SCHILY.xattr.") {
                    match xattr::split_name(full) {
                        Some((index, name)) => {
                            let value = value.to_vec();
                            xattrs.insert(full.to_vec(), Xattr { index, name, value });
                        }
                        None => {
                            b.warn(&format!("{}: extended attribute '{}' not supported, skipped", what(), show(full)))
                        }
                    }
                } else if let Some(k) = key.strip_prefix(b"GNU.sparse.") {
                    sparse.record(k, value).map_err(|e| Error::new(what(), e))?;
                }
            }
        }
        meta.xattrs = xattrs.into_values().collect();
        let link_target = || link.clone().ok_or_else(|| Error::new(what(), "link entry without a target"));
        let is_old_dir = etype == EntryType::Regular && path.ends_with(b"/");
        match etype {
            _ if is_old_dir => b.add(&path, dir_kind(), meta)?,
            EntryType::Regular | EntryType::Continuous if sparse.is_sparse() => {
                let path = sparse.name.clone().unwrap_or(path.clone());
                let what = || format!("sparse entry '{}'", show(&path));
                let (real, map) = sparse.map(entry, size).map_err(|e| Error::new(what(), e))?;
                let mut reader = sparse::Expand::new(entry, map);
                b.add_file(&path, meta, real, &mut reader)?
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                b.add_file(&path, meta, size, entry)?
            }
            _ if etype.is_dir() || etype.as_byte() == b'D' => b.add(&path, dir_kind(), meta)?,
            EntryType::Symlink => b.add(&path, Kind::Symlink(link_target()?), meta)?,
            EntryType::Link => b.link(&path, &link_target()?)?,
            EntryType::Char => b.add(&path, Kind::CharDev(device.0, device.1), meta)?,
            EntryType::Block => b.add(&path, Kind::BlockDev(device.0, device.1), meta)?,
            EntryType::Fifo => b.add(&path, Kind::Fifo, meta)?,
            _ if etype.is_pax_global_extensions() || etype.as_byte() == b'V' => {}
            other => {
                return Err(Error::new(what(), format!("unsupported entry type '{}'", other.as_byte() as char)));
            }
        }
    }
    Ok(())
}

fn dir_kind() -> Kind {
    Kind::Dir { entries: BTreeMap::new() }
}

#[cfg(test)]
mod tests {
    use super::parse_pax_time;

    #[test]
    fn pax_times_keep_nanoseconds_and_sign() {
        assert_eq!(parse_pax_time(b"1700000000.5"), Some((1700000000, 500_000_000)));
        assert_eq!(parse_pax_time(b"42"), Some((42, 0)));
        assert_eq!(parse_pax_time(b"-1.25"), Some((-2, 750_000_000)));
        assert_eq!(parse_pax_time(b"x"), None);
    }
}
