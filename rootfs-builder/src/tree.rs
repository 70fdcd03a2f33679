//! The in-memory directory tree: everything about the image except file data,
//! which is already on disk by the time a node is inserted.
//!
//! Paths are resolved lexically inside the image root: `..` at the root stays
//! at the root and symlinks met in the middle of a path are followed inside
//! the image, so no entry can ever land outside it.

use std::collections::BTreeMap;

use crate::error::{Error, Result, show};

pub type NodeId = usize;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Extent {
    pub logical: u32,
    pub len: u32,
    pub phys: u64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Xattr {
    /// ext4 name index (1 user, 4 trusted, 6 security, ...).
    pub index: u8,
    /// Name without the prefix the index stands for.
    pub name: Vec<u8>,
    pub value: Vec<u8>,
}

#[derive(Debug)]
pub enum Kind {
    File { size: u64, extents: Vec<Extent> },
    Dir { entries: BTreeMap<Vec<u8>, NodeId> },
    Symlink(Vec<u8>),
    CharDev(u32, u32),
    BlockDev(u32, u32),
    Fifo,
    Socket,
}

#[derive(Clone, Debug)]
pub struct Meta {
    /// Permission bits including setuid/setgid/sticky (no file type bits).
    pub perm: u16,
    pub uid: u32,
    pub gid: u32,
    pub mtime: i64,
    pub mtime_nsec: u32,
    pub xattrs: Vec<Xattr>,
}

#[derive(Debug)]
pub struct Node {
    pub kind: Kind,
    pub meta: Meta,
}

pub struct Tree {
    pub nodes: Vec<Node>,
    /// Metadata given to directories that exist only because a path needs them.
    implicit_dir: Meta,
}

pub const ROOT: NodeId = 0;
const MAX_SYMLINK_HOPS: u32 = 40;

/// Split a path into normal components; `.` and empty parts vanish, `..`
/// never climbs above the root.
pub fn normalize(path: &[u8]) -> Result<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for comp in path.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c if c.len() > 255 => {
                return Err(Error::new(format!("path '{}'", show(path)), "a component is longer than 255 bytes"));
            }
            c if c.contains(&0) => {
                return Err(Error::new(format!("path '{}'", show(path)), "contains a NUL byte"));
            }
            c => out.push(c.to_vec()),
        }
    }
    Ok(out)
}

impl Tree {
    pub fn new(root: Meta, implicit_dir: Meta) -> Tree {
        Tree { nodes: vec![Node { kind: Kind::Dir { entries: BTreeMap::new() }, meta: root }], implicit_dir }
    }

    fn entries(&self, dir: NodeId) -> &BTreeMap<Vec<u8>, NodeId> {
        match &self.nodes[dir].kind {
            Kind::Dir { entries } => entries,
            _ => unreachable!("entries() on a non-directory"),
        }
    }

    fn entries_mut(&mut self, dir: NodeId) -> &mut BTreeMap<Vec<u8>, NodeId> {
        match &mut self.nodes[dir].kind {
            Kind::Dir { entries } => entries,
            _ => unreachable!("entries_mut() on a non-directory"),
        }
    }

    pub fn child(&self, dir: NodeId, name: &[u8]) -> Option<NodeId> {
        self.entries(dir).get(name).copied()
    }

    pub fn is_dir(&self, id: NodeId) -> bool {
        matches!(self.nodes[id].kind, Kind::Dir { .. })
    }

    /// Walk to the directory that should hold `comps`' last component,
    /// creating missing directories and following symlinks inside the image.
    fn parent_dir(&mut self, comps: &[Vec<u8>], full: &[u8]) -> Result<NodeId> {
        let mut stack = vec![ROOT];
        let mut todo: Vec<Vec<u8>> = comps[..comps.len().saturating_sub(1)].iter().rev().cloned().collect();
        let mut hops = 0;
        while let Some(c) = todo.pop() {
            match c.as_slice() {
                b"" | b"." => continue,
                b".." => {
                    if stack.len() > 1 {
                        stack.pop();
                    }
                    continue;
                }
                _ => {}
            }
            let cur = *stack.last().expect("stack holds the root");
            match self.child(cur, &c) {
                None => {
                    let id = self.add_node(Node {
                        kind: Kind::Dir { entries: BTreeMap::new() },
                        meta: self.implicit_dir.clone(),
                    });
                    self.entries_mut(cur).insert(c, id);
                    stack.push(id);
                }
                Some(id) => match &self.nodes[id].kind {
                    Kind::Dir { .. } => stack.push(id),
                    Kind::Symlink(target) => {
                        hops += 1;
                        if hops > MAX_SYMLINK_HOPS {
                            return Err(Error::new(
                                format!("path '{}'", show(full)),
                                "too many levels of symbolic links",
                            ));
                        }
                        if target.first() == Some(&b'/') {
                            stack.truncate(1);
                        }
                        todo.extend(target.split(|&b| b == b'/').rev().map(<[u8]>::to_vec));
                    }
                    _ => {
                        return Err(Error::new(
                            format!("path '{}'", show(full)),
                            format!("'{}' is not a directory", show(&c)),
                        ));
                    }
                },
            }
        }
        Ok(*stack.last().expect("stack holds the root"))
    }

    fn add_node(&mut self, node: Node) -> NodeId {
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Put a node at `path`; a later entry replaces an earlier one, except that
    /// a directory over a directory only updates its metadata (tar semantics).
    pub fn insert(&mut self, path: &[u8], node: Node) -> Result<NodeId> {
        let comps = normalize(path)?;
        let Some(name) = comps.last() else {
            if let Kind::Dir { .. } = node.kind {
                self.nodes[ROOT].meta = node.meta;
                return Ok(ROOT);
            }
            return Err(Error::new(format!("entry '{}'", show(path)), "only a directory can be the root"));
        };
        let parent = self.parent_dir(&comps, path)?;
        if let Some(old) = self.child(parent, name)
            && self.is_dir(old)
            && matches!(node.kind, Kind::Dir { .. })
        {
            self.nodes[old].meta = node.meta;
            return Ok(old);
        }
        let id = self.add_node(node);
        self.entries_mut(parent).insert(name.clone(), id);
        Ok(id)
    }

    /// Find a node without following a symlink in the last component.
    pub fn lookup(&mut self, path: &[u8]) -> Result<Option<NodeId>> {
        let comps = normalize(path)?;
        let Some(name) = comps.last() else {
            return Ok(Some(ROOT));
        };
        let parent = self.parent_dir(&comps, path)?;
        Ok(self.child(parent, name))
    }

    /// A hard link: `path` becomes another name of the node at `target`.
    pub fn link(&mut self, path: &[u8], target: &[u8]) -> Result<()> {
        let what = || format!("hard link '{}' -> '{}'", show(path), show(target));
        let Some(id) = self.lookup(target)? else {
            return Err(Error::new(what(), "link target is not in the archive before it"));
        };
        if self.is_dir(id) {
            return Err(Error::new(what(), "link target is a directory"));
        }
        let comps = normalize(path)?;
        let Some(name) = comps.last() else {
            return Err(Error::new(what(), "cannot replace the root directory"));
        };
        let parent = self.parent_dir(&comps, path)?;
        self.entries_mut(parent).insert(name.clone(), id);
        Ok(())
    }
}
