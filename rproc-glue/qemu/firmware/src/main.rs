//! The remote processor of the QEMU kernel: a firmware image that hart 1 runs.
//!
//! The kernel boots this ELF through `contig_rproc_glue::Rproc::boot`: it reads the
//! `.resource_table` below (a carveout for this firmware's data, a trace buffer, a
//! virtio-console vdev with two vrings at `FW_RSC_ADDR_ANY`), allocates what it asks
//! for, writes the addresses and notify ids back, loads the segments, installs the
//! table over this one and starts hart 1 at `_start` through SBI HSM.
//!
//! This firmware owns the device side of that console: it reads the table the host
//! wrote back, writes a greeting and what it found into its trace buffer, waits for the
//! driver to set `DRIVER_OK` in the vdev's status byte, then serves the split
//! virtqueues (takes buffers from the available rings, answers into the used rings):
//! every message the host transmits is echoed, reversed and with each byte plus one,
//! into the next receive buffer. Kicks from the host arrive as supervisor software
//! interrupts (SBI IPI), which only wake `wfi` (interrupts stay globally off); answers
//! are seen by the host polling the used rings. It stops itself (SBI `hart_stop`) when
//! the host writes the stop command into the mailbox. It must never allocate, touch
//! memory the table does not give it (besides its image, the trace and mailbox pages),
//! or trust a vring index without reducing it modulo the ring size.
#![no_std]
#![no_main]

use core::fmt::{self, Write};
use core::ptr::{read_volatile, write_volatile};
use core::sync::atomic::{Ordering, fence};

/// The trace buffer (inside the image region, after the stack: `firmware.ld` checks).
const TRACE_DA: u32 = 0x8403_F000;
/// Bytes of trace buffer.
const TRACE_LEN: u32 = 4096;
/// The mailbox word: the host writes [`CMD_STOP`] there (and clears it before a start).
const MAILBOX: usize = 0x8403_E000;
/// Mailbox command: stop.
const CMD_STOP: u32 = 0x5354_4f50;
/// Bytes of the data carveout the table asks for.
const DATA_LEN: u32 = 0x4000;
/// First word of the data carveout once the firmware ran: the host checks it in a
/// core dump.
const DATA_MAGIC: u32 = 0xc0de_f00d;
/// Buffers per vring (the size of the console driver's queues on the host).
const VRING_NUM: u32 = 2;
/// Used-ring alignment (the legacy virtio layout: a page).
const VRING_ALIGN: u32 = 0x1000;
const ANY: u32 = 0xffff_ffff;
/// Virtio status bit: the driver is ready.
const DRIVER_OK: u8 = 4;
/// Largest message echoed.
const MSG_MAX: usize = 4096;

#[repr(C)]
struct Carveout {
    ty: u32,
    da: u32,
    pa: u32,
    len: u32,
    flags: u32,
    reserved: u32,
    name: [u8; 32],
}

#[repr(C)]
struct Trace {
    ty: u32,
    da: u32,
    len: u32,
    reserved: u32,
    name: [u8; 32],
}

#[repr(C)]
#[derive(Clone, Copy)]
struct VringRsc {
    da: u32,
    align: u32,
    num: u32,
    notifyid: u32,
    pa: u32,
}

#[repr(C)]
struct Vdev {
    ty: u32,
    id: u32,
    notifyid: u32,
    dfeatures: u32,
    gfeatures: u32,
    config_len: u32,
    status: u8,
    num_of_vrings: u8,
    reserved: [u8; 2],
    vring: [VringRsc; 2],
    /// virtio-console config: cols, rows (u16), max_nr_ports, emerg_wr (u32).
    config: [u8; 12],
}

#[repr(C)]
struct ResourceTable {
    ver: u32,
    num: u32,
    reserved: [u32; 2],
    offset: [u32; 3],
    carveout: Carveout,
    trace: Trace,
    vdev: Vdev,
}

const fn name(s: &[u8]) -> [u8; 32] {
    let mut out = [0; 32];
    let mut i = 0;
    while i < s.len() {
        out[i] = s[i];
        i += 1;
    }
    out
}

const OFF_CARVEOUT: usize = core::mem::offset_of!(ResourceTable, carveout);
const OFF_TRACE: usize = core::mem::offset_of!(ResourceTable, trace);
const OFF_VDEV: usize = core::mem::offset_of!(ResourceTable, vdev);

/// The resource table. The host overwrites it (with its write-backs) before the hart
/// starts and changes the vdev's status byte while it runs: read only through volatile
/// accesses of raw pointers.
#[unsafe(link_section = ".resource_table")]
#[used]
static mut RESOURCE_TABLE: ResourceTable = ResourceTable {
    ver: 1,
    num: 3,
    reserved: [0; 2],
    offset: [OFF_CARVEOUT as u32, OFF_TRACE as u32, OFF_VDEV as u32],
    carveout: Carveout {
        ty: 0,
        da: ANY,
        pa: ANY,
        len: DATA_LEN,
        flags: 0,
        reserved: 0,
        name: name(b"fw-data"),
    },
    trace: Trace {
        ty: 2,
        da: TRACE_DA,
        len: TRACE_LEN,
        reserved: 0,
        name: name(b"trace0"),
    },
    vdev: Vdev {
        ty: 3,
        id: 3,
        notifyid: 0,
        dfeatures: 0,
        gfeatures: 0,
        config_len: 12,
        status: 0,
        num_of_vrings: 2,
        reserved: [0; 2],
        vring: [VringRsc {
            da: ANY,
            align: VRING_ALIGN,
            num: VRING_NUM,
            notifyid: ANY,
            pa: 0,
        }; 2],
        config: [80, 0, 25, 0, 1, 0, 0, 0, 0, 0, 0, 0],
    },
};

core::arch::global_asm!(
    r#"
    .section .text.entry, "ax"
    .globl _start
_start:
    lla     sp, __stack_top
    lla     t0, __bss_start
    lla     t1, __bss_end
1:  bgeu    t0, t1, 2f
    sd      zero, (t0)
    addi    t0, t0, 8
    j       1b
2:  call    {main}
3:  wfi
    j       3b
"#,
    main = sym main,
);

/// Reads a `T` the host may change.
fn peek<T: Copy>(addr: usize) -> T {
    // SAFETY: every address read is in memory the resource table gives this firmware
    // (its image, the data carveout, the vrings and the buffers the host put in them)
    // and identity-mapped (no MMU); callers pass addresses aligned for `T` (table
    // fields, ring fields at the offsets the split-ring layout defines).
    unsafe { read_volatile(core::ptr::with_exposed_provenance::<T>(addr)) }
}

/// Writes a `T` the host reads.
fn poke<T>(addr: usize, value: T) {
    // SAFETY: as in `peek`: memory this firmware was given, aligned for `T`.
    unsafe { write_volatile(core::ptr::with_exposed_provenance_mut::<T>(addr), value) }
}

fn table() -> usize {
    (&raw const RESOURCE_TABLE).addr()
}

/// The trace buffer: NUL-terminated text, as Linux reads it.
struct TraceBuf {
    pos: usize,
}

impl Write for TraceBuf {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        for &b in s.as_bytes() {
            if self.pos + 1 >= TRACE_LEN as usize {
                break;
            }
            poke(TRACE_DA as usize + self.pos, b);
            self.pos += 1;
        }
        poke(TRACE_DA as usize + self.pos, 0u8);
        Ok(())
    }
}

macro_rules! trace {
    ($t:expr, $($arg:tt)*) => {{
        let _ = writeln!($t, $($arg)*);
    }};
}

/// One split virtqueue, device side.
struct Queue {
    desc: usize,
    avail: usize,
    used: usize,
    num: u16,
    last_avail: u16,
    used_idx: u16,
}

impl Queue {
    /// A queue the driver just made ready: both indices start at 0 (the driver may
    /// already be adding buffers, so the live index is no starting point).
    fn new(da: u32, num: u32, align: u32) -> Self {
        let desc = da as usize;
        let avail = desc + 16 * num as usize;
        let align = align.max(1) as usize;
        let used = (avail + 2 * (3 + num as usize)).next_multiple_of(align);
        Self {
            desc,
            avail,
            used,
            num: (num as u16).max(1),
            last_avail: 0,
            used_idx: 0,
        }
    }

    /// The head of the next available chain, if the driver made one available.
    fn next(&self) -> Option<u16> {
        let idx = peek::<u16>(self.avail + 2);
        fence(Ordering::SeqCst);
        (idx != self.last_avail)
            .then(|| peek::<u16>(self.avail + 4 + 2 * (self.last_avail % self.num) as usize))
    }

    /// Descriptor `i`: (address, length, flags, next).
    fn desc(&self, i: u16) -> (u64, u32, u16, u16) {
        let at = self.desc + 16 * (i % self.num) as usize;
        (peek(at), peek(at + 8), peek(at + 12), peek(at + 14))
    }

    /// Returns chain `head` to the driver with `len` bytes written.
    fn put(&mut self, head: u16, len: u32) {
        let at = self.used + 4 + 8 * (self.used_idx % self.num) as usize;
        poke(at, u32::from(head));
        poke(at + 4, len);
        fence(Ordering::SeqCst);
        self.used_idx = self.used_idx.wrapping_add(1);
        poke(self.used + 2, self.used_idx);
        self.last_avail = self.last_avail.wrapping_add(1);
    }
}

/// The answer to `msg`: reversed, each byte plus one.
fn transform(msg: &[u8], out: &mut [u8]) {
    for (o, b) in out.iter_mut().zip(msg.iter().rev()) {
        *o = b.wrapping_add(1);
    }
    if cfg!(feature = "wrong-echo") && msg.len() > 7 {
        out[7] ^= 0x20;
    }
}

fn sbi(eid: usize, fid: usize, a0: usize) -> isize {
    let error: isize;
    // SAFETY: an SBI call (OpenSBI, S-mode caller): returns in a0/a1, preserves the
    // rest; the calls made here (HSM hart_stop) touch no memory of ours.
    unsafe {
        core::arch::asm!("ecall", inlateout("a0") a0 => error, lateout("a1") _,
            in("a6") fid, in("a7") eid, options(nostack));
    }
    error
}

fn stop_requested() -> bool {
    peek::<u32>(MAILBOX) == CMD_STOP
}

/// Sleeps until a kick (the host's IPI) or anything else pending.
fn wait() {
    // SAFETY: `wfi` only waits; with sie.SSIE set and sstatus.SIE clear, a pending
    // software interrupt wakes it without trapping.
    unsafe { core::arch::asm!("wfi", options(nomem, nostack)) };
}

/// Clears a pending kick before the rings are looked at, so none is lost.
fn ack_kick() {
    // SAFETY: clearing sip.SSIP only acknowledges the host's IPI.
    unsafe { core::arch::asm!("csrc sip, {0}", in(reg) 2usize, options(nomem, nostack)) };
}

extern "C" fn main(hart: usize) -> ! {
    // Kicks may wake `wfi`, never trap: SSIE on, SIE (global) off.
    // SAFETY: sets the supervisor software interrupt enable bit; sstatus.SIE stays 0.
    unsafe { core::arch::asm!("csrs sie, {0}", in(reg) 2usize, options(nomem, nostack)) };
    let mut t = TraceBuf { pos: 0 };
    let rsc = table();
    trace!(t, "contig remote firmware on hart {hart}: hello, host");
    trace!(
        t,
        "resource table at {rsc:#x}, {} entries",
        peek::<u32>(rsc + 4)
    );
    let cv = rsc + OFF_CARVEOUT;
    let (data, data_pa, data_len) = (
        peek::<u32>(cv + 4),
        peek::<u32>(cv + 8),
        peek::<u32>(cv + 12),
    );
    trace!(
        t,
        "carveout fw-data: da {data:#x} pa {data_pa:#x} len {data_len:#x}"
    );
    let data = data as usize;
    let valid = data != ANY as usize && data_len >= 16;
    if valid {
        poke(data, DATA_MAGIC);
        poke(data + 4, peek::<u32>(data + 4).wrapping_add(1));
        poke(data + 8, 0u32);
        trace!(t, "boot {} with this data carveout", peek::<u32>(data + 4));
    }
    let vd = rsc + OFF_VDEV;
    trace!(
        t,
        "vdev id {} notifyid {}",
        peek::<u32>(vd + 4),
        peek::<u32>(vd + 8)
    );
    let ring = |i: usize| vd + 28 + 20 * i;
    for i in 0..2 {
        let r = ring(i);
        trace!(
            t,
            "vring{i}: da {:#x} align {:#x} num {} notifyid {}",
            peek::<u32>(r),
            peek::<u32>(r + 4),
            peek::<u32>(r + 8),
            peek::<u32>(r + 12)
        );
    }
    // The host must have given both rings an address and distinct notify ids; without
    // them there is nothing to serve (the host's driver then times out and fails).
    let (id0, id1) = (peek::<u32>(ring(0) + 12), peek::<u32>(ring(1) + 12));
    let written_back = (0..2).all(|i| peek::<u32>(ring(i)) != ANY) && id0 != id1 && id0 != ANY;
    if !written_back {
        trace!(t, "vrings not written back by the host: stopping");
        sbi(0x48_534D, 1, 0);
    }
    while peek::<u8>(vd + 24) & DRIVER_OK == 0 {
        if stop_requested() {
            trace!(t, "stopped before the driver was ready");
            sbi(0x48_534D, 1, 0);
        }
        core::hint::spin_loop();
    }
    fence(Ordering::SeqCst);
    trace!(t, "driver ready (status {:#x})", peek::<u8>(vd + 24));
    let q = |i: usize| Queue::new(peek(ring(i)), peek(ring(i) + 8), peek(ring(i) + 4));
    let (mut rx, mut tx) = (q(0), q(1));
    let mut msg = [0u8; MSG_MAX];
    let mut out = [0u8; MSG_MAX];
    let mut echoed: u32 = 0;
    loop {
        ack_kick();
        if stop_requested() {
            break;
        }
        let mut progress = false;
        while let (Some(thead), Some(rhead)) = (tx.next(), rx.next()) {
            // Gather the transmitted message (driver-readable descriptors).
            let mut len = 0;
            let mut i = thead;
            for _ in 0..tx.num {
                let (addr, dlen, flags, next) = tx.desc(i);
                let n = (dlen as usize).min(MSG_MAX - len);
                for k in 0..n {
                    msg[len + k] = peek::<u8>(addr as usize + k);
                }
                len += n;
                if flags & 1 == 0 {
                    break;
                }
                i = next;
            }
            transform(&msg[..len], &mut out[..len]);
            // Answer into the receive buffer (its first descriptor, device-writable).
            let (addr, cap, _, _) = rx.desc(rhead);
            let n = len.min(cap as usize);
            for (k, &b) in out[..n].iter().enumerate() {
                poke(addr as usize + k, b);
            }
            rx.put(rhead, n as u32);
            tx.put(thead, 0);
            echoed = echoed.wrapping_add(1);
            if valid {
                poke(data + 8, echoed);
            }
            progress = true;
        }
        if !progress {
            wait();
        }
    }
    trace!(t, "stop requested: echoed {echoed} messages; hart_stop");
    fence(Ordering::SeqCst);
    sbi(0x48_534D, 1, 0);
    loop {
        wait();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo<'_>) -> ! {
    loop {
        wait();
    }
}
