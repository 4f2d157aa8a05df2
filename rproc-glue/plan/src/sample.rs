//! The sample firmware the planner runs on by default, built by the repo itself.
//!
//! This module owns [`table`] (an OpenAMP-like resource table made with the crate's
//! [`RscTableBuilder`]) and [`image`] (a little-endian ELF32 ARM executable holding it
//! in a `.resource_table` section). The committed `tests/fixtures/openamp-m4.elf` is
//! exactly `image()`; `rproc-plan --write-sample FILE` writes it again and a test
//! compares the bytes. It must never depend on anything but constants, so the bytes
//! are the same on every machine.
#![forbid(unsafe_code)]

use contig_rproc_glue::DeviceAddr;
use contig_rproc_glue::rsc::{CarveoutSpec, RscTableBuilder, TraceSpec, VdevSpec, VringSpec};

/// Where the firmware's code and data start: MCURAM2 (SRAM1), at the same device and
/// physical address on the STM32MP15's M4.
pub(crate) const CODE_DA: u32 = 0x1000_0000;
/// Bytes of the code segment in memory.
pub(crate) const CODE_MEMSZ: u32 = 0x1_0000;
/// Offset of the resource table inside the code segment.
pub(crate) const TABLE_OFFSET: u32 = 0x400;
/// The trace buffer, inside MCURAM2 past the code.
pub(crate) const TRACE_DA: u32 = 0x1003_0000;
/// Bytes of the trace buffer.
pub(crate) const TRACE_LEN: u32 = 0x2000;
/// Bytes of the ANY carveout "mcuram".
pub(crate) const HEAP_LEN: u32 = 0x8000;
/// Buffers per vring: 16, as ST's OpenAMP firmware for the STM32MP1 has them (its
/// rpmsg buffers, 2 x 16 x 512 bytes, fill the DK2's 16K `vdev0buffer` exactly).
pub(crate) const RING_NUM: u32 = 16;

/// The table: carveout "mcuram" (ANY, 32K: it binds to the MCURAM region of that
/// name, as Linux's stm32 driver registers every region by node name), trace "trace0"
/// (8K in MCURAM2), one rpmsg vdev (id 7, dfeatures 1) with two ANY vrings (align
/// 0x1000, num 16, notify ids 1 and 2), as an OpenAMP firmware declares them.
pub(crate) fn table() -> Vec<u8> {
    let mut b = RscTableBuilder::new();
    let rings = [1, 2].map(|notifyid| VringSpec {
        da: None,
        align: 0x1000,
        num: RING_NUM,
        notifyid,
    });
    let steps = [
        b.add_carveout(&CarveoutSpec::any("mcuram", HEAP_LEN)),
        b.add_trace(&TraceSpec {
            da: DeviceAddr::new(u64::from(TRACE_DA)),
            len: TRACE_LEN,
            name: "trace0",
        }),
        b.add_vdev(&VdevSpec {
            id: 7,
            notifyid: 0,
            dfeatures: 1,
            vrings: &rings,
            config: &[],
        }),
    ];
    // Constant specs well inside every limit of the builder: a failure here is a bug
    // of this file, caught by the sample test.
    for step in steps {
        step.expect("the sample table is valid");
    }
    b.build().unwrap()
}

/// The sample image: one `PT_LOAD` segment at [`CODE_DA`] (a vector table, then the
/// resource table at [`TABLE_OFFSET`], `CODE_MEMSZ` bytes in memory) and the sections
/// `.resource_table` and `.shstrtab`.
pub(crate) fn image() -> Vec<u8> {
    let table = table();
    let mut data = vectors();
    data.extend_from_slice(&table);
    let strtab: &[u8] = b"\0.resource_table\0.shstrtab\0";
    let (ehsize, phsize) = (52u32, 32u32);
    let data_at = ehsize + phsize;
    let strtab_at = data_at + len32(&data);
    let shoff = strtab_at + len32(strtab);

    let mut out = vec![0x7f, b'E', b'L', b'F', 1, 1, 1, 0];
    out.resize(16, 0);
    half(&mut out, 2); // ET_EXEC
    half(&mut out, 40); // EM_ARM
    let (ehsize16, phsize16, shsize16) = (52u16, 32u16, 40u16);
    for w in [1, CODE_DA | 1, ehsize, shoff, 0x0500_0000] {
        word(&mut out, w); // version, entry (Thumb), phoff, shoff, flags (EABI5)
    }
    for h in [ehsize16, phsize16, 1, shsize16, 3, 2] {
        half(&mut out, h); // ehsize, phentsize, phnum, shentsize, shnum, shstrndx
    }
    // PT_LOAD, offset, vaddr, paddr, filesz, memsz, flags R+X, align
    for w in [1, data_at, CODE_DA, CODE_DA, len32(&data), CODE_MEMSZ, 5, 4] {
        word(&mut out, w);
    }
    out.extend_from_slice(&data);
    out.extend_from_slice(strtab);
    out.resize(out.len() + 40, 0); // the null section header
    let rsc = [
        1,
        1,
        2,
        CODE_DA + TABLE_OFFSET,
        data_at + TABLE_OFFSET,
        len32(&table),
        0,
        0,
        4,
        0,
    ];
    let shstrtab = [17, 3, 0, 0, strtab_at, len32(strtab), 0, 0, 1, 0];
    for w in rsc.into_iter().chain(shstrtab) {
        word(&mut out, w); // name, type, flags (ALLOC), addr, offset, size, link, info, align, entsize
    }
    out
}

/// A Cortex-M vector table: initial stack pointer at the top of the segment, reset
/// handler right after the table, the rest zero.
fn vectors() -> Vec<u8> {
    let mut v = Vec::with_capacity(TABLE_OFFSET as usize);
    word(&mut v, CODE_DA + CODE_MEMSZ);
    word(&mut v, (CODE_DA + TABLE_OFFSET) | 1);
    v.resize(TABLE_OFFSET as usize, 0);
    v
}

fn len32(bytes: &[u8]) -> u32 {
    // Every piece of the sample is a few hundred bytes.
    u32::try_from(bytes.len()).expect("the sample is small")
}

fn word(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn half(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}
