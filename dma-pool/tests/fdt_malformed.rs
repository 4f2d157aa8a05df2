//! The device-tree binding on malformed input: each malformed fixture gives its own
//! error naming the node and the bad value, and no blob (truncated, corrupted) makes
//! the reader panic.

use contig_dma_pool::cma::{PhysAddr, PhysRange};
use contig_dma_pool::fdt::{DefaultKind, DeviceTree, Error, Layout, Options};

fn error_of(blob: &[u8]) -> Error {
    Layout::from_dtb(blob, &Options::new()).unwrap_err()
}

fn range(base: u64, size: usize) -> PhysRange {
    PhysRange::new(PhysAddr::new(base), size).unwrap()
}

/// The error and its message, which must name the node.
fn check(blob: &[u8], expected: &Error, node: &str) {
    let got = error_of(blob);
    assert_eq!(&got, expected);
    let message = got.to_string();
    assert!(message.contains(node), "{message:?} does not name {node}");
}

#[test]
fn reg_and_size_together() {
    check(
        include_bytes!("fixtures/dt/bad-reg-and-size.dtb"),
        &Error::RegAndSize {
            node: "/reserved-memory/both@80100000".into(),
            reg: range(0x8010_0000, 0x10_0000),
            size: 0x10_0000,
        },
        "/reserved-memory/both@80100000",
    );
}

#[test]
fn alignment_with_reg() {
    check(
        include_bytes!("fixtures/dt/bad-alignment-with-reg.dtb"),
        &Error::OnlyWithSize {
            node: "/reserved-memory/aligned@80100000".into(),
            property: "alignment",
        },
        "aligned@80100000",
    );
}

#[test]
fn no_map_with_reusable() {
    check(
        include_bytes!("fixtures/dt/bad-nomap-reusable.dtb"),
        &Error::NoMapReusable {
            node: "/reserved-memory/pool@80200000".into(),
        },
        "pool@80200000",
    );
}

#[test]
fn two_cma_defaults() {
    let got = error_of(include_bytes!("fixtures/dt/bad-two-cma-defaults.dtb"));
    assert_eq!(
        got,
        Error::SecondDefault {
            kind: DefaultKind::Cma,
            node: "/reserved-memory/cma-b".into(),
            first: "/reserved-memory/cma-a".into(),
        }
    );
    let message = got.to_string();
    assert!(
        message.contains("cma-b")
            && message.contains("cma-a")
            && message.contains("linux,cma-default")
    );
}

#[test]
fn two_dma_defaults() {
    check(
        include_bytes!("fixtures/dt/bad-two-dma-defaults.dtb"),
        &Error::SecondDefault {
            kind: DefaultKind::Dma,
            node: "/reserved-memory/dma-b@80100000".into(),
            first: "/reserved-memory/dma-a@80000000".into(),
        },
        "dma-b@80100000",
    );
}

#[test]
fn unknown_phandle() {
    let got = error_of(include_bytes!("fixtures/dt/bad-phandle.dtb"));
    assert_eq!(
        got,
        Error::UnknownPhandle {
            node: "/dsp".into(),
            index: 1,
            phandle: 0x99,
        }
    );
    assert!(got.to_string().contains("/dsp") && got.to_string().contains("0x99"));
}

#[test]
fn reg_of_wrong_length() {
    check(
        include_bytes!("fixtures/dt/bad-reg-length.dtb"),
        &Error::BadLength {
            node: "/reserved-memory/odd@80000000".into(),
            property: "reg",
            len: 12,
            entry: 8,
        },
        "odd@80000000",
    );
}

#[test]
fn alloc_ranges_outside_memory() {
    check(
        include_bytes!("fixtures/dt/bad-alloc-ranges-outside.dtb"),
        &Error::AllocRangeOutsideMemory {
            node: "/reserved-memory/cma".into(),
            range: range(0x4000_0000, 0x100_0000),
        },
        "/reserved-memory/cma",
    );
}

#[test]
fn dynamic_region_that_does_not_fit() {
    check(
        include_bytes!("fixtures/dt/bad-no-fit.dtb"),
        &Error::NoRoom {
            node: "/reserved-memory/big".into(),
            size: 0x80_0000,
            align: 0x1000,
        },
        "/reserved-memory/big",
    );
}

#[test]
fn neither_reg_nor_size() {
    check(
        include_bytes!("fixtures/dt/bad-no-reg-no-size.dtb"),
        &Error::NoRegNoSize {
            node: "/reserved-memory/nothing".into(),
        },
        "/reserved-memory/nothing",
    );
}

#[test]
fn restricted_pool_with_no_map() {
    check(
        include_bytes!("fixtures/dt/bad-restricted-no-map.dtb"),
        &Error::BadForKind {
            node: "/reserved-memory/bounce@80000000".into(),
            property: "no-map",
            kind: "restricted-dma-pool",
        },
        "bounce@80000000",
    );
}

#[test]
fn cma_area_off_the_cma_alignment() {
    check(
        include_bytes!("fixtures/dt/bad-cma-misaligned.dtb"),
        &Error::CmaMisaligned {
            node: "/reserved-memory/cma@80100000".into(),
            range: range(0x8010_0000, 0x20_0000),
            align: 0x20_0000,
        },
        "cma@80100000",
    );
}

#[test]
fn fixed_region_over_memreserve() {
    check(
        include_bytes!("fixtures/dt/bad-memreserve-overlap.dtb"),
        &Error::Overlap {
            node: "/reserved-memory/carveout@80000000".into(),
            range: range(0x8000_0000, 0x10_0000),
            other: "/memreserve/".into(),
            other_range: range(0x800f_f000, 0x2000),
        },
        "carveout@80000000",
    );
}

#[test]
fn reg_entries_of_one_node_must_not_overlap() {
    check(
        include_bytes!("fixtures/dt/bad-reg-self-overlap.dtb"),
        &Error::Overlap {
            node: "/reserved-memory/carveout@80000000".into(),
            range: range(0x800f_f000, 0x2000),
            other: "/reserved-memory/carveout@80000000".into(),
            other_range: range(0x8000_0000, 0x10_0000),
        },
        "carveout@80000000",
    );
}

#[test]
fn memory_region_names_must_name_every_entry() {
    check(
        include_bytes!("fixtures/dt/bad-names-mismatch.dtb"),
        &Error::NamesMismatch {
            node: "/dsp".into(),
            regions: 2,
            names: 1,
        },
        "/dsp",
    );
}

#[test]
fn nested_dma_ranges_are_refused_not_composed() {
    let got = error_of(include_bytes!("fixtures/dt/bad-nested-dma-ranges.dtb"));
    assert!(
        matches!(&got, Error::BadDmaRanges { node, .. } if node == "/outer"),
        "{got:?}"
    );
}

#[test]
fn reserved_memory_cells_must_match_the_root() {
    check(
        include_bytes!("fixtures/dt/bad-cells-mismatch.dtb"),
        &Error::CellsMismatch {
            node: "/reserved-memory".into(),
            property: "#size-cells",
            value: 2,
            root: 1,
        },
        "/reserved-memory",
    );
}

#[test]
fn one_pool_cannot_be_two_devices_own() {
    use contig_dma_pool::cma::Registry;
    use contig_dma_pool::fdt::{Board, BuildConfig};
    use contig_dma_pool::{Mapper, NoMapping};

    let layout = Layout::from_dtb(
        include_bytes!("fixtures/dt/bad-pool-taken.dtb"),
        &Options::new(),
    )
    .unwrap();
    let registry = Registry::with_builtins().unwrap();
    let mapper = |_: &contig_dma_pool::fdt::Region| -> &dyn Mapper { &NoMapping };
    let config = BuildConfig {
        registry: &registry,
        ram: &NoMapping,
        mapper: &mapper,
        reclaim: &|_| None,
        backend: &|_| None,
        page: 4096,
    };
    let mut memory = None;
    let got: Result<Board, Error> = layout.build(&config, &mut memory);
    assert_eq!(
        got.err(),
        Some(Error::PoolTaken {
            region: "/reserved-memory/a@80000000".into(),
            first: "/dsp0".into(),
            second: "/dsp1".into(),
        })
    );
}

#[test]
fn options_must_be_powers_of_two() {
    let blob = include_bytes!("fixtures/dt/dk2.dtb");
    assert_eq!(
        Layout::from_dtb(blob, &Options::new().page(3000)).unwrap_err(),
        Error::BadOption {
            name: "page",
            value: 3000
        }
    );
}

#[test]
fn not_a_device_tree() {
    assert!(matches!(
        DeviceTree::parse(b"hello").unwrap_err(),
        Error::Blob { .. }
    ));
    let mut blob = include_bytes!("fixtures/dt/dk2.dtb").to_vec();
    blob[0] ^= 1;
    assert_eq!(
        DeviceTree::parse(&blob).unwrap_err(),
        Error::Blob {
            problem: "bad magic",
            offset: 0
        }
    );
}

const GOOD: [&[u8]; 3] = [
    include_bytes!("fixtures/dt/dk2.dtb"),
    include_bytes!("fixtures/dt/am62x.dtb"),
    include_bytes!("fixtures/dt/f746.dtb"),
];

#[test]
fn every_truncation_is_an_error_not_a_panic() {
    for blob in GOOD {
        for len in 0..blob.len() {
            let cut = &blob[..len];
            assert!(Layout::from_dtb(cut, &Options::new()).is_err(), "len {len}");
        }
    }
}

#[test]
fn corrupted_bytes_never_panic() {
    // Every byte of every good blob set to values that upset offsets, lengths and
    // tokens; the result may be an error or a (different) layout, never a panic.
    for blob in GOOD {
        let mut copy = blob.to_vec();
        for i in 0..copy.len() {
            let original = copy[i];
            for value in [0x00, 0x01, 0x02, 0x03, 0x09, 0x7f, 0xff] {
                copy[i] = value;
                let _ = Layout::from_dtb(&copy, &Options::new());
            }
            copy[i] = original;
        }
    }
}

/// A hand-made blob nesting `depth` empty nodes named `n`; the root's name is
/// `root_name` (empty in a valid tree).
fn nested(depth: usize, root_name: u8) -> Vec<u8> {
    let mut structure = Vec::new();
    for _ in 0..depth {
        structure.extend_from_slice(&1u32.to_be_bytes()); // BEGIN_NODE
        structure.extend_from_slice(&[b'n', 0, 0, 0]);
    }
    for _ in 0..depth {
        structure.extend_from_slice(&2u32.to_be_bytes()); // END_NODE
    }
    structure.extend_from_slice(&9u32.to_be_bytes()); // END
    structure[4] = root_name;
    let header_len = 40u32;
    let rsv_len = 16u32;
    let struct_off = header_len + rsv_len;
    let total = struct_off + u32::try_from(structure.len()).unwrap();
    let mut blob = Vec::new();
    for field in [
        0xd00d_feed,
        total,
        struct_off,
        total,
        header_len,
        17,
        16,
        0,
        0,
        u32::try_from(structure.len()).unwrap(),
    ] {
        blob.extend_from_slice(&u32::to_be_bytes(field));
    }
    blob.extend_from_slice(&[0; 16]);
    blob.extend_from_slice(&structure);
    blob
}

#[test]
fn deep_nesting_is_refused() {
    // Deeper than the reader walks.
    assert!(matches!(
        DeviceTree::parse(&nested(40, 0)).unwrap_err(),
        Error::TooDeep { max: 32, .. }
    ));
    // As deep as it walks: every node read, each the child of the one before.
    let blob = nested(32, 0);
    let tree = DeviceTree::parse(&blob).unwrap();
    assert_eq!(tree.nodes().len(), 32);
    let last = &tree.nodes()[31];
    assert_eq!(last.path(), "/n".repeat(31));
    assert_eq!(last.parent(), Some(30));
    assert_eq!(tree.nodes()[0].parent(), None);
}

#[test]
fn a_root_with_a_name_is_refused_at_its_name() {
    // The root's name sits right after the structure block's first token (56 + 4).
    assert_eq!(
        DeviceTree::parse(&nested(2, b'r')).unwrap_err(),
        Error::Blob {
            problem: "the root node has a name",
            offset: 60
        }
    );
}

/// Read the way Linux boots: a rule Linux does not enforce is a note, a node Linux
/// cannot use is skipped with the rule that it breaks, and nothing else is lost.
#[test]
fn a_tolerant_read_notes_and_skips_what_linux_ignores_or_skips() {
    let tolerant = Options::new().tolerant();
    let layout = Layout::from_dtb(
        include_bytes!("fixtures/dt/bad-alignment-with-reg.dtb"),
        &tolerant,
    )
    .unwrap();
    assert_eq!(layout.regions.len(), 1);
    assert_eq!(layout.regions[0].range, range(0x8010_0000, 0x10_0000));
    assert!(layout.skipped.is_empty());
    assert_eq!(layout.notes.len(), 1);
    assert_eq!(layout.notes[0].property, "alignment");
    assert!(layout.notes[0].to_string().contains("aligned@80100000"));

    let layout = Layout::from_dtb(
        include_bytes!("fixtures/dt/bad-nomap-reusable.dtb"),
        &tolerant,
    )
    .unwrap();
    assert!(layout.regions.is_empty());
    assert_eq!(layout.skipped.len(), 1);
    assert_eq!(
        layout.skipped[0].error,
        Error::NoMapReusable {
            node: "/reserved-memory/pool@80200000".into(),
        }
    );
    assert!(layout.skipped[0].linux().contains("Linux"));

    // A device naming a skipped node keeps its other regions and records the skip.
    let layout = Layout::from_dtb(
        include_bytes!("fixtures/dt/bad-reg-and-size.dtb"),
        &tolerant,
    )
    .unwrap();
    assert!(layout.skipped.is_empty(), "{:?}", layout.skipped);
    assert_eq!(layout.notes[0].property, "size");

    // Framing is still strict.
    let blob = include_bytes!("fixtures/dt/dk2.dtb");
    assert!(matches!(
        Layout::from_dtb(&blob[..100], &tolerant),
        Err(Error::Blob { .. })
    ));
}
