//! What can be wrong with a device tree, with the node and the value that are wrong.
//!
//! This module owns the device-tree [`Error`] and its messages. Every variant that
//! comes from a node names it by its full path (e.g. `/reserved-memory/linux,cma`), so
//! a log line says what to fix. It must never decide policy; the modules that find a
//! problem choose the variant.
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::string::String;
use core::fmt;

use crate::cma::{self, PhysRange};

/// Which default a region claims.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DefaultKind {
    /// `linux,cma-default`: the default CMA area.
    Cma,
    /// `linux,dma-default`: the default coherent pool.
    Dma,
}

impl DefaultKind {
    /// The property that claims this default.
    #[must_use]
    pub const fn property(self) -> &'static str {
        match self {
            Self::Cma => "linux,cma-default",
            Self::Dma => "linux,dma-default",
        }
    }
}

/// Why a device tree was refused. Nothing is built from a refused tree.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Reading the tree or building from it could not reserve memory for its
    /// bookkeeping (the heap is exhausted). Nothing was built.
    OutOfMemory {
        /// What was being reserved.
        what: &'static str,
        /// How many of them.
        count: usize,
    },
    /// The blob is not a well-formed flattened device tree.
    Blob {
        /// What is wrong.
        problem: &'static str,
        /// Byte offset in the blob where it was found.
        offset: usize,
    },
    /// The blob nests nodes deeper than this reader walks.
    TooDeep {
        /// The node at which the limit was passed.
        node: String,
        /// The limit.
        max: usize,
    },
    /// A node the binding needs is absent (e.g. `/memory` when a region is dynamic).
    MissingNode {
        /// What was looked for.
        node: &'static str,
        /// Which node needed it.
        needed_by: String,
    },
    /// A `#address-cells` / `#size-cells` value this reader does not take (only 1
    /// and 2 cells are supported).
    BadCells {
        /// The node holding the property.
        node: String,
        /// `#address-cells` or `#size-cells`.
        property: &'static str,
        /// The value found.
        value: u32,
    },
    /// `/reserved-memory`'s cell sizes differ from the root's (its children's values
    /// are physical addresses, so the binding requires them equal).
    CellsMismatch {
        /// `/reserved-memory`.
        node: String,
        /// `#address-cells` or `#size-cells`.
        property: &'static str,
        /// Its value there.
        value: u32,
        /// The root's value.
        root: u32,
    },
    /// A property whose length is not a whole number of entries (or is empty where a
    /// value is needed).
    BadLength {
        /// The node.
        node: String,
        /// The property.
        property: &'static str,
        /// Its length in bytes.
        len: usize,
        /// The size of one entry in bytes.
        entry: usize,
    },
    /// A string-list property that is not NUL-terminated UTF-8.
    BadString {
        /// The node.
        node: String,
        /// The property.
        property: &'static str,
    },
    /// A size or alignment that does not fit this machine's `usize`, or an address
    /// range that runs past 2^64.
    TooLarge {
        /// The node.
        node: String,
        /// The property.
        property: &'static str,
        /// The address (0 for a bare size).
        base: u64,
        /// The size.
        size: u64,
    },
    /// A reserved-memory child with both `reg` and `size`.
    RegAndSize {
        /// The node.
        node: String,
        /// Its first `reg` range.
        reg: PhysRange,
        /// Its `size`.
        size: usize,
    },
    /// A reserved-memory child with neither `reg` nor `size`.
    NoRegNoSize {
        /// The node.
        node: String,
    },
    /// `alignment` or `alloc-ranges` on a region fixed by `reg`.
    OnlyWithSize {
        /// The node.
        node: String,
        /// `alignment` or `alloc-ranges`.
        property: &'static str,
    },
    /// `no-map` together with `reusable`.
    NoMapReusable {
        /// The node.
        node: String,
    },
    /// A region of zero bytes.
    ZeroSize {
        /// The node.
        node: String,
    },
    /// An `alignment` that is not a power of two.
    AlignNotPowerOfTwo {
        /// The node.
        node: String,
        /// The value found.
        align: u64,
    },
    /// A region whose flags or properties do not suit its kind (e.g.
    /// `linux,cma-default` on a region that is not reusable, or `no-map` on a
    /// `restricted-dma-pool`).
    BadForKind {
        /// The node.
        node: String,
        /// The property that is wrong (or missing) for this kind.
        property: &'static str,
        /// What the region is (`shared-dma-pool`, `restricted-dma-pool`, ...).
        kind: &'static str,
    },
    /// A CMA area whose base or size is not a multiple of the CMA alignment.
    CmaMisaligned {
        /// The node.
        node: String,
        /// The region.
        range: PhysRange,
        /// The alignment both must be multiples of.
        align: usize,
    },
    /// A second region claims a default.
    SecondDefault {
        /// Which default.
        kind: DefaultKind,
        /// The second region.
        node: String,
        /// The region that claimed it first.
        first: String,
    },
    /// Two reservations overlap.
    Overlap {
        /// The later node.
        node: String,
        /// Its range.
        range: PhysRange,
        /// What it overlaps: another node, or `/memreserve/`.
        other: String,
        /// That range.
        other_range: PhysRange,
    },
    /// An `alloc-ranges` entry with no byte inside a `/memory` bank.
    AllocRangeOutsideMemory {
        /// The node.
        node: String,
        /// The entry.
        range: PhysRange,
    },
    /// No free aligned run of the region's size inside `/memory` and its
    /// `alloc-ranges`.
    NoRoom {
        /// The node.
        node: String,
        /// Bytes asked for.
        size: usize,
        /// Alignment asked for.
        align: usize,
    },
    /// A region name that is not a valid region name once derived from the node name.
    BadRegionName {
        /// The node.
        node: String,
        /// Why.
        problem: cma::NameProblem,
    },
    /// Two reserved-memory children that would get the same region name.
    DuplicateRegionName {
        /// The later node.
        node: String,
        /// The region name.
        name: String,
    },
    /// A `memory-region` phandle that no reserved-memory child carries.
    UnknownPhandle {
        /// The device node.
        node: String,
        /// Index in its `memory-region` list.
        index: usize,
        /// The phandle.
        phandle: u32,
    },
    /// `memory-region-names` does not name every `memory-region` entry.
    NamesMismatch {
        /// The device node.
        node: String,
        /// Entries in `memory-region`.
        regions: usize,
        /// Entries in `memory-region-names`.
        names: usize,
    },
    /// A `dma-ranges` this reader cannot turn into bus windows (overlapping windows,
    /// or translation above the nearest bus, which it does not compose).
    BadDmaRanges {
        /// The bus node holding `dma-ranges`.
        node: String,
        /// What is wrong.
        problem: &'static str,
    },
    /// A device-tree node whose name is not a valid device name.
    BadDeviceName {
        /// The node.
        node: String,
        /// Why.
        problem: cma::NameProblem,
    },
    /// Two coherent-pool regions would be a single device's pool, or one pool would
    /// be two devices' pools.
    PoolTaken {
        /// The region.
        region: String,
        /// The device node that took it first.
        first: String,
        /// The device node that also wants it.
        second: String,
    },
    /// An [`Options`](super::Options) value that is not a power of two.
    BadOption {
        /// Which option.
        name: &'static str,
        /// Its value.
        value: usize,
    },
    /// A device's pool region that its bus does not reach.
    PoolNotOnBus {
        /// The device node.
        node: String,
        /// The region.
        region: PhysRange,
    },
    /// Building a region, pool or device from a valid tree failed.
    Build {
        /// The node the failing object came from.
        node: String,
        /// The error of the layer below (boxed: it is large and this is setup).
        error: Box<crate::Error>,
    },
}

impl Error {
    /// `Some(out of memory)` if this error lost a node path to an exhausted heap (see
    /// [`owned`]). In tolerant mode a broken node is skipped with its error kept as data,
    /// so such an error must not pass for a broken node: running out of memory is not one.
    pub(crate) fn lost_to_oom(&self) -> Option<Self> {
        let names: [&str; 2] = match self {
            Self::TooDeep { node, .. }
            | Self::BadCells { node, .. }
            | Self::CellsMismatch { node, .. }
            | Self::BadLength { node, .. }
            | Self::BadString { node, .. }
            | Self::TooLarge { node, .. }
            | Self::RegAndSize { node, .. }
            | Self::NoRegNoSize { node, .. }
            | Self::OnlyWithSize { node, .. }
            | Self::NoMapReusable { node, .. }
            | Self::ZeroSize { node, .. }
            | Self::AlignNotPowerOfTwo { node, .. }
            | Self::BadForKind { node, .. }
            | Self::CmaMisaligned { node, .. }
            | Self::AllocRangeOutsideMemory { node, .. }
            | Self::NoRoom { node, .. }
            | Self::BadRegionName { node, .. }
            | Self::DuplicateRegionName { node, .. }
            | Self::UnknownPhandle { node, .. }
            | Self::NamesMismatch { node, .. }
            | Self::BadDmaRanges { node, .. }
            | Self::BadDeviceName { node, .. }
            | Self::PoolNotOnBus { node, .. }
            | Self::Build { node, .. } => [node, "/"],
            Self::MissingNode { needed_by, .. } => [needed_by, "/"],
            Self::SecondDefault { node, first, .. } => [node, first],
            Self::Overlap { node, other, .. } => [node, other],
            _ => return None,
        };
        // Every node path (and `/memreserve/`) is non-empty; `owned` leaves it empty
        // only when the heap could not hold the copy.
        names
            .iter()
            .any(|n| n.is_empty())
            .then_some(Self::OutOfMemory {
                what: "node path bytes",
                count: 1,
            })
    }

    /// [`Error::Build`] for `node`, or [`Error::OutOfMemory`] when the layer below ran
    /// out of memory or the heap cannot hold the boxed error.
    pub(crate) fn build(node: &str, error: crate::Error) -> Self {
        if let crate::Error::OutOfMemory { what, count } = error {
            return Self::OutOfMemory { what, count };
        }
        let node = match cma::fallible::try_string(node, "node path bytes") {
            Ok(node) => node,
            Err(e) => return e.into(),
        };
        match cma::fallible::try_box(error, "errors") {
            Ok(error) => Self::Build { node, error },
            Err(e) => e.into(),
        }
    }
}

/// A copy of `text` for an error: the error must be returned even when the heap is
/// exhausted, so then the copy is empty (the message loses the node's name, nothing else).
pub(crate) fn owned(text: &str) -> String {
    cma::fallible::try_string(text, "node path bytes").unwrap_or_default()
}

impl From<cma::fallible::OutOfMemory> for Error {
    fn from(e: cma::fallible::OutOfMemory) -> Self {
        Self::OutOfMemory {
            what: e.what,
            count: e.count,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfMemory { what, count } => {
                write!(f, "out of memory reserving room for {count} {what}")
            }
            Self::Blob { problem, offset } => {
                write!(f, "not a valid device tree: {problem} at byte {offset:#x}")
            }
            Self::TooDeep { node, max } => write!(f, "{node}: nested deeper than {max} levels"),
            Self::MissingNode { node, needed_by } => write!(f, "{needed_by}: needs {node}"),
            Self::BadCells {
                node,
                property,
                value,
            } => write!(f, "{node}: {property} = {value} (only 1 or 2 supported)"),
            Self::CellsMismatch {
                node,
                property,
                value,
                root,
            } => write!(f, "{node}: {property} = {value}, the root has {root}"),
            Self::BadLength {
                node,
                property,
                len,
                entry,
            } => write!(
                f,
                "{node}: {property} is {len} bytes, not a non-zero multiple of {entry}"
            ),
            Self::BadString { node, property } => {
                write!(
                    f,
                    "{node}: {property} is not a NUL-terminated UTF-8 string list"
                )
            }
            Self::TooLarge {
                node,
                property,
                base,
                size,
            } => write!(f, "{node}: {property} <{base:#x} {size:#x}> is too large"),
            Self::RegAndSize { node, reg, size } => {
                write!(f, "{node}: has both reg {reg} and size {size:#x}")
            }
            Self::NoRegNoSize { node } => write!(f, "{node}: has neither reg nor size"),
            Self::OnlyWithSize { node, property } => {
                write!(
                    f,
                    "{node}: {property} is only allowed with size, not with reg"
                )
            }
            Self::NoMapReusable { node } => write!(f, "{node}: both no-map and reusable"),
            Self::ZeroSize { node } => write!(f, "{node}: zero size"),
            Self::AlignNotPowerOfTwo { node, align } => {
                write!(f, "{node}: alignment {align:#x} is not a power of two")
            }
            Self::BadForKind {
                node,
                property,
                kind,
            } => write!(f, "{node}: {property} does not suit a {kind} region"),
            Self::CmaMisaligned { node, range, align } => {
                write!(f, "{node}: CMA area {range} is not {align:#x}-aligned")
            }
            Self::SecondDefault { kind, node, first } => write!(
                f,
                "{node}: second {}, {first} has it already",
                kind.property()
            ),
            Self::Overlap {
                node,
                range,
                other,
                other_range,
            } => write!(f, "{node}: {range} overlaps {other} {other_range}"),
            Self::AllocRangeOutsideMemory { node, range } => {
                write!(f, "{node}: alloc-ranges entry {range} is outside /memory")
            }
            Self::NoRoom { node, size, align } => write!(
                f,
                "{node}: no free {size:#x} bytes aligned to {align:#x} in /memory within its alloc-ranges"
            ),
            Self::BadRegionName { node, problem } => write!(f, "{node}: region name {problem}"),
            Self::DuplicateRegionName { node, name } => {
                write!(f, "{node}: region name {name} is taken")
            }
            Self::UnknownPhandle {
                node,
                index,
                phandle,
            } => write!(
                f,
                "{node}: memory-region[{index}] = <{phandle:#x}> is no reserved-memory node"
            ),
            Self::NamesMismatch {
                node,
                regions,
                names,
            } => write!(
                f,
                "{node}: {regions} memory-region entries but {names} memory-region-names"
            ),
            Self::BadDmaRanges { node, problem } => write!(f, "{node}: dma-ranges {problem}"),
            Self::BadDeviceName { node, problem } => write!(f, "{node}: device name {problem}"),
            Self::PoolTaken {
                region,
                first,
                second,
            } => write!(f, "{second}: pool {region} is {first}'s already"),
            Self::BadOption { name, value } => {
                write!(f, "option {name} = {value:#x} is not a power of two")
            }
            Self::PoolNotOnBus { node, region } => {
                write!(f, "{node}: its pool {region} is outside its dma-ranges")
            }
            Self::Build { node, error } => write!(f, "{node}: {error}"),
        }
    }
}
