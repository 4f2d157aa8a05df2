//! Devices bound to reserved regions, and the bus windows they see memory through.
//!
//! This module owns [`Binding`] and [`bind`]: every enabled node outside
//! `/reserved-memory` with a `memory-region` list gets its phandles resolved to
//! regions (named by `memory-region-names` when present), and the `dma-ranges` of its
//! nearest bus turned into a [`BusMap`]. Only one level of translation is supported:
//! a second non-empty `dma-ranges` further up is refused rather than composed
//! wrongly. It must never build devices or pools.
#![forbid(unsafe_code)]

use crate::cma::fallible::{try_push, try_reserve, try_string};
use alloc::string::String;
use alloc::vec::Vec;

use crate::cma::{Name, PhysAddr};
use crate::{BusMap, BusWindow, DmaAddr};

use super::error::owned;
use super::reserved::strings;
use super::{DeviceTree, Error, Node, cells};

/// One entry of a device's `memory-region` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BoundRegion {
    /// Index of the region in [`Layout::regions`](super::Layout::regions).
    pub region: usize,
    /// Its name in `memory-region-names`, if the device gives names.
    pub name: Option<String>,
}

/// A `memory-region` entry whose reserved-memory node was skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SkippedRegion {
    /// Its index in the device's `memory-region` list.
    pub index: usize,
    /// The skipped node's path.
    pub node: String,
}

/// A device node with a `memory-region` list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding {
    /// Index of the node in [`DeviceTree::nodes`].
    pub node: usize,
    /// The node's full path.
    pub path: String,
    /// The device name (the node name with its unit address, `m4@10000000`).
    pub name: String,
    /// Its labels.
    pub labels: Vec<String>,
    /// The regions, in `memory-region` order.
    pub regions: Vec<BoundRegion>,
    /// `memory-region` entries naming a node that was skipped (only when the layout
    /// was read with [`Options::tolerant`](super::Options::tolerant)); they are not
    /// in `regions`.
    pub skipped: Vec<SkippedRegion>,
    /// How its bus addresses map to physical ones.
    pub bus: BusMap,
}

/// Binds every device node; `region_of` maps a phandle to a region index.
///
/// # Errors
///
/// Per device, in blob order: [`Error::BadDeviceName`], [`Error::BadLength`] /
/// [`Error::UnknownPhandle`] (`memory-region`), [`Error::BadString`] /
/// [`Error::NamesMismatch`] (`memory-region-names`), then the `dma-ranges` errors
/// ([`Error::BadCells`], [`Error::BadLength`], [`Error::BadDmaRanges`]).
pub(crate) fn bind<'s>(
    tree: &DeviceTree<'_>,
    reserved_memory: Option<usize>,
    region_of: &dyn Fn(u32) -> Option<usize>,
    skipped_of: &dyn Fn(u32) -> Option<&'s str>,
) -> Result<Vec<Binding>, Error> {
    let mut out = Vec::new();
    for (index, node) in tree.nodes().iter().enumerate() {
        let Some(raw) = node.property("memory-region") else {
            continue;
        };
        if !node.is_available() || (reserved_memory.is_some() && node.parent() == reserved_memory) {
            continue;
        }
        if let Some(problem) = Name::problem(node.name()) {
            return Err(Error::BadDeviceName {
                node: owned(node.path()),
                problem,
            });
        }
        let (regions, skipped) = regions(node, raw, region_of, skipped_of)?;
        let mut labels = Vec::new();
        for label in tree.labels(index) {
            try_push(&mut labels, try_string(label, "label bytes")?, "labels")?;
        }
        let binding = Binding {
            node: index,
            path: try_string(node.path(), "node path bytes")?,
            name: try_string(node.name(), "node name bytes")?,
            labels,
            regions,
            skipped,
            bus: bus(tree, index)?,
        };
        try_push(&mut out, binding, "device bindings")?;
    }
    Ok(out)
}

fn regions<'s>(
    node: &Node<'_>,
    raw: &[u8],
    region_of: &dyn Fn(u32) -> Option<usize>,
    skipped_of: &dyn Fn(u32) -> Option<&'s str>,
) -> Result<(Vec<BoundRegion>, Vec<SkippedRegion>), Error> {
    let phandles = cells::entries(node, "memory-region", raw, [1])?;
    let names = strings(node, "memory-region-names")?;
    if !names.is_empty() && names.len() != phandles.len() {
        return Err(Error::NamesMismatch {
            node: owned(node.path()),
            regions: phandles.len(),
            names: names.len(),
        });
    }
    let mut out = Vec::new();
    try_reserve(&mut out, phandles.len(), "bound regions")?;
    let mut skipped = Vec::new();
    for (index, [phandle]) in phandles.into_iter().enumerate() {
        let phandle = u32::try_from(phandle).unwrap_or(u32::MAX);
        if let Some(path) = skipped_of(phandle) {
            let path = try_string(path, "node path bytes")?;
            try_push(
                &mut skipped,
                SkippedRegion { index, node: path },
                "skipped regions",
            )?;
            continue;
        }
        let region = region_of(phandle).ok_or_else(|| Error::UnknownPhandle {
            node: owned(node.path()),
            index,
            phandle,
        })?;
        let name = match names.get(index) {
            Some(s) => Some(try_string(s, "region name bytes")?),
            None => None,
        };
        try_push(&mut out, BoundRegion { region, name }, "bound regions")?;
    }
    Ok((out, skipped))
}

impl Binding {
    /// The region its first `memory-region` entry names, unless that node was skipped
    /// (the one Linux's `of_reserved_mem_device_init` would make its pool).
    #[must_use]
    pub fn first_region(&self) -> Option<&BoundRegion> {
        if self.skipped.iter().any(|s| s.index == 0) {
            return None;
        }
        self.regions.first()
    }
}

/// The bus view of node `index`: the `dma-ranges` of its nearest ancestor that has a
/// non-empty one; identity when none has.
fn bus(tree: &DeviceTree<'_>, index: usize) -> Result<BusMap, Error> {
    let mut ancestors = core::iter::successors(tree.node(index).and_then(Node::parent), |&i| {
        tree.node(i).and_then(Node::parent)
    });
    let translating = |i: &usize| {
        tree.node(*i)
            .and_then(|n| n.property("dma-ranges"))
            .is_some_and(|r| !r.is_empty())
    };
    let Some(bus) = ancestors.find(translating) else {
        return Ok(BusMap::Identity);
    };
    if let Some(above) = ancestors.find(translating) {
        return Err(Error::BadDmaRanges {
            node: owned(tree.path_of(above)),
            problem: "translates a second time above a bus that translates already",
        });
    }
    windows(tree, bus)
}

fn windows(tree: &DeviceTree<'_>, bus: usize) -> Result<BusMap, Error> {
    let Some(node) = tree.node(bus) else {
        return Ok(BusMap::Identity);
    };
    let raw = node.property("dma-ranges").unwrap_or_default();
    let (child_address, child_size) = tree.child_cells(bus)?;
    let (parent_address, _) = tree.child_cells(node.parent().unwrap_or(0))?;
    let bad = |problem| Error::BadDmaRanges {
        node: owned(node.path()),
        problem,
    };
    let mut list = Vec::new();
    for [child, parent, len] in cells::entries(
        node,
        "dma-ranges",
        raw,
        [child_address, parent_address, child_size],
    )? {
        let window = BusWindow::new(DmaAddr::new(child), PhysAddr::new(parent), len)
            .ok_or_else(|| bad("has a window past 2^64"))?;
        try_push(&mut list, window, "bus windows")?;
    }
    BusMap::windows(list).map_err(|_| bad("has overlapping windows"))
}
