//! Subdevices: things that live and die with a remote processor (its vdevs, a mailbox
//! channel, a watchdog, a crash notifier), brought up and down around it in order.
//!
//! This module owns the [`Subdevice`] trait, the ordered list a processor holds and
//! the four passes over it, as Linux `rproc_{prepare,start,stop,unprepare}_subdevices`
//! run them: prepare and start go in list order, stop and unprepare in reverse, and a
//! pass that fails part-way takes back what it did itself, in reverse, before it
//! reports the error. The platform's subdevices come first in registration order; the
//! vdevs of the table come last (Linux adds them while it handles the table, after the
//! platform's subdevices were registered). Each subdevice remembers whether it is
//! prepared and started, so no pass ever calls a step twice or undoes one that was
//! never done. It must never decide *when* a pass runs (the lifecycle in
//! [`Rproc`](crate::Rproc) does) and never touches the remote's memory.
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::vec::Vec;
use core::fmt;

use lock_api::RawMutex;

use crate::dma_pool::cma::Name;
use crate::dma_pool::cma::fallible::{try_push, try_reserve};
use crate::dma_pool::{DeviceId, Devices};
use crate::error::RprocError;
use crate::ops::{OpError, RprocOps};
use crate::rproc::{Rproc, State};
use crate::vdev::VdevInfo;

/// The context of a subdevice call, borrowing only the fields the slots do not live in.
macro_rules! context {
    ($rproc:expr) => {
        SubdevContext {
            processor: $rproc.name,
            device: $rproc.device,
            state: $rproc.state,
            vdevs: &$rproc.vdevs,
            vdevs_started: $rproc.subdevs.vdevs_started,
        }
    };
}

/// What a subdevice sees of its processor when it is called.
#[derive(Clone, Copy, Debug)]
pub struct SubdevContext<'a> {
    /// The processor device's name.
    pub processor: Name,
    /// The processor device.
    pub device: DeviceId,
    /// The processor's state at the call.
    pub state: State,
    /// The processor's vdevs (empty until the vdevs are prepared, which happens after
    /// every platform subdevice was).
    pub vdevs: &'a [VdevInfo],
    /// Whether the vdevs are started (their rings may be kicked).
    pub vdevs_started: bool,
}

/// A subdevice of a remote processor (Linux `struct rproc_subdev`): every step is
/// optional, and the defaults do nothing.
///
/// The core calls, for the subdevices in registration order:
///
/// * [`prepare`](Self::prepare) before the processor is loaded and started (set up
///   what the remote will look for when it starts);
/// * [`start`](Self::start) once the processor runs (or, in a recovery, right before
///   it runs again);
/// * [`stop`](Self::stop), in reverse order, before the processor is stopped at
///   shutdown, after it was stopped in a recovery, with `crashed` telling whether the
///   remote died (then it must not be talked to);
/// * [`unprepare`](Self::unprepare), in reverse order, once the processor is stopped at
///   shutdown. A recovery neither unprepares nor prepares: what `prepare` set up stays.
///
/// A step is called only on a subdevice whose previous step succeeded: `start` only
/// after `prepare`, `stop` only after `start`, `unprepare` only after `prepare`.
/// `stop` and `unprepare` cannot fail, as in Linux: they must always leave the
/// subdevice ready to be prepared again.
pub trait Subdevice {
    /// Prepares the subdevice.
    ///
    /// # Errors
    /// The platform's failure: the boot unwinds.
    fn prepare(&mut self, rproc: &SubdevContext<'_>) -> Result<(), OpError> {
        let _ = rproc;
        Ok(())
    }

    /// Starts the subdevice.
    ///
    /// # Errors
    /// The platform's failure: the boot (or recovery) unwinds.
    fn start(&mut self, rproc: &SubdevContext<'_>) -> Result<(), OpError> {
        let _ = rproc;
        Ok(())
    }

    /// Stops the subdevice; `crashed` says whether the remote crashed.
    fn stop(&mut self, rproc: &SubdevContext<'_>, crashed: bool) {
        let _ = (rproc, crashed);
    }

    /// Undoes [`prepare`](Self::prepare).
    fn unprepare(&mut self, rproc: &SubdevContext<'_>) {
        let _ = rproc;
    }
}

/// A subdevice as a processor holds it.
pub type BoxedSubdevice<'m> = Box<dyn Subdevice + Send + 'm>;

/// Which subdevice of a processor: its position in registration order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubdevId(pub usize);

impl fmt::Display for SubdevId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "subdevice {}", self.0)
    }
}

/// One registered subdevice and how far it got.
pub(crate) struct Slot<'m> {
    dev: BoxedSubdevice<'m>,
    prepared: bool,
    started: bool,
}

/// The subdevices of a processor and the state of its vdevs' subdevice steps.
#[derive(Default)]
pub(crate) struct Subdevs<'m> {
    slots: Vec<Slot<'m>>,
    vdevs_prepared: bool,
    pub(crate) vdevs_started: bool,
}

impl<'m, O: RprocOps> Rproc<'m, O> {
    /// Adds a subdevice after those already added (Linux `rproc_add_subdev`); only
    /// while the processor is offline. Returns its id.
    ///
    /// # Errors
    /// [`RprocError::State`] unless offline; [`RprocError::OutOfMemory`] if the list
    /// cannot grow. The list is unchanged then.
    pub fn add_subdev(&mut self, subdev: BoxedSubdevice<'m>) -> Result<SubdevId, RprocError> {
        self.expect("add a subdevice to", &[State::Offline])?;
        let slot = Slot {
            dev: subdev,
            prepared: false,
            started: false,
        };
        try_push(&mut self.subdevs.slots, slot, "subdevices")?;
        Ok(SubdevId(self.subdevs.slots.len() - 1))
    }

    /// How many subdevices were added (the vdevs are not counted).
    #[must_use]
    pub fn subdev_count(&self) -> usize {
        self.subdevs.slots.len()
    }

    /// Whether the vdevs are started: between their start and stop steps. Kicks are
    /// delivered only then.
    #[must_use]
    pub fn vdevs_started(&self) -> bool {
        self.subdevs.vdevs_started
    }

    /// Prepares every subdevice not yet prepared, in order, then the vdevs. On failure
    /// the ones this call prepared are unprepared in reverse.
    pub(crate) fn prepare_subdevs<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
    ) -> Result<(), RprocError> {
        let mut done = Vec::new();
        try_reserve(&mut done, self.subdevs.slots.len(), "subdevices")?;
        for index in 0..self.subdevs.slots.len() {
            // Recorded before it is prepared; room for every slot was reserved above,
            // so this never allocates (and unwinds if it ever failed).
            if let Err(e) = try_push(&mut done, index, "subdevices") {
                self.unprepare_these(&done);
                return Err(e.into());
            }
            let ctx = context!(self);
            let Some(slot) = self.subdevs.slots.get_mut(index) else {
                done.pop();
                break;
            };
            if slot.prepared {
                done.pop();
                continue;
            }
            if let Err(error) = slot.dev.prepare(&ctx) {
                done.pop();
                self.unprepare_these(&done);
                return Err(RprocError::Subdevice {
                    subdev: SubdevId(index),
                    op: "prepare",
                    error,
                });
            }
            slot.prepared = true;
        }
        if !self.subdevs.vdevs_prepared {
            if let Err(e) = self.prepare_vdevs(devs) {
                self.unprepare_these(&done);
                return Err(e);
            }
            self.subdevs.vdevs_prepared = true;
        }
        Ok(())
    }

    /// Starts every prepared subdevice not yet started, in order, then the vdevs. On
    /// failure the ones this call started are stopped in reverse, as crashed (Linux
    /// does the same: the remote may be in any state).
    pub(crate) fn start_subdevs(&mut self) -> Result<(), RprocError> {
        let mut done = Vec::new();
        try_reserve(&mut done, self.subdevs.slots.len(), "subdevices")?;
        for index in 0..self.subdevs.slots.len() {
            // Recorded before it is started; room for every slot was reserved above,
            // so this never allocates (and unwinds if it ever failed).
            if let Err(e) = try_push(&mut done, index, "subdevices") {
                for &i in done.iter().rev() {
                    self.stop_one(i, true);
                }
                return Err(e.into());
            }
            let ctx = context!(self);
            let Some(slot) = self.subdevs.slots.get_mut(index) else {
                done.pop();
                break;
            };
            if slot.started || !slot.prepared {
                done.pop();
                continue;
            }
            if let Err(error) = slot.dev.start(&ctx) {
                done.pop();
                for &i in done.iter().rev() {
                    self.stop_one(i, true);
                }
                return Err(RprocError::Subdevice {
                    subdev: SubdevId(index),
                    op: "start",
                    error,
                });
            }
            slot.started = true;
        }
        if self.subdevs.vdevs_prepared {
            self.subdevs.vdevs_started = true;
        }
        Ok(())
    }

    /// Stops the vdevs, then every started subdevice in reverse.
    pub(crate) fn stop_subdevs(&mut self, crashed: bool) {
        self.subdevs.vdevs_started = false;
        for index in (0..self.subdevs.slots.len()).rev() {
            self.stop_one(index, crashed);
        }
    }

    /// Unprepares the vdevs, then every prepared subdevice in reverse.
    ///
    /// # Errors
    /// The DMA layer's refusal to take back a vdev's device or pool: nothing more is
    /// unprepared, and a later call goes on from there.
    pub(crate) fn unprepare_subdevs<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
    ) -> Result<(), RprocError> {
        if self.subdevs.vdevs_prepared {
            self.unprepare_vdevs(devs)?;
            self.subdevs.vdevs_prepared = false;
        }
        for index in (0..self.subdevs.slots.len()).rev() {
            self.unprepare_one(index);
        }
        Ok(())
    }

    fn stop_one(&mut self, index: usize, crashed: bool) {
        let ctx = context!(self);
        if let Some(slot) = self.subdevs.slots.get_mut(index).filter(|s| s.started) {
            slot.dev.stop(&ctx, crashed);
            slot.started = false;
        }
    }

    fn unprepare_one(&mut self, index: usize) {
        let ctx = context!(self);
        if let Some(slot) = self.subdevs.slots.get_mut(index) {
            if slot.prepared && !slot.started {
                slot.dev.unprepare(&ctx);
                slot.prepared = false;
            }
        }
    }

    fn unprepare_these(&mut self, indices: &[usize]) {
        for &i in indices.iter().rev() {
            self.unprepare_one(i);
        }
    }
}
