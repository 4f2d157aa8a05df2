//! The memory picture: `/memory`, what is taken (OpenSBI's `/reserved-memory`,
//! `/memreserve/`, the kernel image, the device tree itself), and the early placement
//! of the DMA regions inside what is left.
//!
//! The device tree is the one QEMU generated and OpenSBI passed on after adding a
//! `/reserved-memory` node for its own firmware. It describes no DMA pools, so the
//! kernel carves them out of `/memory` through `contig_cma`'s early table, from size
//! and alignment only (no fixed address), as Linux does with `cma=` on the command line.

use alloc::string::String;
use alloc::vec::Vec;
use core::fmt::Write;

use contig_cma::{
    Declaration, Dynamic, EarlyMemory, EarlyTable, Error as CmaError, MemoryMap, PhysAddr,
    PhysRange,
};
use contig_dma_pool::fdt::{Layout, Role};

use crate::{check, println};

/// A range that DMA regions must keep out of, and who holds it.
pub struct Taken {
    /// Who holds it (a node path, "kernel image", ...).
    pub by: String,
    /// The bytes.
    pub range: PhysRange,
    /// Whether it came from the device tree's `/reserved-memory`.
    pub reserved_memory: bool,
}

/// `/memory` and everything already taken in it.
pub struct Picture {
    /// The `/memory` banks, sorted by base.
    pub memory: Vec<PhysRange>,
    /// Everything DMA regions must avoid.
    pub taken: Vec<Taken>,
}

unsafe extern "C" {
    /// First byte of the kernel image (`kernel.ld`).
    static __kernel_start: u8;
    /// First byte past the image, its stacks and heap arena included (`kernel.ld`).
    static __kernel_end: u8;
}

/// The kernel image, from its first byte to the end of its stacks.
pub fn kernel_image() -> PhysRange {
    // With the MMU off, an address in the image is its physical address; only the
    // symbols' addresses are used, never their contents.
    let start = (&raw const __kernel_start).addr() as u64;
    let end = (&raw const __kernel_end).addr() as u64;
    PhysRange::from_bounds(PhysAddr::new(start), PhysAddr::new(end)).unwrap_or(PhysRange::EMPTY)
}

impl Picture {
    /// The picture from a layout read from the device tree at `dtb`.
    pub fn new(layout: &Layout, dtb: PhysRange) -> Self {
        let mut taken = Vec::new();
        for region in &layout.regions {
            for &range in core::iter::once(&region.range).chain(&region.extra) {
                taken.push(Taken {
                    by: region.path.clone(),
                    range,
                    reserved_memory: true,
                });
            }
        }
        for &range in &layout.memreserve {
            taken.push(Taken {
                by: String::from("/memreserve/"),
                range,
                reserved_memory: false,
            });
        }
        for (by, range) in [("kernel image", kernel_image()), ("device tree blob", dtb)] {
            taken.push(Taken {
                by: String::from(by),
                range,
                reserved_memory: false,
            });
        }
        Self {
            memory: layout.memory.clone(),
            taken,
        }
    }

    /// Prints the picture.
    pub fn print(&self, layout: &Layout) {
        for bank in &self.memory {
            println!(
                "  /memory                 {bank} ({} MiB)",
                bank.size() >> 20
            );
        }
        for t in &self.taken {
            let role = layout
                .regions
                .iter()
                .find(|r| r.path == t.by)
                .map(|r| match r.role {
                    Role::Reservation => " no-map reservation",
                    _ => " pool or CMA area",
                })
                .unwrap_or("");
            println!("  taken   {:<16} {}{role}", t.by, t.range);
        }
    }

    /// The early memory manager over this picture: the banks, with everything taken
    /// reserved. A taken range inside `/memory` that another one overlaps is an error.
    pub fn early_memory(&self) -> Result<MemoryMap<16>, String> {
        let mut mem = MemoryMap::new();
        for &bank in &self.memory {
            if !mem.add_memory(bank) {
                return Err(alloc::format!("/memory bank {bank} not accepted"));
            }
        }
        for t in &self.taken {
            let in_memory = self.memory.iter().any(|b| b.overlaps(&t.range));
            if in_memory && !mem.reserve(t.range) {
                return Err(alloc::format!(
                    "{} {} cannot be reserved (outside /memory or overlapping another)",
                    t.by,
                    t.range
                ));
            }
        }
        Ok(mem)
    }
}

/// One DMA region the kernel wants, placed from size and alignment only.
#[derive(Clone, Copy)]
pub struct Want {
    /// Region name.
    pub name: &'static str,
    /// Bytes.
    pub size: usize,
    /// Base alignment.
    pub align: usize,
    /// What it is for (printed).
    pub role: &'static str,
}

/// The default CMA area.
pub const CMA: Want = Want {
    name: "cma",
    size: 8 << 20,
    align: 2 << 20,
    role: "default CMA area (linux,cma-default)",
};
/// The virtio-blk device's own coherent pool.
pub const BLK_POOL: Want = Want {
    name: "blk-pool",
    size: 256 << 10,
    align: 64 << 10,
    role: "virtio-blk's coherent pool",
};
/// The global default coherent pool.
pub const DEFAULT_POOL: Want = Want {
    name: "dma-default",
    size: 128 << 10,
    align: 64 << 10,
    role: "default coherent pool (linux,dma-default)",
};
/// Everything placed at boot, in order.
pub const WANTED: [Want; 3] = [CMA, BLK_POOL, DEFAULT_POOL];

/// The remote processor's memory (hart 1 plays it, `remote.rs`): fixed, because its
/// firmware is linked at a device address of its own, which with no MMU is this
/// physical address (`firmware/firmware.ld`). Declared before anything is placed.
pub const REMOTE_BASE: u64 = 0x8400_0000;
/// Bytes of it: firmware image, data carveout, vring pool, vdev buffers.
pub const REMOTE_SIZE: usize = 1 << 20;
/// Its region name.
pub const REMOTE_NAME: &str = "remote";

/// Where each of [`WANTED`] landed, in the same order.
pub struct Placed {
    /// The early table holding the placed regions.
    pub table: EarlyTable<4>,
    /// The ranges, in [`WANTED`] order.
    pub ranges: [PhysRange; 3],
    /// The remote processor's fixed region.
    pub remote: PhysRange,
}

impl Placed {
    /// The range of the wanted region.
    pub fn range(&self, want: &Want) -> PhysRange {
        WANTED
            .iter()
            .position(|w| w.name == want.name)
            .and_then(|i| self.ranges.get(i).copied())
            .unwrap_or(PhysRange::EMPTY)
    }
}

/// Declares every wanted region in the early table, placed by `mem`.
pub fn place(mem: &mut dyn EarlyMemory) -> Result<Placed, CmaError> {
    let mut table = EarlyTable::new();
    let remote = Declaration::new(REMOTE_NAME, REMOTE_SIZE).granule(4096);
    let remote = table
        .declare_fixed(&remote, PhysAddr::new(REMOTE_BASE), None, mem)?
        .range();
    let mut ranges = [PhysRange::EMPTY; 3];
    for (want, slot) in WANTED.iter().zip(&mut ranges) {
        let decl = Declaration::new(want.name, want.size).granule(4096);
        let spec = table.declare_dynamic(&decl, &Dynamic::new().aligned(want.align), mem)?;
        *slot = spec.range();
    }
    Ok(Placed {
        table,
        ranges,
        remote,
    })
}

/// Prints where the regions landed and checks each against the picture: inside
/// `/memory`, clear of everything taken, of each other, aligned as asked.
pub fn check_placement(picture: &Picture, placed: &Placed) {
    for (want, range) in WANTED.iter().zip(&placed.ranges) {
        println!(
            "  placed  {:<16} {range} size {:#x} align {:#x}: {}",
            want.name, want.size, want.align, want.role
        );
    }
    println!(
        "  fixed   {REMOTE_NAME:<16} {} size {REMOTE_SIZE:#x}: the remote processor's memory (the second hart)",
        placed.remote
    );
    let remote = &placed.remote;
    let clear = !picture.taken.iter().any(|t| t.range.overlaps(remote))
        && !placed.ranges.iter().any(|r| r.overlaps(remote));
    check!(
        clear && picture.memory.iter().any(|b| b.contains_range(remote)),
        "{REMOTE_NAME} {remote} lies inside /memory at the firmware's link address, clear of \
         every reservation and of the placed regions"
    );
    for (i, (want, range)) in WANTED.iter().zip(&placed.ranges).enumerate() {
        let bank = picture.memory.iter().find(|b| b.contains_range(range));
        let mut clash = String::new();
        for t in picture.taken.iter().filter(|t| t.range.overlaps(range)) {
            let _ = write!(clash, " overlaps {} {}", t.by, t.range);
        }
        for (other, o) in WANTED.iter().zip(&placed.ranges).skip(i + 1) {
            if o.overlaps(range) {
                let _ = write!(clash, " overlaps {} {o}", other.name);
            }
        }
        check!(
            bank.is_some()
                && clash.is_empty()
                && range.size() == want.size
                && range.base().is_aligned(want.align),
            "{} {range} lies inside /memory, {:#x}-aligned, clear of every reservation, \
             the kernel image and the device tree{clash}",
            want.name,
            want.align,
        );
    }
}

/// Where `want` would land if the device tree's `/reserved-memory` were ignored (only
/// the kernel image, the blob and `/memreserve/` avoided): shows that respecting
/// OpenSBI's reservation changes the placement.
pub fn without_reserved_memory(picture: &Picture, want: &Want) -> Option<PhysRange> {
    let mut mem: MemoryMap<16> = MemoryMap::new();
    for &bank in &picture.memory {
        mem.add_memory(bank);
    }
    for t in picture.taken.iter().filter(|t| !t.reserved_memory) {
        mem.reserve(t.range);
    }
    picture
        .memory
        .iter()
        .find_map(|&bank| mem.reserve_within(want.size, want.align, bank))
}
