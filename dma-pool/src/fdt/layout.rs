//! The reserved-memory layout of a board: every region placed, every device bound.
//!
//! This module owns [`Options`], [`Region`] and [`Layout`], the result of reading a
//! device tree: `/memory` banks, `/memreserve/` entries, every `/reserved-memory`
//! region with its final range, role, flags and default, and every device's regions
//! and bus view. It is plain data (a planner prints it, `build.rs` builds from it);
//! it must never allocate memory for DMA nor build pools.
#![forbid(unsafe_code)]

use alloc::string::String;
use alloc::vec::Vec;

use crate::cma::{Flags, PhysAddr, PhysRange};

use super::bindings::{self, Binding};
use super::reserved::{self, Compatible};
use super::rules::{self, Role, Spec};
use super::{DefaultKind, DeviceTree, Error, placement};

/// Platform facts the device tree does not carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options {
    pub(crate) page: usize,
    pub(crate) cma_align: usize,
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
        }
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

/// One reserved-memory region, placed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Region {
    /// The region name (node name without unit address, `,` turned into `-`).
    pub name: String,
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
        let judged = rules::judge(reserved::parse(tree)?, options)?;
        let ranges = placement::place(&judged, &memory, &memreserve)?;
        let regions: Vec<Region> = judged
            .into_iter()
            .zip(ranges)
            .map(|(j, range)| {
                let r = j.reserved;
                let mut flags = Flags::NONE;
                if r.reusable {
                    flags = flags | Flags::REUSABLE;
                }
                if r.no_map {
                    flags = flags | Flags::NO_MAP;
                }
                let (dynamic, extra) = match j.spec {
                    Spec::Fixed(reg) => (false, reg.into_iter().skip(1).collect()),
                    Spec::Dynamic { .. } => (true, Vec::new()),
                };
                Region {
                    name: r.name,
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
                }
            })
            .collect();
        let container = reserved::container(tree)?;
        let region_of = |phandle: u32| regions.iter().position(|r| r.phandle == Some(phandle));
        let devices = bindings::bind(tree, container, &region_of)?;
        Ok(Self {
            memory,
            memreserve,
            regions,
            devices,
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
    tree.memreserve()
        .iter()
        .map(|&(base, size)| {
            usize::try_from(size)
                .ok()
                .and_then(|s| PhysRange::new(PhysAddr::new(base), s).ok())
                .ok_or_else(|| Error::TooLarge {
                    node: String::from("/memreserve/"),
                    property: "entry",
                    base,
                    size,
                })
        })
        .collect()
}
