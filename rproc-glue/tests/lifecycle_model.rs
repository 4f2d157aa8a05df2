//! A model-based test of the lifecycle: random sequences of boot, shutdown, crash,
//! recover, auto-boot and "firmware available" events, each possibly with one platform,
//! loader or subdevice call made to fail, run against the STM32MP15-like board and
//! checked against a small state machine. After every event: the processor is in the
//! state the model allows, holds exactly what that state holds (nothing leaked), and
//! every call so far came in an order the lifecycle allows.

mod common;

use std::cell::Cell;

use common::board::{self};
use common::recording::{RecLoader, RecOps, RecSub, Recorder, name};
use contig_rproc_glue::rsc::{CarveoutSpec, RscTableBuilder, VdevSpec, VringSpec};
use contig_rproc_glue::{FirmwareSource, State, firmware_available};
use quickcheck::{Arbitrary, Gen, QuickCheck};

/// The calls an event may make fail (subdevice stop and unprepare cannot fail).
const LABELS: [&str; 8] = [
    "prepare A",
    "prepare B",
    "load",
    "install",
    "start",
    "start A",
    "start B",
    "stop",
];

/// The calls every boot makes, in order.
const BOOT_CALLS: [&str; 7] = [
    "prepare A",
    "prepare B",
    "load",
    "install",
    "start",
    "start A",
    "start B",
];

/// The calls a recovery makes after stopping the processor.
const RESTART_CALLS: [&str; 5] = ["load", "install", "start A", "start B", "start"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Step {
    Boot,
    Shutdown,
    Crash,
    Recover,
    AutoBoot,
    /// The image becomes available and the platform says so.
    Publish,
}

#[derive(Clone, Copy, Debug)]
struct Event {
    step: Step,
    fail: Option<&'static str>,
}

impl Arbitrary for Event {
    fn arbitrary(g: &mut Gen) -> Self {
        let step = *g
            .choose(&[
                Step::Boot,
                Step::Shutdown,
                Step::Crash,
                Step::Recover,
                Step::AutoBoot,
                Step::Publish,
            ])
            .unwrap();
        // One event in three has a failure armed.
        let fail = if u8::arbitrary(g) % 3 == 0 {
            g.choose(&LABELS).copied()
        } else {
            None
        };
        Self { step, fail }
    }
}

/// The model: what the processor may be after each event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Model {
    Offline { waiting: bool },
    Running,
    Crashed { powered: bool },
}

impl Model {
    /// The state after `event`, with the firmware `available` (after a publish).
    fn next(self, event: Event, available: bool) -> Self {
        let fails = |calls: &[&str]| event.fail.is_some_and(|f| calls.contains(&f));
        let boot = |waiting| {
            if fails(&BOOT_CALLS) {
                Model::Offline { waiting }
            } else {
                Model::Running
            }
        };
        match (event.step, self) {
            (Step::Boot, Model::Offline { waiting }) => boot(waiting),
            (Step::Shutdown, Model::Running)
            | (Step::Shutdown, Model::Crashed { powered: true })
                if event.fail == Some("stop") =>
            {
                self
            }
            (Step::Shutdown, Model::Running | Model::Crashed { .. }) => {
                Model::Offline { waiting: false }
            }
            (Step::Crash, Model::Running) => Model::Crashed { powered: true },
            (Step::Recover, Model::Crashed { powered }) => {
                if powered && event.fail == Some("stop") {
                    self
                } else if fails(&RESTART_CALLS) {
                    Model::Crashed { powered: false }
                } else {
                    Model::Running
                }
            }
            (Step::AutoBoot, Model::Offline { waiting }) if available => boot(waiting),
            (Step::AutoBoot, Model::Offline { .. }) => Model::Offline { waiting: true },
            (Step::Publish, Model::Offline { waiting: true }) => boot(false),
            (_, other) => other,
        }
    }

    fn state(self) -> State {
        match self {
            Model::Offline { .. } => State::Offline,
            Model::Running => State::Running,
            Model::Crashed { .. } => State::Crashed,
        }
    }
}

/// Replays the call log and refuses any call out of order.
#[derive(Default, Debug)]
struct Order {
    prepared: [bool; 2],
    started: [bool; 2],
    powered: bool,
}

impl Order {
    /// Checks `call` (which failed if `failed`) and applies it.
    fn call(&mut self, call: &str, failed: bool) -> Result<(), String> {
        let sub = |n: &str| usize::from(n.ends_with('B'));
        let name = name(call);
        let bad = |why: &str| Err(format!("{call}: {why} in {self:?}"));
        match name.split_once(' ') {
            Some(("prepare", x)) => {
                let i = sub(x);
                if self.prepared[i] || self.powered || (i == 1 && !self.prepared[0]) {
                    return bad("prepare out of order");
                }
                self.prepared[i] = !failed;
            }
            Some(("start", x)) => {
                let i = sub(x);
                if !self.prepared[i] || self.started[i] || (i == 1 && !self.started[0]) {
                    return bad("start out of order");
                }
                self.started[i] = !failed;
            }
            Some(("stop", x)) => {
                let i = sub(x);
                if !self.started[i] || (i == 0 && self.started[1]) {
                    return bad("stop out of order");
                }
                self.started[i] = false;
            }
            Some(("unprepare", x)) => {
                let i = sub(x);
                let later = i == 0 && self.prepared[1];
                if !self.prepared[i] || self.started[i] || self.powered || later {
                    return bad("unprepare out of order");
                }
                self.prepared[i] = false;
            }
            _ => match name.as_str() {
                "start" if self.powered || !self.prepared.iter().all(|&p| p) => {
                    return bad("processor start out of order");
                }
                "start" => self.powered = !failed,
                "stop" if !self.powered => return bad("stop of a stopped processor"),
                "stop" => self.powered = failed,
                "load" | "install" if self.powered || !self.prepared.iter().all(|&p| p) => {
                    return bad("load out of order");
                }
                "load" | "install" | "snapshot" => {}
                other => return bad(&format!("unknown call {other}")),
            },
        }
        Ok(())
    }

    /// What the lifecycle holds in each model state.
    fn check(&self, model: Model) -> Result<(), String> {
        let ok = match model {
            Model::Offline { .. } => {
                !self.powered && self.prepared == [false; 2] && self.started == [false; 2]
            }
            Model::Running => self.powered && self.prepared == [true; 2],
            Model::Crashed { powered } => {
                self.powered == powered
                    && self.prepared == [true; 2]
                    && (powered || self.started == [false; 2])
            }
        };
        if ok {
            Ok(())
        } else {
            Err(format!("{self:?} in model state {model:?}"))
        }
    }
}

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
    board::m4_image(b"vectors", b"code", &table())
}

struct Source {
    image: Vec<u8>,
    available: Cell<bool>,
}

impl FirmwareSource for Source {
    fn firmware(&self, name: &str) -> Option<&[u8]> {
        (name == "m4.elf" && self.available.get()).then_some(self.image.as_slice())
    }
}

fn run(events: &[Event]) -> Result<(), String> {
    let s = board::sims();
    let (devs, m4) = board::devices(&s);
    let rec = Recorder::default();
    let ops = RecOps {
        rec: rec.clone(),
        anywhere: false,
    };
    let mut rproc = board::rproc_with(&devs, m4, &s, ops);
    rproc.set_auto_boot(true);
    rproc.set_firmware("m4.elf").map_err(|e| e.to_string())?;
    for name in ["A", "B"] {
        let sub = RecSub {
            name,
            rec: rec.clone(),
        };
        rproc.add_subdev(Box::new(sub)).map_err(|e| e.to_string())?;
    }
    let source = Source {
        image: firmware(),
        available: Cell::new(false),
    };
    let mut loader = RecLoader {
        rec: rec.clone(),
        sims: Some(&s),
    };
    let mut model = Model::Offline { waiting: false };
    let mut order = Order::default();
    for (n, &event) in events.iter().enumerate() {
        let context = |what: String| format!("event {n} {event:?}: {what}");
        if event.step == Step::Publish {
            source.available.set(true);
        }
        let expected = model.next(event, source.available.get());
        rec.fail_at(event.fail);
        let note = rec.clone();
        let mut snapshot = |_: &_| note.note("snapshot");
        let result = match event.step {
            Step::Boot => rproc.boot(&devs, &source.image, &mut loader),
            Step::Shutdown => rproc.shutdown(&devs, &mut snapshot),
            Step::Crash => rproc.report_crash(),
            Step::Recover => rproc.recover(&source.image, &mut loader, &mut snapshot),
            Step::AutoBoot => rproc.try_auto_boot(&devs, &source, &mut loader).map(|_| ()),
            Step::Publish => {
                let mut result = Ok(());
                firmware_available(
                    [&mut rproc],
                    "m4.elf",
                    &devs,
                    &source,
                    &mut loader,
                    &mut |_, r| result = r,
                );
                result
            }
        };
        // The call that the armed label names is the one that failed.
        let mut armed = event.fail;
        for call in rec.take() {
            let failed = armed.is_some_and(|f| f == name(&call));
            if failed {
                armed = None;
            }
            order.call(&call, failed).map_err(context)?;
        }
        rec.fail_at(None);
        model = expected;
        if rproc.state() != model.state() {
            return Err(context(format!(
                "state {:?}, model {model:?} ({result:?})",
                rproc.state()
            )));
        }
        let waiting = matches!(model, Model::Offline { waiting: true });
        if rproc.waiting_for_firmware() != waiting {
            return Err(context(format!("waiting differs from {model:?}")));
        }
        order.check(model).map_err(context)?;
        // Nothing leaked, nothing lost: offline holds nothing; otherwise the heap
        // carveout, the vdev device and its pool are held.
        let live = devs.pool(m4).unwrap().unwrap().live();
        let devices = devs.iter().count();
        let held = (live, devices, rproc.vdevs().len());
        let want = match model {
            Model::Offline { .. } => (0, 1, 0),
            _ => (1, 2, 1),
        };
        if held != want {
            return Err(context(format!("holds {held:?}, want {want:?}")));
        }
        if matches!(model, Model::Offline { .. })
            && rproc
                .memory()
                .iter()
                .any(|e| e.bound_to().is_some() || e.cpu().is_some())
        {
            return Err(context("an entry is still bound or mapped".into()));
        }
        // The vdevs start after every other subdevice and stop before them.
        if rproc.vdevs_started() != (order.started == [true; 2]) {
            return Err(context(format!(
                "vdevs started {} in {model:?}",
                rproc.vdevs_started()
            )));
        }
    }
    Ok(())
}

#[test]
fn random_lifecycles_follow_the_model() {
    fn prop(events: Vec<Event>) -> Result<(), String> {
        run(&events)
    }
    QuickCheck::new()
        .tests(300)
        .quickcheck(prop as fn(Vec<Event>) -> Result<(), String>);
}

/// The scenarios the model must cover whatever the random generator does.
#[test]
fn model_scenarios() {
    let e = |step, fail| Event { step, fail };
    let scenarios: [&[Event]; 4] = [
        &[
            e(Step::AutoBoot, None),
            e(Step::Publish, None),
            e(Step::Crash, None),
            e(Step::Recover, Some("start")),
            e(Step::Recover, None),
            e(Step::Shutdown, None),
        ],
        &[
            e(Step::Boot, Some("start B")),
            e(Step::Boot, None),
            e(Step::Shutdown, Some("stop")),
            e(Step::Crash, None),
            e(Step::Recover, Some("stop")),
            e(Step::Shutdown, None),
        ],
        &[
            e(Step::AutoBoot, None),
            e(Step::Publish, Some("load")),
            e(Step::Publish, None),
            e(Step::AutoBoot, Some("prepare B")),
            e(Step::AutoBoot, None),
        ],
        &[
            e(Step::Boot, None),
            e(Step::Crash, None),
            e(Step::Recover, Some("install")),
            e(Step::Shutdown, None),
            e(Step::Boot, None),
        ],
    ];
    for events in scenarios {
        run(events).unwrap();
    }
}
