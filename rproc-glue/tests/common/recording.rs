//! A recording platform, loader and subdevices that write every call into one shared
//! log, and fail on request: the call named by the armed label fails once.
//!
//! A label names a call either exactly (`load 0x10000000`) or by its name, the call
//! without its details: `start`, `stop`, `load` and `install` for the processor and
//! the loader, `prepare A`, `start A`, `stop A`, `unprepare A` for subdevice A.

use std::sync::{Arc, Mutex};

use contig_rproc_glue::firmware::Segment;
use contig_rproc_glue::{
    DeviceAddr, Loader, OpError, Placement, RprocOps, SubdevContext, Subdevice,
};

use super::board::{SimLoader, Sims};

/// The shared call log and the armed failure.
#[derive(Clone, Default)]
pub struct Recorder {
    log: Arc<Mutex<Vec<String>>>,
    fail: Arc<Mutex<Option<String>>>,
}

impl Recorder {
    /// Logs `call`; returns the failure to report if the armed label names it (the
    /// label is then disarmed).
    pub fn call(&self, call: String) -> Result<(), OpError> {
        let mut fail = self.fail.lock().unwrap();
        let hit = fail
            .as_deref()
            .is_some_and(|f| f == call || f == name(&call));
        self.log.lock().unwrap().push(call);
        if hit {
            *fail = None;
            Err(OpError(-5))
        } else {
            Ok(())
        }
    }

    /// Arms a failure of the next call whose name starts with `label`.
    pub fn fail_at(&self, label: Option<&str>) {
        *self.fail.lock().unwrap() = label.map(str::to_owned);
    }

    /// Takes the log so far.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.log.lock().unwrap())
    }

    /// Logs a note of the test's own (a snapshot, say).
    pub fn note(&self, note: &str) {
        self.log.lock().unwrap().push(note.to_owned());
    }
}

/// A call without its details: the words before the first `key=value` or address.
pub fn name(call: &str) -> String {
    call.split(' ')
        .take_while(|w| !w.contains('=') && !w.starts_with("0x"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Platform ops that log `start <entry>`, `stop`, `attach` and `kick <id>`.
pub struct RecOps {
    pub rec: Recorder,
    /// Translate every device address 1:1 with no CPU mapping (processors without
    /// registered memory).
    pub anywhere: bool,
}

impl RprocOps for RecOps {
    fn start(&mut self, boot: DeviceAddr) -> Result<(), OpError> {
        self.rec.call(format!("start {:#x}", boot.as_u64()))
    }

    fn stop(&mut self) -> Result<(), OpError> {
        self.rec.call("stop".into())
    }

    fn attach(&mut self) -> Result<(), OpError> {
        self.rec.call("attach".into())
    }

    fn kick(&mut self, notifyid: u32) {
        self.rec.call(format!("kick {notifyid}")).unwrap_or(());
    }

    fn da_to_va(&self, da: DeviceAddr, len: usize) -> Option<Placement> {
        self.anywhere.then(|| Placement {
            da,
            pa: contig_rproc_glue::dma_pool::cma::PhysAddr::new(da.as_u64()),
            cpu: None,
            len,
        })
    }
}

/// A subdevice that logs each step with what it saw of the vdevs:
/// `prepare A vdevs=0`, `start A vdevs=1 up=false`, `stop A crashed=true vdevs=1
/// up=false`, `unprepare A vdevs=0`.
pub struct RecSub {
    pub name: &'static str,
    pub rec: Recorder,
}

impl Subdevice for RecSub {
    fn prepare(&mut self, rproc: &SubdevContext<'_>) -> Result<(), OpError> {
        self.rec
            .call(format!("prepare {} vdevs={}", self.name, rproc.vdevs.len()))
    }

    fn start(&mut self, rproc: &SubdevContext<'_>) -> Result<(), OpError> {
        self.rec.call(format!(
            "start {} vdevs={} up={}",
            self.name,
            rproc.vdevs.len(),
            rproc.vdevs_started
        ))
    }

    fn stop(&mut self, rproc: &SubdevContext<'_>, crashed: bool) {
        self.rec
            .call(format!(
                "stop {} crashed={crashed} vdevs={} up={}",
                self.name,
                rproc.vdevs.len(),
                rproc.vdevs_started
            ))
            .unwrap_or(());
    }

    fn unprepare(&mut self, rproc: &SubdevContext<'_>) {
        self.rec
            .call(format!(
                "unprepare {} vdevs={}",
                self.name,
                rproc.vdevs.len()
            ))
            .unwrap_or(());
    }
}

/// A loader that logs `load <da>` and `install`, copying into the board's memory (or
/// nowhere, for processors without memory).
pub struct RecLoader<'a> {
    pub rec: Recorder,
    pub sims: Option<&'a Sims>,
}

impl Loader for RecLoader<'_> {
    fn load_segment(&mut self, segment: &Segment<'_>, at: &Placement) -> Result<(), OpError> {
        self.rec.call(format!("load {:#x}", at.da.as_u64()))?;
        match self.sims {
            Some(s) => SimLoader::new(s).load_segment(segment, at),
            None => Ok(()),
        }
    }

    fn install_table(&mut self, table: &[u8], at: &Placement) -> Result<(), OpError> {
        self.rec.call("install".into())?;
        match self.sims {
            Some(s) => SimLoader::new(s).install_table(table, at),
            None => Ok(()),
        }
    }
}
