//! Firmware images carrying resource tables transcribed from upstream firmware
//! sources, for the planner's end-to-end tests on upstream boards.
//!
//! This module owns [`images`]: every test firmware as `(file name, bytes)`, and the
//! little ELF writer they share. Each table is written field by field as its C source
//! lays it out (same values, same padding), with the source repository, path and
//! commit next to it; the segments put code and the table where that firmware's
//! linker script or platform convention puts them. `rproc-plan
//! --write-upstream-firmware DIR` writes them; `tests/fixtures/firmware/rebuild.sh
//! --check` and a test fail when a committed image differs. It must never depend on
//! anything but constants, so the bytes are the same on every machine.
#![forbid(unsafe_code)]

/// `EM_ARM`.
const EM_ARM: u16 = 40;
/// `EM_X86_64`.
const EM_X86_64: u16 = 62;
/// `FW_RSC_ADDR_ANY`.
const ANY: u32 = 0xFFFF_FFFF;
/// `RSC_VDEV`.
const RSC_VDEV: u32 = 3;
/// `VIRTIO_ID_RPMSG`.
const VIRTIO_ID_RPMSG: u32 = 7;

/// Every upstream-derived test firmware, `(file name, image)`.
pub(crate) fn images() -> Vec<(&'static str, Vec<u8>)> {
    let zephyr = zephyr_table();
    let mut out = vec![
        // Zephyr's STM32MP157C-DK2 board: code in RETRAM, the M4's address 0
        // (zephyr,flash = &retram), data and the table in MCU SRAM at 0x10000000.
        (
            "zephyr-stm32mp157c-dk2.elf",
            elf(
                false,
                EM_ARM,
                &[
                    segment(0x0, vectors(0x1004_0000, 0x0), 0x4000),
                    segment(0x1000_0000, zephyr.clone(), 0x1000),
                ],
                (1, 0),
            ),
        ),
        // The same table in an x86-64 ELF64: the wrong machine for every profile but
        // generic.
        (
            "zephyr-table-x86_64.elf",
            elf(
                true,
                EM_X86_64,
                &[segment(0x1000_0000, zephyr.clone(), 0x1000)],
                (0, 0),
            ),
        ),
    ];
    // Zephyr's i.MX8MP EVK M7 board: code in ITCM (the M7's address 0), data and the
    // table in DTCM (0x20000000); the board's conf swaps the IPM ids
    // (`boards/imx8mp_evk_mimx8ml8_m7.conf` @ 3105544f0ed98914ebb954e7de76e898ba4acf6a:
    // RX id 1, TX id 0).
    out.push((
        "zephyr-imx8mp-evk-m7.elf",
        elf(
            false,
            EM_ARM,
            &[
                segment(0x0, vectors(0x2002_0000, 0x0), 0x4000),
                segment(0x2000_0000, zephyr_table_ids(1, 0), 0x1000),
            ],
            (1, 0),
        ),
    ));
    // TI K3 firmware keeps its resource table at the base of the DDR region reserved
    // for it (Linux ti_k3_common.c reads it there in IPC-only mode); the vectors sit in
    // ATCM (IRAM on the M4F) at the core's address 0.
    for (name, ddr) in [
        ("zephyr-am64x-r5f0_0.elf", 0xa010_0000),
        ("zephyr-am64x-r5f0_1.elf", 0xa110_0000),
        ("zephyr-am64x-r5f1_0.elf", 0xa210_0000),
        ("zephyr-am64x-r5f1_1.elf", 0xa310_0000),
        ("zephyr-am62x-m4f.elf", 0x9cc0_0000),
        ("zephyr-am62x-r5f.elf", 0x9db0_0000),
    ] {
        out.push((
            name,
            elf(
                false,
                EM_ARM,
                &[
                    segment(0x0, vectors(0x1_0000, 0x0), 0x1000),
                    segment(ddr, zephyr.clone(), 0x1_0000),
                ],
                (1, 0),
            ),
        ));
    }
    // OpenAMP's zynqmp_r5 apps: vectors in ATCM at 0, the rest (and the table) in the
    // RPU's DDR firmware region (0x3ed00000 for RPU0, 0x3ef00000 for RPU1).
    let xlnx = zynqmp_r5_table();
    for (name, ddr) in [
        ("openamp-zynqmp-r5-rpu0.elf", 0x3ed0_0000),
        ("openamp-zynqmp-r5-rpu1.elf", 0x3ef0_0000),
    ] {
        out.push((
            name,
            elf(
                false,
                EM_ARM,
                &[
                    segment(0x0, vec![0; 0x40], 0x100),
                    segment(ddr, xlnx.clone(), 0x2_0000),
                ],
                (1, 0),
            ),
        ));
    }
    out
}

/// Zephyr's resource table, `lib/open-amp/resource_table.c` and `resource_table.h`
/// (zephyrproject-rtos/zephyr @ 0a28ce94e292774ab896c589c5cfdd4d6b6dbade and
/// @ 0288e8cab82dbef52e852292a8694aa7d3b5c3ab) as the `openamp_rsc_table` sample
/// builds it (`samples/subsys/ipc/openamp_rsc_table/prj.conf`
/// @ 1714a88861dbf49c03af2192db22593e2d32bb93: `OPENAMP_RSC_TABLE_NUM_RPMSG_BUFF=8`,
/// no `RAM_CONSOLE`; `lib/open-amp/Kconfig` @ 01b8849a177d3ffd9f45c4a062a004faccaebaa1:
/// IPM RX id 0, TX id 1): one entry, the rpmsg vdev (`VIRTIO_ID_RPMSG`, features 1,
/// two rings at `FW_RSC_ADDR_ANY` aligned to 16 with 8 buffers, notify ids 0 and 1).
fn zephyr_table() -> Vec<u8> {
    zephyr_table_ids(0, 1)
}

/// [`zephyr_table`] with other `OPENAMP_RSC_TABLE_IPM_RX_ID` / `_TX_ID` values
/// (vring0's notify id is the RX id, vring1's the TX id).
fn zephyr_table_ids(rx: u32, tx: u32) -> Vec<u8> {
    let mut t = Vec::new();
    words(&mut t, &[1, 1, 0, 0]); // ver, num, reserved[2]
    words(&mut t, &[20]); // offset[0] = offsetof(struct fw_resource_table, vdev)
    vdev(&mut t, 0, 1);
    words(&mut t, &[ANY, 16, 8, rx, 0]); // vring0: TX address, 16, 8 buffers, RX id
    words(&mut t, &[ANY, 16, 8, tx, 0]); // vring1: RX address, 16, 8 buffers, TX id
    t
}

/// OpenAMP's ZynqMP R5 table, `examples/legacy_apps/machine/xlnx/zynqmp_r5/rsc_table.c`
/// and `rsc_table.h` (OpenAMP/openamp-system-reference
/// @ 843ec100a54e73429694dbcfe7d91640f6378402): `offset[NO_RESOURCE_ENTRIES = 8]`
/// with one entry, the rpmsg vdev (notify id 31, `1 << VIRTIO_RPMSG_F_NS`), two rings
/// at `FW_RSC_U32_ADDR_ANY` aligned to 0x1000 with 256 buffers (notify ids 1 and 2);
/// the struct is `aligned(0x100)`, so 256 bytes.
fn zynqmp_r5_table() -> Vec<u8> {
    let mut t = Vec::new();
    words(&mut t, &[1, 1, 0, 0]);
    words(&mut t, &[48, 0, 0, 0, 0, 0, 0, 0]); // offsetof(rpmsg_vdev), 7 unused
    vdev(&mut t, 31, 1);
    words(&mut t, &[ANY, 0x1000, 256, 1, 0]);
    words(&mut t, &[ANY, 0x1000, 256, 2, 0]);
    t.resize(0x100, 0);
    t
}

/// `struct fw_rsc_vdev` with its type word: rpmsg, two rings, no config.
fn vdev(t: &mut Vec<u8>, notifyid: u32, dfeatures: u32) {
    words(t, &[RSC_VDEV, VIRTIO_ID_RPMSG, notifyid, dfeatures, 0, 0]);
    t.extend_from_slice(&[0, 2, 0, 0]); // status, num_of_vrings, reserved[2]
}

fn words(out: &mut Vec<u8>, ws: &[u32]) {
    for w in ws {
        out.extend_from_slice(&w.to_le_bytes());
    }
}

/// A Cortex-M vector table: initial stack pointer, reset handler (Thumb) right after.
fn vectors(sp: u32, base: u32) -> Vec<u8> {
    let mut v = Vec::new();
    words(&mut v, &[sp, (base + 0x40) | 1]);
    v.resize(0x40, 0);
    v
}

/// A `PT_LOAD` segment: device address, file bytes, bytes in memory.
struct Seg {
    da: u64,
    data: Vec<u8>,
    memsz: u64,
}

fn segment(da: u64, data: Vec<u8>, memsz: u64) -> Seg {
    Seg { da, data, memsz }
}

/// A little-endian executable: `segs` as `PT_LOAD` program headers (physical =
/// virtual = `da`), and the sections `.resource_table` (at `table.1` bytes into
/// segment `table.0`, to that segment's end of file data) and `.shstrtab`.
fn elf(is_64: bool, machine: u16, segs: &[Seg], table: (usize, usize)) -> Vec<u8> {
    let (ehsize, phsize, shsize) = if is_64 { (64, 56, 64) } else { (52, 32, 40) };
    let strtab: &[u8] = b"\0.resource_table\0.shstrtab\0";
    let mut at = ehsize + phsize * segs.len();
    let mut offsets = Vec::new();
    for s in segs {
        offsets.push(at);
        at += s.data.len();
    }
    let strtab_at = at;
    let shoff = strtab_at + strtab.len();
    let entry = segs.first().map_or(0, |s| s.da);
    let mut out = vec![0x7f, b'E', b'L', b'F', if is_64 { 2 } else { 1 }, 1, 1, 0];
    out.resize(16, 0);
    half(&mut out, 2); // ET_EXEC
    half(&mut out, machine);
    word32(&mut out, 1); // EV_CURRENT
    for v in [entry, ehsize as u64, shoff as u64] {
        addr(&mut out, is_64, v); // entry, phoff, shoff
    }
    word32(&mut out, if machine == EM_ARM { 0x0500_0000 } else { 0 }); // flags
    for h in [ehsize, phsize, segs.len(), shsize, 3, 2] {
        half(&mut out, u16::try_from(h).unwrap_or(u16::MAX));
    }
    for (s, &off) in segs.iter().zip(&offsets) {
        word32(&mut out, 1); // PT_LOAD
        if is_64 {
            word32(&mut out, 7); // flags RWX
        }
        for v in [off as u64, s.da, s.da, s.data.len() as u64, s.memsz] {
            addr(&mut out, is_64, v);
        }
        if !is_64 {
            word32(&mut out, 7);
        }
        addr(&mut out, is_64, 4); // align
    }
    for s in segs {
        out.extend_from_slice(&s.data);
    }
    out.extend_from_slice(strtab);
    out.resize(out.len() + shsize, 0); // the null section header
    let (seg, within) = table;
    let (t_da, t_off, t_len) = segs.get(seg).map_or((0, 0, 0), |s| {
        (
            s.da + within as u64,
            offsets.get(seg).copied().unwrap_or(0) + within,
            s.data.len().saturating_sub(within),
        )
    });
    // name, type, flags, addr, offset, size, link, info, align, entsize
    section(
        &mut out,
        is_64,
        [1, 1, 2, t_da, t_off as u64, t_len as u64, 0, 0, 4, 0],
    );
    let strtab_len = strtab.len() as u64;
    section(
        &mut out,
        is_64,
        [17, 3, 0, 0, strtab_at as u64, strtab_len, 0, 0, 1, 0],
    );
    out
}

fn section(out: &mut Vec<u8>, is_64: bool, f: [u64; 10]) {
    let [
        name,
        kind,
        flags,
        addr_,
        off,
        size,
        link,
        info,
        align,
        entsize,
    ] = f;
    for v in [name, kind] {
        word32(out, u32::try_from(v).unwrap_or(0));
    }
    for v in [flags, addr_, off, size] {
        addr(out, is_64, v);
    }
    for v in [link, info] {
        word32(out, u32::try_from(v).unwrap_or(0));
    }
    for v in [align, entsize] {
        addr(out, is_64, v);
    }
}

/// An address-sized field: 8 bytes in ELF64, the low 4 in ELF32.
fn addr(out: &mut Vec<u8>, is_64: bool, v: u64) {
    if is_64 {
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        word32(out, u32::try_from(v).unwrap_or(u32::MAX));
    }
}

fn word32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_le_bytes());
}

fn half(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_le_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use contig_rproc_glue::firmware::Firmware;
    use contig_rproc_glue::rsc::Resource;

    #[test]
    fn every_image_parses_with_its_table_where_it_was_put() {
        for (name, image) in images() {
            let fw = Firmware::parse(&image).unwrap_or_else(|e| panic!("{name}: {e}"));
            let table = fw.resource_table().unwrap().unwrap();
            let vdevs: Vec<_> = table
                .entries()
                .filter_map(|e| match e.resource {
                    Resource::Vdev(v) => Some(v),
                    _ => None,
                })
                .collect();
            assert_eq!(vdevs.len(), 1, "{name}");
            assert_eq!(vdevs[0].id, 7, "{name}");
            assert_eq!(vdevs[0].vrings().count(), 2, "{name}");
        }
        assert_eq!(zephyr_table().len(), 88);
        assert_eq!(zynqmp_r5_table().len(), 0x100);
    }
}
