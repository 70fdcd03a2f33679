//! A detached container's output: the supervisor relays the container's stdout and
//! stderr into `<state dir>/log`, which is capped in size. When a write would pass the
//! cap, the file becomes `log.1` (replacing the previous one) and a new `log` starts, so a
//! chatty container keeps at most twice the cap on disk.

use crate::error::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;

pub const DEFAULT_MAX: u64 = 10 << 20;

pub struct Log {
    path: PathBuf,
    file: File,
    size: u64,
    max: u64,
}

impl Log {
    pub fn create(path: PathBuf, max: u64) -> Result<Log> {
        let file = open(&path)?;
        Ok(Log { path, file, size: 0, max })
    }

    pub fn write(&mut self, data: &[u8]) {
        if self.size > 0 && self.size + data.len() as u64 > self.max {
            let _ = std::fs::rename(&self.path, self.rotated());
            if let Ok(file) = open(&self.path) {
                self.file = file;
                self.size = 0;
            }
        }
        // A full disk must not stop the container: the output is dropped instead.
        if self.file.write_all(data).is_ok() {
            self.size += data.len() as u64;
        }
    }

    fn rotated(&self) -> PathBuf {
        self.path.with_extension("1")
    }
}

fn open(path: &PathBuf) -> Result<File> {
    OpenOptions::new().create(true).append(true).open(path).ctx("open log", path.display())
}
