//! The virtio-mmio devices the device tree lists (`compatible = "virtio,mmio"`).
//!
//! QEMU's virt machine has eight slots at 0x1000_1000..0x1000_9000; a slot with no
//! device behind it reads device id 0, which `virtio_drivers` refuses, so it is
//! skipped.

use alloc::string::String;
use alloc::vec::Vec;
use core::ptr::NonNull;

use contig_dma_pool::fdt::DeviceTree;
use virtio_drivers::transport::mmio::{MmioTransport, VirtIOHeader};
use virtio_drivers::transport::{DeviceType, Transport};

/// A virtio device found behind a slot.
pub struct Found {
    /// The node's name (`virtio_mmio@10008000`): the device's name in the registry.
    pub node: String,
    /// The slot's MMIO base.
    pub base: u64,
    /// The transport, ready for a driver.
    pub transport: MmioTransport<'static>,
}

/// Every populated virtio-mmio slot, by device type.
#[derive(Default)]
pub struct Slots {
    /// The block device, if any.
    pub blk: Option<Found>,
    /// The entropy device, if any.
    pub rng: Option<Found>,
    /// Other devices (type, node name): not driven.
    pub other: Vec<(DeviceType, String)>,
}

/// Reads a big-endian `#address-cells = 2`, `#size-cells = 2` `reg` (QEMU virt's `/soc`).
fn reg(raw: &[u8]) -> Option<(u64, u64)> {
    let cell = |i: usize| -> Option<u64> {
        let bytes: [u8; 8] = raw.get(i * 8..i * 8 + 8)?.try_into().ok()?;
        Some(u64::from_be_bytes(bytes))
    };
    Some((cell(0)?, cell(1)?))
}

/// Probes every `virtio,mmio` node of `tree`.
pub fn probe(tree: &DeviceTree<'_>) -> Slots {
    let mut slots = Slots::default();
    for node in tree.nodes() {
        let compatible = node.property("compatible").unwrap_or_default();
        if !compatible.split(|&b| b == 0).any(|c| c == b"virtio,mmio") || !node.is_available() {
            continue;
        }
        let Some((base, size)) = node.property("reg").and_then(reg) else {
            continue;
        };
        let (Ok(size), Some(header)) = (
            usize::try_from(size),
            NonNull::new(core::ptr::with_exposed_provenance_mut::<VirtIOHeader>(
                base as usize,
            )),
        ) else {
            continue;
        };
        // SAFETY: the device tree QEMU generated says a virtio-mmio register block of
        // `size` bytes lives at `base`; with the MMU off it is at that address, aligned,
        // for the whole run, and nothing else in the kernel maps it.
        let Ok(transport) = (unsafe { MmioTransport::new(header, size) }) else {
            continue; // an empty slot (device id 0) or not virtio
        };
        let found = Found {
            node: String::from(node.name()),
            base,
            transport,
        };
        match found.transport.device_type() {
            DeviceType::Block if slots.blk.is_none() => slots.blk = Some(found),
            DeviceType::EntropySource if slots.rng.is_none() => slots.rng = Some(found),
            other => slots.other.push((other, found.node)),
        }
    }
    slots
}
