//! Carveout matching, devmem, vdev pools and every boot failure on the STM32MP15-like
//! board: each refusal names the entry and value, and leaves nothing allocated.
#![allow(clippy::cast_possible_truncation)]

mod common;

use common::board::{self, MCURAM, Ops, RETRAM, SRAM, SimLoader, Sims, TABLE_DA};
use common::{Seg, image};
use contig_rproc_glue::dma_pool::cma::PhysAddr;
use contig_rproc_glue::dma_pool::{DeviceId, Devices};
use contig_rproc_glue::notify::NotifyIdError;
use contig_rproc_glue::rsc::{
    CarveoutSpec, Resource, RscTableBuilder, TraceSpec, VdevSpec, VringSpec,
};
use contig_rproc_glue::{
    DaError, DeviceAddr, MatchError, MemEntry, MemHooks, MemKind, OpError, Placement,
    RegisterError, Rproc, RprocConfig, RprocError, State,
};

fn firmware(table: &[u8]) -> Vec<u8> {
    board::m4_image(b"vectors", b"code", table)
}

fn rings(da: Option<DeviceAddr>, align: u32, num: u32) -> [VringSpec; 2] {
    [1, 2].map(|notifyid| VringSpec {
        da,
        align,
        num,
        notifyid,
    })
}

fn add_rpmsg(b: &mut RscTableBuilder, rings: &[VringSpec]) {
    b.add_vdev(&VdevSpec {
        id: 7,
        notifyid: 0,
        dfeatures: 1,
        vrings: rings,
        config: &[],
    })
    .unwrap();
}

fn carveout(name: &str, da: Option<u64>, pa: Option<u64>, len: u32) -> CarveoutSpec<'_> {
    CarveoutSpec {
        da: da.map(DeviceAddr::new),
        pa: pa.map(PhysAddr::new),
        len,
        flags: 0,
        name,
    }
}

/// Everything the processor took is back: offline, pool empty, no vdev device, every
/// registered entry unbound and unmapped, no table-made entries.
fn assert_clean(devs: &Devices<'_>, m4: DeviceId, rproc: &Rproc<'_, Ops>) {
    assert_eq!(rproc.state(), State::Offline);
    assert_eq!(devs.pool(m4).unwrap().unwrap().live(), 0);
    assert_eq!(devs.live(m4).unwrap(), 0);
    assert_eq!(devs.iter().count(), 1, "only the M4 device is left");
    assert!(rproc.vdevs().is_empty());
    assert!(
        rproc
            .memory()
            .iter()
            .all(|e| e.bound_to().is_none() && e.cpu().is_none())
    );
    assert_eq!(rproc.memory().iter().count(), 5);
}

/// Boots a table that must fail; checks the error and that all was given back, then
/// that a good table still boots (notify ids and entries were really freed).
fn boot_fails(s: &Sims, table: &[u8], setup: impl FnOnce(&mut Ops)) -> RprocError {
    let (devs, m4) = board::devices(s);
    let mut rproc = board::rproc(&devs, m4, s);
    setup(rproc.ops_mut());
    let err = rproc
        .boot(&devs, &firmware(table), &mut SimLoader::new(s))
        .unwrap_err();
    assert_clean(&devs, m4, &rproc);
    *rproc.ops_mut() = Ops::default();
    let mut good = RscTableBuilder::new();
    add_rpmsg(&mut good, &rings(None, 16, 16));
    rproc
        .boot(
            &devs,
            &firmware(&good.build().unwrap()),
            &mut SimLoader::new(s),
        )
        .unwrap();
    assert_eq!(
        rproc.vdevs()[0]
            .rings
            .iter()
            .map(|r| r.notifyid)
            .collect::<Vec<_>>(),
        [0, 1]
    );
    rproc.shutdown(&devs, &mut |_| {}).unwrap();
    assert_clean(&devs, m4, &rproc);
    err
}

fn resource_error(err: RprocError) -> (u32, MemKind, Option<u8>, MatchError) {
    match err {
        RprocError::Resource {
            index,
            kind,
            ring,
            error,
        } => (index, kind, ring, error),
        other => panic!("expected a resource error, got {other:?}"),
    }
}

/// The table with a vdev first, then `carveouts`.
fn vdev_then(carveouts: &[CarveoutSpec<'_>]) -> Vec<u8> {
    let mut b = RscTableBuilder::new();
    add_rpmsg(&mut b, &rings(None, 16, 16));
    for c in carveouts {
        b.add_carveout(c).unwrap();
    }
    b.build().unwrap()
}

#[test]
fn undeclared_fixed_carveout_after_a_vdev_unwinds_everything() {
    let s = board::sims();
    let err = boot_fails(
        &s,
        &vdev_then(&[carveout("fw", Some(0x2000_0000), None, 0x1000)]),
        |_| {},
    );
    let undeclared = MatchError::Undeclared {
        da: Some(DeviceAddr::new(0x2000_0000)),
        pa: None,
        len: 0x1000,
    };
    assert_eq!(
        resource_error(err),
        (1, MemKind::Carveout, None, undeclared)
    );
}

#[test]
fn named_carveout_mismatches_name_the_entry_and_value() {
    let s = board::sims();
    let named = |e: MatchError| match e {
        MatchError::DaOutside { entry, .. }
        | MatchError::TooLong { entry, .. }
        | MatchError::PaMismatch { entry, .. }
        | MatchError::AlreadyBound { entry, .. } => entry.as_str().to_owned(),
        other => panic!("{other:?}"),
    };
    let err = boot_fails(
        &s,
        &vdev_then(&[carveout("retram", Some(0x1_0000), None, 16)]),
        |_| {},
    );
    let (index, _, _, e) = resource_error(err);
    assert_eq!((index, named(e)), (1, "retram".to_owned()));
    assert!(matches!(e, MatchError::DaOutside { da, .. } if da == DeviceAddr::new(0x1_0000)));

    let err = boot_fails(
        &s,
        &vdev_then(&[carveout("retram", Some(0x8000), None, 0x9000)]),
        |_| {},
    );
    assert!(matches!(
        resource_error(err).3,
        MatchError::TooLong {
            len: 0x9000,
            room: 0x8000,
            ..
        }
    ));

    let err = boot_fails(
        &s,
        &vdev_then(&[
            carveout("retram", None, Some(RETRAM + 0x1000), 16),
            carveout("retram", None, None, 16),
        ]),
        |_| {},
    );
    let (index, _, _, e) = resource_error(err);
    assert_eq!(index, 2);
    assert!(
        matches!(e, MatchError::AlreadyBound { other: 1, .. }),
        "{e:?}"
    );

    let err = boot_fails(
        &s,
        &vdev_then(&[carveout("retram", Some(0x100), Some(RETRAM), 16)]),
        |_| {},
    );
    let e = resource_error(err).3;
    assert!(matches!(e, MatchError::PaMismatch { pa, expected, .. }
        if pa == PhysAddr::new(RETRAM) && expected == PhysAddr::new(RETRAM + 0x100)));
    assert_eq!(named(e), "retram");
}

#[test]
fn carveouts_match_by_name_then_da_then_pa_and_fixed_pool_addresses_are_occupied() {
    let s = board::sims();
    let (devs, m4) = board::devices(&s);
    let mut rproc = board::rproc(&devs, m4, &s);
    let mut b = RscTableBuilder::new();
    b.add_carveout(&carveout("mcuram2", None, None, 0x1000))
        .unwrap(); // by name
    b.add_carveout(&carveout("x", Some(0x100), None, 0x100))
        .unwrap(); // by da: retram
    b.add_carveout(&carveout("y", Some(MCURAM + 0x3000), None, 0x1000))
        .unwrap(); // in the M4 pool
    let table = b.build().unwrap();
    rproc
        .boot(&devs, &firmware(&table), &mut SimLoader::new(&s))
        .unwrap();
    let got: Vec<_> = rproc
        .table()
        .unwrap()
        .entries()
        .map(|e| match e.resource {
            Resource::Carveout(c) => (c.da.unwrap().as_u64(), c.pa.unwrap().as_u64()),
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(
        got,
        [
            (SRAM, SRAM),
            (0x100, RETRAM + 0x100),
            (MCURAM + 0x3000, MCURAM + 0x3000)
        ]
    );
    let bound: Vec<_> = rproc
        .memory()
        .iter()
        .filter_map(|e| Some((e.name().as_str().to_owned(), e.bound_to()?)))
        .collect();
    assert_eq!(bound, [("mcuram2".to_owned(), 0), ("retram".to_owned(), 1)]);
    assert_eq!(devs.pool(m4).unwrap().unwrap().live(), 1);
    rproc.shutdown(&devs, &mut |_| {}).unwrap();
    assert_clean(&devs, m4, &rproc);

    // By physical address, at an offset into the entry.
    let mut b = RscTableBuilder::new();
    b.add_carveout(&carveout("z", None, Some(SRAM + 0x1000), 0x1000))
        .unwrap();
    rproc
        .boot(
            &devs,
            &firmware(&b.build().unwrap()),
            &mut SimLoader::new(&s),
        )
        .unwrap();
    let Resource::Carveout(c) = rproc.table().unwrap().entry(0).unwrap().resource else {
        panic!()
    };
    assert_eq!(c.da, Some(DeviceAddr::new(SRAM + 0x1000)));
    rproc.shutdown(&devs, &mut |_| {}).unwrap();
}

#[test]
fn platform_carveout_hook_comes_first_and_is_released() {
    let s = board::sims();
    let (devs, m4) = board::devices(&s);
    let mut rproc = board::rproc(&devs, m4, &s);
    let at = Placement {
        da: DeviceAddr::new(0x9000),
        pa: PhysAddr::new(RETRAM + 0x9000),
        cpu: None,
        len: 0,
    };
    rproc.ops_mut().hook_carveout = Some(at);
    let mut b = RscTableBuilder::new();
    b.add_carveout(&CarveoutSpec::any("dyn", 0x800)).unwrap();
    rproc
        .boot(
            &devs,
            &firmware(&b.build().unwrap()),
            &mut SimLoader::new(&s),
        )
        .unwrap();
    let Resource::Carveout(c) = rproc.table().unwrap().entry(0).unwrap().resource else {
        panic!()
    };
    assert_eq!((c.da, c.pa), (Some(at.da), Some(at.pa)));
    assert_eq!(
        devs.pool(m4).unwrap().unwrap().live(),
        0,
        "the pool was not used"
    );
    rproc.shutdown(&devs, &mut |_| {}).unwrap();
    let log = &rproc.ops().log;
    assert_eq!(log[0], "alloc_carveout 0 0x800");
    assert_eq!(
        log.last().unwrap(),
        &format!("release_carveout {:#x}", RETRAM + 0x9000)
    );
}

#[test]
fn devmem_must_lie_in_declared_memory() {
    let s = board::sims();
    let (devs, m4) = board::devices(&s);
    let mut rproc = board::rproc(&devs, m4, &s);
    let periph = MemEntry::region(
        "periph",
        MemKind::Devmem,
        PhysAddr::new(0x4000_0000),
        0x1_0000,
    )
    .unwrap();
    rproc.register(&devs, periph).unwrap();
    let table = |pa: u64| {
        let mut t = Vec::new();
        for w in [1u32, 1, 0, 0, 20, 1, 0x4000_0000, pa as u32, 0x1000, 0, 0] {
            t.extend_from_slice(&w.to_le_bytes());
        }
        t.resize(20 + 56, 0);
        t
    };
    rproc
        .boot(
            &devs,
            &firmware(&table(0x4000_0000)),
            &mut SimLoader::new(&s),
        )
        .unwrap();
    let devmem = rproc
        .memory()
        .iter()
        .find(|e| e.kind() == MemKind::Devmem && e.origin() != contig_rproc_glue::Origin::Platform);
    assert_eq!(devmem.map(|e| e.pa()), Some(PhysAddr::new(0x4000_0000)));
    rproc.shutdown(&devs, &mut |_| {}).unwrap();
    assert_eq!(
        rproc.ops().log,
        [
            "map_devmem 0x40000000",
            "start 0x10000101",
            "stop",
            "unmap_devmem 0x40000000"
        ]
    );

    // Crossing the end of the declared window: refused before the platform maps it.
    let err = rproc
        .boot(
            &devs,
            &firmware(&table(0x4000_f800)),
            &mut SimLoader::new(&s),
        )
        .unwrap_err();
    let undeclared = MatchError::Undeclared {
        da: Some(DeviceAddr::new(0x4000_0000)),
        pa: Some(PhysAddr::new(0x4000_f800)),
        len: 0x1000,
    };
    assert_eq!(resource_error(err), (0, MemKind::Devmem, None, undeclared));
    assert_eq!(rproc.ops().log.len(), 4);
}

#[test]
fn platform_failures_unwind() {
    let s = board::sims();
    let mut full = RscTableBuilder::new();
    full.add_vendor(128, &[0; 4]).unwrap();
    full.add_carveout(&CarveoutSpec::any("heap", 0x2000))
        .unwrap();
    add_rpmsg(&mut full, &rings(None, 16, 16));
    let full = full.build().unwrap();

    let err = boot_fails(&s, &full, |o| o.fail_vendor = true);
    assert!(matches!(
        err,
        RprocError::Vendor {
            index: 0,
            kind: 128,
            error: OpError(-22)
        }
    ));
    let err = boot_fails(&s, &full, |o| o.fail_start = true);
    assert!(matches!(
        err,
        RprocError::Platform {
            op: "start",
            error: OpError(-5)
        }
    ));

    // The loader fails after allocation.
    let (devs, m4) = board::devices(&s);
    let mut rproc = board::rproc(&devs, m4, &s);
    let mut loader = SimLoader::new(&s);
    loader.fail_load = true;
    let err = rproc
        .boot(&devs, &firmware(&full), &mut loader)
        .unwrap_err();
    assert!(matches!(
        err,
        RprocError::Platform {
            op: "load",
            error: OpError(-12)
        }
    ));
    assert_clean(&devs, m4, &rproc);
}

#[test]
fn segments_trace_and_table_section_must_lie_in_memory() {
    let s = board::sims();
    let (devs, m4) = board::devices(&s);
    let mut rproc = board::rproc(&devs, m4, &s);
    let table = vdev_then(&[]);
    let segs = [Seg {
        paddr: 0xfc00,
        data: b"x",
        memsz: 0x800,
        ptype: 1,
    }];
    let fw = image(false, &segs, Some((TABLE_DA, &table)));
    let err = rproc.boot(&devs, &fw, &mut SimLoader::new(&s)).unwrap_err();
    assert!(matches!(
        err,
        RprocError::Segment {
            segment: 0,
            error: DaError::CrossesEnd { room: 0x400, .. }
        }
    ));
    assert_clean(&devs, m4, &rproc);

    let fw = image(
        false,
        &[Seg {
            paddr: 0,
            data: b"x",
            memsz: 4,
            ptype: 1,
        }],
        Some((0x2000_0000, &table)),
    );
    let err = rproc.boot(&devs, &fw, &mut SimLoader::new(&s)).unwrap_err();
    assert!(matches!(
        err,
        RprocError::TableSection {
            error: DaError::NotFound { .. }
        }
    ));
    assert_clean(&devs, m4, &rproc);

    let mut b = RscTableBuilder::new();
    b.add_trace(&TraceSpec {
        da: DeviceAddr::new(0x2000_0000),
        len: 0x100,
        name: "t",
    })
    .unwrap();
    let err = boot_fails(&s, &b.build().unwrap(), |_| {});
    let (index, kind, _, e) = resource_error(err);
    assert_eq!((index, kind), (0, MemKind::Trace));
    assert!(matches!(e, MatchError::Translate(DaError::NotFound { .. })));
}

#[test]
fn notify_ids_are_bounded_and_vring_sizes_must_fit_registered_rings() {
    let s = board::sims();
    let (devs, m4) = board::devices(&s);
    let config = RprocConfig {
        auto_boot: true,
        notify_ids: 1,
    };
    let mut rproc = Rproc::new(&devs, m4, Ops::default(), config).unwrap();
    assert!(rproc.auto_boot());
    let err = rproc
        .boot(&devs, &firmware(&vdev_then(&[])), &mut SimLoader::new(&s))
        .unwrap_err();
    let exhausted = MatchError::NotifyId(NotifyIdError::Exhausted { capacity: 1 });
    assert_eq!(resource_error(err), (0, MemKind::Vring, Some(1), exhausted));
    assert_eq!(devs.iter().count(), 1);
    assert_eq!(devs.pool(m4).unwrap().unwrap().live(), 0);

    // num 256 / align 0x1000 needs 12288 bytes: the registered 4K ring cannot hold it.
    let mut b = RscTableBuilder::new();
    add_rpmsg(&mut b, &rings(None, 0x1000, 256));
    let err = boot_fails(&s, &b.build().unwrap(), |_| {});
    let (_, kind, ring, e) = resource_error(err);
    assert_eq!((kind, ring), (MemKind::Vring, Some(0)));
    assert!(
        matches!(e, MatchError::TooLong { entry, len: 12288, room: 4096 } if entry.as_str() == "vdev0vring0")
    );
}

#[test]
fn typical_openamp_table_without_registered_rings_uses_the_processor_pool() {
    let s = board::sims();
    let (devs, m4) = board::devices(&s);
    let mut rproc = Rproc::new(&devs, m4, Ops::default(), RprocConfig::default()).unwrap();
    let sram = MemEntry::region("mcuram2", MemKind::Carveout, PhysAddr::new(SRAM), 0x4_0000)
        .unwrap()
        .with_mapper(&s.sram);
    let retram = MemEntry::region("retram", MemKind::Carveout, PhysAddr::new(RETRAM), 0x1_0000)
        .unwrap()
        .with_mapper(&s.retram);
    rproc.register(&devs, sram).unwrap();
    rproc.register(&devs, retram).unwrap();
    let mut b = RscTableBuilder::new();
    add_rpmsg(&mut b, &rings(None, 0x1000, 256));
    rproc
        .boot(
            &devs,
            &firmware(&b.build().unwrap()),
            &mut SimLoader::new(&s),
        )
        .unwrap();
    let vdev = &rproc.vdevs()[0];
    assert!(!vdev.own_pool);
    let placed: Vec<_> = vdev
        .rings
        .iter()
        .map(|r| (r.notifyid, r.at.da.as_u64(), r.at.len))
        .collect();
    assert_eq!(placed, [(0, MCURAM, 12288), (1, MCURAM + 12288, 12288)]);
    // The vdev draws from its parent's pool.
    let parent_pool = devs.pool(m4).unwrap().unwrap().phys();
    assert_eq!(devs.pool(vdev.device).unwrap().unwrap().phys(), parent_pool);
    rproc.shutdown(&devs, &mut |_| {}).unwrap();
    assert_eq!(devs.pool(m4).unwrap().unwrap().live(), 0);
    assert_eq!(devs.iter().count(), 1);
}

#[test]
fn attach_to_a_running_remote() {
    let s = board::sims();
    let (devs, m4) = board::devices(&s);
    let mut rproc = board::rproc(&devs, m4, &s);
    let table = vdev_then(&[]);
    let mut loader = SimLoader::new(&s);
    let err = rproc
        .attach(&devs, &table, DeviceAddr::new(TABLE_DA), &mut loader)
        .unwrap_err();
    assert!(matches!(
        err,
        RprocError::Platform {
            op: "attach",
            error: OpError(-95)
        }
    ));
    assert_clean(&devs, m4, &rproc);
    rproc.ops_mut().attach_ok = true;
    rproc
        .attach(&devs, &table, DeviceAddr::new(TABLE_DA), &mut loader)
        .unwrap();
    assert_eq!(rproc.state(), State::Running);
    assert_eq!(
        s.read(TABLE_DA, table.len()),
        rproc.table().unwrap().bytes()
    );
    assert!(loader.loaded.is_empty());
    rproc.shutdown(&devs, &mut |_| {}).unwrap();
    assert_clean(&devs, m4, &rproc);
}

struct Hooks {
    fail: bool,
    calls: std::sync::Mutex<Vec<String>>,
}

impl MemHooks for Hooks {
    fn alloc(
        &self,
        entry: &MemEntry<'_>,
    ) -> Result<Option<contig_rproc_glue::dma_pool::CpuAddr>, OpError> {
        self.calls
            .lock()
            .unwrap()
            .push(format!("alloc {}", entry.name()));
        if self.fail {
            Err(OpError(-12))
        } else {
            Ok(None)
        }
    }

    fn release(&self, entry: &MemEntry<'_>) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("release {}", entry.name()));
    }
}

#[test]
fn registration_rules_and_hooks() {
    let s = board::sims();
    let (devs, m4) = board::devices(&s);
    let mut rproc = board::rproc(&devs, m4, &s);
    let region = |name, pa: u64, len| {
        MemEntry::region(name, MemKind::Carveout, PhysAddr::new(pa), len).unwrap()
    };
    let refusal = |r: Result<(), RprocError>| match r {
        Err(RprocError::Register { error, .. }) => error,
        other => panic!("{other:?}"),
    };
    let overlap = refusal(rproc.register(&devs, region("other", RETRAM + 0x100, 0x100)));
    assert!(matches!(overlap, RegisterError::Overlaps { other } if other.as_str() == "retram"));
    let same_name = refusal(rproc.register(&devs, region("retram", MCURAM, 0x100)));
    assert!(matches!(same_name, RegisterError::Overlaps { .. }));
    assert_eq!(
        refusal(rproc.register(&devs, region("empty", MCURAM, 0))),
        RegisterError::ZeroLen
    );
    let off_bus = refusal(rproc.register(&devs, region("far", 0x8000_0000, 0x1000)));
    assert_eq!(
        off_bus,
        RegisterError::NotOnBus {
            pa: PhysAddr::new(0x8000_0000),
            len: 0x1000
        }
    );
    // With an explicit device address it need not be on the bus.
    let hooks = Box::leak(Box::new(Hooks {
        fail: true,
        calls: std::sync::Mutex::new(Vec::new()),
    }));
    let ddr = region("ddr", 0x8000_0000, 0x1000)
        .at_da(DeviceAddr::new(0x9000_0000))
        .with_hooks(hooks);
    rproc.register(&devs, ddr).unwrap();
    let err = rproc
        .boot(&devs, &firmware(&vdev_then(&[])), &mut SimLoader::new(&s))
        .unwrap_err();
    assert!(
        matches!(err, RprocError::Register { entry, error: RegisterError::Platform(OpError(-12)) } if entry.as_str() == "ddr")
    );
    assert_eq!(rproc.state(), State::Offline);
    assert_eq!(*hooks.calls.lock().unwrap(), ["alloc ddr"]);

    // Not offline: registering is refused.
    let hooks2 = Box::leak(Box::new(Hooks {
        fail: false,
        calls: std::sync::Mutex::new(Vec::new()),
    }));
    let mut rproc2 = board::rproc(&devs, m4, &s);
    rproc2
        .register(
            &devs,
            region("ddr", 0x8000_0000, 0x1000)
                .at_da(DeviceAddr::new(0x9000_0000))
                .with_hooks(hooks2),
        )
        .unwrap();
    rproc2
        .boot(&devs, &firmware(&vdev_then(&[])), &mut SimLoader::new(&s))
        .unwrap();
    let late = rproc2.register(&devs, region("late", MCURAM, 0x1000));
    assert!(matches!(
        late,
        Err(RprocError::State {
            state: State::Running,
            ..
        })
    ));
    let again = rproc2.boot(&devs, &firmware(&vdev_then(&[])), &mut SimLoader::new(&s));
    assert!(matches!(
        again,
        Err(RprocError::State {
            op: "boot",
            state: State::Running
        })
    ));
    rproc2.shutdown(&devs, &mut |_| {}).unwrap();
    assert_eq!(*hooks2.calls.lock().unwrap(), ["alloc ddr", "release ddr"]);
}

#[test]
fn firmware_without_a_table_boots_without_resources() {
    let s = board::sims();
    let (devs, m4) = board::devices(&s);
    let mut rproc = board::rproc(&devs, m4, &s);
    let fw = image(
        false,
        &[Seg {
            paddr: SRAM,
            data: b"code",
            memsz: 0x100,
            ptype: 1,
        }],
        None,
    );
    let mut loader = SimLoader::new(&s);
    rproc.boot(&devs, &fw, &mut loader).unwrap();
    assert!(rproc.table().is_none());
    assert_eq!((loader.loaded.len(), loader.tables), (1, 0));
    rproc.shutdown(&devs, &mut |_| {}).unwrap();
    assert_clean(&devs, m4, &rproc);
}

#[test]
fn fallback_table_for_firmware_without_one() {
    let s = board::sims();
    let (devs, m4) = board::devices(&s);
    let mut rproc = board::rproc(&devs, m4, &s);
    let table = vdev_then(&[]);
    let err = rproc
        .set_fallback_table(table.clone(), DeviceAddr::new(TABLE_DA), table.len() - 1)
        .unwrap_err();
    assert!(
        matches!(err, RprocError::NoSpace { needed, available } if needed == table.len() && available == table.len() - 1)
    );
    assert!(matches!(
        rproc.set_fallback_table(vec![2, 0, 0, 0], DeviceAddr::new(TABLE_DA), 64),
        Err(RprocError::Rsc(_))
    ));
    rproc
        .set_fallback_table(table.clone(), DeviceAddr::new(TABLE_DA), 0x100)
        .unwrap();
    let fw = image(
        false,
        &[Seg {
            paddr: SRAM,
            data: b"code",
            memsz: 0x1000,
            ptype: 1,
        }],
        None,
    );
    let mut loader = SimLoader::new(&s);
    rproc.boot(&devs, &fw, &mut loader).unwrap();
    assert_eq!(rproc.vdevs().len(), 1);
    assert_eq!(loader.tables, 1);
    assert_eq!(
        s.read(TABLE_DA, table.len()),
        rproc.table().unwrap().bytes()
    );
    rproc.shutdown(&devs, &mut |_| {}).unwrap();
    assert_clean(&devs, m4, &rproc);
}

#[test]
fn table_built_from_registered_entries_binds_back_to_them() {
    let s = board::sims();
    let (devs, m4) = board::devices(&s);
    let mut rproc = board::rproc(&devs, m4, &s);
    let mut b = rproc.table_from_registered().unwrap();
    assert_eq!(b.num(), 2); // mcuram2 and retram; rings and the buffer are not carveouts
    add_rpmsg(&mut b, &rings(None, 16, 16));
    let mut section = [0u8; 64];
    let needed = b.len();
    assert_eq!(
        b.build_into(&mut section),
        Err(contig_rproc_glue::rsc::BuildError::NoSpace {
            needed,
            available: 64
        })
    );
    rproc
        .set_fallback_table(b.build().unwrap(), DeviceAddr::new(TABLE_DA), 0x400)
        .unwrap();
    let fw = image(
        false,
        &[Seg {
            paddr: SRAM,
            data: b"code",
            memsz: 0x1000,
            ptype: 1,
        }],
        None,
    );
    rproc.boot(&devs, &fw, &mut SimLoader::new(&s)).unwrap();
    let bound: Vec<_> = rproc
        .memory()
        .iter()
        .filter_map(|e| Some((e.name().as_str().to_owned(), e.bound_to()?)))
        .collect();
    assert_eq!(
        bound,
        [
            ("mcuram2", 0),
            ("vdev0vring0", 2),
            ("vdev0vring1", 2),
            ("vdev0buffer", 2),
            ("retram", 1)
        ]
        .map(|(n, i)| (n.to_owned(), i))
    );
    let Resource::Carveout(c) = rproc.table().unwrap().entry(1).unwrap().resource else {
        panic!()
    };
    assert_eq!(
        (c.da, c.pa),
        (Some(DeviceAddr::new(0)), Some(PhysAddr::new(RETRAM)))
    );
    rproc.shutdown(&devs, &mut |_| {}).unwrap();
    assert_clean(&devs, m4, &rproc);
}
