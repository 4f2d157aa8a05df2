//! The virtio transport over a vdev on simulated memory: the device's fields are the
//! vdev entry in the installed table, queues must be the vrings the table describes,
//! notifies kick the vrings' notify ids.
#![cfg(feature = "virtio")]

mod common;

use std::cell::RefCell;

use common::board::{self, MCURAM, MCURAM_LEN, Ops, SRAM, SimLoader, Sims};
use common::{Seg, image};
use contig_rproc_glue::dma_pool::cma::PhysAddr;
use contig_rproc_glue::dma_pool::{DeviceId, Devices};
use contig_rproc_glue::rsc::{RscTableBuilder, VdevSpec, VringSpec};
use contig_rproc_glue::virtio::{SharedMemory, TransportError, VdevTransport};
use contig_rproc_glue::{MemEntry, MemKind, Rproc, RprocConfig, State};
use virtio_drivers::Error as DriverError;
use virtio_drivers::transport::{DeviceStatus, DeviceType, Transport};

const TABLE_DA: u64 = SRAM + 0x800;
/// virtio-console config: cols 80, rows 25, max_nr_ports 1, emerg_wr 0.
const CONFIG: [u8; 12] = [80, 0, 25, 0, 1, 0, 0, 0, 0, 0, 0, 0];

/// A console vdev (id 3, features 0b101) with two vrings anywhere, `num` 2, page
/// aligned: what virtio-drivers' legacy queues of size 2 look like.
fn firmware() -> Vec<u8> {
    let mut b = RscTableBuilder::new();
    let rings = [1, 2].map(|notifyid| VringSpec {
        da: None,
        align: 4096,
        num: 2,
        notifyid,
    });
    b.add_vdev(&VdevSpec {
        id: 3,
        notifyid: 0,
        dfeatures: 0b101,
        vrings: &rings,
        config: &CONFIG,
    })
    .unwrap();
    let segs = [Seg {
        paddr: SRAM,
        data: b"code",
        memsz: 0x800,
        ptype: 1,
    }];
    image(false, &segs, Some((TABLE_DA, &b.build())))
}

/// The simulated memories, as the transport reaches them.
struct Shared<'a>(&'a Sims);

impl SharedMemory for Shared<'_> {
    fn read(&self, pa: PhysAddr, dest: &mut [u8]) -> bool {
        self.0.holding(pa).read(pa, dest).is_some()
    }

    fn write(&mut self, pa: PhysAddr, src: &[u8]) -> bool {
        self.0.holding(pa).write(pa, src).is_some()
    }
}

/// The processor with SRAM as its image carveout; rings come from its MCURAM pool.
fn booted<'m>(devs: &(Devices<'m>, DeviceId), s: &'m Sims) -> Rproc<'m, Ops> {
    let (devs, m4) = devs;
    let config = RprocConfig {
        auto_boot: false,
        notify_ids: 8,
    };
    let mut rproc = Rproc::new(devs, *m4, Ops::default(), config).unwrap();
    let sram = MemEntry::region("mcuram2", MemKind::Carveout, PhysAddr::new(SRAM), 0x4_0000)
        .unwrap()
        .with_mapper(&s.sram);
    rproc.register(devs, sram).unwrap();
    rproc
        .boot(devs, &firmware(), &mut SimLoader::new(s))
        .unwrap();
    rproc
}

/// Offset of the vdev entry's body in the table (header 16 + one offset word, then
/// the entry's type word).
const BODY: u64 = TABLE_DA + 16 + 4 + 4;

#[test]
fn the_device_is_the_vdev_entry_in_the_installed_table() {
    let s = board::sims();
    let devs = board::devices(&s);
    let rproc = booted(&devs, &s);
    let kicks = RefCell::new(Vec::new());
    let mut t =
        VdevTransport::new(&rproc, 0, Shared(&s), |id| kicks.borrow_mut().push(id)).unwrap();

    assert_eq!(t.device_type(), DeviceType::Console);
    assert_eq!(t.read_device_features(), 0b101);
    t.write_driver_features(0b100);
    assert_eq!(s.read(BODY + 12, 4), 4u32.to_le_bytes());
    t.set_status(DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER);
    assert_eq!(s.read(BODY + 20, 1), [3]);
    assert_eq!(
        t.get_status(),
        DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER
    );
    // The remote changes its own status byte: the transport reads it live.
    s.holding(PhysAddr::new(BODY))
        .write(PhysAddr::new(BODY + 20), &[0x40])
        .unwrap();
    assert_eq!(t.get_status(), DeviceStatus::DEVICE_NEEDS_RESET);

    assert_eq!(t.max_queue_size(0), 2);
    assert_eq!(t.max_queue_size(1), 2);
    assert_eq!(t.max_queue_size(2), 0);
    assert_eq!(t.read_config_space::<u16>(2), Ok(25));
    assert_eq!(t.read_config_space::<u32>(4), Ok(1));
    assert_eq!(
        t.read_config_space::<u32>(10),
        Err(DriverError::ConfigSpaceTooSmall)
    );
    t.write_config_space::<u16>(0, 132).unwrap();
    assert_eq!(s.read(BODY + 24 + 40, 2), 132u16.to_le_bytes());

    // Notifies kick the notify ids boot wrote back (lowest free: 0 and 1).
    let ids: Vec<u32> = rproc.vdevs()[0].rings.iter().map(|r| r.notifyid).collect();
    assert_eq!(ids, [0, 1]);
    t.notify(1);
    t.notify(0);
    t.notify(7);
    drop(t);
    assert_eq!(kicks.into_inner(), [1, 0]);
}

#[test]
fn queues_must_be_the_vrings_of_the_table() {
    let s = board::sims();
    let devs = board::devices(&s);
    let rproc = booted(&devs, &s);
    let mut t = VdevTransport::new(&rproc, 0, Shared(&s), |_| {}).unwrap();
    assert!(t.requires_legacy_layout());
    let ring = *t.ring(0).unwrap();
    let pa = ring.at.pa.as_u64();
    assert!((MCURAM..MCURAM + MCURAM_LEN as u64).contains(&pa));
    assert_eq!((ring.num, ring.align), (2, 4096));

    // The legacy layout of virtio-drivers' VirtQueue of size 2 on the vring: accepted.
    assert!(!t.queue_used(0));
    t.queue_set(0, 2, pa, pa + 32, pa + 4096);
    assert!(t.queue_used(0));
    assert_eq!(t.mismatch(), None);
    t.queue_unset(0);
    assert!(!t.queue_used(0));

    // Ring 1 set up on ring 0's memory, then with the wrong size: refused, FAILED.
    t.set_status(DeviceStatus::ACKNOWLEDGE | DeviceStatus::DRIVER);
    t.queue_set(1, 2, pa, pa + 32, pa + 4096);
    assert!(!t.queue_used(1));
    let m = t.mismatch().unwrap();
    assert_eq!((m.queue, m.descriptors), (1, pa));
    assert!(t.get_status().contains(DeviceStatus::FAILED));
    // FAILED sticks: the driver's DRIVER_OK cannot hide the refusal from the remote.
    t.finish_init();
    assert!(t.get_status().contains(DeviceStatus::FAILED));
    let pa1 = t.ring(1).unwrap().at.pa.as_u64();
    t.queue_set(1, 4, pa1, pa1 + 64, pa1 + 4096);
    assert!(!t.queue_used(1));
    t.queue_set(2, 2, pa1, pa1 + 32, pa1 + 4096);
    assert!(!t.queue_used(2));
    assert_eq!(t.mismatch().unwrap().queue, 1, "the first refusal is kept");
}

#[test]
fn only_a_running_processor_with_that_vdev_has_a_transport() {
    let s = board::sims();
    let devs = board::devices(&s);
    let (d, _) = &devs;
    let mut rproc = booted(&devs, &s);
    assert_eq!(
        VdevTransport::new(&rproc, 1, Shared(&s), |_| {}).unwrap_err(),
        TransportError::NoVdev(1)
    );
    rproc.shutdown(d, &mut |_| {}).unwrap();
    assert_eq!(
        VdevTransport::new(&rproc, 0, Shared(&s), |_| {}).unwrap_err(),
        TransportError::State(State::Offline)
    );
}
