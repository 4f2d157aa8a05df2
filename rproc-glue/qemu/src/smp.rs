//! The second hart: both harts allocate, stamp, check and free coherent buffers of the
//! same default pool at the same time, through the registry in statics. The second hart
//! then stops itself (SBI `hart_stop`), so that `remote.rs` can start it again as the
//! remote processor.
//!
//! Each buffer is filled with a stamp naming its hart and sequence number and checked
//! just before it is freed: a buffer handed to both harts at once (a lock that does not
//! exclude the other hart) shows up as a foreign stamp, a corrupted allocator as a
//! failed allocation or free, and the pool must be empty at the end.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use contig_dma_pool::{Attrs, CoherentBuffer};

use crate::{check, dma, println, sbi, trap};

/// Allocate-stamp-check-free rounds per hart.
const ROUNDS: usize = 2000;
/// Buffers each hart keeps live at once.
const LIVE: usize = 4;
/// Bounded wait for the other hart (spins).
const PATIENCE: usize = 500_000_000;

static STARTED: AtomicBool = AtomicBool::new(false);
static FINISHED: AtomicBool = AtomicBool::new(false);
/// Problems the second hart found.
static ERRORS: AtomicUsize = AtomicUsize::new(0);

/// Fills `buf` with `stamp`.
fn stamp(buf: &CoherentBuffer, stamp: u64) -> bool {
    let Some(cpu) = buf.cpu else { return false };
    let words = buf.size / 8;
    // SAFETY: `buf` is live, allocated for this hart's caller and not freed before the
    // matching `intact`; the registry maps its `size` bytes (Mapper contract), page
    // aligned so 8-byte aligned; no other code holds it.
    let data = unsafe { core::slice::from_raw_parts_mut(cpu.as_ptr().cast::<u64>(), words) };
    data.fill(stamp);
    true
}

/// Whether `buf` still holds `stamp` everywhere.
fn intact(buf: &CoherentBuffer, stamp: u64) -> bool {
    let Some(cpu) = buf.cpu else { return false };
    let words = buf.size / 8;
    // SAFETY: as in `stamp`: still live and ours until freed after this call.
    let data = unsafe { core::slice::from_raw_parts(cpu.as_ptr().cast::<u64>(), words) };
    data.iter().all(|&w| w == stamp)
}

/// `ROUNDS` rounds on the default pool; the number of problems.
fn churn(hart: usize) -> usize {
    let devices = dma::devices();
    let mut live: [Option<(CoherentBuffer, u64)>; LIVE] = [None; LIVE];
    let mut errors = 0;
    for round in 0..ROUNDS {
        let slot = round % LIVE;
        if let Some((buf, s)) = live[slot].take() {
            if !intact(&buf, s) || devices.free_coherent(None, &buf).is_err() {
                errors += 1;
            }
        }
        let size = 4096 * (1 + (round * 7 + hart) % 3) - 100 * (round % 5);
        match devices.alloc_coherent(None, size, Attrs::NONE) {
            Ok(buf) => {
                let s = ((hart as u64) << 32) | round as u64;
                if !stamp(&buf, s) {
                    errors += 1;
                }
                live[slot] = Some((buf, s));
            }
            Err(_) => errors += 1,
        }
    }
    for (buf, s) in live.iter().flatten() {
        if !intact(buf, *s) || devices.free_coherent(None, buf).is_err() {
            errors += 1;
        }
    }
    errors
}

/// The second hart's Rust entry (from `entry.rs`).
pub extern "C" fn secondary(hart: usize) -> ! {
    trap::install();
    STARTED.store(true, Ordering::SeqCst);
    ERRORS.store(churn(hart), Ordering::SeqCst);
    FINISHED.store(true, Ordering::SeqCst);
    // Back to OpenSBI, stopped: the hart then plays the remote processor (`remote.rs`).
    sbi::hart_stop();
    loop {
        core::hint::spin_loop();
    }
}

/// Starts the other hart and churns the default pool from both at once.
pub fn run(boot_hart: usize) {
    let other = if boot_hart == 0 { 1 } else { 0 };
    let Some(pool) = dma::DEFAULT_POOL.get() else {
        check!(false, "the default pool exists");
        return;
    };
    let error = sbi::hart_start(
        other,
        crate::entry::_start_secondary as *const () as usize,
        0,
    );
    let started = error == 0 && (0..PATIENCE).any(|_| STARTED.load(Ordering::SeqCst));
    if !check!(
        started,
        "hart {other} started through SBI HSM (error {error})"
    ) {
        return;
    }
    println!("harts {boot_hart} and {other}: {ROUNDS} rounds each on the default pool");
    let mine = churn(boot_hart);
    let finished = (0..PATIENCE).any(|_| FINISHED.load(Ordering::SeqCst));
    let theirs = ERRORS.load(Ordering::SeqCst);
    let used = pool.stats().used_bytes();
    let stopped = (0..PATIENCE).any(|_| sbi::hart_get_status(other) == sbi::HART_STOPPED);
    check!(
        stopped,
        "hart {other} stopped itself through SBI HSM (hart_stop) after the churn"
    );
    check!(
        finished && mine == 0 && theirs == 0 && used == 0,
        "two harts allocated, stamped, checked and freed {} buffers of the default pool at \
         once: problems {mine} + {theirs} (finished: {finished}), pool empty after ({used} \
         bytes used)",
        2 * ROUNDS
    );
}
