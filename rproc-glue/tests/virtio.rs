//! The virtio transport over a vdev on simulated memory: the device's fields are the
//! vdev entry in the installed table, queues must be the vrings the table describes,
//! notifies kick the vrings' notify ids.
#![cfg(feature = "virtio")]

mod common;

use std::cell::RefCell;

use common::board::{self, MCURAM, MCURAM_LEN, Ops, SRAM, SimLoader, Sims, TABLE_DA};
use common::{Seg, image};
use contig_rproc_glue::dma_pool::cma::PhysAddr;
use contig_rproc_glue::dma_pool::{DeviceId, Devices};
use contig_rproc_glue::rsc::{RscTableBuilder, VdevSpec, VringSpec};
use contig_rproc_glue::virtio::{SharedMemory, TransportError, VdevTransport};
use contig_rproc_glue::{MemEntry, MemKind, Rproc, RprocConfig, State};
use virtio_drivers::Error as DriverError;
use virtio_drivers::transport::{DeviceStatus, DeviceType, Transport};

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
    image(false, &segs, Some((TABLE_DA, &b.build().unwrap())))
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

// --- virtio-drivers' own VirtQueues over the transport, on simulated memory ----------

mod unchanged_driver {
    use std::ptr::NonNull;
    use std::sync::{Mutex, OnceLock};

    use contig_rproc_glue::dma_pool::cma::{DefaultLock, PhysAddr, PhysRange};
    use contig_rproc_glue::dma_pool::virtio::{PoolHal, VirtioPlatform};
    use contig_rproc_glue::dma_pool::{DeviceId, Devices, Mapper};
    use contig_rproc_glue::virtio::VdevTransport;
    use virtio_drivers::queue::VirtQueue;
    use virtio_drivers::transport::{DeviceStatus, Transport};
    use virtio_drivers::{BufferDirection, Hal, PhysAddr as VirtioAddr};

    use super::{Shared, booted};
    use crate::common::board::{self, Sims};

    static SIMS: OnceLock<&'static Sims> = OnceLock::new();
    static DEVICES: OnceLock<&'static Devices<'static>> = OnceLock::new();
    static VDEV: OnceLock<DeviceId> = OnceLock::new();
    /// Vrings offered to the next ring allocations: (pa, pages, taken).
    static RINGS: Mutex<Vec<(u64, usize, bool)>> = Mutex::new(Vec::new());

    /// The vdev's pool chain through `PoolHal`, bouncing every buffer, as a platform
    /// whose remote only sees its own memory does.
    struct Vdev;

    // SAFETY: `virt_to_phys` never claims host memory is physical (None: bounce);
    // there is no MMIO in this test.
    unsafe impl VirtioPlatform for Vdev {
        type Lock = DefaultLock;
        const BOUNCE: bool = true;

        fn devices() -> &'static Devices<'static, DefaultLock> {
            DEVICES.get().unwrap()
        }

        fn device() -> DeviceId {
            *VDEV.get().unwrap()
        }

        fn virt_to_phys(_ptr: NonNull<u8>, _len: usize) -> Option<PhysAddr> {
            None
        }

        unsafe fn mmio_phys_to_virt(_paddr: VirtioAddr, _size: usize) -> NonNull<u8> {
            unreachable!("no MMIO here")
        }
    }

    /// Offered vrings for the queues, `PoolHal<Vdev>` for everything else.
    struct RingHal;

    // SAFETY: an offered vring is simulated memory the processor allocated for this
    // queue, mapped by its simulator, zeroed here and handed out once per offer;
    // the rest is PoolHal's under its own contract.
    unsafe impl Hal for RingHal {
        fn dma_alloc(pages: usize, direction: BufferDirection) -> (VirtioAddr, NonNull<u8>) {
            let offered = RINGS
                .lock()
                .unwrap()
                .iter_mut()
                .find(|r| r.1 == pages && !r.2)
                .map(|r| {
                    r.2 = true;
                    r.0
                });
            if let Some(pa) = offered {
                let range = PhysRange::new(PhysAddr::new(pa), pages * 4096).unwrap();
                let sim = SIMS.get().unwrap().holding(range.base());
                sim.write(range.base(), &vec![0; range.size()]).unwrap();
                return (pa, sim.cpu_addr(range).unwrap().as_non_null());
            }
            PoolHal::<Vdev>::dma_alloc(pages, direction)
        }

        unsafe fn dma_dealloc(paddr: VirtioAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
            if let Some(r) = RINGS.lock().unwrap().iter_mut().find(|r| r.0 == paddr) {
                r.2 = false;
                return 0;
            }
            // SAFETY: forwarded: PoolHal's own allocation.
            unsafe { PoolHal::<Vdev>::dma_dealloc(paddr, vaddr, pages) }
        }

        unsafe fn mmio_phys_to_virt(paddr: VirtioAddr, size: usize) -> NonNull<u8> {
            // SAFETY: forwarded under the caller's guarantee.
            unsafe { PoolHal::<Vdev>::mmio_phys_to_virt(paddr, size) }
        }

        unsafe fn share(buffer: NonNull<[u8]>, direction: BufferDirection) -> VirtioAddr {
            // SAFETY: forwarded under the caller's guarantee.
            unsafe { PoolHal::<Vdev>::share(buffer, direction) }
        }

        unsafe fn unshare(paddr: VirtioAddr, buffer: NonNull<[u8]>, direction: BufferDirection) {
            // SAFETY: forwarded under the caller's guarantee.
            unsafe { PoolHal::<Vdev>::unshare(paddr, buffer, direction) }
        }
    }

    fn rd<const N: usize>(s: &Sims, pa: u64) -> [u8; N] {
        s.read(pa, N).try_into().unwrap()
    }
    fn u16_at(s: &Sims, pa: u64) -> u16 {
        u16::from_le_bytes(rd(s, pa))
    }
    fn wr(s: &Sims, pa: u64, b: &[u8]) {
        s.holding(PhysAddr::new(pa))
            .write(PhysAddr::new(pa), b)
            .unwrap();
    }

    /// The remote's side of one split ring of `num` 2 at `pa` (legacy layout, page
    /// aligned): takes the next available head, returns (head, first descriptor's
    /// address and length).
    fn take(s: &Sims, pa: u64, last: u16) -> Option<(u16, u64, u32)> {
        let avail = pa + 32;
        if u16_at(s, avail + 2) == last {
            return None;
        }
        let head = u16_at(s, avail + 4 + 2 * u64::from(last % 2));
        let desc = pa + 16 * u64::from(head);
        let addr = u64::from_le_bytes(rd(s, desc));
        let len = u32::from_le_bytes(rd(s, desc + 8));
        Some((head, addr, len))
    }

    fn give(s: &Sims, pa: u64, idx: u16, head: u16, len: u32) {
        let used = pa + 4096;
        let at = used + 4 + 8 * u64::from(idx % 2);
        wr(s, at, &u32::from(head).to_le_bytes());
        wr(s, at + 4, &len.to_le_bytes());
        wr(s, used + 2, &(idx + 1).to_le_bytes());
    }

    #[test]
    fn virtio_drivers_queues_run_on_the_vrings_of_the_table() {
        let s: &'static Sims = Box::leak(Box::new(board::sims()));
        let devs: &'static (Devices<'static>, DeviceId) = Box::leak(Box::new(board::devices(s)));
        SIMS.set(s).ok().unwrap();
        DEVICES.set(&devs.0).ok().unwrap();
        let rproc = booted(devs, s);
        VDEV.set(rproc.vdevs()[0].device).unwrap();
        let kicks = std::cell::RefCell::new(Vec::new());
        let mut t =
            VdevTransport::new(&rproc, 0, Shared(s), |id| kicks.borrow_mut().push(id)).unwrap();
        *RINGS.lock().unwrap() = (0..2)
            .map(|q| {
                let r = t.ring(q).unwrap();
                (r.at.pa.as_u64(), r.at.len.div_ceil(4096), false)
            })
            .collect();

        t.begin_init(virtio_drivers::device::common::Feature::empty());
        let mut rx = VirtQueue::<RingHal, 2>::new(&mut t, 0, false, false).unwrap();
        let mut tx = VirtQueue::<RingHal, 2>::new(&mut t, 1, false, false).unwrap();
        t.finish_init();
        assert_eq!(t.mismatch(), None);
        assert!(t.get_status().contains(DeviceStatus::DRIVER_OK));

        // The driver posts a receive buffer and transmits a message.
        let mut answer = [0u8; 64];
        let msg = b"hello, remote";
        // SAFETY: `answer` and `msg` outlive the requests: both are popped below.
        let rx_token = unsafe { rx.add(&[], &mut [&mut answer[..]]) }.unwrap();
        // SAFETY: as above.
        let tx_token = unsafe { tx.add(&[&msg[..]], &mut []) }.unwrap();
        t.notify(0);
        t.notify(1);
        assert_eq!(kicks.borrow().as_slice(), [0, 1]);

        // The remote, at the addresses the table holds: echo reversed into receiveq.
        let ring = |q: usize| rproc.vdevs()[0].rings[q].at.pa.as_u64();
        let (thead, taddr, tlen) = take(s, ring(1), 0).expect("a transmitted buffer");
        let (rhead, raddr, rlen) = take(s, ring(0), 0).expect("a receive buffer");
        assert_eq!(tlen as usize, msg.len());
        assert!(rlen >= tlen);
        let mut echo = s.read(taddr, tlen as usize);
        echo.reverse();
        wr(s, raddr, &echo);
        give(s, ring(0), 0, rhead, tlen);
        give(s, ring(1), 0, thead, 0);

        assert!(rx.can_pop() && tx.can_pop());
        // SAFETY: the same buffers as given to `add`.
        let sent = unsafe { tx.pop_used(tx_token, &[&msg[..]], &mut []) };
        assert_eq!(sent, Ok(0));
        // SAFETY: as above.
        let n = unsafe { rx.pop_used(rx_token, &[], &mut [&mut answer[..]]) }.unwrap();
        assert_eq!(&answer[..n as usize], b"etomer ,olleh");
        drop((rx, tx));
        assert!(
            RINGS.lock().unwrap().iter().all(|r| !r.2),
            "rings given back"
        );
    }
}
