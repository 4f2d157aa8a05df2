//! A region over a backend with inline storage, in a `static`, allocates and frees
//! without the heap: a counting global allocator sees no call during the region's
//! construction (at run time through `with_backend`, or at compile time through
//! `Region::first_fit` and `Region::bitmap`, the latter also reusable with a static
//! reclaim hook), its allocations and its frees.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use contig_allocators::bitmap::Bitmap;
use contig_allocators::first_fit::{FirstFit, Node};
use contig_cma::{
    Claim, Declaration, DefaultLock, DmaError, Flags, InlineBitmap, InlineFirstFit, PhysAddr,
    PhysRange, Reclaim, Region, RegionSpec, Request,
};

/// The system allocator, counting every call made to it (from any thread).
struct Counting;

static HEAP_CALLS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        HEAP_CALLS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the caller upholds `GlobalAlloc::alloc`'s contract.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        HEAP_CALLS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the caller upholds `GlobalAlloc::dealloc`'s contract.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        HEAP_CALLS.fetch_add(1, Ordering::SeqCst);
        // SAFETY: the caller upholds `GlobalAlloc::realloc`'s contract.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const UNITS: usize = 64;
const NODES: usize = FirstFit::nodes_for(UNITS, 8);
static EARLY: spin::Once<Region<DefaultLock, FirstFit<[Node; NODES]>>> = spin::Once::new();

const SPEC: RegionSpec = match Declaration::new("const", 0x8000)
    .backend("first-fit")
    .max_allocations(2)
    .at(PhysAddr::new(0x5000_0000))
{
    Ok(spec) => spec,
    Err(_) => panic!("bad declaration"),
};
const CONST_NODES: usize = FirstFit::nodes_for(SPEC.units(), SPEC.max_allocations());
static CONST: Region<DefaultLock, FirstFit<[Node; CONST_NODES]>> = match InlineFirstFit::new(SPEC) {
    Ok(parts) => Region::first_fit(parts),
    Err(_) => panic!("too few nodes"),
};

const BITMAP_SPEC: RegionSpec =
    match Declaration::new("bits", 0x10_0000).at(PhysAddr::new(0x6000_0000)) {
        Ok(spec) => spec,
        Err(_) => panic!("bad declaration"),
    };
static BITMAP: Region<DefaultLock, Bitmap<[u64; Bitmap::words_for(256)]>> =
    match InlineBitmap::new(BITMAP_SPEC) {
        Ok(parts) => Region::bitmap(parts),
        Err(_) => panic!("too few words"),
    };

/// A reclaim hook with no heap of its own: the granules the OS has given up.
struct Lent(AtomicUsize);

impl Reclaim for Lent {
    fn claim(&self, range: PhysRange) -> Claim {
        self.0.fetch_add(range.size() / 0x1000, Ordering::SeqCst);
        Claim::Claimed
    }

    fn release(&self, range: PhysRange) {
        self.0.fetch_sub(range.size() / 0x1000, Ordering::SeqCst);
    }
}

static LENT: Lent = Lent(AtomicUsize::new(0));
const CMA_SPEC: RegionSpec = match Declaration::new("cma", 0x4_0000)
    .flags(Flags::REUSABLE)
    .at(PhysAddr::new(0x7000_0000))
{
    Ok(spec) => spec,
    Err(_) => panic!("bad declaration"),
};
static CMA: Region<DefaultLock, Bitmap<[u64; Bitmap::words_for(64)]>> =
    match InlineBitmap::with_reclaim(CMA_SPEC, &LENT) {
        Ok(parts) => Region::bitmap(parts),
        Err(_) => panic!("too few words"),
    };

/// The only test in this binary, so no other test thread allocates meanwhile.
#[test]
fn static_region_never_touches_the_heap() {
    let before = HEAP_CALLS.load(Ordering::SeqCst);
    let spec = Declaration::new("early", UNITS * 0x1000)
        .backend("first-fit")
        .max_allocations(8)
        .at(PhysAddr::new(0x4000_0000))
        .unwrap();
    let backend = FirstFit::with_storage(spec.units(), spec.phase(), spec.max_allocations());
    let region = EARLY
        .try_call_once(|| Region::with_backend(spec, backend.unwrap(), None))
        .unwrap();
    let a = region.allocate(&Request::new(0x3000)).unwrap();
    let b = region
        .allocate(&Request::new(0x1000).aligned(0x10000))
        .unwrap();
    let double_free = region.free(a).and_then(|()| region.free(a));
    region.free(b).unwrap();
    let c = CONST.allocate(&Request::new(0x1000)).unwrap();
    let d = CONST.allocate(&Request::new(0x1000)).unwrap();
    let third = CONST.allocate(&Request::new(0x1000));
    CONST.free(c).unwrap();
    CONST.free(d).unwrap();
    let e = BITMAP
        .allocate(&Request::new(0x5000).aligned(0x8000))
        .unwrap();
    let f = BITMAP.allocate(&Request::new(0x1000)).unwrap();
    let bitmap_double_free = BITMAP.free(e).and_then(|()| BITMAP.free(e));
    BITMAP.free(f).unwrap();
    let g = CMA.allocate(&Request::new(0x3000)).unwrap();
    let lent_while_allocated = LENT.0.load(Ordering::SeqCst);
    CMA.free(g).unwrap();
    let after = HEAP_CALLS.load(Ordering::SeqCst);

    assert_eq!(a.base(), PhysAddr::new(0x4000_0000));
    assert_eq!(b.base(), PhysAddr::new(0x4001_0000));
    assert!(
        matches!(double_free, Err(DmaError::NotAllocated { addr, .. }) if addr == a.base()),
        "{double_free:?}"
    );
    assert_eq!(region.stats().used_bytes(), 0);
    assert_eq!(
        (c.base(), d.base()),
        (PhysAddr::new(0x5000_0000), PhysAddr::new(0x5000_1000))
    );
    assert!(
        matches!(third, Err(DmaError::TooManyAllocations { .. })),
        "{third:?}"
    );
    assert_eq!(CONST.backend_name(), "first-fit");
    assert_eq!(CONST.stats().used_bytes(), 0);
    assert_eq!(
        (e.base(), f.base()),
        (PhysAddr::new(0x6000_0000), PhysAddr::new(0x6000_5000))
    );
    assert!(
        matches!(bitmap_double_free, Err(DmaError::NotAllocated { addr, .. }) if addr == e.base()),
        "{bitmap_double_free:?}"
    );
    assert_eq!(BITMAP.backend_name(), "bitmap");
    assert_eq!(BITMAP.stats().used_bytes(), 0);
    assert_eq!(g.base(), PhysAddr::new(0x7000_0000));
    assert_eq!(lent_while_allocated, 3);
    assert_eq!(LENT.0.load(Ordering::SeqCst), 0);
    assert_eq!(after, before, "the region used the heap");
    // The counter does see heap use.
    drop(std::hint::black_box(Box::new(0u8)));
    assert!(HEAP_CALLS.load(Ordering::SeqCst) > after);
}
