//! The planner (`rproc-plan`) run as a user runs it: arguments in,
//! report and exit status out, on the embedded default and on good and bad boards and
//! firmware.
#![allow(clippy::cast_possible_truncation)]

#[path = "../../tests/common/elf.rs"]
mod elf;

use std::path::{Path, PathBuf};
use std::process::Command;

use contig_rproc_glue::DeviceAddr;
use contig_rproc_glue::firmware::Firmware;
use contig_rproc_glue::rsc::{
    CarveoutSpec, Resource, RscTableBuilder, TraceSpec, VdevSpec, VringSpec,
};
use elf::{Seg, image};

const BIN: &str = env!("CARGO_BIN_EXE_rproc-plan");
const HERE: &str = env!("CARGO_MANIFEST_DIR");

struct Run {
    status: i32,
    stdout: String,
    stderr: String,
}

fn plan(args: &[&str]) -> Run {
    let out = Command::new(BIN).args(args).output().unwrap();
    Run {
        status: out.status.code().unwrap(),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

fn fixture(path: &str) -> String {
    format!("{HERE}/{path}")
}

/// A fresh file under cargo's per-test temporary directory.
fn temp(name: &str, bytes: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("planner");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

/// The words of the first report line whose words start with those of `what`.
fn line<'a>(report: &'a str, what: &str) -> Vec<&'a str> {
    let what: Vec<&str> = what.split_whitespace().collect();
    report
        .lines()
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|words| words.starts_with(&what))
        .unwrap_or_else(|| panic!("no line starting with {what:?} in\n{report}"))
}

/// An OpenAMP-like M4 image whose table holds `carveouts`, a trace and the rpmsg vdev.
fn firmware(carveouts: &[CarveoutSpec<'_>]) -> Vec<u8> {
    let mut b = RscTableBuilder::new();
    for c in carveouts {
        b.add_carveout(c).unwrap();
    }
    b.add_trace(&TraceSpec {
        da: DeviceAddr::new(0x1003_0000),
        len: 0x2000,
        name: "trace0",
    })
    .unwrap();
    let rings = [1, 2].map(|notifyid| VringSpec {
        da: None,
        align: 0x1000,
        num: 16,
        notifyid,
    });
    b.add_vdev(&VdevSpec {
        id: 7,
        notifyid: 0,
        dfeatures: 1,
        vrings: &rings,
        config: &[],
    })
    .unwrap();
    let code = [0x5au8; 0x100];
    let segs = [Seg {
        paddr: 0x1000_0000,
        data: &code,
        memsz: 0x1_0000,
        ptype: 1,
    }];
    image(false, &segs, Some((0x1000_0400, &b.build().unwrap())))
}

fn fixed(name: &str, da: u64, len: u32) -> CarveoutSpec<'_> {
    CarveoutSpec {
        da: Some(DeviceAddr::new(da)),
        pa: None,
        len,
        flags: 0,
        name,
    }
}

#[test]
fn default_run_fits_and_says_where_everything_landed() {
    let run = plan(&[]);
    assert_eq!(run.status, 0, "{}{}", run.stdout, run.stderr);
    let out = &run.stdout;
    assert!(out.contains("processor: /ahb/m4@10000000 (m4_rproc)"));
    assert!(out.contains(
        "profile:   stm32 (Linux drivers/remoteproc/stm32_rproc.c; chosen from compatible \
         \"st,stm32mp1-m4\")"
    ));
    // The stm32 driver makes no region a DMA pool: every one is firmware memory.
    assert!(out.contains("DMA pool:  none"));
    assert!(out.contains("Problems: none"));
    assert!(out.ends_with("VERDICT: FITS\n"));
    // The ANY carveout binds by name to the MCURAM region.
    assert_eq!(
        line(out, "0  carveout mcuram"),
        [
            "0",
            "carveout",
            "mcuram",
            "0x30000000",
            "0x30000000",
            "0x8000",
            "mcuram",
            "matched",
            "memory-region",
            "mcuram"
        ]
    );
    assert_eq!(
        line(out, "1  trace trace0")[3..7],
        ["0x10030000", "0x10030000", "0x2000", "mcuram2"]
    );
    // The ANY rings bind to the vdev0vringN regions by name, notify ids 0 and 1.
    let ring0 = line(out, "vring 0");
    assert_eq!(
        ring0[2..6],
        ["0x10040000", "0x10040000", "0x2000", "vdev0vring0"]
    );
    assert!(ring0.ends_with(&["1", "->", "0"]));
    let ring1 = line(out, "vring 1");
    assert_eq!(
        ring1[2..6],
        ["0x10044000", "0x10044000", "0x2000", "vdev0vring1"]
    );
    assert!(ring1.ends_with(&["2", "->", "1"]));
    assert!(line(out, "2  vdev id 7 dfeatures 0x1").ends_with(&["vdev0buffer", "pool"]));
    assert_eq!(
        line(out, "0    0x10000000"),
        [
            "0",
            "0x10000000",
            "0x10000000",
            "0x10000",
            "0x4c8",
            "loaded"
        ]
    );
    // Memory map: base, size, flags, use, backend, used, free. rpmsg's 2 x 16 buffers
    // of 512 bytes fill vdev0buffer.
    let buffers = line(out, "vdev0buffer   0x10048000");
    assert_eq!(buffers[buffers.len() - 3..], ["first-fit", "0x4000", "0x0"]);
    let retram = line(out, "retram        0x38000000");
    assert_eq!(retram[1..4], ["0x38000000", "0x10000", "no-map"]);
    let mcuram2 = line(out, "mcuram2       0x10000000");
    // A memory entry has no allocator backend, and the report says what its use means.
    assert_eq!(mcuram2[mcuram2.len() - 3], "none");
    assert!(out.contains("(backend none: no allocator;"), "{out}");
    // Segment (64K) and trace (8K) are used; the rest is free in two runs.
    assert_eq!(mcuram2[mcuram2.len() - 2..], ["0x12000", "0x2e000"]);
    let frag = line(out, "mcuram2           0x2e000");
    assert_eq!(frag, ["mcuram2", "0x2e000", "2", "0x20000", "30.4%"]);
}

#[test]
fn the_committed_sample_is_what_the_generator_writes() {
    let committed = std::fs::read(fixture("tests/fixtures/openamp-m4.elf")).unwrap();
    let path = temp("regenerated.elf", b"");
    let run = plan(&["--write-sample", path.to_str().unwrap()]);
    assert_eq!(run.status, 0, "{}", run.stderr);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        committed,
        "tests/fixtures/openamp-m4.elf is stale: run `cargo run -p contig-rproc-plan \
         -- --write-sample rproc-glue/plan/tests/fixtures/openamp-m4.elf`"
    );

    // It holds a typical OpenAMP table: an rpmsg vdev (id 7, dfeatures 1) and two ANY vrings.
    let fw = Firmware::parse(&committed).unwrap();
    assert_eq!(fw.rsc_section().unwrap().da, DeviceAddr::new(0x1000_0400));
    let table = fw.resource_table().unwrap().unwrap();
    let all: Vec<_> = table.entries().map(|e| e.resource).collect();
    let [
        Resource::Carveout(heap),
        Resource::Trace(trace),
        Resource::Vdev(vdev),
    ] = all[..]
    else {
        panic!("unexpected entries {all:?}");
    };
    assert_eq!(
        (heap.name(), heap.da, heap.len),
        (&b"mcuram"[..], None, 0x8000)
    );
    assert_eq!(
        (trace.da, trace.len),
        (DeviceAddr::new(0x1003_0000), 0x2000)
    );
    assert_eq!((vdev.id, vdev.dfeatures), (7, 1));
    let rings: Vec<_> = vdev
        .vrings()
        .map(|r| (r.da, r.align, r.num, r.notifyid))
        .collect();
    assert_eq!(rings, [(None, 0x1000, 16, 1), (None, 0x1000, 16, 2)]);
}

#[test]
fn help_describes_the_command_and_exit_statuses() {
    let run = plan(&["--help"]);
    assert_eq!(run.status, 0);
    for needle in [
        "--dtb",
        "--firmware",
        "--rproc",
        "--backend",
        "--svg",
        "--profile",
        "EXIT STATUS",
    ] {
        assert!(run.stdout.contains(needle), "{needle}");
    }
    // Every backend the registry holds, as the unknown-backend error lists them.
    let unknown = plan(&["--backend", "retram=nonsense"]);
    let known = unknown.stderr.split("(known: ").nth(1).unwrap();
    let known: Vec<&str> = known.split(')').next().unwrap().split(", ").collect();
    assert_eq!(known, contig_dma_pool::cma::BUILTIN_BACKENDS);
    let listed = run
        .stdout
        .lines()
        .find(|l| l.contains("first-fit"))
        .unwrap();
    assert_eq!(listed.trim(), known.join(", "));
}

#[test]
fn a_carveout_larger_than_its_region_does_not_fit() {
    let fw = temp(
        "big-mcuram.elf",
        &firmware(&[CarveoutSpec::any("mcuram", 0x5_0000)]),
    );
    let run = plan(&["--firmware", fw.to_str().unwrap()]);
    assert_eq!(run.status, 1, "{}", run.stdout);
    assert!(run.stdout.contains("Problems (1)"));
    assert!(run.stdout.contains(
        "1. table entry 0 (carveout \"mcuram\", 0x50000 bytes, da ANY) does not fit \
         memory-region mcuram: it needs 0x50000 bytes, the region has 0x40000"
    ));
    assert!(line(&run.stdout, "0  carveout mcuram").ends_with(&["NOT", "PLACED:", "problem", "1"]));
    // The rest was still placed.
    assert_eq!(line(&run.stdout, "vring 0")[5], "vdev0vring0");
    assert!(run.stdout.ends_with("VERDICT: DOES NOT FIT\n"));
}

#[test]
fn an_any_carveout_larger_than_the_pool_names_the_pool() {
    let fw = temp(
        "big-heap.elf",
        &firmware(&[CarveoutSpec::any("heap", 0x2_0000)]),
    );
    // The generic profile: the first memory-region (RETRAM) is the DMA pool.
    let run = plan(&["--firmware", fw.to_str().unwrap(), "--profile", "generic"]);
    assert_eq!(run.status, 1, "{}", run.stdout);
    assert!(run.stdout.contains(
        "1. table entry 0 (carveout \"heap\", 0x20000 bytes, da ANY): m4@10000000's DMA pool \
         retram (0x38000000..0x38010000, 0x10000 bytes"
    ));
}

#[test]
fn a_fixed_da_outside_every_window_does_not_fit() {
    let fw = temp("far.elf", &firmware(&[fixed("far", 0x6000_0000, 0x1000)]));
    let run = plan(&["--firmware", fw.to_str().unwrap()]);
    assert_eq!(run.status, 1, "{}", run.stdout);
    let problem = run
        .stdout
        .lines()
        .find(|l| l.trim_start().starts_with("1. "))
        .unwrap();
    assert!(problem.contains("table entry 0 (carveout \"far\", 0x1000 bytes, da 0x60000000)"));
    assert!(problem.contains("fixed da 0x60000000 (+0x1000) lies outside every memory-region"));
    assert!(
        problem.contains(
            "outside every dma-ranges window of its bus (da 0x0..0x10000 -> pa 0x38000000"
        )
    );
}

#[test]
fn every_problem_is_listed_and_the_rest_placed() {
    let fw = temp(
        "two-problems.elf",
        &firmware(&[
            CarveoutSpec::any("mcuram", 0x5_0000),
            fixed("far", 0x6000_0000, 0x1000),
            CarveoutSpec::any("heap", 0x4000),
        ]),
    );
    let run = plan(&["--firmware", fw.to_str().unwrap(), "--profile", "generic"]);
    assert_eq!(run.status, 1, "{}", run.stdout);
    assert!(run.stdout.contains("Problems (2)"));
    assert!(run.stdout.contains("1. table entry 0 (carveout \"mcuram\""));
    assert!(run.stdout.contains("2. table entry 1 (carveout \"far\""));
    assert_eq!(
        line(&run.stdout, "2  carveout heap")[3..7],
        ["0x0", "0x38000000", "0x4000", "retram"]
    );
}

/// rpmsg takes `min(2 x num, 512)` buffers of 512 bytes from the vdev's pool (Linux's
/// `virtio_rpmsg_bus`): 256-buffer rings fit the DK2-like 16K ring regions, but their
/// 512 buffers (256K) do not fit the 16K vdev0buffer.
#[test]
fn rpmsg_buffers_larger_than_the_vdev_pool_do_not_fit() {
    let mut b = RscTableBuilder::new();
    let rings = [1, 2].map(|notifyid| VringSpec {
        da: None,
        align: 0x1000,
        num: 256,
        notifyid,
    });
    b.add_vdev(&VdevSpec {
        id: 7,
        notifyid: 0,
        dfeatures: 1,
        vrings: &rings,
        config: &[],
    })
    .unwrap();
    let code = [0x5au8; 0x100];
    let segs = [Seg {
        paddr: 0x1000_0000,
        data: &code,
        memsz: 0x1_0000,
        ptype: 1,
    }];
    let fw = temp(
        "rpmsg-256.elf",
        &image(false, &segs, Some((0x1000_0400, &b.build().unwrap()))),
    );
    let svg = temp("rpmsg-256.svg", b"");
    let run = plan(&[
        "--firmware",
        fw.to_str().unwrap(),
        "--svg",
        svg.to_str().unwrap(),
    ]);
    assert_eq!(run.status, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains("Problems (1)"), "{}", run.stdout);
    // The vdev buffer pool stayed empty: the map draws it free, not used.
    let svg = std::fs::read_to_string(&svg).unwrap();
    assert!(!svg.contains("rpmsg buffers"), "{svg}");
    assert!(!svg.contains(">vdev buffers</text>"), "{svg}");
    let pool = line(&run.stdout, "vdev0buffer");
    assert_eq!(pool[pool.len() - 2..], ["0x0", "0x4000"]);
    assert!(run.stdout.contains(
        "1. table entry 0 (vdev id 7): rpmsg needs 512 buffers of 512 bytes (2 x num 256 of \
         vring 0, at most 512) = 0x40000 bytes in one piece from its buffer pool vdev0buffer \
         (0x4000 bytes), which cannot give it"
    ));
    // The rings themselves were placed.
    assert_eq!(line(&run.stdout, "vring 0")[5], "vdev0vring0");
}

#[test]
fn a_segment_outside_the_processors_memory_is_listed_and_the_rest_loaded() {
    let mut b = RscTableBuilder::new();
    b.add_carveout(&CarveoutSpec::any("heap", 0x1000)).unwrap();
    let (code, stray) = ([1u8; 0x40], [2u8; 0x20]);
    let segs = [
        Seg {
            paddr: 0x1000_0000,
            data: &code,
            memsz: 0x1000,
            ptype: 1,
        },
        Seg {
            paddr: 0x2000_0000,
            data: &stray,
            memsz: 0x100,
            ptype: 1,
        },
    ];
    // ELF64, so setting a segment aside is checked in both classes' layouts.
    let fw = temp(
        "stray.elf",
        &image(true, &segs, Some((0x1000_0400, &b.build().unwrap()))),
    );
    let run = plan(&["--firmware", fw.to_str().unwrap(), "--profile", "generic"]);
    assert_eq!(run.status, 1, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(
        "1. firmware segment 1 (da 0x20000000, 0x100 bytes): no memory of the processor holds \
         da 0x20000000 (+0x100)"
    ));
    assert_eq!(
        line(&run.stdout, "0 0x10000000"),
        ["0", "0x10000000", "0x10000000", "0x1000", "0x40", "loaded"]
    );
    assert!(line(&run.stdout, "1 0x20000000").ends_with(&["NOT", "LOADED:", "problem", "1"]));
    assert_eq!(
        line(&run.stdout, "0 carveout heap")[3..7],
        ["0x0", "0x38000000", "0x1000", "retram"]
    );
}

#[test]
fn any_vrings_with_no_pool_are_named() {
    let dtb = fixture("tests/fixtures/dt/no-pool.dtb");
    let run = plan(&["--dtb", &dtb, "--rproc", "/m4@10000000"]);
    assert_eq!(run.status, 1, "{}", run.stdout);
    assert!(run.stdout.contains("DMA pool:  none"));
    assert!(run.stdout.contains("Problems (2)"));
    assert!(run.stdout.contains(
        "2. table entry 2 (vdev id 7, vring 0: num 16, align 0x1000, 0x2000 bytes, da ANY): \
         no vdev{N}vring{M} memory-region matches it and m4@10000000 has no DMA pool"
    ));
    // Firmware memory is still where the segment and trace go.
    assert_eq!(line(&run.stdout, "1  trace trace0")[6], "m4-firmware");
}

/// Upstream DK2 vring regions are one page: a ring aligned to 0x1000 needs two. Both
/// rings are bad and both are listed.
#[test]
fn the_real_dk2_rings_are_too_small_for_page_aligned_rings() {
    let dtb = fixture("../../dma-pool/tests/fixtures/dt/dk2.dtb");
    let svg = temp("dk2.svg", b"");
    let run = plan(&["--dtb", &dtb, "--svg", svg.to_str().unwrap()]);
    assert_eq!(run.status, 1, "{}", run.stdout);
    assert!(run.stdout.contains("Problems (2)"), "{}", run.stdout);
    for ring in 0..2 {
        let problem = format!(
            "{}. table entry 2 (vdev id 7, vring {ring}: num 16, align 0x1000, 0x2000 bytes, \
             da ANY) does not fit memory-region vdev0vring{ring}: it needs 0x2000 bytes, the \
             region has 0x1000",
            ring + 1
        );
        assert!(run.stdout.contains(&problem), "{problem}\n{}", run.stdout);
        let row = line(&run.stdout, &format!("vring {ring}"));
        assert!(row.ends_with(&["NOT", "PLACED:", "problem", &(ring + 1).to_string()]));
    }
    // The picture says so too.
    let svg = std::fs::read_to_string(&svg).unwrap();
    well_formed(&svg);
    assert!(svg.contains("DOES NOT FIT: 2 problem(s), listed below"));
    assert!(svg.contains("does not fit memory-region vdev0vring1"));
}

#[test]
fn a_board_without_the_processor_is_an_input_error() {
    let dtb = fixture("../../dma-pool/tests/fixtures/dt/f746.dtb");
    let run = plan(&["--dtb", &dtb]);
    assert_eq!(run.status, 2);
    assert!(run.stdout.is_empty());
    assert!(
        run.stderr
            .contains("no device node \"m4_rproc\" with a memory-region list"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_truncated_elf_is_an_input_error() {
    let sample = std::fs::read(fixture("tests/fixtures/openamp-m4.elf")).unwrap();
    let fw = temp("truncated.elf", &sample[..40]);
    let run = plan(&["--firmware", fw.to_str().unwrap()]);
    assert_eq!(run.status, 2);
    assert!(
        run.stderr
            .contains("truncated.elf: not a usable firmware image"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_malformed_device_tree_is_an_input_error() {
    let dtb = std::fs::read(fixture("tests/fixtures/dt/dk2-openamp.dtb")).unwrap();
    let cut = temp("cut.dtb", &dtb[..100]);
    let run = plan(&["--dtb", cut.to_str().unwrap()]);
    assert_eq!(run.status, 2);
    assert!(
        run.stderr.contains("cut.dtb: malformed device tree"),
        "{}",
        run.stderr
    );

    // A broken node the planned processor uses cannot be planned around: the rule
    // and what Linux does with the node are named.
    let broken = fixture("tests/fixtures/dt/dk2-broken-node.dtb");
    let run = plan(&["--dtb", &broken, "--rproc", "/ahb/other@20000000"]);
    assert_eq!(run.status, 2, "{}", run.stdout);
    assert!(
        run.stderr.contains(
            "/ahb/other@20000000 memory-region[0] is /reserved-memory/spare@10050000, which \
             cannot be used: /reserved-memory/spare@10050000: both no-map and reusable (Linux \
             keeps the memory reserved but its pool setup refuses the node"
        ),
        "{}",
        run.stderr
    );
}

/// Linux skips a reserved-memory node it cannot use and boots with the rest: so does
/// the planner when the planned processor does not use it, with a warning.
#[test]
fn a_broken_node_nobody_plans_with_is_a_warning() {
    let broken = fixture("tests/fixtures/dt/dk2-broken-node.dtb");
    let run = plan(&["--dtb", &broken]);
    assert_eq!(run.status, 0, "{}{}", run.stdout, run.stderr);
    assert!(run.stdout.contains(
        "warning:   /reserved-memory/spare@10050000: skipped: /reserved-memory/spare@10050000: \
         both no-map and reusable (Linux keeps the memory reserved"
    ));
    assert!(run.stdout.contains("VERDICT: FITS"));
}

#[test]
fn backends_are_checked_and_used() {
    let run = plan(&["--backend", "retram=nonsense"]);
    assert_eq!(run.status, 2);
    assert!(
        run.stderr.contains("unknown backend \"nonsense\""),
        "{}",
        run.stderr
    );
    let run = plan(&["--backend", "retram=bitmap"]);
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("only CMA areas"), "{}", run.stderr);
    let run = plan(&["--backend", "nowhere=bitmap"]);
    assert_eq!(run.status, 2);
    assert!(run.stderr.contains("region \"nowhere\""), "{}", run.stderr);

    // AM62x: the default CMA area gets the bitmap backend. The sample is linked for the
    // STM32MP15's M4, so it does not fit the AM62x M4F.
    let dtb = fixture("../../dma-pool/tests/fixtures/dt/am62x.dtb");
    let run = plan(&[
        "--dtb",
        &dtb,
        "--rproc",
        "mcu_m4fss",
        "--backend",
        "linux-cma=bitmap",
    ]);
    assert_eq!(run.status, 1, "{}{}", run.stdout, run.stderr);
    let cma = line(&run.stdout, "linux-cma");
    assert!(cma.contains(&"bitmap") && cma.contains(&"reusable,dynamic,linux,cma-default"));
    assert!(
        run.stdout
            .contains("firmware segment 0 (da 0x10000000, 0x10000 bytes)")
    );
}

/// A profile the planner does not have, and a processor with fewer memory-regions than
/// its driver requires (Linux's K3 R5F driver refuses fewer than two), are input errors.
#[test]
fn profiles_are_checked() {
    let run = plan(&["--profile", "nonsense"]);
    assert_eq!(run.status, 2);
    assert!(
        run.stderr
            .contains("unknown profile \"nonsense\" (known: stm32, ti-k3-r5f"),
        "{}",
        run.stderr
    );
    let dtb = fixture("tests/fixtures/dt/no-pool.dtb");
    let run = plan(&[
        "--dtb",
        &dtb,
        "--rproc",
        "m4_rproc",
        "--profile",
        "ti-k3-r5f",
    ]);
    assert_eq!(run.status, 2, "{}", run.stdout);
    assert!(
        run.stderr.contains(
            "/m4@10000000 has 1 memory-region entries; its driver (profile ti-k3-r5f, Linux \
             drivers/remoteproc/ti_k3_r5_remoteproc.c) refuses a processor with fewer than 2"
        ),
        "{}",
        run.stderr
    );
    // The K3 drivers also need the first region to be a DMA pool.
    let dtb = fixture("tests/fixtures/dt/zynqmp-openamp-split.dtb");
    let run = plan(&[
        "--dtb",
        &dtb,
        "--rproc",
        "/remoteproc-split@ffe00000/r5f@0",
        "--profile",
        "ti-k3-r5f",
    ]);
    assert_eq!(run.status, 2, "{}", run.stdout);
    assert!(
        run.stderr
            .contains("r5f@0's first memory-region is not a shared-dma-pool; its driver"),
        "{}",
        run.stderr
    );
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--frobnicate"][..],
        &["--dtb"],
        &["--dtb", "/nonexistent/board.dtb"],
    ] {
        let run = plan(args);
        assert_eq!(run.status, 2, "{args:?}");
        assert!(
            run.stderr.starts_with("rproc-plan: error: "),
            "{}",
            run.stderr
        );
    }
}

#[test]
fn svg_draws_every_region_and_placement() {
    let path = temp("map.svg", b"");
    let run = plan(&["--svg", path.to_str().unwrap()]);
    assert_eq!(run.status, 0);
    let svg = std::fs::read_to_string(&path).unwrap();
    assert!(svg.starts_with("<?xml"));
    well_formed(&svg);
    assert_eq!(svg.matches("<g class=\"region\"").count(), 6);
    for region in [
        "mcuram2",
        "vdev0vring0",
        "vdev0vring1",
        "vdev0buffer",
        "mcuram",
        "retram",
    ] {
        assert!(svg.contains(&format!("id=\"region-{region}\"")), "{region}");
    }
    assert!(svg.contains("mcuram @0x30000000"));
    assert!(svg.contains(">FITS</text>"));
    // Names as the text report gives them; the rpmsg buffers where rpmsg got them.
    assert!(run.stdout.contains("trace trace0"));
    assert!(svg.contains("trace0 (entry 1) @0x10030000"), "{svg}");
    assert!(
        svg.contains("vdev0 rpmsg buffers: pa 0x10048000 +0x4000"),
        "{svg}"
    );
    // The legend lists only the kinds drawn, and says how the bands are scaled.
    assert!(svg.contains(">trace</text>") && svg.contains(">vdev buffers</text>"));
    assert!(!svg.contains(">devmem</text>"), "{svg}");
    assert!(svg.contains("all bands have the same width whatever the region's size"));
}

/// Every tag closes in order; attributes are quoted; no stray `<` or `&`.
fn well_formed(svg: &str) {
    let mut open: Vec<&str> = Vec::new();
    let mut rest = svg;
    while let Some(start) = rest.find('<') {
        assert!(
            !rest[..start].contains('>'),
            "stray '>' before {}",
            &rest[start..]
        );
        text_ok(&rest[..start]);
        let end = rest[start..].find('>').unwrap() + start;
        let tag = &rest[start + 1..end];
        rest = &rest[end + 1..];
        if tag.starts_with('?') {
            continue;
        }
        if let Some(name) = tag.strip_prefix('/') {
            assert_eq!(open.pop(), Some(name), "mismatched </{name}>");
            continue;
        }
        assert_eq!(
            tag.matches('"').count() % 2,
            0,
            "unbalanced quotes in <{tag}>"
        );
        let name = tag.split_whitespace().next().unwrap().trim_end_matches('/');
        if !tag.ends_with('/') {
            open.push(name);
        }
    }
    text_ok(rest);
    assert!(open.is_empty(), "unclosed {open:?}");
}

fn text_ok(text: &str) {
    for (i, _) in text.match_indices('&') {
        let entity = &text[i..text[i..].find(';').map_or(text.len(), |e| i + e + 1)];
        assert!(
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"].contains(&entity),
            "bad entity {entity}"
        );
    }
}
