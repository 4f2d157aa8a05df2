//! A region over a backend with inline storage, in a `static`, allocates and frees
//! without the heap: a counting global allocator sees no call during the region's
//! construction (at run time through `with_backend`, or at compile time through
//! `Region::first_fit`), its allocations and its frees.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use contig_allocators::first_fit::{FirstFit, Node};
use contig_cma::{
    Declaration, DefaultLock, DmaError, InlineFirstFit, PhysAddr, Region, RegionSpec, Request,
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
    let after = HEAP_CALLS.load(Ordering::SeqCst);

    assert_eq!(a.base(), PhysAddr::new(0x4000_0000));
    assert_eq!(b.base(), PhysAddr::new(0x4001_0000));
    assert!(
        matches!(double_free, Err(DmaError::NotAllocated { .. })),
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
    assert_eq!(after, before, "the region used the heap");
    // The counter does see heap use.
    drop(std::hint::black_box(Box::new(0u8)));
    assert!(HEAP_CALLS.load(Ordering::SeqCst) > after);
}
