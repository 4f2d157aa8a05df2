//! An STM32MP15-like platform end to end: registered reserved-memory regions, a
//! firmware whose table has a vendor entry, a trace, an ANY carveout and an rpmsg vdev;
//! boot, every allocation and write-back, shutdown, everything given back, boot again.
#![allow(clippy::cast_possible_truncation)]

mod common;

use common::board::{self, MCURAM, RETRAM, SRAM, SimLoader, Sims, TABLE_DA};
use contig_rproc_glue::dma_pool::cma::PhysAddr;
use contig_rproc_glue::dma_pool::{Attrs, Devices};
use contig_rproc_glue::rsc::{
    CarveoutSpec, NOTIFYID_NONE, Resource, RscTableBuilder, TraceSpec, VdevSpec, VringSpec,
};
use contig_rproc_glue::{DaError, DeviceAddr, MemKind, Origin, Rproc, State};

const VECTORS: &[u8] = b"\x00\x00\x01\x10\x01\x01\x00\x00vectors!";
const CODE: &[u8] = b"code of the M4 firmware";

fn rpmsg_rings(da: Option<DeviceAddr>) -> [VringSpec; 2] {
    [1, 2].map(|notifyid| VringSpec {
        da,
        align: 16,
        num: 16,
        notifyid,
    })
}

/// vendor 128, trace, ANY carveout "heap", rpmsg vdev (id 7, two ANY rings).
fn st_table() -> Vec<u8> {
    let mut b = RscTableBuilder::new();
    b.add_vendor(128, &[1, 2, 3, 4]).unwrap();
    b.add_trace(&TraceSpec {
        da: DeviceAddr::new(SRAM + 0x2000),
        len: 0x400,
        name: "trace0",
    })
    .unwrap();
    b.add_carveout(&CarveoutSpec::any("heap", 0x2000)).unwrap();
    let rings = rpmsg_rings(None);
    b.add_vdev(&VdevSpec {
        id: 7,
        notifyid: 0,
        dfeatures: 1,
        vrings: &rings,
        config: &[],
    })
    .unwrap();
    b.build().unwrap()
}

/// ELF32 ARM: vectors in RETRAM (da 0), code in MCURAM2, the table inside the code
/// segment's memory.
fn firmware(table: &[u8]) -> Vec<u8> {
    board::m4_image(VECTORS, CODE, table)
}

fn live(devs: &Devices<'_>, m4: contig_rproc_glue::dma_pool::DeviceId) -> usize {
    devs.pool(m4).unwrap().unwrap().live()
}

fn check_booted(s: &Sims, devs: &Devices<'_>, rproc: &Rproc<'_, board::Ops>) {
    assert_eq!(rproc.state(), State::Running);
    assert_eq!(rproc.ops().log, ["vendor 0 type 128", "start 0x10000101"]);
    assert!(rproc.skipped().is_empty());

    // Registered entries: all mapped; RETRAM sits at da 0 through the bus window.
    let mem: Vec<_> = rproc.memory().iter().collect();
    let retram = mem.iter().find(|e| e.name().as_str() == "retram").unwrap();
    assert_eq!(
        (retram.da(), retram.pa()),
        (Some(DeviceAddr::new(0)), PhysAddr::new(RETRAM))
    );
    assert!(
        mem.iter()
            .filter(|e| e.origin() == Origin::Platform)
            .all(|e| e.cpu().is_some())
    );

    // The table's write-backs.
    let table = rproc.table().unwrap();
    let all: Vec<_> = table.entries().map(|e| e.resource).collect();
    let Resource::Carveout(heap) = all[2] else {
        panic!()
    };
    assert_eq!(heap.da, Some(DeviceAddr::new(MCURAM)));
    assert_eq!(heap.pa, Some(PhysAddr::new(MCURAM)));
    let Resource::Vdev(vdev) = all[3] else {
        panic!()
    };
    let rings: Vec<_> = vdev.vrings().map(|r| (r.da, r.pa, r.notifyid)).collect();
    let ring_at = |off: u64| {
        (
            Some(DeviceAddr::new(SRAM + off)),
            Some(PhysAddr::new(SRAM + off)),
        )
    };
    assert_eq!(
        rings,
        [
            (ring_at(0x4_0000).0, ring_at(0x4_0000).1, 0),
            (ring_at(0x4_1000).0, ring_at(0x4_1000).1, 1)
        ]
    );

    // The heap came from the M4's pool; trace and heap are entries from the table.
    assert_eq!(live(devs, m4_of(rproc)), 1);
    let heap_entry = mem
        .iter()
        .find(|e| e.origin() == Origin::Table { index: 2 })
        .unwrap();
    assert_eq!(
        (heap_entry.kind(), heap_entry.len()),
        (MemKind::Carveout, 0x2000)
    );
    let trace = mem.iter().find(|e| e.kind() == MemKind::Trace).unwrap();
    assert_eq!(
        (trace.pa(), trace.len()),
        (PhysAddr::new(SRAM + 0x2000), 0x400)
    );
    let bound: Vec<_> = mem
        .iter()
        .filter_map(|e| e.bound_to().map(|b| (e.name().as_str().to_owned(), b)))
        .collect();
    assert_eq!(
        bound,
        [
            ("vdev0vring0".to_owned(), 3),
            ("vdev0vring1".to_owned(), 3),
            ("vdev0buffer".to_owned(), 3)
        ]
    );

    // The vdev is a child of the M4 with vdev0buffer as its own pool.
    let info = &rproc.vdevs()[0];
    assert_eq!((info.index, info.number, info.own_pool), (3, 0, true));
    assert_eq!(
        devs.device(info.device).unwrap().parent(),
        Some(m4_of(rproc))
    );
    assert_eq!(
        devs.device(info.device).unwrap().name().as_str(),
        "m4.vdev0"
    );
    assert!(rproc.owns(devs, info.device));
    let pool = devs.pool(info.device).unwrap().unwrap();
    assert_eq!(pool.phys().base(), PhysAddr::new(SRAM + 0x4_2000));
    assert_eq!(
        info.rings
            .iter()
            .map(|r| (r.notifyid, r.at.len))
            .collect::<Vec<_>>(),
        [(0, 4096), (1, 4096)]
    );

    // Segments and the table were copied where the M4 sees them.
    assert_eq!(s.read(RETRAM, VECTORS.len()), VECTORS);
    assert!(
        s.read(RETRAM + VECTORS.len() as u64, 0x400 - VECTORS.len())
            .iter()
            .all(|&b| b == 0)
    );
    assert_eq!(s.read(SRAM, CODE.len()), CODE);
    assert_eq!(s.read(TABLE_DA, table.bytes().len()), table.bytes());
}

fn m4_of(rproc: &Rproc<'_, board::Ops>) -> contig_rproc_glue::dma_pool::DeviceId {
    rproc.device()
}

#[test]
fn boot_check_shutdown_and_boot_again() {
    let s = board::sims();
    let (devs, m4) = board::devices(&s);
    let mut rproc = board::rproc(&devs, m4, &s);
    assert!(!rproc.auto_boot());
    let fw = firmware(&st_table());
    let mut loader = SimLoader::new(&s);
    rproc.boot(&devs, &fw, &mut loader).unwrap();
    check_booted(&s, &devs, &rproc);
    assert_eq!(loader.tables, 1);

    // Translations: RETRAM at da 0, a range crossing its end, an address nothing holds.
    assert_eq!(
        rproc.da_to_pa(DeviceAddr::new(0x10), 16),
        Ok(PhysAddr::new(RETRAM + 0x10))
    );
    let crossing = rproc.da_to_va(DeviceAddr::new(0xfff0), 0x20).unwrap_err();
    assert!(
        matches!(crossing, DaError::CrossesEnd { entry, len: 0x20, room: 0x10, .. } if entry.as_str() == "retram")
    );
    assert_eq!(
        rproc.da_to_pa(DeviceAddr::new(0x2000_0000), 4),
        Err(DaError::NotFound {
            da: DeviceAddr::new(0x2000_0000),
            len: 4
        })
    );

    // A driver on the vdev allocates from vdev0buffer.
    let vdev = rproc.vdevs()[0].device;
    let buf = devs.alloc_coherent(Some(vdev), 512, Attrs::NONE).unwrap();
    assert_eq!(buf.phys, PhysAddr::new(SRAM + 0x4_2000));
    assert!(rproc.kick(1));
    assert!(!rproc.kick(5));
    assert_eq!(rproc.ops().kicks, [1]);

    // While the vdev pool has a live buffer, shutdown cannot give it back: it says so
    // and keeps the rest for a retry.
    rproc.add_dump_segment(DeviceAddr::new(0), 16).unwrap();
    rproc
        .add_dump_segment(DeviceAddr::new(0x2000_0000), 8)
        .unwrap();
    let mut dumps = Vec::new();
    let err = rproc.shutdown(&devs, &mut |r| {
        assert_eq!(r.state(), State::Stopped);
        let core = r
            .coredump(&mut |at, dest| s.holding(at.pa).read(at.pa, dest).is_some())
            .unwrap();
        dumps.push(core);
    });
    assert!(err.is_err());
    assert_eq!(rproc.state(), State::Stopped);
    devs.free_coherent(Some(vdev), &buf).unwrap();
    rproc
        .shutdown(&devs, &mut |_| panic!("no second snapshot"))
        .unwrap();

    // The core file: one PT_LOAD per segment, the untranslatable one all 0xff.
    let core = contig_rproc_glue::firmware::Firmware::parse(&dumps[0]).unwrap();
    let loads: Vec<_> = core.segments().collect();
    assert_eq!(loads[0].data, &VECTORS[..16]);
    assert_eq!(loads[1].data, &[0xff; 8]);

    // Everything went back.
    assert_eq!(rproc.state(), State::Offline);
    assert_eq!(rproc.ops().log.last().map(String::as_str), Some("stop"));
    assert_eq!(live(&devs, m4), 0);
    assert_eq!(devs.find("m4.vdev0"), None);
    assert!(rproc.vdevs().is_empty());
    assert_eq!(rproc.memory().iter().count(), 5);
    assert!(
        rproc
            .memory()
            .iter()
            .all(|e| e.bound_to().is_none() && e.cpu().is_none())
    );
    let table = rproc.table().unwrap();
    let all: Vec<_> = table.entries().map(|e| e.resource).collect();
    let Resource::Carveout(heap) = all[2] else {
        panic!()
    };
    assert_eq!((heap.da, heap.pa), (None, None));
    let Resource::Vdev(v) = all[3] else { panic!() };
    assert!(
        v.vrings()
            .all(|r| r.da.is_none() && r.pa.is_none() && r.notifyid == NOTIFYID_NONE)
    );

    // Booting again gets the same placements and notify ids.
    rproc.ops_mut().log.clear();
    rproc.boot(&devs, &fw, &mut SimLoader::new(&s)).unwrap();
    check_booted(&s, &devs, &rproc);
    rproc.shutdown(&devs, &mut |_| {}).unwrap();
    assert_eq!(live(&devs, m4), 0);
}

#[test]
fn recovery_keeps_every_allocation() {
    let s = board::sims();
    let (devs, m4) = board::devices(&s);
    let mut rproc = board::rproc(&devs, m4, &s);
    let fw = firmware(&st_table());
    let mut loader = SimLoader::new(&s);
    rproc.boot(&devs, &fw, &mut loader).unwrap();
    let before: Vec<_> = rproc
        .memory()
        .iter()
        .map(|e| (e.name(), e.pa(), e.len()))
        .collect();
    let rings = rproc.vdevs().to_vec();
    assert!(rproc.recover(&fw, &mut loader, &mut |_| {}).is_err()); // not crashed
    rproc.report_crash().unwrap();
    assert_eq!(rproc.state(), State::Crashed);
    // Corrupt the code; recovery reloads it.
    s.sram.write(PhysAddr::new(SRAM), b"garbage").unwrap();
    rproc.recover(&fw, &mut loader, &mut |_| {}).unwrap();
    assert_eq!(rproc.state(), State::Running);
    assert_eq!(s.read(SRAM, CODE.len()), CODE);
    assert_eq!(loader.tables, 2);
    let after: Vec<_> = rproc
        .memory()
        .iter()
        .map(|e| (e.name(), e.pa(), e.len()))
        .collect();
    assert_eq!(before, after);
    assert_eq!(rproc.vdevs(), &rings[..]);
    assert_eq!(live(&devs, m4), 1);
    assert_eq!(rproc.ops().log[2..], ["stop", "start 0x10000101"]);
    rproc.shutdown(&devs, &mut |_| {}).unwrap();
    assert_eq!(live(&devs, m4), 0);
}
