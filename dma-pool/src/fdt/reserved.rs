//! Decoding `/reserved-memory` children into typed records.
//!
//! This module owns [`Reserved`] (what one child says: `reg`, `size`, `alignment`,
//! `alloc-ranges`, flags, `compatible`, defaults, phandle, labels) and the region name
//! derived from the node name. It decodes and checks encodings (lengths, cell sizes,
//! overflow) but must never judge combinations of properties: the binding rules are
//! `rules.rs`'s.
#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::vec::Vec;

use crate::cma::fallible::{try_collect, try_format, try_push, try_reserve, try_string};
use crate::cma::{Name, PhysRange};

use super::error::owned;
use super::{DeviceTree, Error, Node, cells};

/// What a region's `compatible` makes of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Compatible {
    /// `shared-dma-pool`: a CMA area if `reusable`, else a coherent pool.
    SharedDmaPool,
    /// `restricted-dma-pool`: a pool a device must do all its DMA through.
    RestrictedDmaPool,
    /// Another compatible string (the first one listed), owned by some other driver.
    Other(String),
    /// No `compatible`: a plain reservation.
    None,
}

/// One `/reserved-memory` child as written, decoded but not yet judged.
#[derive(Clone, Debug)]
pub struct Reserved {
    /// Index of the node in [`DeviceTree::nodes`].
    pub node: usize,
    /// The node's full path.
    pub path: String,
    /// The region name derived from the node name (see [`region_names`]).
    pub name: String,
    /// Its labels (from `/__symbols__`).
    pub labels: Vec<String>,
    /// Its phandle, if any node refers to it.
    pub phandle: Option<u32>,
    /// `reg` ranges, if present.
    pub reg: Option<Vec<PhysRange>>,
    /// `size`, if present.
    pub size: Option<usize>,
    /// `alignment`, if present (raw: checked by the rules).
    pub alignment: Option<u64>,
    /// `alloc-ranges`, if present.
    pub alloc_ranges: Option<Vec<PhysRange>>,
    /// `compatible`.
    pub compatible: Compatible,
    /// `no-map`.
    pub no_map: bool,
    /// `reusable`.
    pub reusable: bool,
    /// `linux,cma-default`.
    pub cma_default: bool,
    /// `linux,dma-default`.
    pub dma_default: bool,
}

/// The index of `/reserved-memory`, checked to use the root's cell sizes.
///
/// # Errors
///
/// [`Error::BadCells`], [`Error::CellsMismatch`].
pub(crate) fn container(tree: &DeviceTree<'_>) -> Result<Option<usize>, Error> {
    let Some(index) = tree.find("/reserved-memory") else {
        return Ok(None);
    };
    let root = tree.child_cells(0)?;
    let own = tree.child_cells(index)?;
    let pairs = [
        ("#address-cells", own.0, root.0),
        ("#size-cells", own.1, root.1),
    ];
    for (property, value, root) in pairs {
        if value != root {
            return Err(Error::CellsMismatch {
                node: owned(tree.path_of(index)),
                property,
                value,
                root,
            });
        }
    }
    Ok(Some(index))
}

/// Every enabled `/reserved-memory` child, in blob order.
///
/// # Errors
///
/// [`Error::BadCells`] or [`Error::CellsMismatch`] for `/reserved-memory` itself,
/// then the first decoding error of a child.
pub fn parse(tree: &DeviceTree<'_>) -> Result<Vec<Reserved>, Error> {
    let Some(parent) = container(tree)? else {
        return Ok(Vec::new());
    };
    let cells = tree.child_cells(parent)?;
    let children = children_of(tree, parent)?;
    let names = region_names(tree, &children)?;
    let mut out = Vec::new();
    try_reserve(&mut out, children.len(), "reserved-memory nodes")?;
    for (&i, name) in children.iter().zip(names) {
        try_push(
            &mut out,
            decode(tree, i, name, cells)?,
            "reserved-memory nodes",
        )?;
    }
    Ok(out)
}

/// One `/reserved-memory` child decoded on its own: its node index and the record, or
/// why it could not be read.
pub type Child = (usize, Result<Reserved, Error>);

/// Every enabled `/reserved-memory` child, in blob order, each decoded on its own: a
/// child whose properties cannot be read (or whose region name is unusable) is an
/// `Err` naming it, and the others are still decoded (Linux skips such a node and
/// keeps the rest). Returns `(node index, result)` pairs.
///
/// # Errors
///
/// [`Error::BadCells`] or [`Error::CellsMismatch`] for `/reserved-memory` itself.
pub fn parse_each(tree: &DeviceTree<'_>) -> Result<Vec<Child>, Error> {
    let Some(parent) = container(tree)? else {
        return Ok(Vec::new());
    };
    let cells = tree.child_cells(parent)?;
    let children = children_of(tree, parent)?;
    let mut taken: Vec<String> = Vec::new();
    let mut out = Vec::new();
    try_reserve(&mut taken, children.len(), "region names")?;
    try_reserve(&mut out, children.len(), "reserved-memory nodes")?;
    for &i in &children {
        let result = match region_name(tree, i, &taken) {
            Ok(name) => {
                try_push(
                    &mut taken,
                    try_string(&name, "region name bytes")?,
                    "region names",
                )?;
                decode(tree, i, name, cells)
            }
            Err(e) => Err(e),
        };
        try_push(&mut out, (i, result), "reserved-memory nodes")?;
    }
    Ok(out)
}

fn children_of(tree: &DeviceTree<'_>, parent: usize) -> Result<Vec<usize>, Error> {
    let children = (0..tree.nodes().len()).filter(|&i| {
        tree.node(i)
            .is_some_and(|n| n.parent() == Some(parent) && n.is_available())
    });
    Ok(try_collect(children, "reserved-memory nodes")?)
}

/// The name of child `index` given the names already `taken` (see [`region_names`]).
/// `text` with its commas as dashes (a region name cannot hold a comma).
pub(crate) fn dashed(text: &str) -> Result<String, Error> {
    Ok(try_format(
        format_args!("{}", Dashed(text)),
        "region name bytes",
    )?)
}

/// A node base name with its commas as dashes (a region name cannot hold a comma).
struct Dashed<'a>(&'a str);

impl core::fmt::Display for Dashed<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        for (i, part) in self.0.split(',').enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            f.write_str(part)?;
        }
        Ok(())
    }
}

fn region_name(tree: &DeviceTree<'_>, index: usize, taken: &[String]) -> Result<String, Error> {
    let Some(node) = tree.node(index) else {
        return Err(Error::MissingNode {
            node: "a reserved-memory child",
            needed_by: owned("/reserved-memory"),
        });
    };
    let short = dashed(node.base_name())?;
    let name = if taken.contains(&short) {
        dashed(node.name())?
    } else {
        short
    };
    if taken.contains(&name) {
        return Err(Error::DuplicateRegionName {
            node: owned(node.path()),
            name,
        });
    }
    if let Some(problem) = Name::problem(&name) {
        return Err(Error::BadRegionName {
            node: owned(node.path()),
            problem,
        });
    }
    Ok(name)
}

fn decode(
    tree: &DeviceTree<'_>,
    index: usize,
    name: String,
    cells: (u32, u32),
) -> Result<Reserved, Error> {
    let Some(node) = tree.node(index) else {
        return Err(Error::MissingNode {
            node: "a reserved-memory child",
            needed_by: owned("/reserved-memory"),
        });
    };
    let reg = match node.property("reg") {
        Some(raw) => Some(cells::ranges(node, "reg", raw, cells)?),
        None => None,
    };
    let size = match node.property("size") {
        Some(raw) => {
            let size = cells::single(node, "size", raw, cells.1)?;
            Some(cells::to_size(node, "size", 0, size)?)
        }
        None => None,
    };
    // Next to `reg` Linux never reads `alignment` nor `alloc-ranges`: their presence is
    // kept (the rules refuse or note it), a malformed value is not an error of its own.
    let fixed = reg.is_some();
    let alignment = match node.property("alignment") {
        Some(raw) => match cells::single(node, "alignment", raw, cells.1) {
            Ok(align) => Some(align),
            Err(e @ Error::OutOfMemory { .. }) => return Err(e),
            Err(_) if fixed => Some(0),
            Err(e) => return Err(e),
        },
        None => None,
    };
    let alloc_ranges = match node.property("alloc-ranges") {
        Some(raw) => match cells::ranges(node, "alloc-ranges", raw, cells) {
            Ok(ranges) => Some(ranges),
            Err(e @ Error::OutOfMemory { .. }) => return Err(e),
            Err(_) if fixed => Some(Vec::new()),
            Err(e) => return Err(e),
        },
        None => None,
    };
    let mut labels = Vec::new();
    for label in tree.labels(index) {
        try_push(&mut labels, try_string(label, "label bytes")?, "labels")?;
    }
    Ok(Reserved {
        node: index,
        path: try_string(node.path(), "node path bytes")?,
        name,
        labels,
        phandle: node.phandle(),
        reg,
        size,
        alignment,
        alloc_ranges,
        compatible: compatible(node)?,
        no_map: node.has("no-map"),
        reusable: node.has("reusable"),
        cma_default: node.has("linux,cma-default"),
        dma_default: node.has("linux,dma-default"),
    })
}

/// The strings of a string-list property.
///
/// # Errors
///
/// [`Error::BadString`] unless it is NUL-terminated UTF-8.
pub(crate) fn strings<'a>(node: &Node<'a>, property: &'static str) -> Result<Vec<&'a str>, Error> {
    let Some(raw) = node.property(property) else {
        return Ok(Vec::new());
    };
    let bad = || Error::BadString {
        node: owned(node.path()),
        property,
    };
    let body = raw.strip_suffix(&[0]).ok_or_else(bad)?;
    let text = core::str::from_utf8(body).map_err(|_| bad())?;
    Ok(try_collect(text.split('\0'), "strings")?)
}

fn compatible(node: &Node<'_>) -> Result<Compatible, Error> {
    let list = strings(node, "compatible")?;
    if list.contains(&"shared-dma-pool") {
        Ok(Compatible::SharedDmaPool)
    } else if list.contains(&"restricted-dma-pool") {
        Ok(Compatible::RestrictedDmaPool)
    } else {
        Ok(match list.first() {
            Some(c) => Compatible::Other(try_string(c, "compatible bytes")?),
            None => Compatible::None,
        })
    }
}

/// Region names for the given children: the node name without its unit address,
/// with `,` (which region maps reserve) turned into `-` (`linux,cma` -> `linux-cma`);
/// the full name (unit address kept) when an earlier child has the same short name.
///
/// # Errors
///
/// [`Error::BadRegionName`] (e.g. longer than 32 bytes), [`Error::DuplicateRegionName`].
pub fn region_names(tree: &DeviceTree<'_>, children: &[usize]) -> Result<Vec<String>, Error> {
    let mut names: Vec<String> = Vec::new();
    try_reserve(&mut names, children.len(), "region names")?;
    for &i in children {
        if tree.node(i).is_none() {
            continue;
        }
        let name = region_name(tree, i, &names)?;
        try_push(&mut names, name, "region names")?;
    }
    Ok(names)
}
