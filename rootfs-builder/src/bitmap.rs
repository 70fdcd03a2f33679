//! Block and inode bitmaps, one block each per group.

use crate::error::{Error, Result};
use crate::layout::BLOCK_SIZE;

/// One bit per filesystem block, for the whole image.
pub struct BlockMap {
    bits: Vec<u8>,
    blocks: u64,
}

impl BlockMap {
    pub fn new(blocks: u64) -> BlockMap {
        BlockMap { bits: vec![0; blocks.div_ceil(8) as usize], blocks }
    }

    /// Claim blocks; claiming one twice means the layout code has a bug,
    /// and writing such an image would corrupt files, so refuse.
    pub fn mark(&mut self, start: u64, len: u64) -> Result<()> {
        if start + len > self.blocks {
            return Err(Error::new("internal layout", format!("block {} beyond the image end", start + len - 1)));
        }
        for b in start..start + len {
            let (byte, bit) = ((b / 8) as usize, 1u8 << (b % 8));
            if self.bits[byte] & bit != 0 {
                return Err(Error::new("internal layout", format!("block {b} claimed twice")));
            }
            self.bits[byte] |= bit;
        }
        Ok(())
    }

    /// The on-disk bitmap block of a group; bits past the image end are set
    /// as e2fsck expects.
    pub fn group_block(&self, group: u64, per_group: u64) -> (Vec<u8>, u64) {
        let mut out = vec![0u8; BLOCK_SIZE as usize];
        let first = group * per_group;
        let mut used = 0;
        for i in 0..per_group {
            let b = first + i;
            let set = b >= self.blocks || self.bits[(b / 8) as usize] & (1 << (b % 8)) != 0;
            if set {
                out[(i / 8) as usize] |= 1 << (i % 8);
                if b < self.blocks {
                    used += 1;
                }
            }
        }
        (out, used)
    }
}

/// Inode bitmap for a group whose first `used` inodes are taken.
pub fn inode_block(used: u64, per_group: u64) -> Vec<u8> {
    let mut out = vec![0u8; BLOCK_SIZE as usize];
    for i in (0..used).chain(per_group..BLOCK_SIZE * 8) {
        out[(i / 8) as usize] |= 1 << (i % 8);
    }
    out
}
