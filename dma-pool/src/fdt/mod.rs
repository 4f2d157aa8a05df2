//! The device-tree `/reserved-memory` binding (feature `fdt`): regions, pools and
//! devices from a flattened device tree.
//!
//! This module owns reading a DTB the way Linux's `of_reserved_mem` does, but with
//! an error naming the node and value for everything it refuses:
//!
//! - [`DeviceTree`]: the blob read in one bounded, validating pass (our own reader: no
//!   recursion, every offset and length checked, a typed error with the byte offset
//!   for anything malformed) into nodes with paths, phandles and labels;
//! - [`reserved::parse`]: every `/reserved-memory` child (`reg` with any
//!   `#address-cells`/`#size-cells` of 1 or 2 cells, or `size` + `alignment` +
//!   `alloc-ranges`; `no-map`, `reusable`, `compatible`, `linux,cma-default`,
//!   `linux,dma-default`);
//! - the binding rules ([`Role`]): exactly one of `reg`/`size`, `alignment` and
//!   `alloc-ranges` only with `size`, `no-map` excludes `reusable`, a reusable
//!   `shared-dma-pool` is a CMA area and any other a coherent pool, one default of
//!   each kind;
//! - placement of dynamic regions inside `/memory`, within `alloc-ranges` in order,
//!   avoiding fixed regions and `/memreserve/`;
//! - device nodes' `memory-region` (+ `memory-region-names`) and their bus's
//!   `dma-ranges` ([`Binding`]);
//! - with [`Options::tolerant`], Linux's way with a node it cannot use: the node is
//!   skipped ([`Skipped`], with the rule and what Linux does) and the rest stays
//!   usable; `alignment` next to `reg` is ignored with a [`Note`];
//! - all of it as a [`Layout`], and [`build`] making the cma area set, the pools and
//!   the devices in one call.
//!
//! It must never touch the memory it describes, and never panic on any blob.
//!
//! ```
//! use contig_dma_pool::cma::Registry;
//! use contig_dma_pool::fdt::{self, BuildConfig, Options};
//! use contig_dma_pool::{Attrs, DmaAddr, Mapper};
//! use contig_dma_sim::SimMemory;
//!
//! let blob = include_bytes!("../../tests/fixtures/dt/dk2.dtb");
//! let layout = fdt::Layout::from_dtb(blob, &Options::new()).unwrap();
//! // Simulated memory for every region, so buffers can be zeroed and read back.
//! let sims: Vec<SimMemory> = layout.regions.iter().map(|r| SimMemory::new(r.range).unwrap()).collect();
//! let mapper = |r: &fdt::Region| -> &dyn Mapper {
//!     let i = layout.regions.iter().position(|x| x == r).unwrap();
//!     &sims[i]
//! };
//! let registry = Registry::with_builtins().unwrap();
//! let config = BuildConfig {
//!     registry: &registry,
//!     ram: &contig_dma_pool::NoMapping,
//!     mapper: &mapper,
//!     reclaim: &|_| None,
//!     backend: &|_| None,
//!     page: 4096,
//! };
//! let mut memory = None;
//! let board: fdt::Board = layout.build(&config, &mut memory).unwrap();
//!
//! // The M4's first memory-region, RETRAM, is its pool; it sees it at bus address 0.
//! let m4 = board.device("/ahb/m4@10000000").unwrap();
//! let buf = board.devices.alloc_coherent(Some(m4), 256, Attrs::NONE).unwrap();
//! assert_eq!(buf.dma, DmaAddr::new(0));
//! assert_eq!(buf.phys.as_u64(), 0x3800_0000);
//! board.devices.free_coherent(Some(m4), &buf).unwrap();
//! ```
#![forbid(unsafe_code)]

mod bindings;
mod blob;
mod build;
mod cells;
mod error;
mod layout;
mod placement;
pub mod reserved;
mod rules;
mod tree;

pub use bindings::{Binding, BoundRegion, SkippedRegion};
pub use blob::MAX_DEPTH;
pub use build::{Board, BuildConfig, Memory};
pub use error::{DefaultKind, Error};
pub use layout::{Layout, Note, Options, Region, Skipped};
pub use placement::memory_banks;
pub use reserved::{Compatible, Reserved};
pub use rules::{Role, Spec};
pub use tree::{DeviceTree, Node};

use lock_api::RawMutex;

/// Reads `blob` and builds its CMA areas, pools and devices in one call (see
/// [`Layout::from_dtb`] and [`Layout::build`]).
///
/// # Errors
///
/// The errors of both.
pub fn build<'m, R: RawMutex>(
    blob: &[u8],
    options: &Options,
    config: &BuildConfig<'_, 'm>,
    memory: &'m mut Option<Memory<'m, R>>,
) -> Result<(Layout, Board<'m, R>), Error> {
    let layout = Layout::from_dtb(blob, options)?;
    let board = layout.build(config, memory)?;
    Ok((layout, board))
}
