//! Eight CPUs allocating and freeing coherent buffers at once through one registry,
//! while a ninth keeps adding and removing a device with its own pool (a remote
//! processor booting and shutting down). Every thread stamps every byte of each buffer
//! it gets with its own id and checks the stamp before freeing it: two live buffers
//! that overlapped, or a zeroing that hit a live buffer, would show as a wrong byte.
//! At the end every count is exact and a full-size allocation succeeds in every source.
//!
//! `CONTIG_STRESS_OPS=N` sets the operations per thread (default 3,000); the run
//! prints the operations per second it reached (printed, never asserted).

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use contig_dma_pool::cma::{AreaSet, Declaration, PhysAddr, PhysRange, Region, Registry};
use contig_dma_pool::{
    Attrs, CoherentBuffer, CoherentPool, Device, DeviceId, Devices, DmaAddr, PoolOptions,
};
use contig_dma_sim::SimMemory;

const POOLS: u64 = 0x1000_0000;
const POOL_SIZE: usize = 0x10_0000; // 1 MiB each
const RAM: u64 = 0x8000_0000;
const CMA_SIZE: usize = 0x40_0000; // 4 MiB
const THREADS: usize = 8;

fn range(base: u64, size: usize) -> PhysRange {
    PhysRange::new(PhysAddr::new(base), size).unwrap()
}

/// A small deterministic generator (xorshift), one per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap_or(0)
    }
}

fn stamp(buf: &CoherentBuffer, id: u8) {
    let cpu = buf.cpu.expect("sim memory is mapped");
    // SAFETY: `buf` is a live buffer this thread allocated; the registry hands each
    // byte to one buffer at a time and the sim mapper maps it to `size` bytes.
    unsafe { cpu.as_ptr().write_bytes(id, buf.size) };
}

fn check(buf: &CoherentBuffer, id: u8) {
    let cpu = buf.cpu.expect("sim memory is mapped");
    // SAFETY: as in `stamp`; this thread still owns the buffer.
    let bytes = unsafe { core::slice::from_raw_parts(cpu.as_ptr(), buf.size) };
    if let Some(at) = bytes.iter().position(|&b| b != id) {
        panic!(
            "thread {id}: byte {at:#x} of the buffer at {} is {:#x}: someone else wrote it",
            buf.phys, bytes[at]
        );
    }
}

fn ops_per_thread() -> usize {
    std::env::var("CONTIG_STRESS_OPS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if cfg!(miri) { 8 } else { 3_000 })
}

#[test]
fn eight_cpus_never_share_a_byte() {
    let pools_mem = SimMemory::new(range(POOLS, 4 * POOL_SIZE)).unwrap();
    let ram = SimMemory::new(range(RAM, CMA_SIZE)).unwrap();
    let registry = Registry::with_builtins().unwrap();
    let spec = Declaration::new("cma", CMA_SIZE)
        .granule(64)
        .backend("first-fit")
        .max_allocations(4096)
        .at(PhysAddr::new(RAM));
    let mut area = AreaSet::new();
    let cma = area
        .add(Region::new(spec.unwrap(), &registry, None).unwrap())
        .unwrap();
    let pool = |name: &str, i: u64| {
        let at = POOLS + i * POOL_SIZE as u64;
        // Room for every live buffer the threads can hold (8 x 24), not one per page:
        // metadata stays small, and Miri builds the pools in reasonable time.
        let options = PoolOptions::new()
            .page(64)
            .fallthrough(true)
            .max_buffers(256);
        CoherentPool::new(
            name,
            PhysAddr::new(at),
            DmaAddr::new(at),
            POOL_SIZE,
            &pools_mem,
            options,
        )
        .unwrap()
    };
    let default = pool("dma-default", 2);

    let devs: Devices<'_> = Devices::with_capacity(&ram, 16, 4096).unwrap();
    devs.set_cma(&area).unwrap();
    devs.set_default_cma(Some(cma)).unwrap();
    devs.set_default_pool(Some(&default)).unwrap();
    let parent = devs.add(Device::new("parent").unwrap()).unwrap();
    devs.declare_coherent(parent, pool("parent-pool", 0))
        .unwrap();
    // Threads 0-3 inherit the parent's pool (falling through to the defaults), 4-5
    // draw from the CMA area, 6 uses the defaults only, 7 has no device.
    let mut ids: Vec<Option<DeviceId>> = Vec::new();
    for t in 0..THREADS {
        let name = format!("cpu{t}");
        let d = Device::new(&name).unwrap().with_coherent_mask(u64::MAX);
        let d = match t {
            0..=3 => d.with_parent(parent).with_inherited_pool(true),
            4 | 5 => d.with_cma_area(cma),
            _ => d,
        };
        ids.push((t != 7).then(|| devs.add(d).unwrap()));
    }

    let ops = ops_per_thread();
    let done = AtomicBool::new(false);
    let start = Instant::now();
    let mut setup_rounds = 0usize;
    std::thread::scope(|s| {
        let workers: Vec<_> = ids
            .iter()
            .enumerate()
            .map(|(t, &dev)| {
                let devs = &devs;
                s.spawn(move || {
                    let id = u8::try_from(t + 1).unwrap();
                    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ ((t as u64 + 1) * 0x1234_5678));
                    let mut live: Vec<CoherentBuffer> = Vec::new();
                    let mut done_ops = 0usize;
                    for _ in 0..ops {
                        if live.len() < 24 && (live.is_empty() || rng.below(3) != 0) {
                            // Miri interprets every byte it checks: small buffers there.
                            let limit = if cfg!(miri) {
                                0x40
                            } else if rng.below(8) == 0 {
                                0x4000
                            } else {
                                0x600
                            };
                            let size = 1 + rng.below(limit);
                            if let Ok(buf) = devs.alloc_coherent(dev, size, Attrs::NONE) {
                                assert!(buf.cpu.is_some());
                                check(&buf, 0); // zeroed
                                stamp(&buf, id);
                                live.push(buf);
                            }
                        } else {
                            let buf = live.swap_remove(rng.below(live.len()));
                            check(&buf, id);
                            devs.free_coherent(dev, &buf).unwrap();
                        }
                        done_ops += 1;
                        if let Some(d) = dev {
                            assert_eq!(devs.live(d).unwrap(), live.len());
                        }
                    }
                    for buf in live.drain(..) {
                        check(&buf, id);
                        devs.free_coherent(dev, &buf).unwrap();
                    }
                    done_ops
                })
            })
            .collect();
        // A remote processor coming and going while the others allocate.
        let setup = s.spawn(|| {
            let mut rounds = 0usize;
            // Miri interprets every step: a few rounds show the race there.
            let max_rounds = if cfg!(miri) { 2 } else { usize::MAX };
            while !done.load(Ordering::Acquire) && rounds < max_rounds {
                let Ok(rp) = devs.add(Device::new("rproc").unwrap()) else {
                    continue;
                };
                devs.declare_coherent(rp, pool("rproc-pool", 1)).unwrap();
                let buf = devs.alloc_coherent(Some(rp), 0x1000, Attrs::NONE).unwrap();
                stamp(&buf, 0xee);
                check(&buf, 0xee);
                devs.free_coherent(Some(rp), &buf).unwrap();
                devs.release_coherent(rp).unwrap();
                devs.remove(rp).unwrap();
                rounds += 1;
            }
            rounds
        });
        // Stop the setup thread before looking at the results, so a failing worker
        // fails the test instead of leaving the setup thread spinning.
        let results: Vec<_> = workers.into_iter().map(|w| w.join()).collect();
        done.store(true, Ordering::Release);
        setup_rounds = setup.join().unwrap();
        let total: usize = results
            .into_iter()
            .map(|r| r.unwrap_or_else(|panic| std::panic::resume_unwind(panic)))
            .sum();
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{total} alloc/free operations on {THREADS} threads in {secs:.3} s: {:.0} ops/s \
             ({setup_rounds} device add/declare/release/remove rounds meanwhile)",
            total as f64 / secs
        );
    });

    for &dev in ids.iter().flatten() {
        assert_eq!(devs.live(dev).unwrap(), 0);
    }
    assert_eq!(devs.pool(parent).unwrap().unwrap().live(), 0);
    assert_eq!(default.live(), 0);
    assert_eq!(area.get(cma).unwrap().stats().backend.live_allocations, 0);
    // Every source is whole again: a full-size allocation succeeds in each.
    let whole = devs
        .alloc_coherent(Some(parent), POOL_SIZE, Attrs::NONE)
        .unwrap();
    devs.free_coherent(Some(parent), &whole).unwrap();
    let whole = devs.alloc_coherent(ids[6], POOL_SIZE, Attrs::NONE).unwrap();
    assert_eq!(whole.phys, PhysAddr::new(POOLS + 2 * POOL_SIZE as u64));
    devs.free_coherent(ids[6], &whole).unwrap();
    let whole = devs.alloc_coherent(ids[4], CMA_SIZE, Attrs::NONE).unwrap();
    devs.free_coherent(ids[4], &whole).unwrap();
    assert!(devs.find("rproc").is_none());
}
