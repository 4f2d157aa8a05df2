//! Firmware ELF images built byte by byte (ELF32 and ELF64), and core dumps read back.
#![allow(clippy::cast_possible_truncation)]

mod common;

use common::{Seg, image};
use contig_rproc_glue::DeviceAddr;
use contig_rproc_glue::coredump::{CoreFormat, CoredumpError, DumpSegment};
use contig_rproc_glue::firmware::{Firmware, FirmwareError, HeaderField, Segment};
use contig_rproc_glue::rsc::{CarveoutSpec, RscError, RscTableBuilder};

fn table() -> Vec<u8> {
    let mut b = RscTableBuilder::new();
    b.add_carveout(&CarveoutSpec::any("heap", 0x2000)).unwrap();
    b.build().unwrap()
}

const CODE: &[u8] = b"\x00\x20\x00\x10code";
const DATA: &[u8] = b"data";

fn two_segments() -> [Seg<'static>; 3] {
    [
        Seg {
            paddr: 0x1000_0000,
            data: CODE,
            memsz: 8,
            ptype: 1,
        },
        Seg {
            paddr: 0,
            data: b"note",
            memsz: 4,
            ptype: 4,
        }, // PT_NOTE: not loaded
        Seg {
            paddr: 0x3000_0000,
            data: DATA,
            memsz: 0x100,
            ptype: 1,
        },
    ]
}

fn check_image(elf64: bool) {
    let rsc = table();
    let bytes = image(elf64, &two_segments(), Some((0x1000_8000, &rsc)));
    let fw = Firmware::parse(&bytes).unwrap();
    assert_eq!(fw.is_64(), elf64);
    assert_eq!(
        (fw.machine(), fw.entry()),
        (40, DeviceAddr::new(0x1000_0101))
    );
    let segs: Vec<Segment<'_>> = fw.segments().collect();
    assert_eq!(segs.len(), 2);
    assert_eq!(
        (segs[0].index, segs[0].da, segs[0].memsz, segs[0].data),
        (0, DeviceAddr::new(0x1000_0000), 8, CODE)
    );
    assert_eq!(
        (segs[1].index, segs[1].da, segs[1].memsz, segs[1].data),
        (2, DeviceAddr::new(0x3000_0000), 0x100, DATA)
    );
    assert_eq!(segs[1].flags, 7);
    let section = fw.rsc_section().unwrap();
    assert_eq!(
        (section.da, section.bytes),
        (DeviceAddr::new(0x1000_8000), &rsc[..])
    );
    assert_eq!(fw.resource_table().unwrap().unwrap().num(), 1);
}

#[test]
fn elf32_image_lists_segments_and_finds_the_resource_table() {
    check_image(false);
}

#[test]
fn elf64_image_lists_segments_and_finds_the_resource_table() {
    check_image(true);
}

#[test]
fn image_without_resource_table() {
    let bytes = image(false, &two_segments(), None);
    let fw = Firmware::parse(&bytes).unwrap();
    assert_eq!(fw.rsc_section(), None);
    assert!(matches!(fw.resource_table(), Ok(None)));
}

#[test]
fn every_truncation_is_an_error() {
    for elf64 in [false, true] {
        let rsc = table();
        let bytes = image(elf64, &two_segments(), Some((0x1000_8000, &rsc)));
        for len in 0..bytes.len() {
            assert!(
                Firmware::parse(&bytes[..len]).is_err(),
                "elf64={elf64} len={len}"
            );
        }
    }
}

#[test]
fn inconsistent_segments_are_refused() {
    let over = [Seg {
        paddr: 0x1000,
        data: CODE,
        memsz: 4,
        ptype: 1,
    }];
    let err = Firmware::parse(&image(false, &over, None)).unwrap_err();
    assert!(matches!(
        err,
        FirmwareError::Segment {
            index: 0,
            field: HeaderField::FileSize,
            value: 8,
            limit: 4
        }
    ));
    let wrap = [Seg {
        paddr: u64::MAX - 4,
        data: CODE,
        memsz: 8,
        ptype: 1,
    }];
    let err = Firmware::parse(&image(true, &wrap, None)).unwrap_err();
    assert!(matches!(
        err,
        FirmwareError::Segment {
            index: 0,
            field: HeaderField::MemSize,
            value: 8,
            ..
        }
    ));
    let none = [Seg {
        paddr: 0,
        data: b"note",
        memsz: 4,
        ptype: 4,
    }];
    assert!(matches!(
        Firmware::parse(&image(false, &none, None)),
        Err(FirmwareError::NoLoadableSegments)
    ));
    // A segment whose file bytes run past the end of the image.
    let mut bytes = image(false, &two_segments(), None);
    let at = 52 + 4; // p_offset of segment 0
    bytes[at..at + 4].copy_from_slice(&0xffff_fff0u32.to_le_bytes());
    let err = Firmware::parse(&bytes).unwrap_err();
    assert!(matches!(
        err,
        FirmwareError::Segment {
            index: 0,
            field: HeaderField::Offset,
            value: 0xffff_fff0,
            ..
        }
    ));
}

#[test]
fn big_endian_and_bad_tables_are_refused() {
    let mut bytes = image(false, &two_segments(), None);
    bytes[5] = 2; // ELFDATA2MSB
    assert!(matches!(
        Firmware::parse(&bytes),
        Err(FirmwareError::Elf(_))
    ));
    let mut bad = table();
    bad[0] = 2; // version 2
    let bytes = image(false, &two_segments(), Some((0, &bad)));
    let fw = Firmware::parse(&bytes).unwrap();
    assert!(matches!(
        fw.resource_table(),
        Err(FirmwareError::Rsc(RscError::Version { ver: 2 }))
    ));
}

#[test]
fn resource_table_section_outside_the_file_is_refused() {
    let rsc = table();
    let mut bytes = image(false, &two_segments(), Some((0, &rsc)));
    let shoff = u32::from_le_bytes(bytes[32..36].try_into().unwrap()) as usize;
    let size_at = shoff + 40 + 20; // section 1, sh_size
    bytes[size_at..size_at + 4].copy_from_slice(&0x10_0000u32.to_le_bytes());
    let err = Firmware::parse(&bytes).unwrap_err();
    assert!(matches!(
        err,
        FirmwareError::RscSection {
            field: HeaderField::Offset,
            ..
        }
    ));
    // SHT_NOBITS has no bytes to hold a table.
    let mut bytes = image(false, &two_segments(), Some((0, &rsc)));
    bytes[shoff + 40 + 4..shoff + 40 + 8].copy_from_slice(&8u32.to_le_bytes());
    let err = Firmware::parse(&bytes).unwrap_err();
    assert!(matches!(
        err,
        FirmwareError::RscSection {
            field: HeaderField::SectionType,
            value: 8
        }
    ));
}

// ---- core dumps ----

fn memory(da: DeviceAddr, dest: &mut [u8]) -> bool {
    // The remote's memory: bytes equal to the low byte of their address, only in
    // [0x1000_0000, 0x1000_1000).
    let base = da.as_u64();
    if !(0x1000_0000..0x1000_1000).contains(&base) {
        return false;
    }
    for (i, b) in dest.iter_mut().enumerate() {
        *b = (base + i as u64) as u8;
    }
    true
}

#[test]
fn core_dump_is_an_elf_core_with_one_load_per_segment() {
    for elf64 in [false, true] {
        let fmt = CoreFormat {
            elf64,
            machine: 40,
            entry: DeviceAddr::new(0x1000_0000),
        };
        let segs = [
            DumpSegment {
                da: DeviceAddr::new(0x1000_0010),
                size: 16,
            },
            DumpSegment {
                da: DeviceAddr::new(0x2000_0000),
                size: 8,
            },
        ];
        let core = fmt.core_vec(&segs, &mut memory).unwrap();
        assert_eq!(core.len(), fmt.core_size(&segs).unwrap());
        assert_eq!(u16::from_le_bytes([core[16], core[17]]), 4); // ET_CORE
        let fw = Firmware::parse(&core).unwrap();
        assert_eq!(
            (fw.is_64(), fw.machine(), fw.entry()),
            (elf64, 40, DeviceAddr::new(0x1000_0000))
        );
        let loads: Vec<Segment<'_>> = fw.segments().collect();
        assert_eq!(loads.len(), 2);
        assert_eq!((loads[0].da, loads[0].memsz), (segs[0].da, 16));
        assert_eq!(loads[0].data, &(0x10u8..0x20).collect::<Vec<_>>()[..]);
        assert_eq!((loads[1].da, loads[1].data), (segs[1].da, &[0xff; 8][..]));
        assert_eq!(loads[1].flags, 7);
    }
}

#[test]
fn core_dump_refusals() {
    let fmt = CoreFormat {
        elf64: false,
        machine: 40,
        entry: DeviceAddr::new(0),
    };
    let segs = [DumpSegment {
        da: DeviceAddr::new(0x1000_0000),
        size: 4,
    }];
    let mut small = [0xAAu8; 52 + 32 + 3];
    assert_eq!(
        fmt.write_core(&segs, &mut memory, &mut small),
        Err(CoredumpError::NoSpace {
            needed: 88,
            available: 87
        })
    );
    assert!(small.iter().all(|&b| b == 0xAA));
    let high = [DumpSegment {
        da: DeviceAddr::new(1 << 32),
        size: 4,
    }];
    assert_eq!(
        fmt.core_size(&high),
        Err(CoredumpError::NotElf32 {
            segment: 0,
            da: DeviceAddr::new(1 << 32),
            size: 4
        })
    );
    let fmt64 = CoreFormat { elf64: true, ..fmt };
    assert_eq!(fmt64.core_size(&high), Ok(64 + 56 + 4));
    let huge = [DumpSegment {
        da: DeviceAddr::new(0),
        size: u64::MAX,
    }];
    assert_eq!(
        fmt64.core_size(&huge),
        Err(CoredumpError::TooLarge {
            segment: 0,
            size: u64::MAX
        })
    );
    assert_eq!(fmt64.core_size(&[]), Ok(64));
}

/// An ELF32 `p_offset` is 32 bits too: a segment that starts past 4 GiB of the file
/// must be refused, not written with a clipped offset.
#[cfg(target_pointer_width = "64")]
#[test]
fn elf32_core_refuses_a_segment_offset_past_4_gib() {
    let fmt = CoreFormat {
        elf64: false,
        machine: 40,
        entry: DeviceAddr::new(0),
    };
    let big = |da| DumpSegment {
        da: DeviceAddr::new(da),
        size: 0xffff_0000,
    };
    let segs = [big(0), big(0x1000), big(0x2000)];
    // Headers (52 + 3 * 32) + one segment: the second's offset still fits.
    let second_offset = 52 + 3 * 32 + 0xffff_0000_u64;
    assert!(u32::try_from(second_offset).is_ok());
    assert_eq!(
        fmt.core_size(&segs),
        Err(CoredumpError::NotElf32 {
            segment: 2,
            da: DeviceAddr::new(0x2000),
            size: 0xffff_0000,
        })
    );
    let fmt64 = CoreFormat { elf64: true, ..fmt };
    assert_eq!(
        fmt64.core_size(&segs),
        Ok(64 + 3 * 56 + 3 * 0xffff_0000_usize)
    );
}
