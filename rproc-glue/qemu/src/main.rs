//! A small kernel for QEMU's `virt` machine (RISC-V, OpenSBI) that hands out DMA
//! memory with the contig crates and drives real virtio devices with it.
//!
//! Boot (`entry.rs`) -> memory picture from the device tree and early placement of the
//! DMA regions (`memory.rs`) -> pools and device registry in statics (`dma.rs`) -> heap
//! sealed (`heap.rs`) -> the IRQ-safe lock under a real timer interrupt (`irq.rs`,
//! `trap.rs`) -> virtio-blk on its own pool (`blk.rs`) -> virtio-rng on the default
//! pool and CMA area (`rng.rs`) -> both harts on one pool at once (`smp.rs`) -> hart 1 as
//! a remote processor booted from its firmware ELF by `contig_rproc_glue`, driven
//! through virtio-drivers' `VirtQueue`s over the vdev transport (`remote.rs`) -> exit
//! through `sifive_test` (`exit.rs`). Every check
//! prints `[PASS]` or `[FAIL]` on the serial console (`console.rs`); any failure, panic
//! or unexpected trap ends QEMU with a non-zero status.
#![no_std]
#![no_main]

extern crate alloc;

mod blk;
mod check;
mod console;
mod dma;
mod entry;
mod exit;
mod heap;
mod irq;
mod memory;
mod mmio;
mod pattern;
mod remote;
mod rng;
mod sbi;
mod smp;
mod trap;

use contig_cma::{PhysAddr, PhysRange};
use contig_dma_pool::fdt::{DeviceTree, Layout, Options, Role};

use crate::exit::Failure;

/// Largest device tree the kernel accepts.
const MAX_DTB: usize = 1 << 20;

/// The device tree blob OpenSBI passed at `addr`.
fn device_tree(addr: usize) -> &'static [u8] {
    let header = core::ptr::with_exposed_provenance::<[u8; 8]>(addr);
    // SAFETY: OpenSBI passes the physical address of a flattened device tree in a1,
    // 8-byte aligned, in RAM; with the MMU off it is readable there. Its 8-byte header
    // (magic, total size) is read first.
    let header = unsafe { header.read() };
    let magic = u32::from_be_bytes([header[0], header[1], header[2], header[3]]);
    let size = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
    if magic != 0xd00d_feed || !(8..=MAX_DTB).contains(&size) {
        println!("[FAIL] no device tree at {addr:#x} (magic {magic:#x}, size {size})");
        exit::fail(Failure::Check);
    }
    // SAFETY: the header says the blob is `size` bytes long; it stays in place for the
    // whole run because the early memory reserves it before anything is placed.
    unsafe { core::slice::from_raw_parts(core::ptr::with_exposed_provenance(addr), size) }
}

/// Entered from `entry.rs` on the boot hart.
extern "C" fn kmain(hart: usize, dtb: usize) -> ! {
    println!();
    println!("contig QEMU kernel on hart {hart}, device tree at {dtb:#x}");
    trap::init();

    // --- The memory picture and early placement ------------------------------------
    let blob = device_tree(dtb);
    let dtb_range =
        PhysRange::new(PhysAddr::new(dtb as u64), blob.len()).expect("a blob in RAM does not wrap");
    let tree = DeviceTree::parse(blob).expect("the device tree QEMU generated parses");
    let layout =
        Layout::from_tree(&tree, &Options::new()).expect("its /memory and /reserved-memory read");
    let picture = memory::Picture::new(&layout, dtb_range);
    println!("memory picture from the device tree:");
    picture.print(&layout);
    let firmware: alloc::vec::Vec<_> = layout
        .regions
        .iter()
        .filter(|r| {
            r.role == Role::Reservation && picture.memory.iter().any(|b| b.overlaps(&r.range))
        })
        .collect();
    check!(
        !firmware.is_empty(),
        "OpenSBI's own /reserved-memory is in the tree ({} region(s) in /memory)",
        firmware.len()
    );
    let naive = memory::without_reserved_memory(&picture, &memory::BLK_POOL);
    let hit = naive.and_then(|n| firmware.iter().find(|r| r.range.overlaps(&n)));
    check!(
        hit.is_some(),
        "ignoring /reserved-memory, {} would land at {}, over {}: placement must respect it",
        memory::BLK_POOL.name,
        naive.unwrap_or(PhysRange::EMPTY),
        hit.map_or("nothing", |r| r.path.as_str())
    );
    let mut early = match picture.early_memory() {
        Ok(early) => early,
        Err(e) => {
            check!(false, "early memory from the picture: {e}");
            exit::fail(Failure::Check)
        }
    };
    let placed = match memory::place(&mut early) {
        Ok(placed) => placed,
        Err(e) => {
            check!(false, "early placement of the DMA regions: {e}");
            exit::fail(Failure::Check)
        }
    };
    println!("DMA regions placed early (size + alignment, no fixed address):");
    memory::check_placement(&picture, &placed);

    // --- Devices, pools, registry -----------------------------------------------------
    let slots = mmio::probe(&tree);
    for (kind, node) in &slots.other {
        println!("  {node}: {kind:?} (not driven)");
    }
    let names = dma::Names {
        blk: slots.blk.as_ref().map(|f| f.node.as_str()),
        rng: slots.rng.as_ref().map(|f| f.node.as_str()),
    };
    if let Err(e) = dma::setup(&placed, &names) {
        check!(false, "pools and device registry: {e}");
        exit::fail(Failure::Check);
    }
    let used = heap::seal();
    println!(
        "setup used {} KiB of heap; heap sealed: no allocation from here on",
        used >> 10
    );

    // --- The tests ----------------------------------------------------------------------
    irq::check_lock();
    match slots.blk {
        Some(found) => blk::run(found),
        None => {
            check!(false, "a virtio-blk device in the device tree");
        }
    }
    match slots.rng {
        Some(found) => rng::run(found, &placed),
        None => {
            check!(false, "a virtio-rng device in the device tree");
        }
    }

    smp::run(hart);
    remote::run(if hart == 0 { 1 } else { 0 });

    let (passed, failed) = check::counts();
    if failed == 0 {
        println!("all {passed} checks passed");
        exit::pass()
    }
    println!("{failed} of {} checks failed", passed + failed);
    exit::fail(Failure::Check)
}
