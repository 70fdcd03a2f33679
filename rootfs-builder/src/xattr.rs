//! Extended attributes: in the inode's spare 96 bytes when they fit, in one
//! attribute block otherwise.

use crate::error::{Error, Result};
use crate::layout::{BLOCK_SIZE, INODE_SIZE};
use crate::tree::Xattr;

const MAGIC: u32 = 0xEA02_0000;
/// Inode bytes after the 128-byte base and the 32-byte extra fields.
pub const IN_INODE_SPACE: usize = INODE_SIZE as usize - 128 - 32;
const BLOCK_HEADER: usize = 32;

/// Map a full attribute name to ext4's (index, suffix) form; None for
/// namespaces stored in a different format on disk (POSIX ACLs) or unknown.
pub fn split_name(full: &[u8]) -> Option<(u8, Vec<u8>)> {
    const PREFIXES: [(&[u8], u8); 4] = [(b"user.", 1), (b"trusted.", 4), (b"security.", 6), (b"system.", 7)];
    if full.starts_with(b"system.posix_acl") {
        return None;
    }
    for (prefix, index) in PREFIXES {
        if let Some(rest) = full.strip_prefix(prefix)
            && !rest.is_empty()
            && rest.len() <= 255
        {
            return Some((index, rest.to_vec()));
        }
    }
    None
}

fn pad4(n: usize) -> usize {
    n.div_ceil(4) * 4
}

fn entry_len(x: &Xattr) -> usize {
    16 + pad4(x.name.len())
}

fn entries_len(xattrs: &[Xattr]) -> usize {
    xattrs.iter().map(|x| entry_len(x) + pad4(x.value.len())).sum::<usize>() + 4
}

pub enum Placement {
    None,
    InInode,
    Block,
}

pub fn placement(xattrs: &[Xattr], what: &str) -> Result<Placement> {
    if xattrs.is_empty() {
        return Ok(Placement::None);
    }
    let need = entries_len(xattrs);
    if need + 4 <= IN_INODE_SPACE {
        Ok(Placement::InInode)
    } else if need + BLOCK_HEADER <= BLOCK_SIZE as usize {
        Ok(Placement::Block)
    } else {
        Err(Error::new(what.to_string(), "extended attributes exceed one 4 KiB block"))
    }
}

fn entry_hash(x: &Xattr) -> u32 {
    let mut hash: u32 = 0;
    for &b in &x.name {
        // e2fsprogs hashes names as signed chars.
        hash = (hash << 5) ^ (hash >> 27) ^ (b as i8 as i32 as u32);
    }
    let mut padded = x.value.clone();
    padded.resize(pad4(x.value.len()), 0);
    for word in padded.chunks(4) {
        let w = u32::from_le_bytes(word.try_into().expect("padded to 4"));
        hash = (hash << 16) ^ (hash >> 16) ^ w;
    }
    hash
}

/// Lay out entries and values in `region`; value offsets count from `base`.
fn fill(region: &mut [u8], entries_at: usize, base: usize, xattrs: &[Xattr]) -> Vec<u32> {
    let mut sorted: Vec<&Xattr> = xattrs.iter().collect();
    sorted.sort_by(|a, b| (a.index, a.name.len(), &a.name).cmp(&(b.index, b.name.len(), &b.name)));
    let mut pos = entries_at;
    let mut value_end = region.len();
    let mut hashes = Vec::new();
    for x in sorted {
        let vlen = pad4(x.value.len());
        value_end -= vlen;
        region[value_end..value_end + x.value.len()].copy_from_slice(&x.value);
        let hash = entry_hash(x);
        let e = &mut region[pos..];
        e[0] = x.name.len() as u8;
        e[1] = x.index;
        e[2..4].copy_from_slice(&((value_end - base) as u16).to_le_bytes());
        e[8..12].copy_from_slice(&(x.value.len() as u32).to_le_bytes());
        e[12..16].copy_from_slice(&hash.to_le_bytes());
        e[16..16 + x.name.len()].copy_from_slice(&x.name);
        pos += entry_len(x);
        hashes.push(hash);
    }
    hashes
}

/// Write attributes into the inode tail (`tail` = bytes from offset 160 on).
pub fn write_in_inode(tail: &mut [u8], xattrs: &[Xattr]) {
    tail[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    fill(&mut tail[..IN_INODE_SPACE], 4, 4, xattrs);
}

pub fn block(xattrs: &[Xattr]) -> Vec<u8> {
    let mut buf = vec![0u8; BLOCK_SIZE as usize];
    let hashes = fill(&mut buf, BLOCK_HEADER, 0, xattrs);
    let mut hash: u32 = 0;
    for h in hashes {
        hash = (hash << 16) ^ (hash >> 16) ^ h;
    }
    buf[0..4].copy_from_slice(&MAGIC.to_le_bytes());
    buf[4..8].copy_from_slice(&1u32.to_le_bytes()); // refcount
    buf[8..12].copy_from_slice(&1u32.to_le_bytes()); // blocks
    buf[12..16].copy_from_slice(&hash.to_le_bytes());
    buf
}
