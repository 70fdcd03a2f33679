//! Superblock and group descriptors.

use crate::layout::{BLOCKS_PER_GROUP, DESC_SIZE, FIRST_INO, Geometry, INODE_SIZE};

pub const COMPAT_HAS_JOURNAL: u32 = 0x0004;
pub const COMPAT_EXT_ATTR: u32 = 0x0008;
pub const INCOMPAT_FILETYPE: u32 = 0x0002;
pub const INCOMPAT_EXTENTS: u32 = 0x0040;
pub const INCOMPAT_FLEX_BG: u32 = 0x0200;
pub const RO_COMPAT_SPARSE_SUPER: u32 = 0x0001;
pub const RO_COMPAT_LARGE_FILE: u32 = 0x0002;
pub const RO_COMPAT_HUGE_FILE: u32 = 0x0008;
pub const RO_COMPAT_DIR_NLINK: u32 = 0x0020;
pub const RO_COMPAT_EXTRA_ISIZE: u32 = 0x0040;

pub struct GroupDesc {
    pub block_bitmap: u64,
    pub inode_bitmap: u64,
    pub inode_table: u64,
    pub free_blocks: u32,
    pub free_inodes: u32,
    pub used_dirs: u32,
}

pub fn encode_descs(descs: &[GroupDesc]) -> Vec<u8> {
    let mut buf = vec![0u8; descs.len() * DESC_SIZE as usize];
    for (d, out) in descs.iter().zip(buf.chunks_mut(DESC_SIZE as usize)) {
        out[0..4].copy_from_slice(&(d.block_bitmap as u32).to_le_bytes());
        out[4..8].copy_from_slice(&(d.inode_bitmap as u32).to_le_bytes());
        out[8..12].copy_from_slice(&(d.inode_table as u32).to_le_bytes());
        out[12..14].copy_from_slice(&(d.free_blocks as u16).to_le_bytes());
        out[14..16].copy_from_slice(&(d.free_inodes as u16).to_le_bytes());
        out[16..18].copy_from_slice(&(d.used_dirs as u16).to_le_bytes());
    }
    buf
}

pub struct Super<'a> {
    pub geo: &'a Geometry,
    pub free_blocks: u64,
    pub free_inodes: u64,
    pub uuid: [u8; 16],
    pub hash_seed: [u8; 16],
    pub label: &'a [u8],
    pub time: u32,
    /// Journal inode's i_block and size, copied as e2fsck's backup.
    pub journal: Option<([u8; 60], u64)>,
}

impl Super<'_> {
    /// The 1024-byte superblock as stored in group `group`.
    pub fn encode(&self, group: u64) -> Vec<u8> {
        let mut s = vec![0u8; 1024];
        let put16 = |s: &mut [u8], at: usize, v: u16| s[at..at + 2].copy_from_slice(&v.to_le_bytes());
        let put32 = |s: &mut [u8], at: usize, v: u32| s[at..at + 4].copy_from_slice(&v.to_le_bytes());
        let g = self.geo;
        put32(&mut s, 0x00, g.inodes() as u32);
        put32(&mut s, 0x04, g.blocks as u32);
        put32(&mut s, 0x0C, self.free_blocks as u32);
        put32(&mut s, 0x10, self.free_inodes as u32);
        put32(&mut s, 0x14, 0); // first data block
        put32(&mut s, 0x18, 2); // log2(4096) - 10
        put32(&mut s, 0x1C, 2);
        put32(&mut s, 0x20, BLOCKS_PER_GROUP as u32);
        put32(&mut s, 0x24, BLOCKS_PER_GROUP as u32);
        put32(&mut s, 0x28, g.inodes_per_group as u32);
        put32(&mut s, 0x30, self.time); // wtime
        put16(&mut s, 0x36, 0xFFFF); // max mount count: no forced checks
        put16(&mut s, 0x38, 0xEF53);
        put16(&mut s, 0x3A, 1); // clean
        put16(&mut s, 0x3C, 1); // errors=continue
        put32(&mut s, 0x40, self.time); // lastcheck
        put32(&mut s, 0x4C, 1); // dynamic revision
        put32(&mut s, 0x54, FIRST_INO);
        put16(&mut s, 0x58, INODE_SIZE as u16);
        put16(&mut s, 0x5A, group as u16);
        let mut compat = COMPAT_EXT_ATTR;
        if self.journal.is_some() {
            compat |= COMPAT_HAS_JOURNAL;
        }
        put32(&mut s, 0x5C, compat);
        put32(&mut s, 0x60, INCOMPAT_FILETYPE | INCOMPAT_EXTENTS | INCOMPAT_FLEX_BG);
        put32(
            &mut s,
            0x64,
            RO_COMPAT_SPARSE_SUPER
                | RO_COMPAT_LARGE_FILE
                | RO_COMPAT_HUGE_FILE
                | RO_COMPAT_DIR_NLINK
                | RO_COMPAT_EXTRA_ISIZE,
        );
        s[0x68..0x78].copy_from_slice(&self.uuid);
        let n = self.label.len().min(16);
        s[0x78..0x78 + n].copy_from_slice(&self.label[..n]);
        if let Some((i_block, size)) = &self.journal {
            put32(&mut s, 0xE0, 8); // journal inode
            s[0xFD] = 1; // s_jnl_backup_type: copy of i_block
            s[0x10C..0x10C + 60].copy_from_slice(i_block);
            put32(&mut s, 0x10C + 60, (size >> 32) as u32);
            put32(&mut s, 0x10C + 64, *size as u32);
        }
        s[0xEC..0xFC].copy_from_slice(&self.hash_seed);
        s[0xFC] = 1; // half_md4, should dir_index be turned on later
        put32(&mut s, 0x100, 0x000C); // default mount options: user_xattr, acl
        put32(&mut s, 0x108, self.time); // mkfs time
        put16(&mut s, 0x15C, 32); // min extra isize
        put16(&mut s, 0x15E, 32); // want extra isize
        put32(&mut s, 0x160, 1); // signed directory hash
        s[0x174] = 4; // 16 groups per flex group
        s
    }
}
