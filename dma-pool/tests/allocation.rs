//! The owning buffer: dropping frees through its device, ownership moves in and out
//! of the plain buffer, copies are bounds-checked, and nothing is freed twice.

use contig_dma_pool::cma::{PhysAddr, PhysRange};
use contig_dma_pool::{
    Attrs, CoherentAllocation, CoherentPool, Device, Devices, DmaAddr, DmaError, PoolOptions,
    Refusal,
};
use contig_dma_sim::SimMemory;

const POOL: u64 = 0x1000_0000;

fn setup(mem: &SimMemory) -> (Devices<'_>, contig_dma_pool::DeviceId) {
    let devs: Devices<'_> = Devices::new(mem).unwrap();
    let dev = devs.add(Device::new("dev").unwrap()).unwrap();
    let pool = CoherentPool::new(
        "pool",
        PhysAddr::new(POOL),
        DmaAddr::new(POOL),
        0x1_0000,
        mem,
        PoolOptions::new(),
    )
    .unwrap();
    devs.declare_coherent(dev, pool).unwrap();
    (devs, dev)
}

fn sim() -> SimMemory {
    SimMemory::new(PhysRange::new(PhysAddr::new(POOL), 0x1_0000).unwrap()).unwrap()
}

#[test]
fn drop_frees_through_the_device() {
    let mem = sim();
    let (devs, dev) = setup(&mem);
    {
        let a = CoherentAllocation::alloc(&devs, Some(dev), 100, Attrs::NONE).unwrap();
        let b =
            CoherentAllocation::alloc_aligned(&devs, Some(dev), 100, 0x4000, Attrs::NONE).unwrap();
        assert!(b.buffer().phys.is_aligned(0x4000));
        assert_eq!((a.len(), a.device()), (100, Some(dev)));
        assert_eq!(devs.live(dev).unwrap(), 2);
    }
    assert_eq!(devs.live(dev).unwrap(), 0);
    assert_eq!(devs.pool(dev).unwrap().unwrap().live(), 0);
    // The device can go now: nothing of it is live.
    devs.release_coherent(dev).unwrap();
    devs.remove(dev).unwrap();
}

#[test]
fn raw_round_trip_and_explicit_free() {
    let mem = sim();
    let (devs, dev) = setup(&mem);
    let owned = CoherentAllocation::alloc(&devs, Some(dev), 64, Attrs::NONE).unwrap();
    let raw = owned.into_raw();
    assert_eq!(devs.live(dev).unwrap(), 1, "into_raw does not free");
    let owned = CoherentAllocation::from_raw(&devs, Some(dev), raw);
    owned.free().unwrap();
    assert_eq!(devs.live(dev).unwrap(), 0);
    // A stale handle taken back is refused when freed, and dropping it changes nothing.
    let stale = CoherentAllocation::from_raw(&devs, Some(dev), raw);
    assert_eq!(
        stale.free(),
        Err(DmaError::BadFree {
            device: Some(dev),
            cause: Refusal::NotAllocated,
            dma: raw.dma,
            size: 64,
        })
    );
    drop(CoherentAllocation::from_raw(&devs, Some(dev), raw));
    assert_eq!(devs.live(dev).unwrap(), 0);
    // A new buffer at the same address is not freed by the stale one's drop.
    let fresh = CoherentAllocation::alloc(&devs, Some(dev), 64, Attrs::NONE).unwrap();
    assert_eq!(fresh.buffer().phys, raw.phys);
    assert_eq!(devs.live(dev).unwrap(), 1);
}

#[test]
fn copies_are_bounds_checked() {
    let mem = sim();
    let (devs, dev) = setup(&mem);
    let mut buf = CoherentAllocation::alloc(&devs, Some(dev), 16, Attrs::NONE).unwrap();
    buf.write(10, b"abcdef").unwrap();
    let mut out = [0u8; 16];
    buf.read(0, &mut out).unwrap();
    assert_eq!(&out, b"\0\0\0\0\0\0\0\0\0\0abcdef");
    let mut back = [0u8; 6];
    mem.read(buf.buffer().phys.checked_add(10).unwrap(), &mut back)
        .unwrap();
    assert_eq!(&back, b"abcdef", "written through the CPU mapping");
    assert_eq!(
        buf.write(11, b"abcdef"),
        Err(DmaError::OutOfBuffer {
            offset: 11,
            len: 6,
            size: 16
        })
    );
    assert!(buf.read(usize::MAX, &mut out[..2]).is_err());
    buf.read(0, &mut out).unwrap();
    assert_eq!(&out[10..], b"abcdef", "a refused write wrote nothing");
    let mut hidden =
        CoherentAllocation::alloc(&devs, Some(dev), 16, Attrs::NO_KERNEL_MAPPING).unwrap();
    assert!(matches!(
        hidden.write(0, b"x"),
        Err(DmaError::Unmapped { .. })
    ));
}
