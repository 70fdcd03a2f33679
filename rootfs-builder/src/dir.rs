//! Linear directory blocks (no htree): entries never straddle a block and
//! the last entry of each block stretches to its end.

use crate::layout::BLOCK_SIZE;

pub struct DirEntry<'a> {
    pub inode: u32,
    pub file_type: u8,
    pub name: &'a [u8],
}

fn rec_len(name_len: usize) -> usize {
    (8 + name_len).div_ceil(4) * 4
}

/// Blocks a directory with these name lengths needs ("." and ".." included).
pub fn blocks_needed(name_lens: impl Iterator<Item = usize>) -> u64 {
    let bs = BLOCK_SIZE as usize;
    let mut blocks = 1;
    let mut used = rec_len(1) + rec_len(2);
    for len in name_lens {
        let r = rec_len(len);
        if used + r > bs {
            blocks += 1;
            used = 0;
        }
        used += r;
    }
    blocks
}

/// Serialize entries into exactly `blocks` blocks (extra blocks are empty).
pub fn encode(entries: &[DirEntry], blocks: u64) -> Vec<u8> {
    let bs = BLOCK_SIZE as usize;
    let mut buf = vec![0u8; bs * blocks as usize];
    let mut block_start = 0;
    let mut pos = 0;
    let mut last: Option<usize> = None;
    for e in entries {
        let r = rec_len(e.name.len());
        if pos + r > block_start + bs {
            if let Some(l) = last {
                set_rec_len(&mut buf, l, block_start + bs - l);
            }
            block_start += bs;
            pos = block_start;
        }
        buf[pos..pos + 4].copy_from_slice(&e.inode.to_le_bytes());
        buf[pos + 4..pos + 6].copy_from_slice(&(r as u16).to_le_bytes());
        buf[pos + 6] = e.name.len() as u8;
        buf[pos + 7] = e.file_type;
        buf[pos + 8..pos + 8 + e.name.len()].copy_from_slice(e.name);
        last = Some(pos);
        pos += r;
    }
    if let Some(l) = last {
        set_rec_len(&mut buf, l, block_start + bs - l);
    }
    // Unused trailing blocks hold one empty entry spanning the block.
    let mut b = block_start + bs;
    while b < buf.len() {
        set_rec_len(&mut buf, b, bs);
        b += bs;
    }
    buf
}

fn set_rec_len(buf: &mut [u8], at: usize, len: usize) {
    buf[at + 4..at + 6].copy_from_slice(&(len as u16).to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_spill_into_new_blocks_without_straddling() {
        let names: Vec<Vec<u8>> = (0..1000).map(|i| format!("file-{i:05}").into_bytes()).collect();
        let mut entries =
            vec![DirEntry { inode: 2, file_type: 2, name: b"." }, DirEntry { inode: 2, file_type: 2, name: b".." }];
        entries.extend(names.iter().map(|n| DirEntry { inode: 12, file_type: 1, name: n }));
        let blocks = blocks_needed(names.iter().map(Vec::len));
        let buf = encode(&entries, blocks);
        // walk the records of every block: they must add up to the block size
        let mut count = 0;
        for block in buf.chunks(BLOCK_SIZE as usize) {
            let mut pos = 0;
            while pos < block.len() {
                let r = u16::from_le_bytes([block[pos + 4], block[pos + 5]]) as usize;
                assert!(r >= 8 && pos + r <= block.len());
                count += 1;
                pos += r;
            }
        }
        assert_eq!(count, 1002);
    }
}
