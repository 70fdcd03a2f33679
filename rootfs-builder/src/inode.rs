//! The 256-byte on-disk inode.

use crate::layout::INODE_SIZE;

pub const S_IFIFO: u16 = 0o010000;
pub const S_IFCHR: u16 = 0o020000;
pub const S_IFDIR: u16 = 0o040000;
pub const S_IFBLK: u16 = 0o060000;
pub const S_IFREG: u16 = 0o100000;
pub const S_IFLNK: u16 = 0o120000;
pub const S_IFSOCK: u16 = 0o140000;

pub const EXTENTS_FL: u32 = 0x0008_0000;
const EXTRA_ISIZE: u16 = 32;

pub struct Inode {
    pub mode: u16,
    pub uid: u32,
    pub gid: u32,
    pub size: u64,
    pub mtime: i64,
    pub mtime_nsec: u32,
    pub links: u16,
    /// Blocks owned by the inode (data, tree and xattr blocks), in fs blocks.
    pub blocks: u64,
    pub flags: u32,
    pub i_block: [u8; 60],
    pub xattr_block: u64,
}

/// ext4 keeps 2 extra epoch bits in the *_extra field, nanoseconds above them.
fn time_fields(secs: i64, nsec: u32) -> (u32, u32) {
    let lo = secs as u32;
    let epoch = ((secs - lo as i32 as i64) >> 32) as u32 & 3;
    (lo, (nsec << 2) | epoch)
}

impl Inode {
    pub fn encode(&self, out: &mut [u8]) {
        debug_assert_eq!(out.len(), INODE_SIZE as usize);
        let put16 = |out: &mut [u8], at: usize, v: u16| out[at..at + 2].copy_from_slice(&v.to_le_bytes());
        let put32 = |out: &mut [u8], at: usize, v: u32| out[at..at + 4].copy_from_slice(&v.to_le_bytes());
        let (t, t_extra) = time_fields(self.mtime, self.mtime_nsec.min(999_999_999));
        let sectors = self.blocks * 8;
        put16(out, 0x00, self.mode);
        put16(out, 0x02, self.uid as u16);
        put32(out, 0x04, self.size as u32);
        put32(out, 0x08, t); // atime
        put32(out, 0x0C, t); // ctime
        put32(out, 0x10, t); // mtime
        put16(out, 0x18, self.gid as u16);
        put16(out, 0x1A, self.links);
        put32(out, 0x1C, sectors as u32);
        put32(out, 0x20, self.flags);
        out[0x28..0x28 + 60].copy_from_slice(&self.i_block);
        put32(out, 0x68, self.xattr_block as u32);
        put32(out, 0x6C, (self.size >> 32) as u32);
        put16(out, 0x74, (sectors >> 32) as u16);
        put16(out, 0x76, (self.xattr_block >> 32) as u16);
        put16(out, 0x78, (self.uid >> 16) as u16);
        put16(out, 0x7A, (self.gid >> 16) as u16);
        put16(out, 0x80, EXTRA_ISIZE);
        put32(out, 0x84, t_extra); // ctime_extra
        put32(out, 0x88, t_extra); // mtime_extra
        put32(out, 0x8C, t_extra); // atime_extra
        put32(out, 0x90, t); // crtime
        put32(out, 0x94, t_extra);
    }
}

/// Device numbers in i_block, the way the kernel's old/new encodings do it.
pub fn device_block(major: u32, minor: u32) -> [u8; 60] {
    let mut b = [0u8; 60];
    if major < 256 && minor < 256 {
        b[0..4].copy_from_slice(&((major << 8) | minor).to_le_bytes());
    } else {
        let v = (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12);
        b[4..8].copy_from_slice(&v.to_le_bytes());
    }
    b
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_beyond_2038_use_epoch_bits() {
        assert_eq!(time_fields(0, 0), (0, 0));
        assert_eq!(time_fields(-1, 0), (u32::MAX, 0));
        assert_eq!(time_fields(1 << 32, 5), (0, (5 << 2) | 1));
    }
}
