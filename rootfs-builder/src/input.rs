//! Opening the archive and undoing its compression, recognised by magic bytes.

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::Path;
use std::rc::Rc;

use flate2::read::MultiGzDecoder;

use crate::error::{Context, Error, Result};

const GZIP: &[u8] = &[0x1f, 0x8b];
const XZ: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];
const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const BZIP2: &[u8] = b"BZh";

/// Feeds every byte read through a hash, so `--reproducible` can derive
/// the UUID from the input without a second pass.
struct Hashing<R> {
    inner: R,
    hash: Rc<Cell<u64>>,
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        // FNV-1a over 8-byte words: cheap and stable across Rust versions.
        let mut h = self.hash.get();
        for chunk in buf[..n].chunks(8) {
            let mut w = [0u8; 8];
            w[..chunk.len()].copy_from_slice(chunk);
            h = (h ^ u64::from_le_bytes(w)).wrapping_mul(0x0000_0100_0000_01b3);
        }
        self.hash.set(h);
        Ok(n)
    }
}

/// Open `path` (`-` is stdin) and return a reader of the plain tar stream.
/// With `hash`, the raw input bytes are hashed into it as they are read.
pub fn open(path: &Path, hash: Option<Rc<Cell<u64>>>) -> Result<Box<dyn Read>> {
    let what = || format!("opening '{}'", path.display());
    if path.is_dir() {
        let why = "a directory, neither a tarball nor an OCI image layout (husk runs a directory as it is: husk run --rootfs DIR)";
        return Err(Error::new(format!("'{}'", path.display()), why));
    }
    let mut raw: Box<dyn Read> =
        if path == Path::new("-") { Box::new(io::stdin().lock()) } else { Box::new(File::open(path).ctx(what)?) };
    if let Some(hash) = hash {
        raw = Box::new(Hashing { inner: raw, hash });
    }
    let mut reader = BufReader::with_capacity(1 << 20, raw);
    let mut magic = Vec::new();
    (&mut reader).take(6).read_to_end(&mut magic).ctx(|| format!("reading '{}'", path.display()))?;
    let name = path.display().to_string();
    let stream = io::Cursor::new(magic.clone()).chain(reader);
    decompress(stream, &magic, &name)
}

/// The plain stream inside `stream`, whose first bytes are `magic`: gzip, xz, zstd or
/// bzip2 (each possibly of several members, frames or streams, as parallel compressors
/// write them) by their magic bytes, never by a file's name; anything else as it is.
/// Each decoder checks its format's own checksums, so a damaged stream is an error.
pub fn decompress<R: Read + 'static>(stream: R, magic: &[u8], name: &str) -> Result<Box<dyn Read>> {
    if magic.starts_with(GZIP) {
        Ok(Box::new(MultiGzDecoder::new(stream)))
    } else if magic.starts_with(XZ) {
        Ok(Box::new(lzma_rust2::XzReader::new(stream, true)))
    } else if magic.starts_with(ZSTD) {
        Ok(Box::new(Zstd { inner: Some(io::BufReader::new(stream)), frame: None, name: name.to_string() }))
    } else if magic.starts_with(BZIP2) {
        Ok(Box::new(bzip2::read::MultiBzDecoder::new(stream)))
    } else {
        Ok(Box::new(stream))
    }
}

/// zstd, frame after frame until the input ends (ruzstd decodes one frame at a time).
struct Zstd<R: Read> {
    inner: Option<io::BufReader<R>>,
    frame: Option<ruzstd::decoding::StreamingDecoder<io::BufReader<R>, ruzstd::decoding::FrameDecoder>>,
    name: String,
}

impl<R: Read> Read for Zstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::io::BufRead;
        loop {
            if let Some(frame) = self.frame.as_mut() {
                let n = frame.read(buf)?;
                if n > 0 || buf.is_empty() {
                    return Ok(n);
                }
                self.inner = self.frame.take().map(|f| f.into_inner());
            }
            let Some(mut inner) = self.inner.take() else { return Ok(0) };
            if inner.fill_buf()?.is_empty() {
                return Ok(0);
            }
            let frame = ruzstd::decoding::StreamingDecoder::new(inner)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: zstd: {e}", self.name)))?;
            self.frame = Some(frame);
        }
    }
}
