//! The device tree as a list of nodes with paths, properties, phandles and labels.
//!
//! This module owns [`DeviceTree`] and [`Node`]: the nodes `blob.rs` read (depth-first,
//! each given its full path here, with its parent and raw properties), plus the lookups
//! the binding needs (path, label from `/__symbols__`, phandle) and cell-size helpers.
//! It must never interpret the reserved-memory binding (that is `reserved.rs` and
//! `rules.rs`).
#![forbid(unsafe_code)]

use crate::cma::fallible::{try_format, try_push, try_reserve, try_string};
use alloc::string::String;
use alloc::vec::Vec;

use super::{Error, blob, cells};

/// One node: name, full path, parent and raw property values (big-endian bytes).
#[derive(Clone, Debug)]
pub struct Node<'a> {
    name: &'a str,
    path: String,
    parent: Option<usize>,
    properties: Vec<(&'a str, &'a [u8])>,
}

impl<'a> Node<'a> {
    /// A free-standing node for unit tests of the decoders.
    #[cfg(test)]
    pub(crate) fn for_test(path: &str, properties: Vec<(&'a str, &'a [u8])>) -> Self {
        Self {
            name: "test",
            path: String::from(path),
            parent: None,
            properties,
        }
    }

    /// The name with its unit address (`mcuram2@10000000`; the root's is empty).
    #[must_use]
    pub const fn name(&self) -> &'a str {
        self.name
    }

    /// The name without the unit address (`mcuram2`).
    #[must_use]
    pub fn base_name(&self) -> &'a str {
        self.name
            .split_once('@')
            .map_or(self.name, |(base, _)| base)
    }

    /// The full path (`/reserved-memory/mcuram2@10000000`).
    #[must_use]
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The parent's index in [`DeviceTree::nodes`] (`None` for the root).
    #[must_use]
    pub const fn parent(&self) -> Option<usize> {
        self.parent
    }

    /// The raw value of property `name`, if present.
    #[must_use]
    pub fn property(&self, name: &str) -> Option<&'a [u8]> {
        self.properties
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, v)| v)
    }

    /// Whether property `name` is present (boolean properties are empty).
    #[must_use]
    pub fn has(&self, name: &str) -> bool {
        self.property(name).is_some()
    }

    /// Every property as `(name, raw value)`, in blob order.
    pub fn properties(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + '_ {
        self.properties.iter().copied()
    }

    /// The node's phandle (`phandle` or the older `linux,phandle`), if it has one.
    #[must_use]
    pub fn phandle(&self) -> Option<u32> {
        let raw = self
            .property("phandle")
            .or_else(|| self.property("linux,phandle"))?;
        let bytes: [u8; 4] = raw.try_into().ok()?;
        Some(u32::from_be_bytes(bytes))
    }

    /// Whether the node is enabled (`status` absent, `"okay"` or `"ok"`).
    #[must_use]
    pub fn is_available(&self) -> bool {
        match self.property("status") {
            None => true,
            Some(v) => matches!(v, b"okay\0" | b"ok\0" | b"okay" | b"ok"),
        }
    }
}

/// A checked flattened device tree, walked into nodes.
///
/// ```
/// use contig_dma_pool::fdt::DeviceTree;
/// let blob = include_bytes!("../../tests/fixtures/dt/dk2.dtb");
/// let tree = DeviceTree::parse(blob).unwrap();
/// let m4 = tree.resolve("m4_rproc").unwrap(); // a label (blobs built with dtc -@)
/// assert_eq!(tree.node(m4).unwrap().path(), "/ahb/m4@10000000");
/// assert!(DeviceTree::parse(&blob[..100]).is_err()); // truncated: an error, no panic
/// ```
#[derive(Clone, Debug)]
pub struct DeviceTree<'a> {
    nodes: Vec<Node<'a>>,
    memreserve: Vec<(u64, u64)>,
}

impl<'a> DeviceTree<'a> {
    /// Checks `blob` and reads every node.
    ///
    /// # Errors
    ///
    /// [`Error::Blob`] or [`Error::TooDeep`] for a malformed blob.
    pub fn parse(blob: &'a [u8]) -> Result<Self, Error> {
        let read = blob::read(blob)?;
        let mut nodes: Vec<Node<'a>> = Vec::new();
        try_reserve(&mut nodes, read.nodes.len(), "device-tree nodes")?;
        for raw in read.nodes {
            // A parent comes before its children, so its path is known.
            let path = match raw.parent.and_then(|p| nodes.get(p)) {
                None => try_string("/", "node path bytes")?,
                Some(parent) if parent.path == "/" => {
                    try_format(format_args!("/{}", raw.name), "node path bytes")?
                }
                Some(parent) => try_format(
                    format_args!("{}/{}", parent.path, raw.name),
                    "node path bytes",
                )?,
            };
            let node = Node {
                name: raw.name,
                path,
                parent: raw.parent,
                properties: raw.properties,
            };
            try_push(&mut nodes, node, "device-tree nodes")?;
        }
        Ok(Self {
            nodes,
            memreserve: read.memreserve,
        })
    }

    /// Every node, depth-first in blob order; index 0 is the root.
    #[must_use]
    pub fn nodes(&self) -> &[Node<'a>] {
        &self.nodes
    }

    /// The node at `index`.
    #[must_use]
    pub fn node(&self, index: usize) -> Option<&Node<'a>> {
        self.nodes.get(index)
    }

    /// The index of the node at `path` (full path, unit addresses included).
    #[must_use]
    pub fn find(&self, path: &str) -> Option<usize> {
        self.nodes.iter().position(|n| n.path == path)
    }

    /// The index of the node named by `path_or_label`: a full path, or a label
    /// recorded in `/__symbols__` (present when the blob was built with `dtc -@`).
    #[must_use]
    pub fn resolve(&self, path_or_label: &str) -> Option<usize> {
        if path_or_label.starts_with('/') {
            return self.find(path_or_label);
        }
        let symbols = self.find("/__symbols__").and_then(|i| self.nodes.get(i))?;
        let target = symbols.property(path_or_label)?;
        let path = core::str::from_utf8(target).ok()?.trim_end_matches('\0');
        self.find(path)
    }

    /// The labels of the node at `index`, from `/__symbols__`.
    pub fn labels(&self, index: usize) -> impl Iterator<Item = &'a str> + '_ {
        let path = self.nodes.get(index).map(|n| n.path.as_str());
        let symbols = self.find("/__symbols__").and_then(|i| self.nodes.get(i));
        symbols
            .into_iter()
            .flat_map(Node::properties)
            .filter(move |(_, v)| {
                let target = core::str::from_utf8(v).map(|s| s.trim_end_matches('\0'));
                path.is_some() && target.ok() == path
            })
            .map(|(label, _)| label)
    }

    /// The index of the node whose phandle is `phandle`.
    #[must_use]
    pub fn by_phandle(&self, phandle: u32) -> Option<usize> {
        self.nodes.iter().position(|n| n.phandle() == Some(phandle))
    }

    /// The `/memreserve/` entries as `(address, size)`.
    #[must_use]
    pub fn memreserve(&self) -> &[(u64, u64)] {
        &self.memreserve
    }

    /// The `(#address-cells, #size-cells)` that the children of node `index` use
    /// (the DT specification's defaults, 2 and 1, when absent).
    ///
    /// # Errors
    ///
    /// [`Error::BadCells`] for a value other than 1 or 2, or a malformed one.
    pub fn child_cells(&self, index: usize) -> Result<(u32, u32), Error> {
        let Some(node) = self.nodes.get(index) else {
            return Ok((2, 1));
        };
        let address = cells::cell_count(node, "#address-cells", 2)?;
        let size = cells::cell_count(node, "#size-cells", 1)?;
        Ok((address, size))
    }

    /// The path of node `index` (empty if there is none), for error messages.
    pub(crate) fn path_of(&self, index: usize) -> &str {
        self.nodes.get(index).map_or("", |n| n.path.as_str())
    }
}
