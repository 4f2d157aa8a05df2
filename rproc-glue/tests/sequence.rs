//! The exact order of every platform, loader and subdevice call in boot, shutdown,
//! failed boots, crash and recovery, firmware that arrives late and `set_firmware`, on
//! the STM32MP15-like board with two recording subdevices A and B and an rpmsg vdev.
#![allow(clippy::cast_possible_truncation)]

mod common;

use common::board::{self, SRAM, Sims};
use common::recording::{RecLoader, RecOps, RecSub, Recorder};
use common::{Seg, image};
use contig_rproc_glue::coredump::DumpFormat;
use contig_rproc_glue::dma_pool::cma::PhysAddr;
use contig_rproc_glue::dma_pool::{Device, DeviceId, Devices, NoMapping};
use contig_rproc_glue::rsc::{CarveoutSpec, RscTableBuilder, VdevSpec, VringSpec};
use contig_rproc_glue::{
    AutoBoot, DeviceAddr, FirmwareName, FirmwareNameError, FirmwareSource, Placement, Rproc,
    RprocConfig, RprocError, State, SubdevId, firmware_available,
};

const CODE: &[u8] = b"code of the M4 firmware";
/// Where the "crashed firmware" leaves its last words: inside the code segment's
/// memory, so that a reload zeroes it.
const LAST_WORDS_DA: u64 = SRAM + 0x100;

/// An ANY carveout "heap" and an rpmsg vdev whose rings and buffers come from the
/// board's `vdev0vring0/1` and `vdev0buffer` regions.
fn table() -> Vec<u8> {
    let mut b = RscTableBuilder::new();
    b.add_carveout(&CarveoutSpec::any("heap", 0x2000)).unwrap();
    let rings = [1, 2].map(|notifyid| VringSpec {
        da: None,
        align: 16,
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
    b.build().unwrap()
}

fn firmware() -> Vec<u8> {
    board::m4_image(b"vectors", CODE, &table())
}

/// The calls of a boot, in order.
const BOOT: [&str; 8] = [
    "prepare A vdevs=0",
    "prepare B vdevs=0",
    "load 0x0",
    "load 0x10000000",
    "install",
    "start 0x10000101",
    "start A vdevs=1 up=false",
    "start B vdevs=1 up=false",
];

/// The calls of a shutdown of a running processor, with the snapshot note.
const SHUTDOWN: [&str; 6] = [
    "stop B crashed=false vdevs=1 up=false",
    "stop A crashed=false vdevs=1 up=false",
    "stop",
    "snapshot",
    "unprepare B vdevs=0",
    "unprepare A vdevs=0",
];

/// The calls of a recovery, with the snapshot note.
const RECOVERY: [&str; 10] = [
    "stop",
    "stop B crashed=true vdevs=1 up=false",
    "stop A crashed=true vdevs=1 up=false",
    "snapshot",
    "load 0x0",
    "load 0x10000000",
    "install",
    "start A vdevs=1 up=false",
    "start B vdevs=1 up=false",
    "start 0x10000101",
];

struct Rig<'m> {
    devs: Devices<'m>,
    m4: DeviceId,
    rproc: Rproc<'m, RecOps>,
    rec: Recorder,
}

/// The board's processor with recording ops and subdevices A then B.
fn rig(s: &Sims) -> Rig<'_> {
    let (devs, m4) = board::devices(s);
    let rec = Recorder::default();
    let ops = RecOps {
        rec: rec.clone(),
        anywhere: false,
    };
    let mut rproc = board::rproc_with(&devs, m4, s, ops);
    for (i, name) in ["A", "B"].into_iter().enumerate() {
        let sub = RecSub {
            name,
            rec: rec.clone(),
        };
        assert_eq!(rproc.add_subdev(Box::new(sub)).unwrap(), SubdevId(i));
    }
    Rig {
        devs,
        m4,
        rproc,
        rec,
    }
}

impl Rig<'_> {
    fn loader<'a>(&self, s: &'a Sims) -> RecLoader<'a> {
        RecLoader {
            rec: self.rec.clone(),
            sims: Some(s),
        }
    }

    fn boot(&mut self, s: &Sims) -> Result<(), RprocError> {
        let mut loader = self.loader(s);
        self.rproc.boot(&self.devs, &firmware(), &mut loader)
    }

    fn shutdown(&mut self) -> Result<(), RprocError> {
        let rec = self.rec.clone();
        self.rproc
            .shutdown(&self.devs, &mut |_| rec.note("snapshot"))
    }

    /// Offline and holding nothing: no buffer in the M4's pool, no vdev device, no
    /// entry bound or mapped, no subdevice prepared (a boot would prepare them again).
    fn assert_clean(&self) {
        assert_eq!(self.rproc.state(), State::Offline);
        assert_eq!(self.devs.pool(self.m4).unwrap().unwrap().live(), 0);
        assert_eq!(self.devs.iter().count(), 1, "only the M4 device is left");
        assert!(self.rproc.vdevs().is_empty());
        assert!(!self.rproc.vdevs_started());
        assert!(
            self.rproc
                .memory()
                .iter()
                .all(|e| e.bound_to().is_none() && e.cpu().is_none())
        );
    }

    /// Everything a running processor holds that must survive a recovery, printed.
    fn resources(&self) -> String {
        let memory: Vec<_> = self
            .rproc
            .memory()
            .iter()
            .map(|e| (e.name(), e.pa(), e.da(), e.len(), e.bound_to()))
            .collect();
        let devices: Vec<_> = self.devs.iter().map(|(id, d)| (id, d.name())).collect();
        let vdev = self.rproc.vdevs()[0].device;
        let vdev_pool = self.devs.pool(vdev).unwrap().unwrap();
        format!(
            "{:?}",
            (
                memory,
                self.rproc.vdevs(),
                devices,
                self.devs.pool(self.m4).unwrap().unwrap().live(),
                (vdev_pool.phys(), vdev_pool.live()),
                self.rproc.table().unwrap().bytes(),
            )
        )
    }
}

fn strings(calls: &[&str]) -> Vec<String> {
    calls.iter().map(|&c| c.to_owned()).collect()
}

#[test]
fn boot_then_shutdown_call_everything_in_order() {
    let s = board::sims();
    let mut r = rig(&s);
    r.boot(&s).unwrap();
    assert_eq!(r.rec.take(), strings(&BOOT));
    assert_eq!(r.rproc.state(), State::Running);
    // The vdev came up in its prepare step (after A and B, so they saw none) and was
    // started after the processor and A and B (so they saw it stopped).
    assert_eq!(r.devs.iter().count(), 2);
    assert!(r.rproc.vdevs_started());
    let notifyid = r.rproc.vdevs()[0].rings[0].notifyid;
    assert!(r.rproc.kick(notifyid));
    assert_eq!(r.rec.take(), [format!("kick {notifyid}")]);

    r.shutdown().unwrap();
    assert_eq!(r.rec.take(), strings(&SHUTDOWN));
    r.assert_clean();
}

/// What undoes a boot call, if anything.
fn undo(call: &str) -> Option<String> {
    if let Some(rest) = call.strip_prefix("prepare ") {
        return Some(format!("unprepare {rest}"));
    }
    if let Some(rest) = call.strip_prefix("start ") {
        return Some(match rest.split_once(' ') {
            Some((name, seen)) => format!("stop {name} crashed=true {seen}"),
            None => "stop".to_owned(), // the processor itself
        });
    }
    None // load, install
}

#[test]
fn a_failure_at_each_boot_step_unwinds_exactly_what_was_done() {
    for (k, failing) in BOOT.iter().enumerate() {
        let s = board::sims();
        let mut r = rig(&s);
        r.rec.fail_at(Some(failing));
        let err = r.boot(&s).unwrap_err();
        let done = &BOOT[..k];
        let mut expected = strings(done);
        expected.push((*failing).to_owned());
        expected.extend(done.iter().rev().filter_map(|c| undo(c)));
        assert_eq!(r.rec.take(), expected, "failing at {failing}");
        r.assert_clean();
        match (failing.split(' ').next(), err) {
            (Some("prepare" | "start"), RprocError::Subdevice { subdev, op, .. })
                if failing.contains(" A ") || failing.contains(" B ") =>
            {
                let i = usize::from(failing.contains(" B "));
                assert_eq!(
                    (subdev, op),
                    (SubdevId(i), failing.split(' ').next().unwrap())
                );
            }
            (Some(op), RprocError::Platform { op: reported, .. }) => {
                assert_eq!(op, reported, "failing at {failing}");
            }
            (_, other) => panic!("failing at {failing}: {other:?}"),
        }
        // Nothing leaked: the same processor boots and shuts down cleanly.
        r.boot(&s).unwrap();
        assert_eq!(r.rec.take(), strings(&BOOT));
        r.shutdown().unwrap();
        r.assert_clean();
    }
}

/// The firmware "crashes" after writing its last words; recovery snapshots them in
/// every format, reloads (which zeroes them) and keeps every resource.
fn crash_and_recover(s: &Sims, r: &mut Rig<'_>, round: u32) {
    let before = r.resources();
    s.sram
        .write(PhysAddr::new(LAST_WORDS_DA), b"panic at round")
        .unwrap();
    s.sram.write(PhysAddr::new(SRAM), b"garbage").unwrap();
    r.rproc.report_crash().unwrap();
    assert_eq!(r.rproc.state(), State::Crashed);
    r.rec.take();

    let rec = r.rec.clone();
    let mut dumps = Vec::new();
    let mut loader = r.loader(s);
    r.rproc
        .recover(&firmware(), &mut loader, &mut |rproc| {
            rec.note("snapshot");
            assert_eq!(rproc.state(), State::Crashed);
            assert!(!rproc.vdevs_started());
            let mut read =
                |at: &Placement, dest: &mut [u8]| s.holding(at.pa).read(at.pa, dest).is_some();
            // The platform's choice (`dump`) is the ELF core unless it says otherwise.
            assert_eq!(rproc.dump_format(), DumpFormat::Elf);
            let mut each = Vec::new();
            for format in [DumpFormat::Elf, DumpFormat::Inline, DumpFormat::Raw] {
                let mut out = Vec::new();
                let n = rproc
                    .dump_as(format, &mut read, &mut |piece| out.extend_from_slice(piece))
                    .unwrap();
                assert_eq!(n, out.len());
                each.push(out);
            }
            let mut none = 0;
            let n = rproc
                .dump_as(DumpFormat::Disabled, &mut read, &mut |_| none += 1)
                .unwrap();
            assert_eq!((n, none), (0, 0));
            dumps.push(each);
        })
        .unwrap();
    assert_eq!(r.rec.take(), strings(&RECOVERY));
    assert_eq!(r.rproc.state(), State::Running);
    assert_eq!(
        (r.rproc.crash_count(), r.rproc.recovery_count()),
        (round, round)
    );

    // The snapshot saw the memory as the crash left it ...
    let [elf, inline, raw] = <[Vec<u8>; 3]>::try_from(dumps.pop().unwrap()).unwrap();
    assert_eq!(raw, b"panic at round");
    assert_eq!(elf, inline);
    assert_eq!(&elf[elf.len() - raw.len()..], raw.as_slice());
    assert_eq!(&elf[..4], b"\x7fELF");
    // ... and the reload replaced it.
    assert_eq!(s.read(SRAM, CODE.len()), CODE);
    assert_eq!(s.read(LAST_WORDS_DA, 14), [0; 14]);
    // Every carveout, vring, notify id, vdev device and pool is where it was.
    assert_eq!(r.resources(), before);
    assert!(r.rproc.vdevs_started());
}

fn with_dump_segment(r: &mut Rig<'_>) {
    r.rproc
        .add_dump_segment(
            DeviceAddr::new(LAST_WORDS_DA),
            b"panic at round".len() as u64,
        )
        .unwrap();
}

#[test]
fn crash_then_recovery_snapshots_then_reloads_in_place() {
    let s = board::sims();
    let mut r = rig(&s);
    r.boot(&s).unwrap();
    with_dump_segment(&mut r);
    crash_and_recover(&s, &mut r, 1);
    r.shutdown().unwrap();
    r.assert_clean();
}

#[test]
fn three_recoveries_in_a_row() {
    let s = board::sims();
    let mut r = rig(&s);
    r.boot(&s).unwrap();
    with_dump_segment(&mut r);
    for round in 1..=3 {
        crash_and_recover(&s, &mut r, round);
    }
    r.rec.take();
    r.shutdown().unwrap();
    assert_eq!(r.rec.take(), strings(&SHUTDOWN));
    r.assert_clean();
}

#[test]
fn recovery_disabled_keeps_the_crashed_processor_until_shutdown() {
    let s = board::sims();
    let mut r = rig(&s);
    r.boot(&s).unwrap();
    r.rproc.set_recovery(false);
    assert!(!r.rproc.recovery_enabled());
    r.rproc.report_crash().unwrap();
    r.rec.take();
    let before = r.resources();
    let mut loader = r.loader(&s);
    let err = r
        .rproc
        .recover(&firmware(), &mut loader, &mut |_| panic!("no snapshot"))
        .unwrap_err();
    assert!(matches!(err, RprocError::RecoveryDisabled), "{err:?}");
    assert!(r.rec.take().is_empty(), "nothing was called");
    assert_eq!(r.rproc.state(), State::Crashed);
    assert_eq!((r.rproc.crash_count(), r.rproc.recovery_count()), (1, 0));
    assert_eq!(r.resources(), before);
    // A second report of the same crash is refused and not counted.
    assert!(matches!(
        r.rproc.report_crash(),
        Err(RprocError::State {
            state: State::Crashed,
            ..
        })
    ));
    assert_eq!(r.rproc.crash_count(), 1);

    r.shutdown().unwrap();
    let crashed: Vec<String> = SHUTDOWN
        .iter()
        .map(|c| c.replace("crashed=false", "crashed=true"))
        .collect();
    assert_eq!(r.rec.take(), crashed);
    r.assert_clean();
}

#[test]
fn a_failed_recovery_leaves_a_consistent_crashed_processor() {
    let s = board::sims();
    let mut r = rig(&s);
    r.boot(&s).unwrap();
    r.rproc.report_crash().unwrap();
    r.rec.take();
    let before = r.resources();

    // The processor does not stop: nothing else happens.
    r.rec.fail_at(Some("stop"));
    let mut loader = r.loader(&s);
    let err = r
        .rproc
        .recover(&firmware(), &mut loader, &mut |_| panic!("no snapshot"))
        .unwrap_err();
    assert!(matches!(err, RprocError::Platform { op: "stop", .. }));
    assert_eq!(r.rec.take(), ["stop"]);
    assert_eq!(r.rproc.state(), State::Crashed);
    assert!(r.rproc.vdevs_started());

    // It stops but does not start again: the subdevices started for it are stopped.
    r.rec.fail_at(Some("start"));
    let snapshots = std::cell::Cell::new(0);
    let err = r
        .rproc
        .recover(&firmware(), &mut loader, &mut |_| {
            snapshots.set(snapshots.get() + 1);
        })
        .unwrap_err();
    assert!(matches!(err, RprocError::Platform { op: "start", .. }));
    let mut expected: Vec<String> = RECOVERY
        .iter()
        .filter(|&&c| c != "snapshot")
        .map(|&c| c.to_owned())
        .collect();
    expected.push("stop B crashed=true vdevs=1 up=false".into());
    expected.push("stop A crashed=true vdevs=1 up=false".into());
    assert_eq!(r.rec.take(), expected);
    assert_eq!(snapshots.get(), 1);
    assert_eq!(r.rproc.state(), State::Crashed);
    assert!(!r.rproc.vdevs_started());
    assert_eq!(r.resources(), before);

    // The next recovery goes on from there: no second stop, no second snapshot.
    r.rproc
        .recover(&firmware(), &mut loader, &mut |_| panic!("snapshot taken"))
        .unwrap();
    assert_eq!(r.rec.take(), strings(&RECOVERY[4..]));
    assert_eq!(r.rproc.state(), State::Running);
    assert_eq!((r.rproc.crash_count(), r.rproc.recovery_count()), (1, 1));
    assert_eq!(r.resources(), before);

    // A crashed processor whose recovery failed part-way shuts down cleanly too.
    r.rproc.report_crash().unwrap();
    r.rec.fail_at(Some("load"));
    let err = r
        .rproc
        .recover(&firmware(), &mut loader, &mut |_| {})
        .unwrap_err();
    assert!(matches!(err, RprocError::Platform { op: "load", .. }));
    r.rec.take();
    r.shutdown().unwrap();
    assert_eq!(
        r.rec.take(),
        ["snapshot", "unprepare B vdevs=0", "unprepare A vdevs=0"]
    );
    r.assert_clean();
}

#[test]
fn set_firmware_only_while_offline() {
    let s = board::sims();
    let mut r = rig(&s);
    assert_eq!(r.rproc.firmware(), None);
    r.rproc.set_firmware("rproc-m4-fw.elf\nignored").unwrap();
    assert_eq!(r.rproc.firmware().unwrap().as_str(), "rproc-m4-fw.elf");
    assert!(matches!(
        r.rproc.set_firmware("\n"),
        Err(RprocError::FirmwareName(FirmwareNameError::Empty))
    ));
    let long = "x".repeat(97);
    assert!(matches!(
        r.rproc.set_firmware(&long),
        Err(RprocError::FirmwareName(FirmwareNameError::TooLong {
            len: 97
        }))
    ));
    assert_eq!(r.rproc.firmware().unwrap().as_str(), "rproc-m4-fw.elf");

    r.boot(&s).unwrap();
    let err = r.rproc.set_firmware("other.elf").unwrap_err();
    assert!(
        matches!(
            err,
            RprocError::State {
                state: State::Running,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(r.rproc.firmware().unwrap().as_str(), "rproc-m4-fw.elf");
    r.rproc.report_crash().unwrap();
    assert!(r.rproc.set_firmware("other.elf").is_err());
    r.shutdown().unwrap();
    r.rproc.set_firmware("other.elf").unwrap();
    assert_eq!(
        r.rproc.firmware(),
        Some(FirmwareName::new("other.elf").unwrap())
    );
}

/// Images that appear when the test says so.
struct Source {
    images: Vec<(&'static str, Vec<u8>, std::cell::Cell<bool>)>,
}

impl Source {
    fn publish(&self, name: &str) {
        self.images
            .iter()
            .find(|i| i.0 == name)
            .unwrap()
            .2
            .set(true);
    }
}

impl FirmwareSource for Source {
    fn firmware(&self, name: &str) -> Option<&[u8]> {
        let (_, image, there) = self.images.iter().find(|i| i.0 == name)?;
        there.get().then_some(image.as_slice())
    }
}

/// A resource-less image for processors without memory of their own.
fn bare_firmware(entry_tag: u8) -> Vec<u8> {
    let segs = [Seg {
        paddr: 0x1000,
        data: &[entry_tag; 4],
        memsz: 4,
        ptype: 1,
    }];
    image(false, &segs, None)
}

#[test]
fn firmware_late_then_available_boots_each_waiting_processor_once() {
    static NO_MAPPING: NoMapping = NoMapping;
    let devs: Devices<'_> = Devices::new(&NO_MAPPING).unwrap();
    let rec = Recorder::default();
    let mut rprocs = Vec::new();
    // p0 and p1 boot on their own, p2 does not; p0 and p2 want a.elf, p1 b.elf.
    for (name, auto_boot, fw) in [
        ("p0", true, "a.elf"),
        ("p1", true, "b.elf"),
        ("p2", false, "a.elf"),
    ] {
        let id = devs.add(Device::new(name).unwrap()).unwrap();
        let ops = RecOps {
            rec: rec.clone(),
            anywhere: true,
        };
        let config = RprocConfig {
            auto_boot,
            ..RprocConfig::default()
        };
        let mut rproc = Rproc::new(&devs, id, ops, config).unwrap();
        rproc.set_firmware(fw).unwrap();
        rprocs.push(rproc);
    }
    assert!(RprocConfig::default().auto_boot, "on unless said otherwise");
    let source = Source {
        images: vec![
            ("a.elf", bare_firmware(0xa), false.into()),
            ("b.elf", bare_firmware(0xb), false.into()),
        ],
    };
    let mut loader = RecLoader {
        rec: rec.clone(),
        sims: None,
    };
    let outcomes: Vec<_> = rprocs
        .iter_mut()
        .map(|r| r.try_auto_boot(&devs, &source, &mut loader).unwrap())
        .collect();
    assert_eq!(
        outcomes,
        [AutoBoot::Waiting, AutoBoot::Waiting, AutoBoot::Manual]
    );
    let waiting: Vec<_> = rprocs.iter().map(Rproc::waiting_for_firmware).collect();
    assert_eq!(waiting, [true, true, false]);
    assert!(rec.take().is_empty());
    // Booting by name by hand says what is missing.
    assert!(matches!(
        rprocs[2].boot_named(&devs, &source, &mut loader),
        Err(RprocError::FirmwareNotYet { name }) if name.as_str() == "a.elf"
    ));

    // Announced before the source has it: nothing boots, everyone keeps waiting.
    let mut reports = Vec::new();
    let booted = firmware_available(
        &mut rprocs,
        "a.elf",
        &devs,
        &source,
        &mut loader,
        &mut |i, r| {
            reports.push((i, r.is_ok()));
        },
    );
    assert_eq!((booted, reports.len()), (0, 0));
    assert!(rprocs[0].waiting_for_firmware());

    source.publish("a.elf");
    let booted = firmware_available(
        &mut rprocs,
        "a.elf",
        &devs,
        &source,
        &mut loader,
        &mut |i, r| {
            reports.push((i, r.is_ok()));
        },
    );
    assert_eq!((booted, &reports[..]), (1, &[(0, true)][..]));
    assert_eq!(rec.take(), ["load 0x1000", "start 0x10000101"]);
    let states: Vec<_> = rprocs.iter().map(Rproc::state).collect();
    assert_eq!(states, [State::Running, State::Offline, State::Offline]);
    assert!(!rprocs[0].waiting_for_firmware());
    assert!(rprocs[1].waiting_for_firmware(), "b.elf is still missing");

    // Announcing it again boots nothing: p0 runs, p2 never waited.
    let booted = firmware_available(
        &mut rprocs,
        "a.elf",
        &devs,
        &source,
        &mut loader,
        &mut |_, _| panic!("nothing to boot"),
    );
    assert_eq!(booted, 0);
    assert!(rec.take().is_empty());

    source.publish("b.elf");
    let booted = firmware_available(
        rprocs.iter_mut(),
        "b.elf",
        &devs,
        &source,
        &mut loader,
        &mut |i, r| {
            assert_eq!((i, r.is_ok()), (1, true));
        },
    );
    assert_eq!(booted, 1);
    assert_eq!(rec.take(), ["load 0x1000", "start 0x10000101"]);
    assert_eq!(rprocs[1].state(), State::Running);
    assert_eq!(rprocs[2].state(), State::Offline);
}
