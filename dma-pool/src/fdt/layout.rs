//! The reserved-memory layout of a board: every region placed, every device bound.
//!
//! This module owns [`Options`], [`Region`] and [`Layout`], the result of reading a
//! device tree: `/memory` banks, `/memreserve/` entries, every `/reserved-memory`
//! region with its final range, role, flags and default, and every device's regions
//! and bus view. It is plain data (a planner prints it, `build.rs` builds from it);
//! it must never allocate memory for DMA nor build pools.
#![forbid(unsafe_code)]

use crate::cma::fallible::{try_collect, try_push, try_reserve, try_string};
use alloc::string::String;
use alloc::vec::Vec;

use crate::cma::{Flags, PhysAddr, PhysRange};

use super::bindings::{self, Binding};
use super::error::owned;
use super::reserved::{self, Compatible};
use super::rules::{self, Role, Spec};
use super::{DefaultKind, DeviceTree, Error, placement};

/// Platform facts the device tree does not carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    pub(crate) page: usize,
    pub(crate) cma_align: usize,
    pub(crate) tolerant: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self::new()
    }
}

impl Options {
    /// 4 KiB pages and a 2 MiB CMA alignment (Linux arm64 with 4 KiB pages: one
    /// pageblock).
    #[must_use]
    pub const fn new() -> Self {
        Self {
            page: 4096,
            cma_align: 0x20_0000,
            tolerant: false,
        }
    }

    /// Reads the tree the way Linux boots with it: a `/reserved-memory` node that
    /// breaks a binding rule, cannot be decoded or placed, is skipped (recorded in
    /// [`Layout::skipped`] with the rule and what Linux does) and the rest stays
    /// usable; `size`, `alignment` and `alloc-ranges` next to `reg` are ignored, as
    /// Linux ignores them, with a note in [`Layout::notes`]. A blob whose framing is
    /// malformed is still refused. Default: strict (every broken rule is an error).
    #[must_use]
    pub const fn tolerant(self) -> Self {
        Self {
            tolerant: true,
            ..self
        }
    }

    /// Whether [`tolerant`](Self::tolerant) is set.
    #[must_use]
    pub const fn is_tolerant(&self) -> bool {
        self.tolerant
    }

    /// The page: every dynamic region is aligned to it, pools hand out whole pages.
    #[must_use]
    pub const fn page(self, page: usize) -> Self {
        Self { page, ..self }
    }

    /// What CMA areas' base and size must be multiples of (Linux
    /// `CMA_MIN_ALIGNMENT_BYTES`).
    #[must_use]
    pub const fn cma_align(self, cma_align: usize) -> Self {
        Self { cma_align, ..self }
    }

    /// The page size.
    #[must_use]
    pub const fn page_size(&self) -> usize {
        self.page
    }
}

/// A `/reserved-memory` node left out of a tolerant layout, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// The node's full path.
    pub path: String,
    /// Its phandle, if any (devices that name it record it in
    /// [`Binding::skipped`]).
    pub phandle: Option<u32>,
    /// The rule it breaks, or why it could not be read or placed.
    pub error: Error,
}

impl Skipped {
    pub(crate) fn new(path: String, phandle: Option<u32>, error: Error) -> Self {
        Self {
            path,
            phandle,
            error,
        }
    }

    /// What Linux does with such a node, in words.
    #[must_use]
    pub fn linux(&self) -> &'static str {
        match self.error {
            Error::NoRegNoSize { .. } | Error::ZeroSize { .. } => {
                "Linux reserves nothing for it and skips the node"
            }
            Error::AlignNotPowerOfTwo { .. }
            | Error::NoRoom { .. }
            | Error::AllocRangeOutsideMemory { .. }
            | Error::MissingNode { .. } => "Linux cannot allocate it and skips the node",
            Error::NoMapReusable { .. }
            | Error::BadForKind { .. }
            | Error::CmaMisaligned { .. } => {
                "Linux keeps the memory reserved but its pool setup refuses the node, so no \
                 device can use it"
            }
            Error::SecondDefault { .. } => {
                "Linux lets the later node replace the earlier default; here it is skipped"
            }
            Error::Overlap { .. } => "Linux reports the overlap; here the later node is skipped",
            _ => "Linux cannot read the node and skips it",
        }
    }
}

/// A property a tolerant layout ignored, as Linux ignores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Note {
    /// The node's full path.
    pub node: String,
    /// The property ignored (`size`, `alignment` or `alloc-ranges`, next to `reg`).
    pub property: &'static str,
}

impl Note {
    pub(crate) fn ignored(node: String, property: &'static str) -> Self {
        Self { node, property }
    }
}

impl core::fmt::Display for Note {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "{}: {} next to reg is ignored (Linux reads it only for a region placed from size)",
            self.node, self.property
        )
    }
}

/// One reserved-memory region, placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// The region name, unique on the board (node name without unit address, `,`
    /// turned into `-`; the unit address is kept when an earlier node has the same
    /// short name).
    pub name: String,
    /// The node name without unit address (`,` turned into `-`): the name Linux
    /// remoteproc drivers give the carveout (`vdev0vring0`), the same for two
    /// processors' regions of the same name.
    pub base_name: String,
    /// The node's full path.
    pub path: String,
    /// The node's labels.
    pub labels: Vec<String>,
    /// The node's phandle.
    pub phandle: Option<u32>,
    /// Where it is.
    pub range: PhysRange,
    /// Further `reg` entries (reserved too, but not part of the region).
    pub extra: Vec<PhysRange>,
    /// What it is for.
    pub role: Role,
    /// `reusable` / `no-map`.
    pub flags: Flags,
    /// The default it is, if any.
    pub default: Option<DefaultKind>,
    /// Whether it was placed from `size` (rather than fixed by `reg`).
    pub dynamic: bool,
    /// Its `compatible` as understood.
    pub compatible: Compatible,
}

/// A board's reserved memory as its device tree describes it.
///
/// ```
/// use contig_dma_pool::fdt::{DefaultKind, Layout, Options, Role};
/// let blob = include_bytes!("../../tests/fixtures/dt/am62x.dtb");
/// let layout = Layout::from_dtb(blob, &Options::new()).unwrap();
/// let cma = layout.default_region(DefaultKind::Cma).unwrap();
/// assert_eq!((cma.name.as_str(), cma.role, cma.dynamic), ("linux-cma", Role::CmaArea, true));
/// assert_eq!(cma.range.size(), 128 << 20);
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Layout {
    /// `/memory` banks, sorted by base.
    pub memory: Vec<PhysRange>,
    /// `/memreserve/` entries.
    pub memreserve: Vec<PhysRange>,
    /// Every enabled `/reserved-memory` child, in blob order.
    pub regions: Vec<Region>,
    /// Every device node with a `memory-region` list, in blob order.
    pub devices: Vec<Binding>,
    /// Nodes skipped by a tolerant read (empty when strict).
    pub skipped: Vec<Skipped>,
    /// Properties ignored by a tolerant read (empty when strict).
    pub notes: Vec<Note>,
}

impl Layout {
    /// Reads, checks and places everything in the blob.
    ///
    /// # Errors
    ///
    /// Any [`Error`]; each names the node and the value at fault.
    pub fn from_dtb(blob: &[u8], options: &Options) -> Result<Self, Error> {
        Self::from_tree(&DeviceTree::parse(blob)?, options)
    }

    /// Checks and places everything in a parsed tree.
    ///
    /// # Errors
    ///
    /// In order: [`Error::BadOption`]; decoding errors of `/memory`, `/memreserve/`
    /// and `/reserved-memory` children; the binding rules; placement; device
    /// bindings.
    pub fn from_tree(tree: &DeviceTree<'_>, options: &Options) -> Result<Self, Error> {
        check_options(options)?;
        let memory = placement::memory_banks(tree)?;
        let memreserve = memreserve(tree)?;
        let mut skipped = Vec::new();
        let mut notes = Vec::new();
        let (judged, ranges) = if options.tolerant {
            let mut children = Vec::new();
            for (index, child) in reserved::parse_each(tree)? {
                match child {
                    Ok(child) => try_push(&mut children, child, "reserved-memory nodes")?,
                    // Running out of memory is not a broken node to skip.
                    Err(error @ Error::OutOfMemory { .. }) => return Err(error),
                    Err(error) => {
                        if let Some(oom) = error.lost_to_oom() {
                            return Err(oom);
                        }
                        let node = tree.node(index);
                        let skip = Skipped::new(
                            try_string(tree.path_of(index), "node path bytes")?,
                            node.and_then(super::Node::phandle),
                            error,
                        );
                        try_push(&mut skipped, skip, "skipped nodes")?;
                    }
                }
            }
            let judged = rules::judge_tolerant(children, options, &mut skipped, &mut notes)?;
            let placed = placement::place_tolerant(&judged, &memory, &memreserve)?;
            let mut kept = Vec::new();
            let mut ranges = Vec::new();
            try_reserve(&mut kept, judged.len(), "reserved-memory nodes")?;
            try_reserve(&mut ranges, judged.len(), "reserved-memory ranges")?;
            for (j, range) in judged.into_iter().zip(placed) {
                match range {
                    Ok(range) => {
                        try_push(&mut kept, j, "reserved-memory nodes")?;
                        try_push(&mut ranges, range, "reserved-memory ranges")?;
                    }
                    Err(error @ Error::OutOfMemory { .. }) => return Err(error),
                    Err(error) => {
                        if let Some(oom) = error.lost_to_oom() {
                            return Err(oom);
                        }
                        let skip = Skipped::new(j.reserved.path, j.reserved.phandle, error);
                        try_push(&mut skipped, skip, "skipped nodes")?;
                    }
                }
            }
            (kept, ranges)
        } else {
            let judged = rules::judge(reserved::parse(tree)?, options)?;
            let ranges = placement::place(&judged, &memory, &memreserve)?;
            (judged, ranges)
        };
        let mut regions: Vec<Region> = Vec::new();
        try_reserve(&mut regions, judged.len(), "regions")?;
        for (j, range) in judged.into_iter().zip(ranges) {
            {
                let r = j.reserved;
                let mut flags = Flags::NONE;
                if r.reusable {
                    flags = flags | Flags::REUSABLE;
                }
                if r.no_map {
                    flags = flags | Flags::NO_MAP;
                }
                let (dynamic, extra) = match j.spec {
                    Spec::Fixed(reg) => (false, try_collect(reg.into_iter().skip(1), "ranges")?),
                    Spec::Dynamic { .. } => (true, Vec::new()),
                };
                let base_name = match tree.node(r.node) {
                    Some(n) => reserved::dashed(n.base_name())?,
                    None => try_string(&r.name, "names")?,
                };
                let region = Region {
                    name: r.name,
                    base_name,
                    path: r.path,
                    labels: r.labels,
                    phandle: r.phandle,
                    range,
                    extra,
                    role: j.role,
                    flags,
                    default: j.default,
                    dynamic,
                    compatible: r.compatible,
                };
                try_push(&mut regions, region, "regions")?;
            }
        }
        let container = reserved::container(tree)?;
        let region_of = |phandle: u32| regions.iter().position(|r| r.phandle == Some(phandle));
        let skipped_of = |phandle: u32| {
            skipped
                .iter()
                .find(|s| s.phandle == Some(phandle))
                .map(|s| s.path.as_str())
        };
        let devices = bindings::bind(tree, container, &region_of, &skipped_of)?;
        Ok(Self {
            memory,
            memreserve,
            regions,
            devices,
            skipped,
            notes,
        })
    }

    /// The region called `name`.
    #[must_use]
    pub fn region(&self, name: &str) -> Option<&Region> {
        self.regions.iter().find(|r| r.name == name)
    }

    /// The region that is the given default, if any.
    #[must_use]
    pub fn default_region(&self, kind: DefaultKind) -> Option<&Region> {
        self.regions.iter().find(|r| r.default == Some(kind))
    }

    /// The device bound at `path_or_label` (a full node path, a label or the device
    /// name).
    #[must_use]
    pub fn device(&self, path_or_label: &str) -> Option<&Binding> {
        self.devices.iter().find(|d| {
            d.path == path_or_label
                || d.name == path_or_label
                || d.labels.iter().any(|l| l == path_or_label)
        })
    }
}

fn check_options(options: &Options) -> Result<(), Error> {
    for (name, value) in [("page", options.page), ("cma_align", options.cma_align)] {
        if !value.is_power_of_two() {
            return Err(Error::BadOption { name, value });
        }
    }
    Ok(())
}

fn memreserve(tree: &DeviceTree<'_>) -> Result<Vec<PhysRange>, Error> {
    let mut out = Vec::new();
    try_reserve(&mut out, tree.memreserve().len(), "memory reservations")?;
    for &(base, size) in tree.memreserve() {
        let range = usize::try_from(size)
            .ok()
            .and_then(|s| PhysRange::new(PhysAddr::new(base), s).ok())
            .ok_or_else(|| Error::TooLarge {
                node: owned("/memreserve/"),
                property: "entry",
                base,
                size,
            })?;
        try_push(&mut out, range, "memory reservations")?;
    }
    Ok(out)
}
