//! Resource-table parser: arbitrary bytes must never make it (or the firmware ELF parser)
//! panic, and tables made by the builder from arbitrary entries must parse back to
//! exactly those entries.
//!
//! Input: raw bytes parsed as a table (every view read, every write-back tried and,
//! when refused, checked to change nothing), then a list of entries given to the
//! builder (entries it refuses are left out) whose output is parsed and compared field
//! by field; building into a section one byte short must fail with both sizes.
#![no_main]

use arbitrary::Arbitrary;
use contig_rproc_glue::DeviceAddr;
use contig_rproc_glue::dma_pool::cma::PhysAddr;
use contig_rproc_glue::firmware::Firmware;
use contig_rproc_glue::rsc::{
    BuildError, CarveoutSpec, Resource, RscTable, RscTableBuilder, RscTableMut, TraceSpec,
    VdevSpec, VringSpec,
};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum EntryIn {
    Carveout {
        da: Option<u32>,
        pa: Option<u32>,
        len: u32,
        flags: u32,
        name: String,
    },
    Trace {
        da: u32,
        len: u32,
        name: String,
    },
    Vdev {
        id: u32,
        notifyid: u32,
        dfeatures: u32,
        rings: Vec<(Option<u32>, u8, u8, u32)>,
        config: Vec<u8>,
    },
    Vendor {
        kind: u16,
        body: Vec<u8>,
    },
}

#[derive(Arbitrary, Debug)]
struct Input {
    raw: Vec<u8>,
    writes: Vec<(u32, u8, u32, u32)>,
    entries: Vec<EntryIn>,
}

fuzz_target!(|input: Input| {
    firmware(&input.raw);
    raw_table(&input.raw, &input.writes);
    round_trip(&input.entries);
});

/// The same bytes as a firmware image: parsing and listing never panic, and every
/// listed segment holds its file bytes within its memory size.
fn firmware(raw: &[u8]) {
    let Ok(fw) = Firmware::parse(raw) else { return };
    for seg in fw.segments() {
        assert!(seg.data.len() as u64 <= seg.memsz);
    }
    let _ = fw.resource_table();
}

/// Parses hostile bytes, reads everything, tries write-backs.
fn raw_table(raw: &[u8], writes: &[(u32, u8, u32, u32)]) {
    let mut bytes = raw.to_vec();
    let Ok(table) = RscTable::parse(&bytes) else {
        return;
    };
    for e in table.entries() {
        assert!(e.index < table.num());
        if let Resource::Vdev(v) = e.resource {
            for r in v.vrings() {
                assert!(r.num.is_power_of_two() && r.align.is_power_of_two());
            }
            assert_eq!(v.vrings().count(), usize::from(v.num_of_vrings()));
        }
    }
    let _ = table.skipped().count();
    let mut t = RscTableMut::parse(&mut bytes).expect("parsed once, parses again");
    for &(index, ring, a, b) in writes {
        let before = t.view().bytes().to_vec();
        let da = Some(DeviceAddr::new(u64::from(a)));
        let pa = Some(PhysAddr::new(u64::from(b)));
        let r1 = t.set_carveout(index, da, pa, b);
        let r2 = t.set_vring(
            index,
            ring,
            DeviceAddr::new(u64::from(a)),
            PhysAddr::new(u64::from(b)),
            a,
        );
        if r1.is_err() && r2.is_err() {
            assert_eq!(
                t.view().bytes(),
                &before[..],
                "a refused write changed the table"
            );
        }
        // Whatever was written, the table must still parse.
        assert!(RscTable::parse(t.view().bytes()).is_ok());
    }
}

/// Builds a table from arbitrary entries and checks it parses back to them.
fn round_trip(entries: &[EntryIn]) {
    let mut b = RscTableBuilder::new();
    let mut kept = Vec::new();
    let mut rings_store: Vec<Vec<VringSpec>> = Vec::new();
    for e in entries {
        if let EntryIn::Vdev { rings, .. } = e {
            rings_store.push(
                rings
                    .iter()
                    .map(|&(da, align_log2, num_log2, notifyid)| VringSpec {
                        da: da.map(|d| DeviceAddr::new(u64::from(d))),
                        align: 1u32.checked_shl(u32::from(align_log2)).unwrap_or(0),
                        num: 1u32.checked_shl(u32::from(num_log2)).unwrap_or(0),
                        notifyid,
                    })
                    .collect(),
            );
        }
    }
    let mut rings_iter = rings_store.iter();
    for e in entries {
        let added = match e {
            EntryIn::Carveout {
                da,
                pa,
                len,
                flags,
                name,
            } => b.add_carveout(&CarveoutSpec {
                da: da.map(|d| DeviceAddr::new(u64::from(d))),
                pa: pa.map(|p| PhysAddr::new(u64::from(p))),
                len: *len,
                flags: *flags,
                name,
            }),
            EntryIn::Trace { da, len, name } => b.add_trace(&TraceSpec {
                da: DeviceAddr::new(u64::from(*da)),
                len: *len,
                name,
            }),
            EntryIn::Vdev {
                id,
                notifyid,
                dfeatures,
                config,
                ..
            } => {
                let vrings = rings_iter.next().map_or(&[][..], Vec::as_slice);
                b.add_vdev(&VdevSpec {
                    id: *id,
                    notifyid: *notifyid,
                    dfeatures: *dfeatures,
                    vrings,
                    config,
                })
            }
            EntryIn::Vendor { kind, body } => b.add_vendor(u32::from(*kind), body),
        };
        if added.is_ok() {
            kept.push(e);
        }
    }
    let bytes = b.build().unwrap();
    assert_eq!(bytes.len(), b.len());
    let table = RscTable::parse(&bytes).expect("a built table parses");
    assert_eq!(table.num() as usize, kept.len());
    for (entry, want) in table.entries().zip(&kept) {
        match (entry.resource, want) {
            (
                Resource::Carveout(c),
                EntryIn::Carveout {
                    da,
                    pa,
                    len,
                    flags,
                    name,
                },
            ) => {
                assert_eq!(c.da.map(|d| d.as_u64()), da.map(u64::from));
                assert_eq!(c.pa.map(|p| p.as_u64()), pa.map(u64::from));
                assert_eq!((c.len, c.flags), (*len, *flags));
                assert_eq!(
                    c.name(),
                    name.as_bytes().split(|&x| x == 0).next().unwrap_or(&[])
                );
            }
            (Resource::Trace(t), EntryIn::Trace { da, len, .. }) => {
                assert_eq!((t.da.as_u64(), t.len), (u64::from(*da), *len));
            }
            (
                Resource::Vdev(v),
                EntryIn::Vdev {
                    id,
                    notifyid,
                    dfeatures,
                    config,
                    rings,
                },
            ) => {
                assert_eq!(
                    (v.id, v.notifyid, v.dfeatures),
                    (*id, *notifyid, *dfeatures)
                );
                assert_eq!(v.config(), &config[..]);
                assert_eq!(v.vrings().count(), rings.len());
                for (r, &(da, _, _, nid)) in v.vrings().zip(rings) {
                    assert_eq!(
                        (r.da.map(|d| d.as_u64()), r.notifyid),
                        (da.map(u64::from), nid)
                    );
                }
            }
            (Resource::Vendor(v), EntryIn::Vendor { kind, body }) => {
                assert_eq!(v.kind, u32::from(*kind));
                assert!(v.body.starts_with(body));
            }
            (got, want) => panic!("built {want:?}, parsed {got:?}"),
        }
    }
    if !bytes.is_empty() {
        let mut short = vec![0u8; bytes.len() - 1];
        assert_eq!(
            b.build_into(&mut short),
            Err(BuildError::NoSpace {
                needed: bytes.len(),
                available: bytes.len() - 1
            })
        );
    }
}
