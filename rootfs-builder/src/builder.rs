//! State shared by every source of entries (the archive, --add, --add-binary):
//! the tree, the allocator, the data writer and the running counts.

use std::io::{IsTerminal, Read, Write};
use std::time::{Duration, Instant};

use crate::data::ImageWriter;
use crate::error::{Error, Result, show};
use crate::layout::Allocator;
use crate::tree::{Kind, Meta, Node, Tree};

#[derive(Default)]
pub struct Stats {
    pub files: u64,
    pub dirs: u64,
    pub symlinks: u64,
    pub hardlinks: u64,
    pub other: u64,
    pub bytes: u64,
}

pub struct Builder {
    pub tree: Tree,
    pub alloc: Allocator,
    pub writer: ImageWriter,
    pub stats: Stats,
    quiet: bool,
    progress: Option<Instant>,
}

const PROGRESS_EVERY: Duration = Duration::from_millis(250);

impl Builder {
    pub fn new(tree: Tree, alloc: Allocator, writer: ImageWriter, quiet: bool) -> Builder {
        let progress = (!quiet && std::io::stderr().is_terminal()).then(Instant::now);
        Builder { tree, alloc, writer, stats: Stats::default(), quiet, progress }
    }

    pub fn warn(&self, msg: &str) {
        if !self.quiet {
            eprintln!("rootfs-builder: warning: {msg}");
        }
    }

    fn tick(&mut self) {
        let Some(last) = self.progress else { return };
        if last.elapsed() >= PROGRESS_EVERY {
            let s = &self.stats;
            let entries = s.files + s.dirs + s.symlinks + s.hardlinks + s.other;
            eprint!("\rrootfs-builder: {entries} entries, {} MiB", s.bytes >> 20);
            let _ = std::io::stderr().flush();
            self.progress = Some(Instant::now());
        }
    }

    /// Clear the progress line before the summary or an error is printed.
    pub fn end_progress(&mut self) {
        if self.progress.take().is_some() {
            eprint!("\r\x1b[K");
        }
    }

    pub fn add_file(&mut self, path: &[u8], meta: Meta, size: u64, src: &mut dyn Read) -> Result<()> {
        let extents = self
            .writer
            .copy_file(src, size, &mut self.alloc)
            .map_err(|e| Error::new(format!("{} of '{}'", e.what, show(path)), e.why))?;
        self.tree.insert(path, Node { kind: Kind::File { size, extents }, meta })?;
        self.stats.files += 1;
        self.stats.bytes += size;
        self.tick();
        Ok(())
    }

    pub fn add(&mut self, path: &[u8], kind: Kind, meta: Meta) -> Result<()> {
        match kind {
            Kind::Dir { .. } => self.stats.dirs += 1,
            Kind::Symlink(_) => self.stats.symlinks += 1,
            Kind::File { .. } => self.stats.files += 1,
            _ => self.stats.other += 1,
        }
        self.tree.insert(path, Node { kind, meta })?;
        self.tick();
        Ok(())
    }

    pub fn link(&mut self, path: &[u8], target: &[u8]) -> Result<()> {
        self.tree.link(path, target)?;
        self.stats.hardlinks += 1;
        self.tick();
        Ok(())
    }
}
