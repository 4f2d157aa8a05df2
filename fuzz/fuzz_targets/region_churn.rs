//! Region churn: arbitrary operation sequences on every backend, each step checked
//! against the shadow model (no overlap, bounds, alignment, window, exact stats, and
//! every error exactly where the model demands it). The bitmap runs with its metadata
//! on the heap and over caller storage that holds stale words from an earlier user.
#![no_main]

use arbitrary::Arbitrary;
use contig_allocators::bitmap::Bitmap;
use contig_allocators::first_fit::FirstFit;
use contig_allocators::genalloc::GenBackend;
use contig_allocators::shadow::{Op, Placement, Shadow};
use contig_allocators::tlsf::Tlsf;
use contig_allocators::{Backend, Request};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Kind {
    FirstFit { max_allocations: u8 },
    Bitmap,
    GenFirstFit,
    GenBestFit,
    Tlsf { max_allocations: u8 },
    BitmapOverStorage { stale: u64 },
}

#[derive(Arbitrary, Debug)]
enum FuzzOp {
    Alloc { count: u16, align_log2: u8, window: Option<(u16, u16)> },
    Claim { start: u16, count: u16 },
    FreeLive { nth: u16 },
    FreeLiveWrongCount { nth: u16, delta: u8 },
    Free { start: u16, count: u16 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    kind: Kind,
    capacity: u16,
    phase: u32,
    ops: Vec<FuzzOp>,
}

/// The backend of `kind` and its model; `storage` is the caller storage of the kinds
/// that take one (sized here).
fn backend<'a>(
    kind: &Kind,
    capacity: usize,
    phase: usize,
    storage: &'a mut Vec<u64>,
) -> (Box<dyn Backend + 'a>, Shadow) {
    match *kind {
        Kind::FirstFit { max_allocations } => {
            let max = usize::from(max_allocations);
            (
                Box::new(FirstFit::new(capacity, phase, max).unwrap()),
                Shadow::new(capacity, phase, Some(max), Placement::Lowest),
            )
        }
        Kind::Bitmap => (
            Box::new(Bitmap::new(capacity, phase).unwrap()),
            Shadow::new(capacity, phase, None, Placement::Lowest),
        ),
        Kind::GenFirstFit => (
            Box::new(GenBackend::first_fit(capacity, phase).unwrap()),
            Shadow::new(capacity, phase, None, Placement::Lowest),
        ),
        Kind::GenBestFit => (
            Box::new(GenBackend::best_fit(capacity, phase).unwrap()),
            Shadow::new(capacity, phase, None, Placement::Any),
        ),
        Kind::Tlsf { max_allocations } => {
            let max = usize::from(max_allocations);
            let tlsf = Tlsf::try_new(capacity, phase, max).expect("metadata of a u16 space");
            (Box::new(tlsf), Shadow::new(capacity, phase, Some(max), Placement::Any))
        }
        Kind::BitmapOverStorage { stale } => {
            storage.resize(Bitmap::words_for(capacity), stale);
            let map = Bitmap::with_storage(storage, capacity, phase).expect("sized by words_for");
            (Box::new(map), Shadow::new(capacity, phase, None, Placement::Lowest))
        }
    }
}

fn resolve(op: &FuzzOp, model: &Shadow) -> Option<Op> {
    Some(match *op {
        FuzzOp::Alloc { count, align_log2, window } => {
            let align = 1usize.checked_shl(u32::from(align_log2 % 16)).unwrap_or(1);
            let request = Request::new(usize::from(count)).aligned(align);
            Op::Allocate(match window {
                Some((lo, hi)) => request.within(usize::from(lo), usize::from(hi)),
                None => request,
            })
        }
        FuzzOp::Claim { start, count } => Op::Claim { start: start.into(), count: count.into() },
        FuzzOp::Free { start, count } => Op::Free { start: start.into(), count: count.into() },
        FuzzOp::FreeLive { nth } => {
            let e = model.nth_live(nth.into())?;
            Op::Free { start: e.start, count: e.count }
        }
        FuzzOp::FreeLiveWrongCount { nth, delta } => {
            let e = model.nth_live(nth.into())?;
            Op::Free { start: e.start, count: e.count + usize::from(delta) }
        }
    })
}

fuzz_target!(|input: Input| {
    // Keep spaces small enough that the O(capacity) model stays fast.
    let capacity = usize::from(input.capacity % 4096);
    let phase = input.phase as usize;
    let mut storage = Vec::new();
    let (mut backend, mut model) = backend(&input.kind, capacity, phase, &mut storage);
    if let Err(m) = model.check_state(&*backend) {
        panic!("{:?} initial state: {m}", input.kind);
    }
    for (i, op) in input.ops.iter().enumerate() {
        if let Some(op) = resolve(op, &model) {
            if let Err(m) = model.step(&mut *backend, op) {
                panic!("{:?} step {i} {op:?}: {m}", input.kind);
            }
        }
    }
});
