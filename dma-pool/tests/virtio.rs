//! `PoolHal` under a real `virtio_drivers::queue::VirtQueue`, built through a small test
//! transport on simulated memory: rings come from the virtio device's (inherited) pool,
//! page-aligned and zeroed, and go back on drop; shared buffers bounce through the
//! pool when the device cannot reach them, and go direct when it can.
// Test addresses are small constants, so narrowing casts are exact.
#![allow(clippy::cast_possible_truncation)]

use std::ptr::NonNull;
use std::sync::OnceLock;

use contig_dma_pool::cma::{DefaultLock, PhysAddr, PhysRange};
use contig_dma_pool::virtio::{PoolHal, VirtioPlatform};
use contig_dma_pool::{BusMap, CoherentPool, Device, DeviceId, Devices, DmaAddr, PoolOptions};
use contig_dma_sim::SimMemory;
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::{DeviceStatus, DeviceType, InterruptStatus, Transport};
use virtio_drivers::{BufferDirection, Hal, PAGE_SIZE};
use zerocopy::{FromBytes, Immutable, IntoBytes};

/// The remote processor's memory: its pool (first 64K) and driver RAM it can reach.
const MEM: u64 = 0x4000_0000;
const POOL: usize = 0x1_0000;
/// The device sees memory at bus address `phys - OFFSET`.
const OFFSET: u64 = 0x4000_0000;

struct World {
    mem: SimMemory,
    devs: OnceLock<Devices<'static>>,
    vdev: OnceLock<DeviceId>,
}

static WORLD: OnceLock<World> = OnceLock::new();

fn world() -> &'static World {
    let w = WORLD.get_or_init(|| World {
        mem: SimMemory::new(PhysRange::new(PhysAddr::new(MEM), 2 * POOL).unwrap()).unwrap(),
        devs: OnceLock::new(),
        vdev: OnceLock::new(),
    });
    w.devs.get_or_init(|| {
        let devs = Devices::new(&w.mem).unwrap();
        let rproc = devs.add(Device::new("rproc").unwrap()).unwrap();
        let at = PhysAddr::new(MEM);
        let pool = CoherentPool::new(
            "vdev0buffer",
            at,
            DmaAddr::new(0),
            POOL,
            &w.mem,
            PoolOptions::new(),
        );
        devs.declare_coherent(rproc, pool.unwrap()).unwrap();
        let vdev = Device::new("vdev0")
            .unwrap()
            .with_parent(rproc)
            .with_inherited_pool(true)
            .with_bus(BusMap::Offset(OFFSET))
            .with_dma_mask(0x1_ffff);
        let vdev = devs.add(vdev).unwrap();
        w.vdev.set(vdev).unwrap();
        devs
    });
    w
}

struct Platform;

// SAFETY: `virt_to_phys` answers from the simulator's own bookkeeping; MMIO is never
// used by these tests (the test transport is not PCI).
unsafe impl VirtioPlatform for Platform {
    type Lock = DefaultLock;

    fn devices() -> &'static Devices<'static> {
        world().devs.get().unwrap()
    }

    fn device() -> DeviceId {
        *world().vdev.get().unwrap()
    }

    fn virt_to_phys(ptr: NonNull<u8>, len: usize) -> Option<PhysAddr> {
        world().mem.phys_of(ptr.as_ptr(), len)
    }

    unsafe fn mmio_phys_to_virt(_paddr: u64, _size: usize) -> NonNull<u8> {
        unreachable!("no MMIO in these tests")
    }
}

type TestHal = PoolHal<Platform>;

/// A transport with one queue that records where the driver put its rings.
#[derive(Default)]
struct TestTransport {
    status: DeviceStatus,
    rings: Option<(u64, u64, u64)>,
}

impl Transport for TestTransport {
    fn device_type(&self) -> DeviceType {
        DeviceType::Console
    }
    fn read_device_features(&mut self) -> u64 {
        0
    }
    fn write_driver_features(&mut self, _features: u64) {}
    fn max_queue_size(&mut self, _queue: u16) -> u32 {
        256
    }
    fn notify(&mut self, _queue: u16) {}
    fn get_status(&self) -> DeviceStatus {
        self.status
    }
    fn set_status(&mut self, status: DeviceStatus) {
        self.status = status;
    }
    fn set_guest_page_size(&mut self, _size: u32) {}
    fn requires_legacy_layout(&self) -> bool {
        false
    }
    fn queue_set(&mut self, _queue: u16, _size: u32, desc: u64, driver: u64, device: u64) {
        self.rings = Some((desc, driver, device));
    }
    fn queue_unset(&mut self, _queue: u16) {
        self.rings = None;
    }
    fn queue_used(&mut self, _queue: u16) -> bool {
        self.rings.is_some()
    }
    fn ack_interrupt(&mut self) -> InterruptStatus {
        InterruptStatus::empty()
    }
    fn read_config_generation(&self) -> u32 {
        0
    }
    fn read_config_space<T: FromBytes + IntoBytes>(
        &self,
        _offset: usize,
    ) -> virtio_drivers::Result<T> {
        Err(virtio_drivers::Error::ConfigSpaceMissing)
    }
    fn write_config_space<T: IntoBytes + Immutable>(
        &mut self,
        _offset: usize,
        _value: T,
    ) -> virtio_drivers::Result<()> {
        Err(virtio_drivers::Error::ConfigSpaceMissing)
    }
}

const SIZE: usize = 16;

fn pool_live() -> usize {
    let p = Platform::devices()
        .pool(Platform::device())
        .unwrap()
        .unwrap();
    p.live()
}

/// Bus address (inside the pool, which the device sees at 0) to physical.
fn phys(bus: u64) -> PhysAddr {
    assert!(bus < POOL as u64, "{bus:#x} is not in the pool");
    PhysAddr::new(MEM + bus)
}

/// One test: the steps share the pool, and counts must not see each other's buffers.
#[test]
fn pool_hal() {
    virtqueue_rings_come_from_the_pool();
    share_bounces_what_the_device_cannot_reach();
}

fn virtqueue_rings_come_from_the_pool() {
    let w = world();
    assert_eq!(pool_live(), 0);
    let mut transport = TestTransport::default();
    let queue = VirtQueue::<TestHal, SIZE>::new(&mut transport, 0, false, false).unwrap();
    let (desc, driver, device) = transport.rings.unwrap();
    // Two regions (descriptors + driver area, device area), both from the pool.
    assert_eq!(pool_live(), 2);
    assert_eq!(desc % PAGE_SIZE as u64, 0);
    assert_eq!(device % PAGE_SIZE as u64, 0);
    assert_eq!(driver, desc + 16 * SIZE as u64);
    // Zeroed (fresh simulated memory is poison): the device area and driver area in
    // full, and each descriptor but for the `next` link the queue wrote.
    assert_eq!(w.mem.all(phys(device), 6 + 8 * SIZE, 0), Some(true));
    assert_eq!(w.mem.all(phys(driver), 2 * (3 + SIZE), 0), Some(true));
    for i in 0..SIZE as u64 {
        assert_eq!(w.mem.all(phys(desc + 16 * i), 14, 0), Some(true));
    }
    drop(queue);
    assert_eq!(pool_live(), 0);
    assert_eq!(Platform::devices().live(Platform::device()).unwrap(), 0);
}

fn share_bounces_what_the_device_cannot_reach() {
    let w = world();
    // Host memory the simulator does not know: bounced through the pool.
    let mut data = *b"request!";
    let buf = NonNull::from(&mut data[..]);
    // SAFETY: `data` lives across both calls and nothing else touches it meanwhile.
    let bus = unsafe { TestHal::share(buf, BufferDirection::Both) };
    let mut seen = [0u8; 8];
    w.mem.read(phys(bus), &mut seen).unwrap();
    assert_eq!(&seen, b"request!");
    w.mem.write(phys(bus), b"answer!!").unwrap(); // the device replies in place
    // SAFETY: as above; `bus` is what `share` returned for this buffer.
    unsafe { TestHal::unshare(bus, buf, BufferDirection::Both) };
    assert_eq!(&data, b"answer!!");
    assert_eq!(pool_live(), 0); // the bounce buffer went back

    // Simulated RAM the device reaches under its mask: shared directly, no copy.
    let ram = PhysRange::new(PhysAddr::new(MEM + POOL as u64), 64).unwrap();
    let cpu = contig_dma_pool::Mapper::cpu_addr(&w.mem, ram).unwrap();
    let slice = NonNull::slice_from_raw_parts(cpu.as_non_null(), 64);
    let before = Platform::devices().live(Platform::device()).unwrap();
    // SAFETY: the simulator backs those 64 bytes and no one else uses them.
    let bus = unsafe { TestHal::share(slice, BufferDirection::DriverToDevice) };
    assert_eq!(bus, MEM + POOL as u64 - OFFSET);
    assert_eq!(
        Platform::devices().live(Platform::device()).unwrap(),
        before
    );
    // SAFETY: as above.
    unsafe { TestHal::unshare(bus, slice, BufferDirection::DriverToDevice) };
}
