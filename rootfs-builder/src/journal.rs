//! An empty, clean jbd2 journal: only its superblock is non-zero.

use crate::layout::BLOCK_SIZE;

const JBD2_MAGIC: u32 = 0xC03B_3998;
const SUPERBLOCK_V2: u32 = 4;

/// The journal size mke2fs would pick, capped at 64 MiB (in blocks).
pub fn default_blocks(fs_blocks: u64) -> u64 {
    match fs_blocks {
        0..32768 => 1024,
        32768..262144 => 4096,
        262144..524288 => 8192,
        _ => 16384,
    }
}

pub fn superblock(blocks: u64, uuid: &[u8; 16]) -> Vec<u8> {
    let mut b = vec![0u8; BLOCK_SIZE as usize];
    // jbd2 is big-endian on disk.
    let put = |b: &mut [u8], at: usize, v: u32| b[at..at + 4].copy_from_slice(&v.to_be_bytes());
    put(&mut b, 0x00, JBD2_MAGIC);
    put(&mut b, 0x04, SUPERBLOCK_V2);
    put(&mut b, 0x0C, BLOCK_SIZE as u32);
    put(&mut b, 0x10, blocks as u32); // s_maxlen
    put(&mut b, 0x14, 1); // s_first: log starts after this block
    put(&mut b, 0x18, 1); // s_sequence
    put(&mut b, 0x1C, 0); // s_start = 0: nothing to replay
    b[0x30..0x40].copy_from_slice(uuid);
    put(&mut b, 0x40, 1); // s_nr_users
    b
}
