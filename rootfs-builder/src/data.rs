//! Writing file contents into the data area while the archive streams in.
//!
//! Data goes out in big positional writes; all-zero blocks are never
//! allocated, so holes (GNU sparse entries or plain runs of zeros) cost
//! nothing in the image.

use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;

use crate::error::{Error, Result};
use crate::layout::{Allocator, BLOCK_SIZE};
use crate::tree::Extent;

const WRITE_BUFFER: usize = 8 << 20;
const READ_CHUNK: usize = 1 << 20;
/// ext4 caps an initialized extent at 2^15 blocks.
const MAX_EXTENT_LEN: u32 = 32768;
static ZERO_BLOCK: [u8; BLOCK_SIZE as usize] = [0; BLOCK_SIZE as usize];

/// Coalesces block writes that are adjacent on disk into large pwrite calls.
pub struct ImageWriter {
    file: File,
    buf: Vec<u8>,
    buf_block: u64,
    read_buf: Vec<u8>,
}

impl ImageWriter {
    pub fn new(file: File) -> ImageWriter {
        ImageWriter { file, buf: Vec::with_capacity(WRITE_BUFFER), buf_block: 0, read_buf: vec![0; READ_CHUNK] }
    }

    pub fn file(&self) -> &File {
        &self.file
    }

    /// Write whole blocks (the last one may be short; the rest reads as zero).
    pub fn write_blocks(&mut self, block: u64, data: &[u8]) -> Result<()> {
        let end = self.buf_block + self.buf.len() as u64 / BLOCK_SIZE;
        if self.buf.is_empty() || block != end || !self.buf.len().is_multiple_of(BLOCK_SIZE as usize) {
            self.flush()?;
            self.buf_block = block;
        }
        if data.len() >= WRITE_BUFFER {
            self.flush()?;
            return self.pwrite(block, data);
        }
        self.buf.extend_from_slice(data);
        if self.buf.len() >= WRITE_BUFFER {
            self.flush()?;
        }
        Ok(())
    }

    fn pwrite(&self, block: u64, data: &[u8]) -> Result<()> {
        self.file.write_all_at(data, block * BLOCK_SIZE).map_err(|e| Error::new("writing the image", e))
    }

    pub fn flush(&mut self) -> Result<()> {
        if !self.buf.is_empty() {
            self.pwrite(self.buf_block, &self.buf)?;
            self.buf.clear();
        }
        Ok(())
    }

    /// Copy exactly `size` bytes from `src` into freshly allocated blocks.
    pub fn copy_file(&mut self, src: &mut dyn Read, size: u64, alloc: &mut Allocator) -> Result<Vec<Extent>> {
        if size.div_ceil(BLOCK_SIZE) > u32::MAX as u64 {
            return Err(Error::new("file data", "larger than ext4's 16 TiB file limit"));
        }
        let mut extents: Vec<Extent> = Vec::new();
        let mut read_buf = std::mem::take(&mut self.read_buf);
        let mut done: u64 = 0;
        let result = (|| {
            while done < size {
                let want = (size - done).min(READ_CHUNK as u64) as usize;
                let got = read_full(src, &mut read_buf[..want])?;
                if got < want {
                    return Err(Error::new("file data", "unexpected end of archive"));
                }
                let first_block = (done / BLOCK_SIZE) as u32;
                self.store_chunk(&read_buf[..got], first_block, alloc, &mut extents)?;
                done += got as u64;
            }
            Ok(())
        })();
        self.read_buf = read_buf;
        result.map(|()| extents)
    }

    /// Store one block-aligned chunk, skipping zero blocks.
    fn store_chunk(
        &mut self,
        chunk: &[u8],
        first_block: u32,
        alloc: &mut Allocator,
        extents: &mut Vec<Extent>,
    ) -> Result<()> {
        let blocks: Vec<&[u8]> = chunk.chunks(BLOCK_SIZE as usize).collect();
        let mut i = 0;
        while i < blocks.len() {
            if is_zero(blocks[i]) {
                i += 1;
                continue;
            }
            let mut j = i + 1;
            while j < blocks.len() && !is_zero(blocks[j]) {
                j += 1;
            }
            // blocks[i..j] is a run of data; it may need several allocations.
            let mut k = i;
            while k < j {
                let (start, len) = alloc.alloc((j - k) as u64)?;
                let len = len as usize;
                let from = k * BLOCK_SIZE as usize;
                let to = (from + len * BLOCK_SIZE as usize).min(chunk.len());
                self.write_blocks(start, &chunk[from..to])?;
                push_extent(extents, first_block + k as u32, start, len as u32);
                k += len;
            }
            i = j;
        }
        Ok(())
    }
}

fn is_zero(block: &[u8]) -> bool {
    block == &ZERO_BLOCK[..block.len()]
}

fn read_full(src: &mut dyn Read, buf: &mut [u8]) -> Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match src.read(&mut buf[got..]) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(Error::new("reading file data", e)),
        }
    }
    Ok(got)
}

/// Append a run, merging with the previous extent when it continues it.
pub fn push_extent(extents: &mut Vec<Extent>, logical: u32, mut phys: u64, mut len: u32) {
    let mut logical = logical;
    if let Some(last) = extents.last_mut()
        && last.logical + last.len == logical
        && last.phys + last.len as u64 == phys
    {
        let room = MAX_EXTENT_LEN - last.len;
        let take = room.min(len);
        last.len += take;
        logical += take;
        phys += take as u64;
        len -= take;
    }
    while len > 0 {
        let take = len.min(MAX_EXTENT_LEN);
        extents.push(Extent { logical, len: take, phys });
        logical += take;
        phys += take as u64;
        len -= take;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn adjacent_runs_merge_up_to_the_extent_limit() {
        let mut e = Vec::new();
        push_extent(&mut e, 0, 100, 10);
        push_extent(&mut e, 10, 110, 32760);
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].len, 32768);
        assert_eq!(e[1], Extent { logical: 32768, len: 2, phys: 32868 });
    }
}
