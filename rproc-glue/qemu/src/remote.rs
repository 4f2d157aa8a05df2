//! The remote processor: the second hart (hart 1 when OpenSBI boots the kernel on hart
//! 0, as it usually does) runs the firmware in `firmware/`, booted from its ELF
//! image and resource table by `contig_rproc_glue::Rproc`, and the kernel talks to it
//! through virtio-drivers' own `VirtQueue`s over the library's vdev transport (the
//! device is a virtio console: receiveq 0, transmitq 1; virtio-drivers' console driver
//! itself needs its `alloc` feature, which would make the blk driver allocate per
//! request on the sealed heap, so the kernel drives the two queues itself).
//!
//! This module owns the platform side of that processor: its memory, registered from
//! code (QEMU generates the device tree itself and the region is fixed by the
//! firmware's link address, so a `-dtb` of our own would only restate these constants;
//! `memory.rs` reserves the region before anything else is placed), its ops (start =
//! SBI `hart_start` at the ELF entry; stop = the mailbox stop command, an IPI, then
//! waiting for HSM to report the hart stopped, since only a hart can stop itself; kick
//! = SBI IPI), the loader that copies segments and the table into the region, the
//! `Hal` that gives the driver's queues the vrings `Rproc::boot` allocated, and the run:
//! boot, 1,000 checked echoes, the trace, a crash report and recovery whose snapshot
//! window takes an ELF core dump (checked), 1,000 more echoes, shutdown. Answers are
//! seen by polling the used rings (the driver spins on them); the remote does
//! not interrupt hart 0. It must never write outside the remote's region, whatever the
//! firmware's table says.
//!
//! Layout of the region (base `memory::REMOTE_BASE`, identity: device address =
//! physical address):
//!
//! | offset | size | entry | use |
//! |---|---|---|---|
//! | 0 | 256K | `fw-image` carveout | ELF segments, stack, mailbox and trace pages |
//! | 256K | 16K | `fw-data` carveout | the table's data carveout, matched by name |
//! | 320K | 192K | the processor's pool | vrings (`FW_RSC_ADDR_ANY`) |
//! | 512K | 512K | `vdev0buffer` | the vdev's own pool: the driver's bounce buffers |

use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering, fence};

use contig_cma::{PhysAddr, PhysRange};
use contig_dma_pool::virtio::{PoolHal, VirtioPlatform};
use contig_dma_pool::{CoherentPool, Device, DeviceId, Devices, DmaAddr, PoolOptions};
use contig_rproc_glue::firmware::Segment;
use contig_rproc_glue::rsc::Resource;
use contig_rproc_glue::virtio::{SharedMemory, VdevTransport};
use contig_rproc_glue::{
    DeviceAddr, Loader, MemEntry, MemKind, OpError, Placement, Rproc, RprocConfig, RprocOps,
};
use spin::{Mutex, Once};
use virtio_drivers::queue::VirtQueue;
use virtio_drivers::transport::{DeviceStatus, Transport};
use virtio_drivers::{BufferDirection, Hal, PhysAddr as VirtioAddr};

use crate::irq::Lock;
use crate::memory::{REMOTE_BASE, REMOTE_SIZE};
use crate::{check, dma, heap, println, sbi};

/// The firmware image, built before the kernel (`run.sh --firmware-only` builds it
/// and copies it there when it changed).
static FIRMWARE: &[u8] = include_bytes!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/firmware/target/embedded.elf"
));

/// The hart that plays the remote: the one OpenSBI did not boot the kernel on (it picks
/// the boot hart itself, usually hart 0), set by [`run`].
static REMOTE_HART: AtomicUsize = AtomicUsize::new(1);

fn remote_hart() -> usize {
    REMOTE_HART.load(Ordering::Relaxed)
}
/// Messages per round.
const MESSAGES: usize = 1000;
/// The firmware's mailbox word and stop command (`firmware/src/main.rs`).
const MAILBOX: u64 = 0x8403_E000;
const CMD_STOP: u32 = 0x5354_4f50;
/// What the firmware writes first into its data carveout.
const DATA_MAGIC: u32 = 0xc0de_f00d;
/// Bounded waits (spins).
const PATIENCE: usize = 50_000_000;

const IMAGE: (u64, usize) = (REMOTE_BASE, 0x4_0000);
const DATA: (u64, usize) = (REMOTE_BASE + 0x4_0000, 0x4000);
const POOL: (u64, usize) = (REMOTE_BASE + 0x5_0000, 0x3_0000);
const BUFFERS: (u64, usize) = (REMOTE_BASE + 0x8_0000, 0x8_0000);

fn region() -> PhysRange {
    PhysRange::new(PhysAddr::new(REMOTE_BASE), REMOTE_SIZE).unwrap_or(PhysRange::EMPTY)
}

/// `[pa, pa + len)` if it lies inside the remote's region, as a CPU pointer (MMU off).
fn inside(pa: u64, len: usize) -> Option<*mut u8> {
    let range = PhysRange::new(PhysAddr::new(pa), len).ok()?;
    region()
        .contains_range(&range)
        .then(|| core::ptr::with_exposed_provenance_mut(pa as usize))
}

fn copy_in(pa: u64, src: &[u8]) -> bool {
    let Some(dst) = inside(pa, src.len()) else {
        return false;
    };
    for (i, &b) in src.iter().enumerate() {
        // SAFETY: `inside` checked that the bytes lie in the remote's region, which
        // `memory.rs` reserved for it alone (identity-mapped, MMU off); volatile
        // because the other hart reads it.
        unsafe { dst.add(i).write_volatile(b) };
    }
    true
}

fn copy_out(pa: u64, dest: &mut [u8]) -> bool {
    let Some(src) = inside(pa, dest.len()) else {
        return false;
    };
    for (i, b) in dest.iter_mut().enumerate() {
        // SAFETY: as in `copy_in`: inside the remote's region; volatile because the
        // other hart writes it.
        *b = unsafe { src.add(i).read_volatile() };
    }
    true
}

fn read_u32(pa: u64) -> u32 {
    let mut b = [0; 4];
    copy_out(pa, &mut b);
    u32::from_le_bytes(b)
}

/// The remote's memory as the vdev transport reads and writes it.
pub struct Shared;

impl SharedMemory for Shared {
    fn read(&self, pa: PhysAddr, dest: &mut [u8]) -> bool {
        copy_out(pa.as_u64(), dest)
    }

    fn write(&mut self, pa: PhysAddr, src: &[u8]) -> bool {
        copy_in(pa.as_u64(), src)
    }
}

/// The doorbell: a supervisor software interrupt on the remote's hart.
fn kick(_notifyid: u32) {
    sbi::send_ipi(remote_hart());
}

/// Hart 1 as a remote processor.
struct Hart;

impl RprocOps for Hart {
    fn start(&mut self, boot: DeviceAddr) -> Result<(), OpError> {
        copy_in(MAILBOX, &0u32.to_le_bytes());
        fence(Ordering::SeqCst);
        let error = sbi::hart_start(remote_hart(), boot.as_u64() as usize, 0);
        if error == 0 {
            Ok(())
        } else {
            Err(OpError(error as i32))
        }
    }

    fn stop(&mut self) -> Result<(), OpError> {
        copy_in(MAILBOX, &CMD_STOP.to_le_bytes());
        fence(Ordering::SeqCst);
        sbi::send_ipi(remote_hart());
        let stopped =
            (0..PATIENCE).any(|_| sbi::hart_get_status(remote_hart()) == sbi::HART_STOPPED);
        if stopped { Ok(()) } else { Err(OpError(-110)) }
    }

    fn kick(&mut self, notifyid: u32) {
        kick(notifyid);
    }
}

/// Copies segments and the table into the remote's region (never outside it).
struct Copier {
    segments: usize,
}

impl Loader for Copier {
    fn load_segment(&mut self, segment: &Segment<'_>, at: &Placement) -> Result<(), OpError> {
        let pa = at.pa.as_u64();
        let data = segment.data;
        let tail = at.len.checked_sub(data.len()).ok_or(OpError(-22))?;
        let zero_at = pa.checked_add(data.len() as u64).ok_or(OpError(-22))?;
        let zeros = [0u8; 256];
        if !copy_in(pa, data) {
            return Err(OpError(-14));
        }
        let mut done = 0;
        while done < tail {
            let n = (tail - done).min(zeros.len());
            if !copy_in(zero_at + done as u64, &zeros[..n]) {
                return Err(OpError(-14));
            }
            done += n;
        }
        self.segments += 1;
        Ok(())
    }

    fn install_table(&mut self, table: &[u8], at: &Placement) -> Result<(), OpError> {
        if copy_in(at.pa.as_u64(), table) {
            fence(Ordering::SeqCst);
            Ok(())
        } else {
            Err(OpError(-14))
        }
    }
}

/// The vdev device (the driver's pool chain: its `vdev0buffer` pool).
static VDEV: Once<DeviceId> = Once::new();
/// The vrings `Rproc::boot` allocated, offered to the driver's next ring
/// allocations in queue order, and never freed through the `Hal` (the processor owns
/// them).
static RINGS: Mutex<[Option<(u64, usize, bool)>; 2]> = Mutex::new([None; 2]);

/// `PoolHal<Vdev>`: bounce buffers from the vdev's pool.
pub struct Vdev;

// SAFETY: `virt_to_phys` answers only for memory of the remote's region (identity, MMU
// off); `mmio_phys_to_virt` is the identity, where MMIO lives with the MMU off.
unsafe impl VirtioPlatform for Vdev {
    type Lock = Lock;
    const BOUNCE: bool = true;

    fn devices() -> &'static Devices<'static, Lock> {
        dma::devices()
    }

    fn device() -> DeviceId {
        *VDEV
            .get()
            .expect("the vdev exists before its driver starts")
    }

    fn virt_to_phys(ptr: NonNull<u8>, len: usize) -> Option<PhysAddr> {
        let pa = ptr.addr().get() as u64;
        inside(pa, len).map(|_| PhysAddr::new(pa))
    }

    unsafe fn mmio_phys_to_virt(paddr: VirtioAddr, _size: usize) -> NonNull<u8> {
        NonNull::new(core::ptr::with_exposed_provenance_mut(paddr as usize))
            .expect("MMIO is never at address 0")
    }
}

/// The driver's `Hal`: its queues get the offered vrings, everything else goes
/// to `PoolHal<Vdev>`.
pub struct RemoteHal;

// SAFETY: an offered vring is memory the processor allocated for exactly this queue
// (a zeroed, page-aligned buffer of its pool, `pages` long as the transport checks),
// handed out once per offer and zeroed again here; everything else is `PoolHal`'s, under
// its own contract.
unsafe impl Hal for RemoteHal {
    fn dma_alloc(pages: usize, direction: BufferDirection) -> (VirtioAddr, NonNull<u8>) {
        let offered = RINGS
            .lock()
            .iter_mut()
            .flatten()
            .find(|(_, p, taken)| *p == pages && !*taken)
            .map(|ring| {
                ring.2 = true;
                ring.0
            });
        let ring = offered.and_then(|pa| Some((pa, inside(pa, pages * 4096)?)));
        if let Some((pa, ptr)) = ring {
            // SAFETY: the ring lies in the remote's region (checked) and belongs to the
            // driver's queue from now on.
            unsafe { core::ptr::write_bytes(ptr, 0, pages * 4096) };
            if let Some(ptr) = NonNull::new(ptr) {
                return (pa, ptr);
            }
        }
        PoolHal::<Vdev>::dma_alloc(pages, direction)
    }

    unsafe fn dma_dealloc(paddr: VirtioAddr, vaddr: NonNull<u8>, pages: usize) -> i32 {
        let mut rings = RINGS.lock();
        if let Some(ring) = rings.iter_mut().flatten().find(|r| r.0 == paddr) {
            ring.2 = false;
            return 0;
        }
        drop(rings);
        // SAFETY: forwarded as received: not a ring, so PoolHal's own allocation.
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

/// Message `i` of round `round`: 1 to 1024 bytes.
fn message(round: usize, i: usize, buf: &mut [u8; 1024]) -> usize {
    let len = 1 + (i * 97 + round * 13 + i * i) % buf.len();
    for (k, b) in buf[..len].iter_mut().enumerate() {
        *b = (i * 31 + k * 7 + round) as u8;
    }
    len
}

/// Queue size: the firmware's vrings have `num` 2.
const QUEUE_SIZE: usize = 2;
/// The console's queues: the device writes into receiveq, reads transmitq.
const RECEIVEQ: u16 = 0;
const TRANSMITQ: u16 = 1;

/// `MESSAGES` echoes through virtio-drivers' `VirtQueue`s over the vdev transport; the
/// number whose answer was wrong or missing.
fn exchange(rproc: &Rproc<'static, Hart>, round: usize) -> Option<usize> {
    let mut transport = match VdevTransport::new(rproc, 0, Shared, kick as fn(u32)) {
        Ok(t) => t,
        Err(e) => {
            check!(false, "vdev transport: {e}");
            return None;
        }
    };
    {
        let mut rings = RINGS.lock();
        for (q, slot) in rings.iter_mut().enumerate() {
            *slot = transport.ring(q as u16).map(|r| {
                let pages = r.at.len.div_ceil(4096);
                (r.at.pa.as_u64(), pages, false)
            });
        }
    }
    transport.begin_init(virtio_drivers::device::common::Feature::empty());
    let queues = VirtQueue::<RemoteHal, QUEUE_SIZE>::new(&mut transport, RECEIVEQ, false, false)
        .and_then(|rx| {
            VirtQueue::<RemoteHal, QUEUE_SIZE>::new(&mut transport, TRANSMITQ, false, false)
                .map(|tx| (rx, tx))
        });
    let (mut rx, mut tx) = match (queues, transport.mismatch()) {
        (Ok(q), None) => q,
        (q, mismatch) => {
            check!(
                false,
                "virtio-drivers' queues on the vrings of the table: {:?} {mismatch:?}",
                q.err()
            );
            return None;
        }
    };
    transport.finish_init();
    let status = transport.get_status();
    check!(
        status.contains(DeviceStatus::DRIVER_OK) && !status.contains(DeviceStatus::FAILED),
        "round {round}: virtio-drivers' VirtQueues set up on the vdev's vrings, status {status:?} \
         in the installed table"
    );
    let mut msg = [0u8; 1024];
    let mut answer = [0u8; 1024];
    let mut bad = 0;
    let mut bytes = 0;
    for i in 0..MESSAGES {
        let len = message(round, i, &mut msg);
        bytes += len;
        answer.fill(0);
        // SAFETY: `answer` lives until `pop_used` below gives it back (or the queue is
        // dropped at the end of this function, the device stopped using it by then: the
        // loop waits for each answer, and a missing one ends the round).
        let token = match unsafe { rx.add(&[], &mut [&mut answer[..]]) } {
            Ok(t) => t,
            Err(_) => {
                bad += 1;
                break;
            }
        };
        let sent = tx.add_notify_wait_pop(&[&msg[..len]], &mut [], &mut transport);
        let arrived = (0..PATIENCE).any(|_| rx.can_pop());
        if sent.is_err() || !arrived {
            bad += 1;
            break;
        }
        // SAFETY: the same buffer as given to `add`, and `token` is its head.
        let got = unsafe { rx.pop_used(token, &[], &mut [&mut answer[..]]) };
        let ok = got == Ok(len as u32)
            && (0..len).all(|k| answer[k] == msg[len - 1 - k].wrapping_add(1));
        if !ok {
            bad += 1;
        }
    }
    transport.queue_unset(RECEIVEQ);
    transport.queue_unset(TRANSMITQ);
    println!(
        "round {round}: {MESSAGES} messages, {bytes} bytes sent, answers checked ({bad} wrong)"
    );
    Some(bad)
}

/// The trace buffer's text, printed line by line.
fn print_trace(rproc: &Rproc<'static, Hart>) -> usize {
    let Some(table) = rproc.table() else { return 0 };
    let mut lines = 0;
    for entry in table.entries() {
        let Resource::Trace(t) = entry.resource else {
            continue;
        };
        let Ok(at) = rproc.da_to_va(t.da, t.len as usize) else {
            continue;
        };
        let mut text = [0u8; 4096];
        let n = (t.len as usize).min(text.len());
        copy_out(at.pa.as_u64(), &mut text[..n]);
        let end = text[..n].iter().position(|&b| b == 0).unwrap_or(n);
        for line in text[..end].split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            println!(
                "  remote| {}",
                core::str::from_utf8(line).unwrap_or("(not UTF-8)")
            );
            lines += 1;
        }
    }
    lines
}

/// The value at `da` in an ELF64 core file, if a PT_LOAD holds it.
fn core_word(core: &[u8], da: u64) -> Option<u32> {
    let at = core_offset(core, da)?;
    Some(u32::from_le_bytes(core.get(at..at + 4)?.try_into().ok()?))
}

/// Where the 4 bytes at `da` are in an ELF64 core file, if a PT_LOAD holds them.
fn core_offset(core: &[u8], da: u64) -> Option<usize> {
    let u16_at = |o: usize| Some(u16::from_le_bytes(core.get(o..o + 2)?.try_into().ok()?));
    let u64_at = |o: usize| Some(u64::from_le_bytes(core.get(o..o + 8)?.try_into().ok()?));
    if core.get(..5)? != b"\x7fELF\x02" || u16_at(16)? != 4 {
        return None;
    }
    let (phoff, phentsize, phnum) = (u64_at(0x20)? as usize, u16_at(0x36)?, u16_at(0x38)?);
    (0..usize::from(phnum)).find_map(|i| {
        let ph = phoff + i * usize::from(phentsize);
        let ptype = u32::from_le_bytes(core.get(ph..ph + 4)?.try_into().ok()?);
        let (offset, vaddr, filesz) = (u64_at(ph + 8)?, u64_at(ph + 16)?, u64_at(ph + 32)?);
        if ptype != 1 || da < vaddr || da + 4 > vaddr + filesz {
            return None;
        }
        Some((offset + da - vaddr) as usize)
    })
}

fn setup(devs: &'static Devices<'static, Lock>) -> Option<Rproc<'static, Hart>> {
    let pool_range = PhysRange::new(PhysAddr::new(POOL.0), POOL.1).ok()?;
    let buffers = PhysRange::new(PhysAddr::new(BUFFERS.0), BUFFERS.1).ok()?;
    let made = (|| {
        let id = devs
            .add(Device::new("remote-hart1").map_err(|_| "device name")?)
            .map_err(|_| "add the processor device")?;
        let pool = CoherentPool::new(
            "remote-pool",
            pool_range.base(),
            DmaAddr::new(POOL.0),
            POOL.1,
            dma::identity(pool_range),
            PoolOptions::new(),
        )
        .map_err(|_| "its pool")?;
        devs.declare_coherent(id, pool)
            .map_err(|_| "declare its pool")?;
        let config = RprocConfig {
            auto_boot: false,
            notify_ids: 8,
        };
        let mut rproc = Rproc::new(devs, id, Hart, config).map_err(|_| "Rproc::new")?;
        let entries = [
            ("fw-image", MemKind::Carveout, IMAGE),
            ("fw-data", MemKind::Carveout, DATA),
            ("vdev0buffer", MemKind::VdevBuffer, BUFFERS),
        ];
        for (name, kind, (pa, len)) in entries {
            let entry = MemEntry::region(name, kind, PhysAddr::new(pa), len)
                .map_err(|_| "entry name")?
                .at_da(DeviceAddr::new(pa));
            let entry = if kind == MemKind::VdevBuffer {
                entry.with_mapper(dma::identity(buffers))
            } else {
                entry
            };
            rproc
                .register(devs, entry)
                .map_err(|_| "register an entry")?;
        }
        Ok::<_, &str>(rproc)
    })();
    match made {
        Ok(rproc) => Some(rproc),
        Err(what) => {
            check!(false, "remote processor setup: {what}");
            None
        }
    }
}

/// The whole remote-processor run on `hart` (after `smp.rs` stopped it).
pub fn run(hart: usize) {
    REMOTE_HART.store(hart, Ordering::Relaxed);
    let used = heap::reopen();
    println!(
        "remote processor on hart {hart}: heap reopened for its setup ({} KiB used so far)",
        used >> 10
    );
    let devs = dma::devices();
    let Some(mut rproc) = setup(devs) else { return };
    let mut loader = Copier { segments: 0 };
    let booted = rproc.boot(devs, FIRMWARE, &mut loader);
    if !check!(
        booted.is_ok(),
        "Rproc::boot of the {}-byte firmware ELF: {} segments loaded, table installed, hart \
         {hart} started at its entry ({:?})",
        FIRMWARE.len(),
        loader.segments,
        booted
    ) {
        return;
    }
    let Some(vdev) = rproc.vdevs().first().cloned() else {
        check!(false, "the firmware's vdev was prepared");
        return;
    };
    VDEV.call_once(|| vdev.device);
    let mut data_da = None;
    if let Some(table) = rproc.table() {
        for entry in table.entries() {
            match entry.resource {
                Resource::Carveout(c) => {
                    println!(
                        "  table: carveout {:?} da {:#x} pa {:#x} len {:#x}",
                        c.name_str().unwrap_or("?"),
                        c.da.map_or(u64::from(u32::MAX), |d| d.as_u64()),
                        c.pa.map_or(u64::from(u32::MAX), |p| p.as_u64()),
                        c.len
                    );
                    data_da = c.da;
                }
                Resource::Trace(t) => println!(
                    "  table: trace {:?} da {:#x} len {:#x}",
                    t.name_str().unwrap_or("?"),
                    t.da.as_u64(),
                    t.len
                ),
                Resource::Vdev(v) => {
                    println!("  table: vdev id {} (virtio console)", v.id);
                    for r in v.vrings() {
                        println!(
                            "  table: vring da {:#x} align {:#x} num {} notifyid {}",
                            r.da.map_or(u64::from(u32::MAX), |d| d.as_u64()),
                            r.align,
                            r.num,
                            r.notifyid
                        );
                    }
                }
                _ => {}
            }
        }
    }
    let rings_ok = vdev.rings.len() == 2
        && vdev.rings.iter().all(|r| {
            PhysRange::new(r.at.pa, r.at.len).is_ok_and(|g| {
                PhysRange::new(PhysAddr::new(POOL.0), POOL.1).is_ok_and(|p| p.contains_range(&g))
            })
        })
        && vdev.rings[0].notifyid != vdev.rings[1].notifyid;
    check!(
        rings_ok && data_da == Some(DeviceAddr::new(DATA.0)),
        "write-backs: vrings at {:#x} and {:#x} (notify ids {} and {}) from the processor's \
         pool, data carveout matched to fw-data at {:#x}",
        vdev.rings.first().map_or(0, |r| r.at.pa.as_u64()),
        vdev.rings.get(1).map_or(0, |r| r.at.pa.as_u64()),
        vdev.rings.first().map_or(0, |r| r.notifyid),
        vdev.rings.get(1).map_or(0, |r| r.notifyid),
        data_da.map_or(0, |d| d.as_u64())
    );

    // --- Round 1 -------------------------------------------------------------------
    let bad = exchange(&rproc, 1);
    check!(
        bad == Some(0),
        "{MESSAGES} messages of 1..1024 bytes echoed by the firmware on hart {hart} \
         through virtio-drivers' VirtQueues over the vdev transport (wrong: {bad:?})"
    );
    println!("trace buffer of the remote:");
    let lines = print_trace(&rproc);
    let mut trace = [0u8; 4096];
    copy_out(0x8403_F000, &mut trace);
    let has = |needle: &[u8]| trace.windows(needle.len()).any(|w| w == needle);
    let mut ring_line = [0u8; 32];
    let ring_text = {
        use core::fmt::Write;
        let mut w = Buf(&mut ring_line, 0);
        let _ = write!(w, "vring1: da {:#x}", vdev.rings[1].at.pa.as_u64());
        w.1
    };
    check!(
        lines >= 6 && has(b"hello, host") && has(&ring_line[..ring_text]) && has(b"driver ready"),
        "trace buffer read: {lines} lines, the greeting and the vring address the host wrote back"
    );

    // --- Crash report, recovery with a core dump -----------------------------------
    let _ = rproc.report_crash();
    rproc.clear_dump_segments();
    // A segment the heap cannot record is left out of the dump, and the dump check
    // below fails on it.
    let _ = rproc.add_dump_segment(DeviceAddr::new(IMAGE.0), IMAGE.1 as u64);
    let _ = rproc.add_dump_segment(DeviceAddr::new(DATA.0), DATA.1 as u64);
    let mut dumped: Option<DumpFacts> = None;
    let mut stopped_in_window = false;
    let recovered = rproc.recover(FIRMWARE, &mut loader, &mut |r| {
        stopped_in_window = sbi::hart_get_status(remote_hart()) == sbi::HART_STOPPED;
        let core = r.coredump(&mut |at, dest| copy_out(at.pa.as_u64(), dest));
        dumped = Some(match core {
            Ok(mut core) => {
                let target = core_offset(&core, DATA.0).and_then(|at| core.get_mut(at));
                if let (true, Some(b)) = (cfg!(feature = "corrupt-core"), target) {
                    *b ^= 0xff;
                }
                (
                    core.len(),
                    core_word(&core, DATA.0),
                    core_word(&core, DATA.0 + 4),
                    core_word(&core, DATA.0 + 8),
                )
            }
            Err(_) => (0, None, None, None),
        });
    });
    let running_again = sbi::hart_get_status(remote_hart()) != sbi::HART_STOPPED;
    let (len, magic, boots, echoed) = dumped.unwrap_or((0, None, None, None));
    println!(
        "core dump in the recovery's snapshot window: {len} bytes of ELF core; fw-data words: \
         magic {:#x}, boots {boots:?}, echoed {echoed:?}",
        magic.unwrap_or(0)
    );
    check!(
        magic == Some(DATA_MAGIC) && boots == Some(1) && echoed == Some(MESSAGES as u32),
        "ELF core of the stopped firmware holds what it wrote: magic {DATA_MAGIC:#x}, boot 1, \
         {MESSAGES} messages echoed"
    );
    check!(
        recovered.is_ok() && stopped_in_window && running_again && rproc.recovery_count() == 1,
        "recovered in the same memory: hart {hart} stopped (hart_stop), reloaded, \
         started again ({recovered:?})"
    );

    // --- Round 2, after recovery ---------------------------------------------------
    let bad = exchange(&rproc, 2);
    let boots = read_u32(DATA.0 + 4);
    check!(
        bad == Some(0) && boots == 2,
        "after recovery: {MESSAGES} more messages echoed (wrong: {bad:?}), the firmware counts \
         boot {boots} in its kept data carveout"
    );

    // --- Shutdown ------------------------------------------------------------------
    let mut snapshot_lines = 0;
    let shut = rproc.shutdown(devs, &mut |r| {
        println!("trace buffer at shutdown:");
        snapshot_lines = print_trace(r);
    });
    check!(
        shut.is_ok()
            && sbi::hart_get_status(remote_hart()) == sbi::HART_STOPPED
            && snapshot_lines > 0,
        "shutdown: subdevices stopped, hart {hart} stopped itself (hart_stop), memory \
         given back ({shut:?})"
    );
}

/// What the core dump showed: its length, then fw-data's magic, boots and echo count.
type DumpFacts = (usize, Option<u32>, Option<u32>, Option<u32>);

/// A `fmt::Write` into a byte buffer: (buffer, length).
struct Buf<'a>(&'a mut [u8], usize);

impl core::fmt::Write for Buf<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.1 + s.len();
        let dst = self.0.get_mut(self.1..end).ok_or(core::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.1 = end;
        Ok(())
    }
}
