//! Crashes and recovery: restarting a crashed processor in the memory it holds.
//!
//! This module owns crash reports (a counter, as Linux `crash_cnt`), the
//! "recovery disabled" switch (Linux `recovery_disabled`), a counter of recoveries and
//! [`Rproc::recover`] with its snapshot window. A recovery keeps every allocation:
//! carveouts, vrings, notify ids, vdev devices and pools, the cached table with its
//! write-backs; only the image is loaded again. It must never free or move anything
//! (addresses the remote and the drivers hold must stay valid) and must leave a
//! processor whose recovery failed consistently crashed: stopped, its subdevices
//! stopped, everything still held, ready for another recovery or a shutdown.
#![forbid(unsafe_code)]

use crate::error::RprocError;
use crate::firmware::Firmware;
use crate::ops::{Loader, RprocOps};
use crate::rproc::{Rproc, State};

impl<'m, O: RprocOps> Rproc<'m, O> {
    /// Marks a running processor crashed and counts the crash (Linux
    /// `rproc_report_crash`). The caller then recovers it (unless recovery is
    /// disabled) or shuts it down.
    ///
    /// # Errors
    /// [`RprocError::State`] unless running (as Linux, only the first report of a crash
    /// counts).
    pub fn report_crash(&mut self) -> Result<(), RprocError> {
        self.expect("report a crash of", &[State::Running])?;
        self.state = State::Crashed;
        self.crashes = self.crashes.saturating_add(1);
        Ok(())
    }

    /// Crashes reported so far.
    #[must_use]
    pub fn crash_count(&self) -> u32 {
        self.crashes
    }

    /// Recoveries completed so far.
    #[must_use]
    pub fn recovery_count(&self) -> u32 {
        self.recoveries
    }

    /// Whether [`recover`](Self::recover) is allowed (on by default).
    #[must_use]
    pub fn recovery_enabled(&self) -> bool {
        !self.recovery_disabled
    }

    /// Allows or forbids recovery (Linux's `recovery` debugfs switch). A crashed
    /// processor whose recovery is disabled stays crashed, its memory held for
    /// inspection, until it is shut down or recovery is enabled again.
    pub fn set_recovery(&mut self, enabled: bool) {
        self.recovery_disabled = !enabled;
    }

    /// Recovers a crashed processor in the memory it already holds, in this order:
    ///
    /// 1. stop the processor ([`RprocOps::stop`]), so the crashed remote no longer
    ///    writes its memory;
    /// 2. stop the vdevs, then the other subdevices in reverse, with `crashed = true`;
    /// 3. `snapshot(self)`: the window in which the memory is exactly as the crash left
    ///    it ([`dump`](Self::dump) it here);
    /// 4. load `image`'s segments again and install the cached table (same
    ///    write-backs);
    /// 5. start the subdevices in order, then the vdevs;
    /// 6. start the processor.
    ///
    /// Every carveout, vring, notify id, vdev device and pool is kept, so every
    /// address is unchanged.
    ///
    /// # Errors
    /// [`RprocError::State`] unless crashed; [`RprocError::RecoveryDisabled`];
    /// a malformed image (nothing changes). A step's failure leaves the processor
    /// crashed and consistent: if the processor could not be stopped nothing changed;
    /// after that, the processor and its subdevices are stopped (those a failed step
    /// had started are stopped again) with everything still held, and another
    /// `recover` or a [`shutdown`](Self::shutdown) goes on from there. The snapshot is
    /// taken only once per crash.
    pub fn recover(
        &mut self,
        image: &[u8],
        loader: &mut dyn Loader,
        snapshot: &mut dyn FnMut(&Self),
    ) -> Result<(), RprocError> {
        self.expect("recover", &[State::Crashed])?;
        if self.recovery_disabled {
            return Err(RprocError::RecoveryDisabled);
        }
        let fw = Firmware::parse(image)?;
        if self.powered {
            self.ops
                .stop()
                .map_err(|error| RprocError::Platform { op: "stop", error })?;
            self.powered = false;
            self.stop_subdevs(true);
            snapshot(self);
        }
        self.load(&fw, loader)?;
        self.start_subdevs()?;
        if let Err(error) = self.ops.start(fw.entry()) {
            self.stop_subdevs(true);
            return Err(RprocError::Platform { op: "start", error });
        }
        self.powered = true;
        self.state = State::Running;
        self.recoveries = self.recoveries.saturating_add(1);
        Ok(())
    }
}
