//! rootfs-builder: a root filesystem tarball in, an ext4 image out, written
//! directly (no mkfs, no mount, no privileges).

#![forbid(unsafe_code)]

mod bitmap;
mod builder;
mod cli;
mod commit;
mod completion;
mod container;
mod data;
mod dir;
mod elf_deps;
mod error;
mod export;
mod extent;
mod host_add;
mod image;
mod import;
mod inode;
mod input;
mod inspect;
mod journal;
mod layout;
mod oci;
mod ps;
mod refs;
mod registry;
mod save;
mod sparse;
mod stats;
mod store;
mod superblock;
mod tar_reader;
mod template;
mod tree;
mod tree_io;
mod unpack;
mod verbs;
mod volume;
mod xattr;

use std::cell::Cell;
use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{SystemTime, UNIX_EPOCH};

use builder::Builder;
use cli::{Command, Options};
use data::ImageWriter;
use error::{Context, Error, Result};
use layout::{AUTO_GDT_RESERVE, Allocator, BLOCK_SIZE, BLOCKS_PER_GROUP, gdt_blocks};
use tree::{Meta, Tree};

/// The image under construction; removed on every path except success.
struct TempImage {
    path: PathBuf,
    keep: bool,
}

impl Drop for TempImage {
    fn drop(&mut self) {
        if !self.keep {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn create_temp(output: &Path) -> Result<(TempImage, File)> {
    let dir = match output.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name =
        output.file_name().ok_or_else(|| Error::usage(format!("output '{}'", output.display()), "not a file name"))?;
    let path = dir.join(format!(".{}.tmp-{}", name.to_string_lossy(), std::process::id()));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)
        .ctx(|| format!("creating '{}'", path.display()))?;
    Ok((TempImage { path, keep: false }, file))
}

fn random_bytes() -> Result<[u8; 32]> {
    let mut buf = [0u8; 32];
    File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut buf)).ctx(|| "reading /dev/urandom".to_string())?;
    Ok(buf)
}

/// Expand a 64-bit seed into 16 bytes (splitmix64), for reproducible IDs.
fn expand(seed: u64) -> [u8; 16] {
    let mut out = [0u8; 16];
    let mut x = seed;
    for half in out.chunks_mut(8) {
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        half.copy_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

fn as_uuid_v4(mut u: [u8; 16]) -> [u8; 16] {
    u[6] = (u[6] & 0x0f) | 0x40;
    u[8] = (u[8] & 0x3f) | 0x80;
    u
}

fn build_time(o: &Options) -> Result<i64> {
    if o.reproducible {
        return match std::env::var("SOURCE_DATE_EPOCH") {
            Ok(v) => v.parse().map_err(|_| Error::usage("SOURCE_DATE_EPOCH", format!("'{v}' is not a number"))),
            Err(_) => Ok(0),
        };
    }
    Ok(SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64))
}

fn run(o: &Options) -> Result<()> {
    let source = oci::detect(&o.input)?;
    let resolved = source.as_ref().map(|src| oci::resolve(src, o.platform.as_deref())).transpose()?;
    if o.config.is_some() && resolved.is_none() {
        return Err(Error::usage("--config", "the input is a tarball, which has no image config"));
    }
    if let Some(dir) = &o.layers {
        let (Some(src), Some(image)) = (&source, &resolved) else {
            return Err(Error::usage("--layers", "the input is a tarball, which has no layers"));
        };
        if !o.adds.is_empty() || !o.binaries.is_empty() {
            return Err(Error::usage("--layers", "goes without --add and --add-binary"));
        }
        fs::create_dir_all(dir).ctx(|| format!("creating '{}'", dir.display()))?;
        for (i, layer) in image.layers.iter().enumerate() {
            let one = oci::Image { layers: vec![layer.clone()], names: Vec::new(), ..image.clone() };
            let o = Options { output: dir.join(format!("{i}.ext4")), overlay: i > 0, config: None, ..o.clone() };
            write_image(&o, Some((src, &one)))?;
        }
        if let Some(path) = &o.config {
            let text = serde_json::to_vec_pretty(&image.config).unwrap_or_default();
            fs::write(path, text).ctx(|| format!("writing '{}'", path.display()))?;
        }
        return Ok(());
    }
    write_image(o, source.as_ref().zip(resolved.as_ref())).map(drop)
}

/// Writes the image `o` describes: from `image` (its source and the resolved image)
/// when given, else from the tarball `o.input`. Returns the bytes of file data in it.
pub fn write_image(o: &Options, image: Option<(&oci::Source, &oci::Image)>) -> Result<u64> {
    let time = build_time(o)?;
    let size_blocks = o.size.map(|s| s / BLOCK_SIZE);
    if let Some(b) = size_blocks
        && b < 256
    {
        return Err(Error::usage("--size", "must be at least 1 MiB"));
    }
    let gdt_reserve = size_blocks.map_or(AUTO_GDT_RESERVE, |b| gdt_blocks(b.div_ceil(BLOCKS_PER_GROUP)));
    let hash = o.reproducible.then(|| Rc::new(Cell::new(0xcbf2_9ce4_8422_2325u64)));
    let layers = image.map(|(_, i)| &i.layers);
    let input = match layers {
        None => Some(input::open(&o.input, hash.clone())?),
        Some(layers) => {
            // --reproducible: the image's layer digests stand for its bytes.
            if let Some(h) = &hash {
                for l in layers {
                    for byte in l.sha256.bytes() {
                        h.set((h.get() ^ u64::from(byte)).wrapping_mul(0x0000_0100_0000_01b3));
                    }
                }
            }
            None
        }
    };
    let (mut temp, file) = create_temp(&o.output)?;

    let dir_meta = Meta { perm: 0o755, uid: 0, gid: 0, mtime: time, mtime_nsec: 0, xattrs: Vec::new() };
    let tree = Tree::new(dir_meta.clone(), dir_meta);
    let mut b = Builder::new(tree, Allocator::new(gdt_reserve, size_blocks), ImageWriter::new(file), o.quiet);
    let result = match (image, input) {
        (Some((src, i)), _) if o.overlay => oci::apply_overlay(&mut b, src, &i.layers[0]),
        (Some((src, i)), _) => oci::apply(&mut b, src, &i.layers).and_then(|()| fill(&mut b, None, o)),
        (None, input) => fill(&mut b, input, o),
    };
    b.end_progress();
    result?;

    let (uuid, hash_seed) = match (&hash, o.uuid) {
        (Some(h), uuid) => {
            let seed = expand(h.get());
            (uuid.unwrap_or(as_uuid_v4(seed)), expand(!h.get()))
        }
        (None, uuid) => {
            let r = random_bytes()?;
            let u: [u8; 16] = r[..16].try_into().expect("16 bytes");
            (uuid.unwrap_or(as_uuid_v4(u)), r[16..].try_into().expect("16 bytes"))
        }
    };
    let fin =
        image::Options { size_blocks, inodes: o.inodes, journal: o.journal, label: &o.label, uuid, hash_seed, time };
    let summary = image::finalize(&mut b.tree, &b.alloc, &mut b.writer, &fin)?;
    let file = b.writer.file();
    let len = o.size.unwrap_or(summary.blocks * BLOCK_SIZE).max(summary.blocks * BLOCK_SIZE);
    let what = || format!("writing '{}'", temp.path.display());
    file.set_len(len).ctx(what)?;
    file.sync_all().ctx(what)?;
    if let (Some(path), Some((_, image))) = (&o.config, image) {
        // Written before the image is renamed into place: a failure leaves neither.
        let text = serde_json::to_vec_pretty(&image.config).unwrap_or_default();
        fs::write(path, text).ctx(|| format!("writing '{}'", path.display()))?;
    }
    if let Err(e) = fs::rename(&temp.path, &o.output) {
        if let Some(path) = &o.config {
            let _ = fs::remove_file(path);
        }
        return Err(e).ctx(|| format!("renaming to '{}'", o.output.display()));
    }
    temp.keep = true;

    if !o.quiet {
        let s = &b.stats;
        eprintln!(
            "rootfs-builder: {}: {} files, {} directories, {} symlinks, {} hard links, {} other; \
             {:.1} MiB data; image {:.1} MiB, {:.1} MiB free, {} of {} inodes free",
            o.output.display(),
            s.files,
            s.dirs,
            s.symlinks,
            s.hardlinks,
            s.other,
            s.bytes as f64 / 1048576.0,
            len as f64 / 1048576.0,
            (summary.free_blocks * BLOCK_SIZE) as f64 / 1048576.0,
            summary.free_inodes,
            summary.inodes,
        );
    }
    Ok(b.stats.bytes)
}

/// Why a compressed image archive is refused: its blobs are read in place.
pub const NOT_A_ROOTFS: &str = "a compressed container image archive (OCI or docker save): \
rootfs-builder reads image archives uncompressed (gzip -d, zstd -d, ... it first)";

/// An image (`oci::marks_image`) at the top of what was read as a tarball (a
/// compressed image archive): its files are no root filesystem, and an image of them
/// would not run.
fn is_image_archive(tree: &Tree) -> bool {
    let top = |name: &str| tree.child(tree::ROOT, name.as_bytes());
    let blobs = top("blobs").is_some_and(|d| tree.is_dir(d));
    let layer_tars = match &tree.nodes[tree::ROOT].kind {
        tree::Kind::Dir { entries } => entries.iter().any(|(name, &d)| {
            name.ends_with(b".tar") && !tree.is_dir(d) || tree.is_dir(d) && tree.child(d, b"layer.tar").is_some()
        }),
        _ => false,
    };
    oci::marks_image(|n| top(n).is_some(), blobs, layer_tars)
}

/// Everything that adds entries: the archive, then --add, then --add-binary.
fn fill(b: &mut Builder, input: Option<Box<dyn Read>>, o: &Options) -> Result<()> {
    if let Some(input) = input {
        let name = o.input.display().to_string();
        tar_reader::read_archive(b, input, &name)?;
        if is_image_archive(&b.tree) {
            return Err(Error::new(format!("'{name}'"), NOT_A_ROOTFS));
        }
    }
    let mut host = host_add::HostAdd::new(o.preserve_owner);
    for (src, dest) in &o.adds {
        host.add_tree(b, src, dest)?;
    }
    for bin in &o.binaries {
        host.add_binary(b, bin)?;
    }
    Ok(())
}

fn main() -> ExitCode {
    let mut args: Vec<_> = std::env::args_os().collect();
    if let Some(verb) = args.get(1).and_then(|a| a.to_str()).filter(|a| verbs::VERBS.contains(a)) {
        let verb = verb.to_string();
        let result = verbs::main(&verb, args.split_off(2));
        return match result {
            Ok(code) => ExitCode::from(code),
            Err(e) => {
                eprintln!("{}: {e}", verbs::program());
                // docker's codes: 125 for bad usage of a command, 1 for its failure.
                let usage = if verbs::program() == "husk" { 125 } else { 2 };
                ExitCode::from(if e.usage { usage } else { 1 })
            }
        };
    }
    let result = cli::parse(args).and_then(|cmd| match cmd {
        Command::Help => {
            print!("{}", cli::HELP);
            Ok(())
        }
        Command::Version => {
            println!("rootfs-builder {}", env!("CARGO_PKG_VERSION"));
            Ok(())
        }
        Command::Build(o) => run(&o),
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("rootfs-builder: {e}");
            ExitCode::from(if e.usage { 2 } else { 1 })
        }
    }
}
