//! Block-group geometry and the sequential block allocator.
//!
//! Blocks are handed out in one forward sweep so that file data can be written
//! while the archive streams in. The only holes in that sweep are the places
//! where sparse_super puts superblock/descriptor backups (groups 0, 1 and
//! powers of 3, 5 and 7); those are reserved up front for the largest
//! descriptor table the image may end up with.

use crate::error::{Error, Result};

pub const BLOCK_SIZE: u64 = 4096;
pub const BLOCKS_PER_GROUP: u64 = 32768;
pub const INODE_SIZE: u64 = 256;
pub const INODES_PER_BLOCK: u64 = BLOCK_SIZE / INODE_SIZE;
pub const DESC_SIZE: u64 = 32;
pub const DESCS_PER_BLOCK: u64 = BLOCK_SIZE / DESC_SIZE;
/// First non-reserved inode; 11 is lost+found by convention.
pub const FIRST_INO: u32 = 11;
/// With automatic sizing the final group count is unknown while data streams
/// in, so this many descriptor blocks are kept free at each backup location:
/// 8 blocks * 128 groups * 128 MiB = 128 GiB.
pub const AUTO_GDT_RESERVE: u64 = 8;

fn is_power_of(mut n: u64, base: u64) -> bool {
    while n > 1 && n.is_multiple_of(base) {
        n /= base;
    }
    n == 1
}

/// Whether a group carries a superblock copy under sparse_super.
pub fn has_super(group: u64) -> bool {
    group <= 1 || (group % 2 == 1 && (is_power_of(group, 3) || is_power_of(group, 5) || is_power_of(group, 7)))
}

pub fn gdt_blocks(groups: u64) -> u64 {
    groups.div_ceil(DESCS_PER_BLOCK)
}

/// Final shape of the filesystem, fixed once all content is known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Geometry {
    pub blocks: u64,
    pub groups: u64,
    pub gdt_blocks: u64,
    pub inodes_per_group: u64,
}

impl Geometry {
    pub fn new(blocks: u64, inodes_wanted: u64) -> Result<Geometry> {
        let groups = blocks.div_ceil(BLOCKS_PER_GROUP);
        let per_group = inodes_wanted.div_ceil(groups).max(INODES_PER_BLOCK);
        let inodes_per_group = per_group.div_ceil(INODES_PER_BLOCK) * INODES_PER_BLOCK;
        if inodes_per_group > BLOCK_SIZE * 8 || inodes_per_group * groups > u32::MAX as u64 {
            return Err(Error::new("inode count", format!("{inodes_wanted} inodes do not fit in {blocks} blocks")));
        }
        Ok(Geometry { blocks, groups, gdt_blocks: gdt_blocks(groups), inodes_per_group })
    }

    pub fn itable_blocks(&self) -> u64 {
        self.inodes_per_group / INODES_PER_BLOCK
    }

    pub fn inodes(&self) -> u64 {
        self.inodes_per_group * self.groups
    }

    /// Blocks at the start of a group taken by superblock + descriptors.
    pub fn super_overhead(&self, group: u64) -> u64 {
        if has_super(group) { 1 + self.gdt_blocks } else { 0 }
    }
}

/// Hands out blocks in increasing order, skipping the backup areas.
#[derive(Clone, Debug)]
pub struct Allocator {
    next: u64,
    /// Blocks kept at the start of every group that has a superblock copy.
    reserve: u64,
    /// Hard upper bound when the image size was given.
    limit: Option<u64>,
}

impl Allocator {
    pub fn new(gdt_reserve: u64, limit: Option<u64>) -> Allocator {
        Allocator { next: 1 + gdt_reserve, reserve: 1 + gdt_reserve, limit }
    }

    /// One past the highest block handed out so far.
    pub fn high_water(&self) -> u64 {
        self.next
    }

    pub fn gdt_reserve(&self) -> u64 {
        self.reserve - 1
    }

    fn skip_reserved(&mut self) {
        let group = self.next / BLOCKS_PER_GROUP;
        if has_super(group) && self.next % BLOCKS_PER_GROUP < self.reserve {
            self.next = group * BLOCKS_PER_GROUP + self.reserve;
        }
    }

    /// Start of the next reserved area strictly after `self.next`.
    fn next_reserved(&self) -> u64 {
        let mut g = self.next / BLOCKS_PER_GROUP + 1;
        while !has_super(g) {
            g += 1;
        }
        g * BLOCKS_PER_GROUP
    }

    fn check_limit(&self, end: u64) -> Result<()> {
        match self.limit {
            Some(limit) if end > limit => Err(Error::new(
                "image size",
                format!(
                    "contents do not fit in {} MiB; use a larger --size or leave it out",
                    (limit * BLOCK_SIZE) >> 20
                ),
            )),
            _ => Ok(()),
        }
    }

    /// Up to `want` contiguous blocks; fewer if a backup area comes first.
    pub fn alloc(&mut self, want: u64) -> Result<(u64, u64)> {
        self.skip_reserved();
        let len = want.min(self.next_reserved() - self.next);
        let start = self.next;
        self.check_limit(start + len)?;
        self.next += len;
        Ok((start, len))
    }

    /// Exactly `n` contiguous blocks, leaving a gap before a backup area if needed.
    pub fn alloc_contig(&mut self, n: u64) -> Result<u64> {
        self.skip_reserved();
        if self.next + n > self.next_reserved() {
            self.next = self.next_reserved();
            self.skip_reserved();
            if self.next + n > self.next_reserved() {
                return Err(Error::new(
                    "allocating blocks",
                    format!("{n} contiguous blocks do not fit in one block group"),
                ));
            }
        }
        let start = self.next;
        self.check_limit(start + n)?;
        self.next += n;
        Ok(start)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backup_groups_follow_sparse_super() {
        let groups: Vec<u64> = (0..50).filter(|&g| has_super(g)).collect();
        assert_eq!(groups, vec![0, 1, 3, 5, 7, 9, 25, 27, 49]);
    }

    #[test]
    fn allocator_skips_backup_areas() {
        let mut a = Allocator::new(1, None);
        assert_eq!(a.alloc(10).unwrap(), (2, 10));
        let (s, l) = a.alloc(BLOCKS_PER_GROUP).unwrap();
        assert_eq!((s, s + l), (12, BLOCKS_PER_GROUP));
        assert_eq!(a.alloc(5).unwrap(), (BLOCKS_PER_GROUP + 2, 5));
    }
}
