//! GNU sparse files in pax archives (formats 0.0, 0.1 and 1.0). The old GNU
//! 'S' format is handled by the tar crate; both end up as a stream where the
//! holes read as zeros, which the data writer then leaves unallocated.

use std::io::{self, Read};

#[derive(Default)]
pub struct PaxSparse {
    pub name: Option<Vec<u8>>,
    real_size: Option<u64>,
    major: Option<u64>,
    /// 0.1's "map" or 0.0's repeated offset/numbytes records.
    map: Vec<u64>,
    seen: bool,
}

fn num(v: &[u8]) -> Result<u64, String> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| format!("bad number '{}' in sparse header", String::from_utf8_lossy(v)))
}

impl PaxSparse {
    pub fn record(&mut self, key: &[u8], value: &[u8]) -> Result<(), String> {
        self.seen = true;
        match key {
            b"name" => self.name = Some(value.to_vec()),
            b"realsize" | b"size" => self.real_size = Some(num(value)?),
            b"major" => self.major = Some(num(value)?),
            b"offset" | b"numbytes" => self.map.push(num(value)?),
            b"map" => {
                for v in value.split(|&b| b == b',').filter(|v| !v.is_empty()) {
                    self.map.push(num(v)?);
                }
            }
            _ => {}
        }
        Ok(())
    }

    pub fn is_sparse(&self) -> bool {
        self.seen && self.real_size.is_some()
    }

    /// The real size and the (offset, length) data map. Format 1.0 keeps the
    /// map at the start of the data, padded to 512 bytes; it is consumed here.
    pub fn map(&self, data: &mut dyn Read, stored: u64) -> Result<(u64, Vec<(u64, u64)>), String> {
        let real = self.real_size.ok_or("sparse entry without a real size")?;
        let flat = if self.major == Some(1) { read_map_1_0(data, stored)? } else { self.map.clone() };
        if flat.len() % 2 != 0 {
            return Err("odd number of values in the sparse map".into());
        }
        let map: Vec<(u64, u64)> = flat.chunks(2).map(|p| (p[0], p[1])).collect();
        let mut end = 0;
        for &(off, len) in &map {
            if off < end || off.checked_add(len).is_none_or(|e| e > real) {
                return Err("sparse map out of order or beyond the file size".into());
            }
            end = off + len;
        }
        Ok((real, map))
    }
}

fn read_map_1_0(data: &mut dyn Read, stored: u64) -> Result<Vec<u64>, String> {
    let mut consumed = 0u64;
    let mut line = Vec::new();
    let mut next = |consumed: &mut u64| -> Result<u64, String> {
        line.clear();
        let mut byte = [0u8];
        loop {
            if *consumed >= stored {
                return Err("sparse map runs past the entry".into());
            }
            data.read_exact(&mut byte).map_err(|e| format!("reading sparse map: {e}"))?;
            *consumed += 1;
            if byte[0] == b'\n' {
                return num(&line);
            }
            line.push(byte[0]);
        }
    };
    let count = next(&mut consumed)?;
    if count > stored {
        return Err("sparse map entry count is implausible".into());
    }
    let mut flat = Vec::new();
    for _ in 0..count * 2 {
        flat.push(next(&mut consumed)?);
    }
    let pad = consumed.next_multiple_of(512) - consumed;
    io::copy(&mut data.take(pad), &mut io::sink()).map_err(|e| format!("reading sparse map: {e}"))?;
    Ok(flat)
}

/// Reads the packed data segments and yields the full file, holes as zeros.
pub struct Expand<'a> {
    inner: &'a mut dyn Read,
    map: Vec<(u64, u64)>,
    next: usize,
    pos: u64,
}

impl<'a> Expand<'a> {
    pub fn new(inner: &'a mut dyn Read, map: Vec<(u64, u64)>) -> Expand<'a> {
        Expand { inner, map, next: 0, pos: 0 }
    }
}

impl Read for Expand<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Skip segments already passed (zero-length ones included).
        while self.next < self.map.len() && self.pos >= self.map[self.next].0 + self.map[self.next].1 {
            self.next += 1;
        }
        let Some(&(off, len)) = self.map.get(self.next) else {
            // Trailing hole up to the real size; the caller stops reading there.
            buf.fill(0);
            return Ok(buf.len());
        };
        if self.pos < off {
            let n = buf.len().min((off - self.pos) as usize);
            buf[..n].fill(0);
            self.pos += n as u64;
            return Ok(n);
        }
        let n = buf.len().min((off + len - self.pos) as usize);
        let got = self.inner.read(&mut buf[..n])?;
        if got == 0 {
            return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "sparse data ends early"));
        }
        self.pos += got as u64;
        Ok(got)
    }
}
