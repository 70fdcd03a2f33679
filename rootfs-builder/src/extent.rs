//! Extent trees: up to four extents live in the inode itself; more need leaf
//! blocks (340 extents each) and, beyond four leaves, index blocks.

use crate::layout::BLOCK_SIZE;
use crate::tree::Extent;

const MAGIC: u16 = 0xF30A;
const IN_INODE: usize = 4;
const PER_BLOCK: usize = (BLOCK_SIZE as usize - 12) / 12;

/// Tree blocks needed outside the inode for `n` extents.
pub fn blocks_needed(n: usize) -> u64 {
    if n <= IN_INODE {
        return 0;
    }
    let mut level = n.div_ceil(PER_BLOCK);
    let mut total = level;
    while level > IN_INODE {
        level = level.div_ceil(PER_BLOCK);
        total += level;
    }
    total as u64
}

fn header(buf: &mut [u8], entries: usize, max: usize, depth: u16) {
    buf[0..2].copy_from_slice(&MAGIC.to_le_bytes());
    buf[2..4].copy_from_slice(&(entries as u16).to_le_bytes());
    buf[4..6].copy_from_slice(&(max as u16).to_le_bytes());
    buf[6..8].copy_from_slice(&depth.to_le_bytes());
}

fn leaf_entry(buf: &mut [u8], e: &Extent) {
    buf[0..4].copy_from_slice(&e.logical.to_le_bytes());
    buf[4..6].copy_from_slice(&(e.len as u16).to_le_bytes());
    buf[6..8].copy_from_slice(&((e.phys >> 32) as u16).to_le_bytes());
    buf[8..12].copy_from_slice(&(e.phys as u32).to_le_bytes());
}

fn index_entry(buf: &mut [u8], logical: u32, block: u64) {
    buf[0..4].copy_from_slice(&logical.to_le_bytes());
    buf[4..8].copy_from_slice(&(block as u32).to_le_bytes());
    buf[8..10].copy_from_slice(&((block >> 32) as u16).to_le_bytes());
}

/// Build the 60-byte i_block and the tree blocks, which go to `blocks`
/// (exactly `blocks_needed(extents.len())` of them, in the order given).
pub fn build(extents: &[Extent], blocks: &[u64]) -> ([u8; 60], Vec<(u64, Vec<u8>)>) {
    let mut root = [0u8; 60];
    if extents.len() <= IN_INODE {
        header(&mut root, extents.len(), IN_INODE, 0);
        for (i, e) in extents.iter().enumerate() {
            leaf_entry(&mut root[12 + 12 * i..], e);
        }
        return (root, Vec::new());
    }
    let mut out = Vec::new();
    let mut next_block = blocks.iter().copied();
    // (first logical block covered, block number) of the level just built
    let mut level: Vec<(u32, u64)> = Vec::new();
    for chunk in extents.chunks(PER_BLOCK) {
        let blk = next_block.next().expect("enough extent blocks allocated");
        let mut buf = vec![0u8; BLOCK_SIZE as usize];
        header(&mut buf, chunk.len(), PER_BLOCK, 0);
        for (i, e) in chunk.iter().enumerate() {
            leaf_entry(&mut buf[12 + 12 * i..], e);
        }
        level.push((chunk[0].logical, blk));
        out.push((blk, buf));
    }
    let mut depth = 1u16;
    while level.len() > IN_INODE {
        let mut upper = Vec::new();
        for chunk in level.chunks(PER_BLOCK) {
            let blk = next_block.next().expect("enough extent blocks allocated");
            let mut buf = vec![0u8; BLOCK_SIZE as usize];
            header(&mut buf, chunk.len(), PER_BLOCK, depth);
            for (i, &(logical, child)) in chunk.iter().enumerate() {
                index_entry(&mut buf[12 + 12 * i..], logical, child);
            }
            upper.push((chunk[0].0, blk));
            out.push((blk, buf));
        }
        level = upper;
        depth += 1;
    }
    header(&mut root, level.len(), IN_INODE, depth);
    for (i, &(logical, child)) in level.iter().enumerate() {
        index_entry(&mut root[12 + 12 * i..], logical, child);
    }
    (root, out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tree_depth_grows_with_extent_count() {
        assert_eq!(blocks_needed(4), 0);
        assert_eq!(blocks_needed(5), 1);
        assert_eq!(blocks_needed(340 * 4), 4);
        assert_eq!(blocks_needed(340 * 4 + 1), 6);
        let extents: Vec<Extent> =
            (0..2000).map(|i| Extent { logical: i * 2, len: 1, phys: 1000 + i as u64 * 2 }).collect();
        let blocks: Vec<u64> = (0..blocks_needed(2000)).map(|b| 10 + b).collect();
        let (root, tree) = build(&extents, &blocks);
        assert_eq!(tree.len(), 7);
        assert_eq!(u16::from_le_bytes([root[6], root[7]]), 2);
    }
}
