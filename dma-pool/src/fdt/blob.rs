//! Reading a flattened device tree blob: the only parser of the format here.
//!
//! This module owns [`read`]: one bounded pass over the header, the `/memreserve/`
//! block and the structure block that proves every offset, length, name and nesting
//! level sound and, as it goes, collects the nodes (name, parent, raw properties) and
//! the `/memreserve/` entries. Everything it returns borrows the blob. It must never
//! panic on any input, recurse, or interpret a property.
#![forbid(unsafe_code)]

use crate::cma::fallible::{try_format, try_push};
use alloc::vec::Vec;

use super::Error;

/// Deepest node nesting accepted (the root is depth 1). Real trees stay below 10.
pub const MAX_DEPTH: usize = 32;

const MAGIC: u32 = 0xd00d_feed;
const HEADER_LEN: usize = 40;
const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;

fn bad(problem: &'static str, offset: usize) -> Error {
    Error::Blob { problem, offset }
}

fn be32(bytes: &[u8], at: usize) -> Option<u32> {
    let end = at.checked_add(4)?;
    let b: [u8; 4] = bytes.get(at..end)?.try_into().ok()?;
    Some(u32::from_be_bytes(b))
}

fn be64(bytes: &[u8], at: usize) -> Option<u64> {
    let end = at.checked_add(8)?;
    let b: [u8; 8] = bytes.get(at..end)?.try_into().ok()?;
    Some(u64::from_be_bytes(b))
}

/// A block `[off, off + size)` of the blob, proven inside `total`.
fn block(off: u32, size: u32, total: usize, what: &'static str) -> Result<(usize, usize), Error> {
    let off = off as usize;
    let end = off
        .checked_add(size as usize)
        .filter(|&end| end <= total)
        .ok_or(bad(what, off))?;
    Ok((off, end))
}

/// A node as the blob has it.
#[derive(Debug)]
pub(crate) struct RawNode<'a> {
    /// The name with its unit address (empty for the root).
    pub(crate) name: &'a str,
    /// The parent's index (`None` for the root).
    pub(crate) parent: Option<usize>,
    /// `(name, value)` in blob order.
    pub(crate) properties: Vec<(&'a str, &'a [u8])>,
}

/// What [`read`] proved and found.
#[derive(Debug)]
pub(crate) struct Blob<'a> {
    /// Every node, depth-first in blob order; index 0 is the root.
    pub(crate) nodes: Vec<RawNode<'a>>,
    /// `/memreserve/` entries as `(address, size)`, zero-sized ones dropped.
    pub(crate) memreserve: Vec<(u64, u64)>,
}

/// Checks and reads `bytes` as a flattened device tree (version 16 or 17 layout).
///
/// # Errors
///
/// [`Error::Blob`] with the first problem and its offset; [`Error::TooDeep`].
pub(crate) fn read(bytes: &[u8]) -> Result<Blob<'_>, Error> {
    let field = |i: usize| be32(bytes, i * 4).ok_or(bad("truncated header", 0));
    if bytes.len() < HEADER_LEN {
        return Err(bad("truncated header", 0));
    }
    if field(0)? != MAGIC {
        return Err(bad("bad magic", 0));
    }
    let total = field(1)? as usize;
    let blob = bytes
        .get(..total)
        .filter(|b| b.len() >= HEADER_LEN)
        .ok_or(bad("totalsize past the end of the buffer", 4))?;
    if field(6)? > 16 {
        return Err(bad("last compatible version above 16", 24));
    }
    let strings = block(field(3)?, field(8)?, total, "strings block past totalsize")?;
    let structure = block(
        field(2)?,
        field(9)?,
        total,
        "structure block past totalsize",
    )?;
    if structure.0 % 4 != 0 {
        return Err(bad("structure block not 4-byte aligned", structure.0));
    }
    let memreserve = memreserve(blob, field(4)? as usize)?;
    let nodes = Walk {
        blob,
        strings,
        at: structure.0,
        end: structure.1,
        nodes: Vec::new(),
    }
    .run()?;
    Ok(Blob { nodes, memreserve })
}

fn memreserve(blob: &[u8], mut at: usize) -> Result<Vec<(u64, u64)>, Error> {
    if at % 8 != 0 {
        return Err(bad("memory reservation block not 8-byte aligned", at));
    }
    let mut found = Vec::new();
    loop {
        let addr = be64(blob, at).ok_or(bad("unterminated memory reservation block", at))?;
        let size = be64(blob, at + 8).ok_or(bad("unterminated memory reservation block", at))?;
        if addr == 0 && size == 0 {
            return Ok(found);
        }
        if size != 0 {
            try_push(&mut found, (addr, size), "memory reservations")?;
        }
        at += 16;
    }
}

/// The structure-block pass: tokens, names, property bounds and nesting, collecting
/// the nodes.
struct Walk<'a> {
    blob: &'a [u8],
    strings: (usize, usize),
    at: usize,
    end: usize,
    nodes: Vec<RawNode<'a>>,
}

impl<'a> Walk<'a> {
    fn token(&mut self) -> Result<u32, Error> {
        let t = be32(self.blob, self.at)
            .filter(|_| self.at + 4 <= self.end)
            .ok_or(bad("structure block ends inside a token", self.at))?;
        self.at += 4;
        Ok(t)
    }

    fn skip_nops(&mut self) -> Result<u32, Error> {
        loop {
            let t = self.token()?;
            if t != NOP {
                return Ok(t);
            }
        }
    }

    /// Reads a NUL-terminated UTF-8 node name and skips the padding after it.
    fn name(&mut self) -> Result<&'a str, Error> {
        let rest = self.blob.get(self.at..self.end).unwrap_or_default();
        let len = rest
            .iter()
            .position(|&b| b == 0)
            .ok_or(bad("unterminated node name", self.at))?;
        let text = rest.get(..len).unwrap_or_default();
        let name = core::str::from_utf8(text).map_err(|_| bad("node name not UTF-8", self.at))?;
        self.at = (self.at + len + 1 + 3) & !3;
        Ok(name)
    }

    /// Reads a property: its name from the strings block and its value.
    fn property(&mut self) -> Result<(&'a str, &'a [u8]), Error> {
        let start = self.at;
        let len = self.token()? as usize;
        let name = self.token()? as usize;
        let value_end = self
            .at
            .checked_add(len)
            .filter(|&e| e <= self.end)
            .ok_or(bad("property value past the structure block", start))?;
        let (s0, s1) = self.strings;
        let names = self.blob.get(s0..s1).unwrap_or_default();
        let tail = names
            .get(name..)
            .ok_or(bad("property name offset past the strings block", start))?;
        let nul = tail
            .iter()
            .position(|&b| b == 0)
            .ok_or(bad("unterminated property name", start))?;
        let name = core::str::from_utf8(tail.get(..nul).unwrap_or_default())
            .map_err(|_| bad("property name not UTF-8", start))?;
        let value = self.blob.get(self.at..value_end).unwrap_or_default();
        self.at = (value_end + 3) & !3;
        Ok((name, value))
    }

    fn run(mut self) -> Result<Vec<RawNode<'a>>, Error> {
        if self.skip_nops()? != BEGIN_NODE {
            return Err(bad(
                "structure block does not start with a node",
                self.at - 4,
            ));
        }
        let root_at = self.at;
        let root = self.name()?;
        if !root.is_empty() {
            return Err(bad("the root node has a name", root_at));
        }
        self.open(root, None)?;
        // The open nodes, innermost last; its length is the depth.
        let mut open: Vec<usize> = Vec::new();
        try_push(&mut open, 0, "open device-tree nodes")?;
        // Inside a node, properties come before child nodes (as the specification has
        // it, and as `dtc` writes them).
        let mut children_started = false;
        while let Some(&current) = open.last() {
            let at = self.at;
            match self.skip_nops()? {
                PROP if !children_started => {
                    let property = self.property()?;
                    if let Some(node) = self.nodes.get_mut(current) {
                        try_push(&mut node.properties, property, "device-tree properties")?;
                    }
                }
                PROP => return Err(bad("property after a child node", at)),
                BEGIN_NODE => {
                    if open.len() >= MAX_DEPTH {
                        return Err(Error::TooDeep {
                            node: try_format(format_args!("node at byte {at:#x}"), "node bytes")?,
                            max: MAX_DEPTH,
                        });
                    }
                    let name = self.name()?;
                    let index = self.open(name, Some(current))?;
                    try_push(&mut open, index, "open device-tree nodes")?;
                    children_started = false;
                }
                END_NODE => {
                    open.pop();
                    children_started = true;
                }
                _ => return Err(bad("unexpected token", at)),
            }
        }
        let at = self.at;
        if self.skip_nops()? != END {
            return Err(bad("more than one root node", at));
        }
        Ok(self.nodes)
    }

    /// Records a node; returns its index.
    fn open(&mut self, name: &'a str, parent: Option<usize>) -> Result<usize, Error> {
        let node = RawNode {
            name,
            parent,
            properties: Vec::new(),
        };
        try_push(&mut self.nodes, node, "device-tree nodes")?;
        Ok(self.nodes.len() - 1)
    }
}
