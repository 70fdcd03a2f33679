//! Finishing the image once every entry is in: number the inodes, fix the
//! geometry, place metadata after the data, and write it all out.

use std::collections::{BTreeMap, VecDeque};

use crate::bitmap::{self, BlockMap};
use crate::data::ImageWriter;
use crate::dir::{self, DirEntry};
use crate::error::{Error, Result};
use crate::extent;
use crate::inode::{self, Inode};
use crate::journal;
use crate::layout::{Allocator, BLOCK_SIZE, BLOCKS_PER_GROUP, FIRST_INO, Geometry, INODE_SIZE, has_super};
use crate::superblock::{self, GroupDesc, Super};
use crate::tree::{Extent, Kind, Meta, Node, NodeId, ROOT, Tree};
use crate::xattr::{self, Placement};

pub struct Options<'a> {
    /// Fixed size in blocks, or None for the automatic rule.
    pub size_blocks: Option<u64>,
    pub inodes: Option<u64>,
    pub journal: bool,
    pub label: &'a [u8],
    pub uuid: [u8; 16],
    pub hash_seed: [u8; 16],
    /// Filesystem timestamps (mkfs/write time).
    pub time: i64,
}

pub struct Summary {
    pub blocks: u64,
    pub free_blocks: u64,
    pub inodes: u64,
    pub free_inodes: u64,
}

const JOURNAL_INO: u32 = 8;
const LOST_FOUND_BLOCKS: u64 = 4;
/// Automatic sizing leaves at least this much free (16 MiB).
const MIN_HEADROOM: u64 = 4096;
const MAX_SLOW_SYMLINK: usize = BLOCK_SIZE as usize - 1;

/// What the tree needs besides data; the inode numbering.
struct Census {
    /// Inode number per node; 0 for nodes no longer reachable.
    ino: Vec<u32>,
    /// Nodes in inode order with their inode numbers.
    order: Vec<(u32, NodeId)>,
    links: Vec<u32>,
    parent: Vec<NodeId>,
    dir_blocks: Vec<u64>,
    xattr_in_block: Vec<bool>,
    next_ino: u32,
}

/// Where finalize put each piece of metadata.
struct Plan {
    block_bitmaps: Vec<u64>,
    inode_bitmaps: Vec<u64>,
    inode_tables: Vec<u64>,
    journal: Option<(u64, u64)>,
    dir_start: Vec<u64>,
    symlink_block: Vec<u64>,
    xattr_block: Vec<u64>,
    tree_blocks: Vec<Vec<u64>>,
    high_water: u64,
}

fn census(tree: &Tree) -> Result<Census> {
    let n = tree.nodes.len();
    let mut c = Census {
        ino: vec![0; n],
        order: Vec::new(),
        links: vec![0; n],
        parent: vec![ROOT; n],
        dir_blocks: vec![0; n],
        xattr_in_block: vec![false; n],
        next_ino: FIRST_INO + 1,
    };
    c.ino[ROOT] = 2;
    c.order.push((2, ROOT));
    if let Some(lf) = tree.child(ROOT, b"lost+found")
        && tree.is_dir(lf)
    {
        c.ino[lf] = FIRST_INO;
        c.order.push((FIRST_INO, lf));
    }
    let mut queue = VecDeque::from([ROOT]);
    while let Some(d) = queue.pop_front() {
        let Kind::Dir { entries } = &tree.nodes[d].kind else { unreachable!() };
        for &child in entries.values() {
            c.links[child] += 1;
            if tree.is_dir(child) {
                c.parent[child] = d;
                queue.push_back(child);
            }
            if c.ino[child] == 0 {
                if c.next_ino == u32::MAX {
                    return Err(Error::new("inode count", "more than 2^32 entries"));
                }
                c.ino[child] = c.next_ino;
                c.order.push((c.next_ino, child));
                c.next_ino += 1;
            }
        }
    }
    c.order.sort_unstable();
    for &(ino, id) in &c.order {
        let node = &tree.nodes[id];
        if let Kind::Dir { entries } = &node.kind {
            let subdirs = entries.values().filter(|&&e| tree.is_dir(e)).count() as u32;
            c.links[id] = 2 + subdirs;
            let mut blocks = dir::blocks_needed(entries.keys().map(Vec::len));
            if ino == FIRST_INO {
                blocks = blocks.max(LOST_FOUND_BLOCKS);
            }
            c.dir_blocks[id] = blocks;
        }
        if let Kind::Symlink(t) = &node.kind
            && (t.is_empty() || t.len() > MAX_SLOW_SYMLINK)
        {
            return Err(Error::new(format!("symlink target of inode {ino}"), "must be 1 to 4095 bytes long"));
        }
        let what = format!("inode {ino}");
        c.xattr_in_block[id] = matches!(xattr::placement(&node.meta.xattrs, &what)?, Placement::Block);
    }
    Ok(c)
}

fn plan(tree: &Tree, c: &Census, geo: &Geometry, mut alloc: Allocator, journal_blocks: u64) -> Result<Plan> {
    let n = tree.nodes.len();
    let mut p = Plan {
        block_bitmaps: Vec::new(),
        inode_bitmaps: Vec::new(),
        inode_tables: Vec::new(),
        journal: None,
        dir_start: vec![0; n],
        symlink_block: vec![0; n],
        xattr_block: vec![0; n],
        tree_blocks: vec![Vec::new(); n],
        high_water: 0,
    };
    for _ in 0..geo.groups {
        p.block_bitmaps.push(alloc.alloc_contig(1)?);
    }
    for _ in 0..geo.groups {
        p.inode_bitmaps.push(alloc.alloc_contig(1)?);
    }
    for _ in 0..geo.groups {
        p.inode_tables.push(alloc.alloc_contig(geo.itable_blocks())?);
    }
    if journal_blocks > 0 {
        p.journal = Some((alloc.alloc_contig(journal_blocks)?, journal_blocks));
    }
    for &(_, id) in &c.order {
        match &tree.nodes[id].kind {
            Kind::Dir { .. } => p.dir_start[id] = alloc.alloc_contig(c.dir_blocks[id])?,
            Kind::Symlink(t) if t.len() >= 60 => p.symlink_block[id] = alloc.alloc_contig(1)?,
            Kind::File { extents, .. } => {
                for _ in 0..extent::blocks_needed(extents.len()) {
                    p.tree_blocks[id].push(alloc.alloc_contig(1)?);
                }
            }
            _ => {}
        }
        if c.xattr_in_block[id] {
            p.xattr_block[id] = alloc.alloc_contig(1)?;
        }
    }
    p.high_water = alloc.high_water();
    Ok(p)
}

fn auto_blocks(high_water: u64) -> u64 {
    let blocks = high_water + (high_water / 5).max(MIN_HEADROOM);
    blocks.div_ceil(256) * 256
}

/// Groups too small to be worth it are cut off, as mke2fs does.
fn trim_tail(blocks: u64) -> u64 {
    let tail = blocks % BLOCKS_PER_GROUP;
    if blocks > BLOCKS_PER_GROUP && tail > 0 && tail < 256 { blocks - tail } else { blocks }
}

fn wanted_inodes(o: &Options, blocks: u64, used: u64) -> Result<u64> {
    match o.inodes {
        Some(n) if n < used => Err(Error::new("--inodes", format!("{n} is fewer than the {used} the contents need"))),
        Some(n) => Ok(n),
        None => Ok((blocks * BLOCK_SIZE / 16384).max(used + used / 5 + 16)),
    }
}

fn journal_blocks(o: &Options, blocks: u64) -> u64 {
    if o.journal { journal::default_blocks(blocks) } else { 0 }
}

/// Settle the geometry: a fixed size must fit; an automatic one grows until
/// contents plus headroom fit (inode tables grow with the size, so iterate).
fn settle(tree: &Tree, c: &Census, alloc: &Allocator, o: &Options) -> Result<(Geometry, Plan)> {
    let used_inodes = c.next_ino as u64 - 1;
    let mut blocks = match o.size_blocks {
        Some(b) => trim_tail(b),
        None => auto_blocks(alloc.high_water()),
    };
    loop {
        let geo = Geometry::new(blocks, wanted_inodes(o, blocks, used_inodes)?)?;
        if geo.gdt_blocks > alloc.gdt_reserve() {
            return Err(Error::new("image size", "contents need more than 128 GiB; pass --size"));
        }
        let p = plan(tree, c, &geo, alloc.clone(), journal_blocks(o, blocks))?;
        if o.size_blocks.is_some() {
            if p.high_water > blocks {
                return Err(Error::new(
                    "image size",
                    format!("contents need at least {} MiB", (p.high_water * BLOCK_SIZE).div_ceil(1 << 20)),
                ));
            }
            return Ok((geo, p));
        }
        let want = auto_blocks(p.high_water);
        if want <= blocks {
            return Ok((geo, p));
        }
        blocks = want;
    }
}

fn file_type(kind: &Kind) -> (u8, u16) {
    match kind {
        Kind::File { .. } => (1, inode::S_IFREG),
        Kind::Dir { .. } => (2, inode::S_IFDIR),
        Kind::CharDev(..) => (3, inode::S_IFCHR),
        Kind::BlockDev(..) => (4, inode::S_IFBLK),
        Kind::Fifo => (5, inode::S_IFIFO),
        Kind::Socket => (6, inode::S_IFSOCK),
        Kind::Symlink(_) => (7, inode::S_IFLNK),
    }
}

fn single_extent(start: u64, len: u64) -> [u8; 60] {
    extent::build(&[Extent { logical: 0, len: len as u32, phys: start }], &[]).0
}

/// Encode a node's inode and collect the blocks it owns besides file data.
fn node_inode(node: &Node, id: NodeId, c: &Census, p: &Plan, w: &mut ImageWriter) -> Result<Inode> {
    let m: &Meta = &node.meta;
    let (_, fmt) = file_type(&node.kind);
    let mut ino = Inode {
        mode: fmt | (m.perm & 0o7777),
        uid: m.uid,
        gid: m.gid,
        size: 0,
        mtime: m.mtime,
        mtime_nsec: m.mtime_nsec,
        links: if c.links[id] > 65000 { 1 } else { c.links[id] as u16 },
        blocks: 0,
        flags: inode::EXTENTS_FL,
        i_block: [0; 60],
        xattr_block: p.xattr_block[id],
    };
    match &node.kind {
        Kind::File { size, extents } => {
            let (root, tree_blocks) = extent::build(extents, &p.tree_blocks[id]);
            for (blk, data) in tree_blocks {
                w.write_blocks(blk, &data)?;
            }
            ino.size = *size;
            ino.i_block = root;
            ino.blocks = extents.iter().map(|e| e.len as u64).sum::<u64>() + p.tree_blocks[id].len() as u64;
        }
        Kind::Dir { .. } => {
            ino.size = c.dir_blocks[id] * BLOCK_SIZE;
            ino.i_block = single_extent(p.dir_start[id], c.dir_blocks[id]);
            ino.blocks = c.dir_blocks[id];
        }
        Kind::Symlink(target) => {
            ino.size = target.len() as u64;
            if target.len() < 60 {
                ino.flags = 0;
                ino.i_block[..target.len()].copy_from_slice(target);
            } else {
                w.write_blocks(p.symlink_block[id], target)?;
                ino.i_block = single_extent(p.symlink_block[id], 1);
                ino.blocks = 1;
            }
        }
        Kind::CharDev(major, minor) | Kind::BlockDev(major, minor) => {
            ino.flags = 0;
            ino.i_block = inode::device_block(*major, *minor);
        }
        Kind::Fifo | Kind::Socket => ino.flags = 0,
    }
    if p.xattr_block[id] != 0 {
        w.write_blocks(p.xattr_block[id], &xattr::block(&m.xattrs))?;
        ino.blocks += 1;
    }
    Ok(ino)
}

fn write_dir(tree: &Tree, id: NodeId, c: &Census, p: &Plan, w: &mut ImageWriter) -> Result<()> {
    let Kind::Dir { entries } = &tree.nodes[id].kind else {
        return Ok(());
    };
    let mut list = vec![
        DirEntry { inode: c.ino[id], file_type: 2, name: b"." },
        DirEntry { inode: c.ino[c.parent[id]], file_type: 2, name: b".." },
    ];
    list.extend(entries.iter().map(|(name, &child)| DirEntry {
        inode: c.ino[child],
        file_type: file_type(&tree.nodes[child].kind).0,
        name,
    }));
    w.write_blocks(p.dir_start[id], &dir::encode(&list, c.dir_blocks[id]))
}

fn mark_used(map: &mut BlockMap, tree: &Tree, c: &Census, p: &Plan, geo: &Geometry) -> Result<()> {
    for g in 0..geo.groups {
        map.mark(g * BLOCKS_PER_GROUP, geo.super_overhead(g))?;
        map.mark(p.block_bitmaps[g as usize], 1)?;
        map.mark(p.inode_bitmaps[g as usize], 1)?;
        map.mark(p.inode_tables[g as usize], geo.itable_blocks())?;
    }
    if let Some((start, len)) = p.journal {
        map.mark(start, len)?;
    }
    for &(_, id) in &c.order {
        match &tree.nodes[id].kind {
            Kind::File { extents, .. } => {
                for e in extents {
                    map.mark(e.phys, e.len as u64)?;
                }
                for &b in &p.tree_blocks[id] {
                    map.mark(b, 1)?;
                }
            }
            Kind::Dir { .. } => map.mark(p.dir_start[id], c.dir_blocks[id])?,
            Kind::Symlink(_) if p.symlink_block[id] != 0 => map.mark(p.symlink_block[id], 1)?,
            _ => {}
        }
        if p.xattr_block[id] != 0 {
            map.mark(p.xattr_block[id], 1)?;
        }
    }
    Ok(())
}

pub fn finalize(tree: &mut Tree, alloc: &Allocator, w: &mut ImageWriter, o: &Options) -> Result<Summary> {
    if tree.child(ROOT, b"lost+found").is_none() {
        let meta = Meta { perm: 0o700, uid: 0, gid: 0, mtime: o.time, mtime_nsec: 0, xattrs: Vec::new() };
        let kind = Kind::Dir { entries: BTreeMap::new() };
        tree.insert(b"lost+found", Node { kind, meta })?;
    }
    let c = census(tree)?;
    let (geo, p) = settle(tree, &c, alloc, o)?;

    let ipg = geo.inodes_per_group;
    let mut tables: Vec<Vec<u8>> = vec![Vec::new(); geo.groups as usize];
    let mut used_dirs = vec![0u32; geo.groups as usize];
    let mut put_inode = |ino: u32, inode: &Inode, node: Option<&Node>| {
        let g = (ino as u64 - 1) / ipg;
        let idx = ((ino as u64 - 1) % ipg) as usize;
        let t = &mut tables[g as usize];
        let end = (idx + 1) * INODE_SIZE as usize;
        if t.len() < end {
            t.resize(end.div_ceil(BLOCK_SIZE as usize) * BLOCK_SIZE as usize, 0);
        }
        let slot = &mut t[idx * INODE_SIZE as usize..end];
        inode.encode(slot);
        if let Some(node) = node {
            if !node.meta.xattrs.is_empty() && inode.xattr_block == 0 {
                xattr::write_in_inode(&mut slot[160..], &node.meta.xattrs);
            }
            if matches!(node.kind, Kind::Dir { .. }) {
                used_dirs[g as usize] += 1;
            }
        }
    };

    for &(ino, id) in &c.order {
        let inode = node_inode(&tree.nodes[id], id, &c, &p, w)?;
        put_inode(ino, &inode, Some(&tree.nodes[id]));
        write_dir(tree, id, &c, &p, w)?;
    }
    let mut journal_backup = None;
    if let Some((start, len)) = p.journal {
        let i_block = single_extent(start, len);
        let inode = Inode {
            mode: inode::S_IFREG | 0o600,
            uid: 0,
            gid: 0,
            size: len * BLOCK_SIZE,
            mtime: o.time,
            mtime_nsec: 0,
            links: 1,
            blocks: len,
            flags: inode::EXTENTS_FL,
            i_block,
            xattr_block: 0,
        };
        put_inode(JOURNAL_INO, &inode, None);
        w.write_blocks(start, &journal::superblock(len, &o.uuid))?;
        journal_backup = Some((i_block, len * BLOCK_SIZE));
    }
    for (g, t) in tables.iter().enumerate() {
        if !t.is_empty() {
            w.write_blocks(p.inode_tables[g], t)?;
        }
    }

    let mut map = BlockMap::new(geo.blocks);
    mark_used(&mut map, tree, &c, &p, &geo)?;
    let used_inodes = c.next_ino as u64 - 1;
    let mut descs = Vec::new();
    let (mut free_blocks, mut free_inodes) = (0, 0);
    for g in 0..geo.groups {
        let (bits, used) = map.group_block(g, BLOCKS_PER_GROUP);
        w.write_blocks(p.block_bitmaps[g as usize], &bits)?;
        let in_group = (geo.blocks - g * BLOCKS_PER_GROUP).min(BLOCKS_PER_GROUP);
        let inodes_used = used_inodes.saturating_sub(g * ipg).min(ipg);
        w.write_blocks(p.inode_bitmaps[g as usize], &bitmap::inode_block(inodes_used, ipg))?;
        descs.push(GroupDesc {
            block_bitmap: p.block_bitmaps[g as usize],
            inode_bitmap: p.inode_bitmaps[g as usize],
            inode_table: p.inode_tables[g as usize],
            free_blocks: (in_group - used) as u32,
            free_inodes: (ipg - inodes_used) as u32,
            used_dirs: used_dirs[g as usize],
        });
        free_blocks += in_group - used;
        free_inodes += ipg - inodes_used;
    }
    let sb = Super {
        geo: &geo,
        free_blocks,
        free_inodes,
        uuid: o.uuid,
        hash_seed: o.hash_seed,
        label: o.label,
        time: o.time as u32,
        journal: journal_backup,
    };
    let gdt = superblock::encode_descs(&descs);
    for g in (0..geo.groups).filter(|&g| has_super(g)) {
        let mut head = vec![0u8; BLOCK_SIZE as usize];
        let at = if g == 0 { 1024 } else { 0 };
        head[at..at + 1024].copy_from_slice(&sb.encode(g));
        head.extend_from_slice(&gdt);
        w.write_blocks(g * BLOCKS_PER_GROUP, &head)?;
    }
    w.flush()?;
    Ok(Summary { blocks: geo.blocks, free_blocks, inodes: geo.inodes(), free_inodes })
}
