//! Device-tree parse: any bytes as a DTB through the whole `/reserved-memory` binding
//! (blob check, node walk, decoding, rules, placement, bindings).
//!
//! A panic anywhere is a finding. When a layout comes out, strict or tolerant, it must
//! be sound: every region non-empty; fixed and dynamic regions never overlap each other
//! or a `/memreserve/` entry; each dynamic region lies inside one `/memory` bank at a
//! page-aligned base; every device binding names existing regions. A tree the strict
//! read accepts reads the same tolerantly, with nothing skipped or noted.
//!
//! Seed it with the test fixtures: `cp dma-pool/tests/fixtures/dt/*.dtb corpus/dt_parse/`.
#![no_main]

use contig_dma_pool::fdt::{DeviceTree, Layout, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let options = Options::new();
    let Ok(tree) = DeviceTree::parse(data) else {
        assert!(Layout::from_dtb(data, &options).is_err());
        return;
    };
    // Lookups on any parsed tree must not panic either.
    for (i, node) in tree.nodes().iter().enumerate() {
        let _ = tree.child_cells(i);
        let _ = tree.labels(i).count();
        let _ = tree.resolve(node.path());
    }
    let tolerant = Layout::from_tree(&tree, &options.tolerant());
    if let Ok(layout) = &tolerant {
        check(layout, &options);
    }
    let Ok(layout) = Layout::from_tree(&tree, &options) else {
        return;
    };
    check(&layout, &options);
    let tolerant = tolerant.expect("a tree read strictly reads tolerantly");
    assert_eq!(tolerant.regions, layout.regions);
    assert!(tolerant.skipped.is_empty() && tolerant.notes.is_empty());
});

fn check(layout: &Layout, options: &Options) {
    let ranges: Vec<_> = layout
        .regions
        .iter()
        .flat_map(|r| core::iter::once(r.range).chain(r.extra.iter().copied()))
        .collect();
    for (i, a) in ranges.iter().enumerate() {
        assert!(!a.is_empty());
        for b in ranges.iter().skip(i + 1) {
            assert!(!a.overlaps(b), "{a} overlaps {b}");
        }
        for m in &layout.memreserve {
            assert!(!a.overlaps(m), "{a} overlaps /memreserve/ {m}");
        }
    }
    for r in layout.regions.iter().filter(|r| r.dynamic) {
        assert!(layout.memory.iter().any(|m| m.contains_range(&r.range)));
        assert!(r.range.base().is_aligned(options.page_size()));
    }
    for d in &layout.devices {
        assert!(d.regions.iter().all(|b| b.region < layout.regions.len()));
    }
}
