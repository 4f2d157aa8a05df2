//! Resource tables shaped like real firmware, and every malformed case.
// Fixtures are a few hundred bytes: their lengths fit every field.
#![allow(clippy::cast_possible_truncation)]

use contig_rproc_glue::DeviceAddr;
use contig_rproc_glue::dma_pool::cma::PhysAddr;
use contig_rproc_glue::rsc::{
    BuildError, CarveoutSpec, EntryError, FW_RSC_ADDR_ANY, Field, MAX_ENTRIES, NOTIFYID_NONE,
    Problem, Resource, RscError, RscTable, RscTableBuilder, RscTableMut, TraceSpec, VdevSpec,
    Vring, VringField, VringSpec, WriteError,
};

const ANY: u32 = FW_RSC_ADDR_ANY;

fn words(ws: &[u32]) -> Vec<u8> {
    ws.iter().flat_map(|w| w.to_le_bytes()).collect()
}

fn name(n: &str) -> Vec<u8> {
    let mut b = n.as_bytes().to_vec();
    b.resize(32, 0);
    b
}

/// A table with `slots` offset slots (at least `entries.len()`), entries back to back.
fn table_with_slots(entries: &[Vec<u8>], slots: usize) -> Vec<u8> {
    let mut out = words(&[1, entries.len() as u32, 0, 0]);
    let mut offset = 16 + 4 * slots;
    let mut offsets = vec![0u32; slots];
    for (slot, e) in offsets.iter_mut().zip(entries) {
        *slot = offset as u32;
        offset += e.len();
    }
    out.extend(words(&offsets));
    for e in entries {
        out.extend_from_slice(e);
    }
    out
}

fn table(entries: &[Vec<u8>]) -> Vec<u8> {
    table_with_slots(entries, entries.len())
}

fn carveout(da: u32, pa: u32, len: u32, n: &str) -> Vec<u8> {
    let mut e = words(&[0, da, pa, len, 0, 0]);
    e.extend(name(n));
    e
}

fn devmem(da: u32, pa: u32, len: u32) -> Vec<u8> {
    let mut e = words(&[1, da, pa, len, 0, 0]);
    e.extend(name("regs"));
    e
}

fn trace(da: u32, len: u32) -> Vec<u8> {
    let mut e = words(&[2, da, len, 0]);
    e.extend(name("trace0"));
    e
}

/// vdev entry; each ring is (da, align, num, notifyid).
fn vdev(id: u32, dfeatures: u32, rings: &[(u32, u32, u32, u32)], config: &[u8]) -> Vec<u8> {
    let mut e = words(&[3, id, 0, dfeatures, 0, config.len() as u32]);
    e.extend_from_slice(&[0, rings.len() as u8, 0, 0]);
    for &(da, align, num, notifyid) in rings {
        e.extend(words(&[da, align, num, notifyid, 0]));
    }
    e.extend_from_slice(config);
    e
}

fn rpmsg(align: u32) -> Vec<u8> {
    vdev(7, 1, &[(ANY, align, 256, 1), (ANY, align, 256, 2)], &[])
}

fn only_vdev(t: &RscTable<'_>) -> contig_rproc_glue::rsc::Vdev<'static> {
    // Re-parse into a leaked table so the view outlives the helper (tests only).
    let bytes: &'static [u8] = Vec::leak(t.bytes().to_vec());
    let t = RscTable::parse(bytes).unwrap();
    let vdevs: Vec<_> = t
        .entries()
        .filter_map(|e| match e.resource {
            Resource::Vdev(v) => Some(v),
            _ => None,
        })
        .collect();
    assert_eq!(vdevs.len(), 1);
    vdevs[0]
}

fn entry_err(bytes: &[u8]) -> EntryError {
    match RscTable::parse(bytes) {
        Err(RscError::Entry(e)) => e,
        other => panic!("expected an entry error, got {other:?}"),
    }
}

// ---- tables shaped like real firmware ----

#[test]
fn openamp_rpmsg_vdev_with_two_any_vrings() {
    let bytes = table(&[rpmsg(0x1000)]);
    let t = RscTable::parse(&bytes).unwrap();
    assert_eq!(t.num(), 1);
    assert_eq!(t.entry(0).unwrap().offset, 20);
    let v = only_vdev(&t);
    assert_eq!((v.id, v.dfeatures, v.gfeatures, v.status), (7, 1, 0, 0));
    assert_eq!(v.num_of_vrings(), 2);
    assert!(v.config().is_empty());
    let rings: Vec<Vring> = v.vrings().collect();
    assert_eq!(
        rings,
        [1, 2].map(|id| Vring {
            da: None,
            align: 0x1000,
            num: 256,
            notifyid: id,
            pa: None
        })
    );
    assert_eq!(v.vring(1), Some(rings[1]));
    assert_eq!(v.vring(2), None);
    assert_eq!(t.skipped().count(), 0);
}

#[test]
fn zephyr_rpmsg_vdev_with_align_16() {
    let bytes = table(&[rpmsg(16)]);
    let v = only_vdev(&RscTable::parse(&bytes).unwrap());
    assert!(
        v.vrings()
            .all(|r| r.align == 16 && r.num == 256 && r.da.is_none())
    );
}

#[test]
fn fixed_address_vrings_and_config_space() {
    let cfg = [0xAA, 0xBB, 0xCC];
    let rings = [(0x1004_0000, 0x1000, 16, 0), (0x1004_1000, 0x1000, 16, 1)];
    let bytes = table(&[vdev(7, 1, &rings, &cfg)]);
    let v = only_vdev(&RscTable::parse(&bytes).unwrap());
    let das: Vec<_> = v.vrings().map(|r| r.da).collect();
    assert_eq!(
        das,
        [
            Some(DeviceAddr::new(0x1004_0000)),
            Some(DeviceAddr::new(0x1004_1000))
        ]
    );
    assert_eq!(v.config(), &cfg);
    assert_eq!(v.body_len(), 24 + 40 + 3);
}

#[test]
fn vendor_entry_before_the_vdev_reaches_the_caller_with_the_rest_of_the_table() {
    let vendor = words(&[128, 0xdead_beef, 0x1234]);
    let bytes = table(&[vendor, rpmsg(0x1000)]);
    let t = RscTable::parse(&bytes).unwrap();
    let e0 = t.entry(0).unwrap();
    let Resource::Vendor(v) = e0.resource else {
        panic!("{e0:?}")
    };
    assert_eq!(v.kind, 128);
    assert_eq!(&v.body[..8], &words(&[0xdead_beef, 0x1234])[..]);
    assert_eq!(v.body.len(), bytes.len() - 24 - 4);
    assert!(matches!(t.entry(1).unwrap().resource, Resource::Vdev(_)));
}

#[test]
fn vendor_range_ends_are_inclusive_and_other_types_are_skipped_with_a_report() {
    let bytes = table(&[words(&[512]), words(&[4]), words(&[127]), words(&[513])]);
    let t = RscTable::parse(&bytes).unwrap();
    assert!(matches!(t.entry(0).unwrap().resource, Resource::Vendor(v) if v.kind == 512));
    let skipped: Vec<(u32, u32)> = t.skipped().map(|s| (s.index, s.kind)).collect();
    assert_eq!(skipped, [(1, 4), (2, 127), (3, 513)]);
}

#[test]
fn trace_carveout_and_devmem_entries() {
    let bytes = table(&[
        carveout(0x1000_0000, 0x1000_0000, 0x4_0000, "mcuram2"),
        devmem(0x4000_0000, 0x4000_0000, 0x1000),
        trace(0x1000_1000, 0x400),
    ]);
    let t = RscTable::parse(&bytes).unwrap();
    let all: Vec<_> = t.entries().map(|e| e.resource).collect();
    let Resource::Carveout(c) = all[0] else {
        panic!()
    };
    assert_eq!(c.da, Some(DeviceAddr::new(0x1000_0000)));
    assert_eq!(c.pa, Some(PhysAddr::new(0x1000_0000)));
    assert_eq!(
        (c.len, c.name(), c.name_str()),
        (0x4_0000, &b"mcuram2"[..], Some("mcuram2"))
    );
    let Resource::Devmem(d) = all[1] else {
        panic!()
    };
    assert_eq!(
        (d.da, d.pa, d.len),
        (
            DeviceAddr::new(0x4000_0000),
            PhysAddr::new(0x4000_0000),
            0x1000
        )
    );
    let Resource::Trace(tr) = all[2] else {
        panic!()
    };
    assert_eq!(
        (tr.da, tr.len, tr.name_str()),
        (DeviceAddr::new(0x1000_1000), 0x400, Some("trace0"))
    );
}

#[test]
fn offset_array_with_more_slots_than_num() {
    let bytes = table_with_slots(&[trace(0x2000, 0x100), rpmsg(0x1000)], 5);
    let t = RscTable::parse(&bytes).unwrap();
    assert_eq!(t.num(), 2);
    assert_eq!(t.entry(0).unwrap().offset, 16 + 20);
    assert_eq!(t.entries().count(), 2);
    assert_eq!(t.entry(2), None);
}

#[test]
fn any_in_carveout_da_and_pa_is_none_whatever_the_word_size() {
    let bytes = table(&[carveout(ANY, ANY, 0x1000, "any")]);
    let Resource::Carveout(c) = RscTable::parse(&bytes).unwrap().entry(0).unwrap().resource else {
        panic!()
    };
    assert_eq!((c.da, c.pa), (None, None));
}

#[test]
fn empty_table_and_unterminated_name() {
    let empty = words(&[1, 0, 0, 0]);
    let t = RscTable::parse(&empty).unwrap();
    assert_eq!((t.num(), t.entries().count()), (0, 0));
    let mut e = words(&[0, ANY, ANY, 16, 0, 0]);
    e.extend([b'x'; 32]);
    let bytes = table(&[e]);
    let Resource::Carveout(c) = RscTable::parse(&bytes).unwrap().entry(0).unwrap().resource else {
        panic!()
    };
    assert_eq!(c.name(), &[b'x'; 32]);
}

// ---- malformed headers ----

#[test]
fn header_errors() {
    assert!(matches!(
        RscTable::parse(&[1, 0, 0]),
        Err(RscError::HeaderTruncated { len: 3 })
    ));
    assert!(matches!(
        RscTable::parse(&words(&[2, 0, 0, 0])),
        Err(RscError::Version { ver: 2 })
    ));
    assert!(matches!(
        RscTable::parse(&words(&[1, 0, 5, 0])),
        Err(RscError::ReservedNotZero { word: 0, value: 5 })
    ));
    assert!(matches!(
        RscTable::parse(&words(&[1, 0, 0, 9])),
        Err(RscError::ReservedNotZero { word: 1, value: 9 })
    ));
    assert!(matches!(
        RscTable::parse(&words(&[1, 2, 0, 0, 24])),
        Err(RscError::OffsetsTruncated {
            num: 2,
            needed: 24,
            len: 20
        })
    ));
    assert!(matches!(
        RscTable::parse(&words(&[1, u32::MAX, 0, 0])),
        Err(RscError::OffsetsTruncated {
            num: u32::MAX,
            needed: 17_179_869_196,
            len: 16
        })
    ));
}

#[test]
fn too_many_entries() {
    let mut bytes = words(&[1, 1025, 0, 0]);
    bytes.resize(16 + 4 * 1025, 0);
    assert!(matches!(
        RscTable::parse(&bytes),
        Err(RscError::TooManyEntries {
            num: 1025,
            max: 1024
        })
    ));
    // 1024 unknown entries, each its own type word: accepted, all reported skipped.
    let entries: Vec<Vec<u8>> = (0..1024).map(|_| words(&[7])).collect();
    let t = table(&entries);
    assert_eq!(RscTable::parse(&t).unwrap().skipped().count(), 1024);
}

// ---- malformed entries ----

#[test]
fn offset_past_the_end() {
    let mut bytes = table(&[trace(0x2000, 0x10)]);
    let len = bytes.len();
    bytes[16..20].copy_from_slice(&(len as u32 - 2).to_le_bytes());
    let e = entry_err(&bytes);
    assert_eq!(
        (e.index, e.field, e.value),
        (0, Field::Offset, len as u64 - 2)
    );
    assert_eq!(e.problem, Problem::PastEnd { table_len: len });
}

#[test]
fn offset_of_two_to_the_31_or_more() {
    for off in [0x8000_0000u32, u32::MAX] {
        let e = entry_err(&words(&[1, 1, 0, 0, off]));
        assert_eq!((e.field, e.value), (Field::Offset, u64::from(off)));
        assert_eq!(e.problem, Problem::TooLarge { max: 0x7fff_ffff });
    }
}

#[test]
fn offset_inside_the_header() {
    let mut bytes = table(&[words(&[200]), words(&[201])]);
    bytes[20..24].copy_from_slice(&20u32.to_le_bytes());
    let e = entry_err(&bytes);
    assert_eq!(
        (e.index, e.value, e.problem),
        (1, 20, Problem::InsideHeader { header_len: 24 })
    );
}

#[test]
fn overlapping_entries() {
    let mut bytes = table(&[trace(0x2000, 0x10), trace(0x3000, 0x10)]);
    let first = u32::from_le_bytes(bytes[16..20].try_into().unwrap());
    bytes[20..24].copy_from_slice(&(first + 8).to_le_bytes());
    let e = entry_err(&bytes);
    assert_eq!((e.index, e.problem), (1, Problem::Overlaps { other: 0 }));
}

#[test]
fn truncated_entry_of_each_type() {
    let cases: [(Vec<u8>, u32, u64); 4] = [
        (carveout(ANY, ANY, 1, "c"), 0, 52),
        (devmem(0, 0, 1), 1, 52),
        (trace(0, 1), 2, 44),
        (rpmsg(0x1000), 3, 24),
    ];
    for (entry, kind, needed) in cases {
        let mut bytes = table(&[entry]);
        bytes.truncate(20 + 4 + 20); // type word + 20 body bytes
        let e = entry_err(&bytes);
        assert_eq!(
            (e.index, e.offset, e.field, e.value),
            (0, 20, Field::Type, u64::from(kind))
        );
        assert_eq!(
            e.problem,
            Problem::Truncated {
                needed,
                available: 20
            }
        );
        // The type word itself cut short: the offset is past the end.
        bytes.truncate(22);
        assert_eq!(
            entry_err(&bytes).problem,
            Problem::PastEnd { table_len: 22 }
        );
    }
}

#[test]
fn truncated_vrings() {
    let mut bytes = table(&[rpmsg(0x1000)]);
    bytes.truncate(bytes.len() - 1);
    let e = entry_err(&bytes);
    assert_eq!((e.field, e.value), (Field::NumOfVrings, 2));
    assert_eq!(
        e.problem,
        Problem::Truncated {
            needed: 64,
            available: 63
        }
    );
}

#[test]
fn vdev_config_len_overflow() {
    for config_len in [1u32, u32::MAX] {
        let mut bytes = table(&[rpmsg(0x1000)]);
        bytes[20 + 20..20 + 24].copy_from_slice(&config_len.to_le_bytes());
        let e = entry_err(&bytes);
        assert_eq!(
            (e.field, e.value),
            (Field::ConfigLen, u64::from(config_len))
        );
        assert_eq!(
            e.problem,
            Problem::Truncated {
                needed: 64 + u64::from(config_len),
                available: 64
            }
        );
    }
}

#[test]
fn vdev_reserved_bytes() {
    let mut bytes = table(&[rpmsg(0x1000)]);
    bytes[20 + 4 + 23] = 1;
    let e = entry_err(&bytes);
    assert_eq!(
        (e.field, e.value, e.problem),
        (Field::Reserved, 0x101, Problem::NotZero)
    );
}

#[test]
fn vring_num_and_align_must_be_non_zero_powers_of_two() {
    let ring = |f| Field::Vring { ring: 1, field: f };
    let cases = [
        ((0x1000, 0), ring(VringField::Num), 0, Problem::Zero),
        (
            (0x1000, 100),
            ring(VringField::Num),
            100,
            Problem::NotPowerOfTwo,
        ),
        (
            (0x1000, 65536),
            ring(VringField::Num),
            65536,
            Problem::TooLarge { max: 32768 },
        ),
        ((0, 256), ring(VringField::Align), 0, Problem::Zero),
        (
            (0x1800, 256),
            ring(VringField::Align),
            0x1800,
            Problem::NotPowerOfTwo,
        ),
    ];
    for ((align, num), field, value, problem) in cases {
        let bytes = table(&[vdev(
            7,
            1,
            &[(ANY, 0x1000, 256, 1), (ANY, align, num, 2)],
            &[],
        )]);
        let e = entry_err(&bytes);
        assert_eq!(
            (e.index, e.field, e.value, e.problem),
            (0, field, value, problem)
        );
    }
}

#[test]
fn any_in_devmem_da_and_pa_and_in_trace_da_is_refused() {
    let e = entry_err(&table(&[devmem(ANY, 0x4000_0000, 0x1000)]));
    assert_eq!(
        (e.field, e.value, e.problem),
        (Field::Da, u64::from(ANY), Problem::AnyNotAllowed)
    );
    let e = entry_err(&table(&[devmem(0x4000_0000, ANY, 0x1000)]));
    assert_eq!((e.field, e.problem), (Field::Pa, Problem::AnyNotAllowed));
    let e = entry_err(&table(&[trace(ANY, 0x1000)]));
    assert_eq!((e.field, e.problem), (Field::Da, Problem::AnyNotAllowed));
}

#[test]
fn fixed_ranges_must_not_wrap() {
    let e = entry_err(&table(&[carveout(0xFFFF_F000, ANY, 0x2000, "wrap")]));
    assert_eq!(
        (e.field, e.value, e.problem),
        (Field::Da, 0xFFFF_F000, Problem::RangeOverflow)
    );
    let e = entry_err(&table(&[carveout(ANY, 0xFFFF_0000, 0x1_0001, "wrap")]));
    assert_eq!((e.field, e.problem), (Field::Pa, Problem::RangeOverflow));
    // Exactly up to 2^32 is fine.
    assert!(RscTable::parse(&table(&[carveout(0xFFFF_F000, ANY, 0x1000, "top")])).is_ok());
}

#[test]
fn errors_display_entry_field_and_value() {
    let e = entry_err(&table(&[vdev(7, 1, &[(ANY, 0x1000, 3, 1)], &[])]));
    let text = e.to_string();
    assert_eq!(
        text,
        "resource entry 0 (offset 0x14): vring[0].num = 0x3 must be a power of two"
    );
}

// ---- write-back ----

#[test]
fn write_back_carveout_and_vrings_then_reset() {
    let mut bytes = table(&[carveout(ANY, ANY, 0x8000, "fw"), rpmsg(0x1000)]);
    let original = bytes.clone();
    let mut t = RscTableMut::parse(&mut bytes).unwrap();
    t.set_carveout(
        0,
        Some(DeviceAddr::new(0x1000_0000)),
        Some(PhysAddr::new(0x9000_0000)),
        0x8000,
    )
    .unwrap();
    let rings: Vec<Vring> = only_vdev(&t.view()).vrings().collect();
    t.set_vring(
        1,
        0,
        DeviceAddr::new(0x1004_0000),
        PhysAddr::new(0x1004_0000),
        0,
    )
    .unwrap();
    t.set_vring(
        1,
        1,
        DeviceAddr::new(0x1004_3000),
        PhysAddr::new(0x1004_3000),
        1,
    )
    .unwrap();
    let Resource::Carveout(c) = t.view().entry(0).unwrap().resource else {
        panic!()
    };
    assert_eq!(
        (c.da, c.pa, c.len),
        (
            Some(DeviceAddr::new(0x1000_0000)),
            Some(PhysAddr::new(0x9000_0000)),
            0x8000
        )
    );
    let now: Vec<Vring> = only_vdev(&t.view()).vrings().collect();
    assert_eq!(now[1].da, Some(DeviceAddr::new(0x1004_3000)));
    assert_eq!(now[1].pa, Some(PhysAddr::new(0x1004_3000)));
    assert_eq!((now[0].notifyid, now[1].notifyid), (0, 1));

    t.set_carveout(0, None, None, 0x8000).unwrap();
    t.reset_vring(1, 0, &rings[0]).unwrap();
    t.reset_vring(1, 1, &rings[1]).unwrap();
    let after: Vec<Vring> = only_vdev(&t.view()).vrings().collect();
    assert!(
        after
            .iter()
            .all(|r| r.da.is_none() && r.pa.is_none() && r.notifyid == NOTIFYID_NONE)
    );
    // Everything but the notify ids is as the firmware had it: header 24 bytes, the
    // carveout 56, then the vdev's type word and 24-byte body; notifyid is word 3 of a ring.
    let mut expect = original;
    for at in [24 + 56 + 4 + 24 + 12, 24 + 56 + 4 + 24 + 20 + 12] {
        expect[at..at + 4].copy_from_slice(&NOTIFYID_NONE.to_le_bytes());
    }
    assert_eq!(bytes, expect);
}

#[test]
fn refused_writes_change_nothing() {
    let mut bytes = table(&[carveout(ANY, ANY, 0x1000, "fw"), rpmsg(0x1000)]);
    let before = bytes.clone();
    let mut t = RscTableMut::parse(&mut bytes).unwrap();
    let da = Some(DeviceAddr::new(0x1000));
    assert_eq!(
        t.set_carveout(2, da, None, 1),
        Err(WriteError::NoEntry { index: 2, num: 2 })
    );
    assert_eq!(
        t.set_carveout(1, da, None, 1),
        Err(WriteError::WrongType {
            index: 1,
            expected: 0,
            found: 3
        })
    );
    assert_eq!(
        t.set_carveout(0, Some(DeviceAddr::new(0x1_0000_0000)), None, 1),
        Err(WriteError::Unrepresentable {
            index: 0,
            field: Field::Da,
            value: 0x1_0000_0000
        })
    );
    assert_eq!(
        t.set_carveout(0, Some(DeviceAddr::new(u64::from(ANY))), None, 0),
        Err(WriteError::Unrepresentable {
            index: 0,
            field: Field::Da,
            value: u64::from(ANY)
        })
    );
    assert_eq!(
        t.set_carveout(0, da, Some(PhysAddr::new(0xFFFF_F001)), 0x1000),
        Err(WriteError::Unrepresentable {
            index: 0,
            field: Field::Pa,
            value: 0xFFFF_F001
        })
    );
    let (d, p) = (DeviceAddr::new(0), PhysAddr::new(0));
    assert_eq!(
        t.set_vring(1, 2, d, p, 0),
        Err(WriteError::NoVring {
            index: 1,
            ring: 2,
            num_of_vrings: 2
        })
    );
    assert_eq!(
        t.set_vring(0, 0, d, p, 0),
        Err(WriteError::WrongType {
            index: 0,
            expected: 3,
            found: 0
        })
    );
    let ring = Field::Vring {
        ring: 0,
        field: VringField::Pa,
    };
    assert_eq!(
        t.set_vring(1, 0, d, PhysAddr::new(1 << 40), 0),
        Err(WriteError::Unrepresentable {
            index: 1,
            field: ring,
            value: 1 << 40
        })
    );
    assert_eq!(bytes, before);
}

// ---- builder ----

#[test]
fn build_then_parse_round_trips() {
    let rings = [
        VringSpec {
            da: None,
            align: 0x1000,
            num: 256,
            notifyid: 1,
        },
        VringSpec {
            da: Some(DeviceAddr::new(0x1004_0000)),
            align: 16,
            num: 8,
            notifyid: 2,
        },
    ];
    let mut b = RscTableBuilder::new();
    let carve = CarveoutSpec {
        da: Some(DeviceAddr::new(0)),
        pa: Some(PhysAddr::new(0x3800_0000)),
        len: 0x1_0000,
        flags: 3,
        name: "retram",
    };
    assert_eq!(b.add_vendor(300, &[1, 2, 3, 4]), Ok(0));
    assert_eq!(b.add_carveout(&carve), Ok(1));
    assert_eq!(
        b.add_trace(&TraceSpec {
            da: DeviceAddr::new(0x1000),
            len: 0x800,
            name: "log"
        }),
        Ok(2)
    );
    let spec = VdevSpec {
        id: 7,
        notifyid: 9,
        dfeatures: 1,
        vrings: &rings,
        config: &[5; 7],
    };
    assert_eq!(b.add_vdev(&spec), Ok(3));
    let bytes = b.build().unwrap();
    assert_eq!(bytes.len(), b.len());
    let t = RscTable::parse(&bytes).unwrap();
    let all: Vec<_> = t.entries().map(|e| e.resource).collect();
    assert!(
        matches!(all[0], Resource::Vendor(v) if v.kind == 300 && v.body.starts_with(&[1, 2, 3, 4]))
    );
    let Resource::Carveout(c) = all[1] else {
        panic!()
    };
    assert_eq!(
        (c.da, c.pa, c.len, c.flags, c.name_str()),
        (carve.da, carve.pa, 0x1_0000, 3, Some("retram"))
    );
    let Resource::Trace(tr) = all[2] else {
        panic!()
    };
    assert_eq!(
        (tr.da, tr.len, tr.name_str()),
        (DeviceAddr::new(0x1000), 0x800, Some("log"))
    );
    let Resource::Vdev(v) = all[3] else { panic!() };
    assert_eq!(
        (v.id, v.notifyid, v.dfeatures, v.config()),
        (7, 9, 1, &[5u8; 7][..])
    );
    let got: Vec<_> = v
        .vrings()
        .map(|r| (r.da, r.align, r.num, r.notifyid))
        .collect();
    let want: Vec<_> = rings
        .iter()
        .map(|r| (r.da, r.align, r.num, r.notifyid))
        .collect();
    assert_eq!(got, want);

    let mut section = vec![0xEEu8; bytes.len() + 10];
    assert_eq!(b.build_into(&mut section), Ok(bytes.len()));
    assert_eq!(&section[..bytes.len()], &bytes[..]);
    assert!(section[bytes.len()..].iter().all(|&x| x == 0));
}

#[test]
fn builder_refusals_name_sizes_and_fields() {
    let mut b = RscTableBuilder::new();
    b.add_carveout(&CarveoutSpec::any("fw", 0x1000)).unwrap();
    let mut small = [0xEEu8; 75];
    assert_eq!(
        b.build_into(&mut small),
        Err(BuildError::NoSpace {
            needed: 76,
            available: 75
        })
    );
    assert!(small.iter().all(|&x| x == 0xEE));
    let long = "x".repeat(32);
    assert_eq!(
        b.add_carveout(&CarveoutSpec::any(&long, 1)),
        Err(BuildError::NameTooLong { index: 1, len: 32 })
    );
    assert_eq!(
        b.add_vendor(127, &[]),
        Err(BuildError::NotVendor {
            index: 1,
            kind: 127
        })
    );
    let far = CarveoutSpec {
        da: Some(DeviceAddr::new(1 << 32)),
        ..CarveoutSpec::any("far", 1)
    };
    assert_eq!(
        b.add_carveout(&far),
        Err(BuildError::Unrepresentable {
            index: 1,
            field: Field::Da,
            value: 1 << 32
        })
    );
    let bad = [VringSpec {
        da: None,
        align: 0x1000,
        num: 3,
        notifyid: 0,
    }];
    let spec = VdevSpec {
        id: 7,
        notifyid: 0,
        dfeatures: 0,
        vrings: &bad,
        config: &[],
    };
    let Err(BuildError::Entry(e)) = b.add_vdev(&spec) else {
        panic!()
    };
    assert_eq!(
        (e.index, e.field, e.value),
        (
            1,
            Field::Vring {
                ring: 0,
                field: VringField::Num
            },
            3
        )
    );
    assert_eq!(b.num(), 1);
}

/// The builder promises that whatever it builds parses back, so it must stop at the
/// parser's entry limit instead of building a table the parser refuses.
#[test]
fn builder_stops_at_the_parsers_entry_limit() {
    let mut b = RscTableBuilder::new();
    let trace = |i: u32| TraceSpec {
        da: DeviceAddr::new(u64::from(i) * 0x100),
        len: 0x100,
        name: "t",
    };
    for i in 0..MAX_ENTRIES {
        assert_eq!(b.add_trace(&trace(i)), Ok(i));
    }
    assert_eq!(
        b.add_trace(&trace(MAX_ENTRIES)),
        Err(BuildError::TooManyEntries {
            index: MAX_ENTRIES,
            max: MAX_ENTRIES,
        })
    );
    assert_eq!(b.num(), MAX_ENTRIES as usize);
    let bytes = b.build().unwrap();
    assert_eq!(RscTable::parse(&bytes).map(|t| t.num()), Ok(MAX_ENTRIES));
}
