//! A remote processor and its lifecycle.
//!
//! This module owns [`Rproc`]: its states (offline -> resources parsed -> allocated ->
//! running -> stopped/crashed), the order of the calls of boot, attach and shutdown
//! around the platform ops, the subdevices and the loader (see [`Rproc`]), translations
//! and core dumps. A failed boot gives back everything it took, in reverse. Recovery
//! lives in `recovery`, subdevices in `subdev`, booting by firmware name in `autoboot`.
//! It must never touch the remote's memory itself (the loader and dump reader do) nor
//! decide policy a platform hook can decide.
#![forbid(unsafe_code)]

use alloc::vec::Vec;

use lock_api::RawMutex;

use crate::DeviceAddr;
use crate::autoboot::FirmwareName;
use crate::coredump::{self, CoreFormat, DumpFormat, DumpSegment};
use crate::dma_pool::cma::fallible::{try_push, try_to_vec};
use crate::dma_pool::cma::{Name, PhysAddr, PhysRange};
use crate::dma_pool::{DeviceId, Devices};
use crate::error::{RegisterError, RprocError};
use crate::firmware::Firmware;
use crate::memory::{DaError, MemEntry, MemKind, Memory, Origin};
use crate::notify::NotifyIds;
use crate::ops::{Loader, Placement, RprocOps};
use crate::rsc::{
    BuildError, CarveoutSpec, Field, RscTable, RscTableBuilder, RscTableMut, Skipped,
};
use crate::subdev::Subdevs;
use crate::unwind::Undo;
use crate::vdev::{VdevInfo, VdevPlan};

/// Where a remote processor is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum State {
    /// Nothing allocated.
    Offline,
    /// The firmware and its table were checked.
    Parsed,
    /// The table's resources have memory.
    Allocated,
    /// Started (or attached).
    Running,
    /// Stopped, resources still held (the snapshot window of a shutdown).
    Stopped,
    /// Reported crashed; resources still held.
    Crashed,
}

/// Settings of a processor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RprocConfig {
    /// Whether it boots on its own ([`Rproc::try_auto_boot`]): a property of the
    /// processor, on by default, never inferred from what its table holds (Linux
    /// `rproc->auto_boot`).
    pub auto_boot: bool,
    /// How many vring notify ids it may hand out.
    pub notify_ids: u32,
}

impl Default for RprocConfig {
    fn default() -> Self {
        Self {
            auto_boot: true,
            notify_ids: 64,
        }
    }
}

/// A remote processor: a device of the DMA layer, platform ops, memory entries, the
/// cached resource table with the host's write-backs, and its subdevices.
///
/// # Lifecycle
///
/// The calls, in order (`subdevs` are the platform's [`Subdevice`](crate::Subdevice)s
/// in registration order, then the vdevs; *reverse* is the opposite order):
///
/// | [`boot`](Self::boot) | [`shutdown`](Self::shutdown) | [`recover`](Self::recover) |
/// |---|---|---|
/// | check image and table | stop subdevs, reverse (`crashed` if it crashed) | [`RprocOps::stop`] |
/// | allocate: carveouts, devmem, vrings, notify ids (write-backs) | [`RprocOps::stop`] | stop subdevs, reverse, `crashed = true` |
/// | prepare subdevs (vdevs: devices, pools) | `snapshot` (memory still held) | `snapshot` (memory as the crash left it) |
/// | [`Loader::load_segment`] each segment | unprepare subdevs, reverse (vdevs: devices, pools) | [`Loader::load_segment`] each segment |
/// | [`Loader::install_table`] | free, reverse of allocate | [`Loader::install_table`] |
/// | [`RprocOps::start`] | | start subdevs |
/// | start subdevs | | [`RprocOps::start`] |
///
/// A failure in a boot step undoes exactly what was done, last first: subdevices
/// started are stopped (with `crashed = true`, as Linux unwinds), a started processor
/// is stopped, prepared subdevices are unprepared, allocations freed; the processor
/// ends offline holding nothing. [`attach`](Self::attach) is a boot with
/// [`RprocOps::attach`] in place of loading and starting.
///
/// Linux (`remoteproc_core.c`) has the same boot and shutdown order except that it
/// loads the segments and copies the table *before* preparing the subdevices (here
/// prepare comes first, so a subdevice or vdev that cannot be prepared fails the boot
/// before anything is written into the remote's memory). Its recovery is a shutdown without the free and a boot without
/// the allocate: stop subdevs (crashed) -> stop -> unprepare subdevs -> dump -> load ->
/// prepare subdevs -> start -> start subdevs. Here the processor is stopped *first*,
/// so a crashed remote cannot scribble over its memory or talk to subdevices being
/// torn down, subdevices are neither unprepared nor prepared (vdev devices and pools
/// stay, with every address and notify id), and they are started before the
/// processor, so that what the restarted remote looks for at once is there.
///
/// ```
/// use contig_rproc_glue::dma_pool::cma::{PhysAddr, PhysRange};
/// use contig_rproc_glue::dma_pool::{BusMap, BusWindow, Device, Devices, DmaAddr, NoMapping};
/// use contig_rproc_glue::{
///     DeviceAddr, MemEntry, MemKind, OpError, Rproc, RprocConfig, RprocOps, State,
///     SubdevContext, Subdevice,
/// };
///
/// struct M4;
/// impl RprocOps for M4 {
///     fn start(&mut self, _boot: DeviceAddr) -> Result<(), OpError> { Ok(()) }
///     fn stop(&mut self) -> Result<(), OpError> { Ok(()) }
///     fn kick(&mut self, _notifyid: u32) {}
/// }
///
/// /// A watchdog that must only run while the remote does.
/// struct Watchdog { armed: bool }
/// impl Subdevice for Watchdog {
///     fn start(&mut self, _rproc: &SubdevContext<'_>) -> Result<(), OpError> {
///         self.armed = true; // after the remote started
///         Ok(())
///     }
///     fn stop(&mut self, _rproc: &SubdevContext<'_>, _crashed: bool) {
///         self.armed = false; // before the remote stops, or after it crashed
///     }
/// }
///
/// // STM32MP15: the M4 sees RETRAM (physical 0x3800_0000, 64K) at device address 0.
/// let devs: Devices = Devices::new(&NoMapping).unwrap();
/// let window = BusWindow::new(DmaAddr::new(0), PhysAddr::new(0x3800_0000), 0x1_0000).unwrap();
/// let m4 = devs.add(Device::new("m4").unwrap().with_bus(BusMap::windows(vec![window]).unwrap())).unwrap();
/// let mut rproc = Rproc::new(&devs, m4, M4, RprocConfig::default()).unwrap();
/// let retram = MemEntry::region("retram", MemKind::Carveout, PhysAddr::new(0x3800_0000), 0x1_0000).unwrap();
/// rproc.register(&devs, retram).unwrap();
/// rproc.add_subdev(Box::new(Watchdog { armed: false })).unwrap();
/// rproc.set_firmware("rproc-m4-fw.elf").unwrap();
///
/// assert_eq!(rproc.state(), State::Offline);
/// assert_eq!(rproc.subdev_count(), 1);
/// assert_eq!(rproc.da_to_pa(DeviceAddr::new(0x100), 0x10), Ok(PhysAddr::new(0x3800_0100)));
/// assert!(rproc.da_to_pa(DeviceAddr::new(0xfff0), 0x20).is_err()); // crosses the end
/// ```
pub struct Rproc<'m, O: RprocOps> {
    pub(crate) name: Name,
    pub(crate) device: DeviceId,
    pub(crate) ops: O,
    auto_boot: bool,
    pub(crate) state: State,
    pub(crate) memory: Memory<'m>,
    pub(crate) notify: NotifyIds,
    pub(crate) table: Vec<u8>,
    pub(crate) table_num: u32,
    pub(crate) table_da: Option<DeviceAddr>,
    fallback: Option<(Vec<u8>, u32, DeviceAddr)>,
    pub(crate) undo: Vec<Undo>,
    pub(crate) plans: Vec<VdevPlan>,
    /// Length of the undo log before the vdevs' prepare step.
    pub(crate) vdev_mark: usize,
    pub(crate) vdevs: Vec<VdevInfo>,
    pub(crate) subdevs: Subdevs<'m>,
    pub(crate) skipped: Vec<Skipped>,
    /// Whether the processor was started (or attached) and not stopped since.
    pub(crate) powered: bool,
    pub(crate) firmware: Option<FirmwareName>,
    pub(crate) waiting: bool,
    pub(crate) crashes: u32,
    pub(crate) recoveries: u32,
    pub(crate) recovery_disabled: bool,
    core: Option<CoreFormat>,
    dump: Vec<DumpSegment>,
    dump_format: DumpFormat,
}

impl<'m, O: RprocOps> Rproc<'m, O> {
    /// A processor for `device` (already in `devs`, with its bus windows and pools).
    ///
    /// # Errors
    /// [`RprocError::Dma`] if `device` is unknown.
    pub fn new<R: RawMutex>(
        devs: &Devices<'m, R>,
        device: DeviceId,
        ops: O,
        config: RprocConfig,
    ) -> Result<Self, RprocError> {
        let name = devs.device(device)?.name();
        Ok(Self {
            name,
            device,
            ops,
            auto_boot: config.auto_boot,
            state: State::Offline,
            memory: Memory::default(),
            notify: NotifyIds::new(config.notify_ids)?,
            table: Vec::new(),
            table_num: 0,
            table_da: None,
            fallback: None,
            undo: Vec::new(),
            plans: Vec::new(),
            vdev_mark: 0,
            vdevs: Vec::new(),
            subdevs: Subdevs::default(),
            skipped: Vec::new(),
            powered: false,
            firmware: None,
            waiting: false,
            crashes: 0,
            recoveries: 0,
            recovery_disabled: false,
            core: None,
            dump: Vec::new(),
            dump_format: DumpFormat::Elf,
        })
    }

    /// The processor device's name.
    #[must_use]
    pub fn name(&self) -> Name {
        self.name
    }

    /// The processor device.
    #[must_use]
    pub fn device(&self) -> DeviceId {
        self.device
    }

    /// The state.
    #[must_use]
    pub fn state(&self) -> State {
        self.state
    }

    /// Whether the platform should boot it on its own.
    #[must_use]
    pub fn auto_boot(&self) -> bool {
        self.auto_boot
    }

    /// Changes [`auto_boot`](Self::auto_boot); turning it off also ends a wait for
    /// firmware.
    pub fn set_auto_boot(&mut self, auto_boot: bool) {
        self.auto_boot = auto_boot;
        self.waiting &= auto_boot;
    }

    /// The platform ops.
    pub fn ops(&self) -> &O {
        &self.ops
    }

    /// The platform ops, mutably.
    pub fn ops_mut(&mut self) -> &mut O {
        &mut self.ops
    }

    /// The memory entries.
    #[must_use]
    pub fn memory(&self) -> &Memory<'m> {
        &self.memory
    }

    /// The vdevs made from the table, in table order (from their prepare step to their
    /// unprepare step).
    #[must_use]
    pub fn vdevs(&self) -> &[VdevInfo] {
        &self.vdevs
    }

    /// Table entries of unknown or unhandled vendor type, skipped.
    #[must_use]
    pub fn skipped(&self) -> &[Skipped] {
        &self.skipped
    }

    /// The cached resource table with the host's write-backs (`None` before the first
    /// boot or for firmware without one).
    #[must_use]
    pub fn table(&self) -> Option<RscTable<'_>> {
        (!self.table.is_empty()).then(|| RscTable::from_checked(&self.table, self.table_num))
    }

    pub(crate) fn table_mut(&mut self) -> RscTableMut<'_> {
        RscTableMut::from_checked(&mut self.table, self.table_num)
    }

    /// Registers a platform memory entry (before boot). Its device address is the one
    /// given with [`MemEntry::at_da`], else its bus address through the processor
    /// device's windows (STM32MP15 RETRAM: physical 0x3800_0000 seen at da 0).
    ///
    /// # Errors
    /// [`RprocError::State`] unless offline; [`RprocError::Register`] if the entry is
    /// empty, has no device address, or overlaps a registered entry by name, device or
    /// physical range.
    pub fn register<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
        mut entry: MemEntry<'m>,
    ) -> Result<(), RprocError> {
        self.expect("register memory for", &[State::Offline])?;
        let refuse = |error| RprocError::Register {
            entry: entry.name,
            error,
        };
        let range = entry
            .phys()
            .filter(|r| !r.is_empty())
            .ok_or(refuse(RegisterError::ZeroLen))?;
        entry.dma = devs
            .device(self.device)?
            .bus()
            .to_dma(entry.pa, entry.len)
            .ok();
        let da = entry.da.or(entry.dma.map(|d| DeviceAddr::new(d.as_u64())));
        let not_on_bus = RegisterError::NotOnBus {
            pa: entry.pa,
            len: entry.len,
        };
        let da = da.ok_or(refuse(not_on_bus))?;
        entry.da = Some(da);
        if let Some(other) = self.memory.iter().find(|o| clashes(o, &entry, da, &range)) {
            return Err(refuse(RegisterError::Overlaps { other: other.name }));
        }
        self.memory.register(entry)?;
        Ok(())
    }

    /// A table builder holding one fixed carveout per registered carveout entry (name,
    /// device and physical address, length), for firmware without a table; add vdevs
    /// and the rest, then [`set_fallback_table`](Self::set_fallback_table). At boot
    /// each carveout binds back to its entry by name.
    ///
    /// # Errors
    /// [`BuildError`] if an entry's addresses or length do not fit a table's 32-bit
    /// fields.
    pub fn table_from_registered(&self) -> Result<RscTableBuilder, BuildError> {
        let mut b = RscTableBuilder::new();
        let carveouts = self
            .memory
            .iter()
            .filter(|e| e.origin() == Origin::Platform && e.kind() == MemKind::Carveout);
        for e in carveouts {
            let len = u32::try_from(e.len()).map_err(|_| BuildError::TooLarge {
                index: u32::try_from(b.num()).unwrap_or(u32::MAX),
                field: Field::Len,
                value: e.len() as u64,
            })?;
            let name = e.name();
            let spec = CarveoutSpec {
                da: e.da(),
                pa: Some(e.pa()),
                len,
                flags: 0,
                name: name.as_str(),
            };
            b.add_carveout(&spec)?;
        }
        Ok(b)
    }

    /// A table for firmware that has no `.resource_table` section (made with
    /// [`RscTableBuilder`](crate::rsc::RscTableBuilder)), installed at device address
    /// `da` with the host's write-backs; `capacity` is the room there. Firmware with
    /// its own table ignores it.
    ///
    /// # Errors
    /// [`RprocError::Rsc`] if `table` is not a valid table;
    /// [`RprocError::NoSpace`] naming both sizes if it is larger than `capacity`.
    pub fn set_fallback_table(
        &mut self,
        table: Vec<u8>,
        da: DeviceAddr,
        capacity: usize,
    ) -> Result<(), RprocError> {
        if table.len() > capacity {
            return Err(RprocError::NoSpace {
                needed: table.len(),
                available: capacity,
            });
        }
        let num = RscTable::parse(&table)?.num();
        self.fallback = Some((table, num, da));
        Ok(())
    }

    /// Boots `image`: checks it, gives its table's resources memory (writing the
    /// results back into the cached table), prepares the subdevices, loads its segments
    /// and the table through `loader`, starts the processor and then the subdevices
    /// (the order is in the [type documentation](Self)).
    ///
    /// # Errors
    /// Any step's [`RprocError`]; what was done is undone in reverse and the processor
    /// is offline again, holding nothing.
    pub fn boot<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
        image: &[u8],
        loader: &mut dyn Loader,
    ) -> Result<(), RprocError> {
        self.expect("boot", &[State::Offline])?;
        let fw = Firmware::parse(image)?;
        match (fw.resource_table()?, &self.fallback) {
            (Some(table), _) => {
                self.table = try_to_vec(table.bytes(), "resource-table bytes")?;
                self.table_num = table.num();
                self.table_da = fw.rsc_section().map(|s| s.da);
            }
            (None, Some((bytes, num, da))) => {
                self.table = try_to_vec(bytes, "resource-table bytes")?;
                self.table_num = *num;
                self.table_da = Some(*da);
            }
            (None, None) => {
                self.table.clear();
                self.table_num = 0;
                self.table_da = None;
            }
        }
        self.core = Some(CoreFormat {
            elf64: fw.is_64(),
            machine: fw.machine(),
            entry: fw.entry(),
        });
        self.state = State::Parsed;
        let result = self.allocate(devs).and_then(|()| {
            self.state = State::Allocated;
            self.prepare_subdevs(devs)?;
            self.load(&fw, loader)?;
            self.ops
                .start(fw.entry())
                .map_err(|error| RprocError::Platform { op: "start", error })?;
            self.powered = true;
            self.start_subdevs()
        });
        self.settle(devs, result)
    }

    /// Attaches to a processor a boot loader started, whose live table is `table` at
    /// device address `table_da`: allocates its resources, prepares the subdevices,
    /// writes the table back through `loader`, asks the platform to attach and starts
    /// the subdevices.
    ///
    /// # Errors
    /// As [`boot`](Self::boot).
    pub fn attach<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
        table: &[u8],
        table_da: DeviceAddr,
        loader: &mut dyn Loader,
    ) -> Result<(), RprocError> {
        self.expect("attach", &[State::Offline])?;
        self.table_num = RscTable::parse(table)?.num();
        self.table = try_to_vec(table, "resource-table bytes")?;
        self.table_da = Some(table_da);
        self.state = State::Parsed;
        let result = self.allocate(devs).and_then(|()| {
            self.state = State::Allocated;
            self.prepare_subdevs(devs)?;
            self.install(loader)?;
            self.ops.attach().map_err(|error| RprocError::Platform {
                op: "attach",
                error,
            })?;
            self.powered = true;
            self.start_subdevs()
        });
        self.settle(devs, result)
    }

    /// Running on success; otherwise what was done is undone in reverse: subdevices
    /// stopped (as crashed, as Linux unwinds), the processor stopped if it was started,
    /// subdevices unprepared, everything given back.
    fn settle<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
        result: Result<(), RprocError>,
    ) -> Result<(), RprocError> {
        match result {
            Ok(()) => {
                self.state = State::Running;
                self.waiting = false;
                Ok(())
            }
            Err(e) => {
                self.stop_subdevs(true);
                if self.powered {
                    // The boot error is the one to report; a processor that does not
                    // stop either is as stopped as the platform can make it.
                    self.ops.stop().unwrap_or(());
                    self.powered = false;
                }
                // A failure to give something back leaves the processor stopped with
                // the rest still held, so a later shutdown can retry.
                let released = self
                    .unprepare_subdevs(devs)
                    .and_then(|()| self.release(devs));
                self.state = match released {
                    Ok(()) => State::Offline,
                    Err(_) => State::Stopped,
                };
                Err(e)
            }
        }
    }

    /// Loads the segments and installs the table.
    pub(crate) fn load(
        &mut self,
        fw: &Firmware<'_>,
        loader: &mut dyn Loader,
    ) -> Result<(), RprocError> {
        for seg in fw.segments().filter(|s| s.memsz > 0) {
            let len = usize::try_from(seg.memsz).unwrap_or(usize::MAX);
            let at = self
                .da_to_va(seg.da, len)
                .map_err(|error| RprocError::Segment {
                    segment: seg.index,
                    error,
                })?;
            loader
                .load_segment(&seg, &at)
                .map_err(|error| RprocError::Platform { op: "load", error })?;
        }
        self.install(loader)
    }

    fn install(&mut self, loader: &mut dyn Loader) -> Result<(), RprocError> {
        let Some(da) = self.table_da.filter(|_| !self.table.is_empty()) else {
            return Ok(());
        };
        let at = self
            .da_to_va(da, self.table.len())
            .map_err(|error| RprocError::TableSection { error })?;
        loader
            .install_table(&self.table, &at)
            .map_err(|error| RprocError::Platform {
                op: "install",
                error,
            })
    }

    /// Shuts the processor down: stops the subdevices in reverse (telling them whether
    /// the processor crashed), stops the processor, calls `snapshot` while its memory is
    /// still held (state [`State::Stopped`]: dump it, read the trace), unprepares the
    /// subdevices in reverse, then gives everything back and resets the table's
    /// write-backs.
    ///
    /// # Errors
    /// [`RprocError::State`] unless running, crashed or stopped; the platform's stop
    /// failure (the processor keeps its state; its subdevices stay stopped, and a
    /// retried shutdown goes on from the processor's stop); a DMA-layer refusal while
    /// giving back (e.g. a vdev pool a driver still uses), in which case the rest stays
    /// held and the processor stays stopped so the shutdown can be retried.
    pub fn shutdown<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
        snapshot: &mut dyn FnMut(&Self),
    ) -> Result<(), RprocError> {
        self.expect(
            "shut down",
            &[State::Running, State::Crashed, State::Stopped],
        )?;
        if self.state != State::Stopped {
            self.stop_subdevs(self.state == State::Crashed);
            if self.powered {
                self.ops
                    .stop()
                    .map_err(|error| RprocError::Platform { op: "stop", error })?;
                self.powered = false;
            }
            self.state = State::Stopped;
            snapshot(self);
        }
        self.unprepare_subdevs(devs)?;
        self.release(devs)?;
        self.state = State::Offline;
        Ok(())
    }

    /// Kicks vring `notifyid` if the processor runs, its vdevs are started and the id is
    /// one of its vrings. Returns whether it kicked.
    pub fn kick(&mut self, notifyid: u32) -> bool {
        let known = self
            .vdevs
            .iter()
            .flat_map(|v| &v.rings)
            .any(|r| r.notifyid == notifyid);
        let up = self.state == State::Running && self.subdevs.vdevs_started && known;
        if up {
            self.ops.kick(notifyid);
        }
        up
    }

    /// Where `[da, da + len)` is for the host: the platform's `da_to_va` first, then
    /// the memory entries.
    ///
    /// # Errors
    /// [`DaError`] if no entry holds the range whole.
    pub fn da_to_va(&self, da: DeviceAddr, len: usize) -> Result<Placement, DaError> {
        match self.ops.da_to_va(da, len) {
            Some(p) => Ok(p),
            None => self.memory.translate(da, len),
        }
    }

    /// The physical address of `[da, da + len)`.
    ///
    /// # Errors
    /// As [`da_to_va`](Self::da_to_va).
    pub fn da_to_pa(&self, da: DeviceAddr, len: usize) -> Result<PhysAddr, DaError> {
        self.da_to_va(da, len).map(|p| p.pa)
    }

    /// Whether `device` is this processor or one of its descendants (a vdev).
    #[must_use]
    pub fn owns<R: RawMutex>(&self, devs: &Devices<'_, R>, device: DeviceId) -> bool {
        matches!(
            devs.find_ancestor(device, |id, _| id == self.device),
            Ok(Some(_))
        )
    }

    /// Adds a segment to dump (Linux `rproc_coredump_add_segment`).
    ///
    /// # Errors
    /// [`RprocError::OutOfMemory`] if the list cannot grow; it is unchanged then.
    pub fn add_dump_segment(&mut self, da: DeviceAddr, size: u64) -> Result<(), RprocError> {
        try_push(&mut self.dump, DumpSegment { da, size }, "dump segments")?;
        Ok(())
    }

    /// Forgets the dump segments.
    pub fn clear_dump_segments(&mut self) {
        self.dump.clear();
    }

    /// An ELF core file of the dump segments, in the last firmware's class and machine.
    /// `read(at, dest)` copies the remote's bytes at `at` into `dest` and returns
    /// whether it could; a segment that cannot be translated, or that `read` refuses,
    /// reads as `0xff`.
    ///
    /// # Errors
    /// [`RprocError::State`] before any firmware was booted; [`RprocError::Coredump`]
    /// if the core file cannot be described.
    pub fn coredump(
        &self,
        read: &mut dyn FnMut(&Placement, &mut [u8]) -> bool,
    ) -> Result<Vec<u8>, RprocError> {
        let format = self.core_format()?;
        let mut reader = |da: DeviceAddr, dest: &mut [u8]| match self.da_to_va(da, dest.len()) {
            Ok(at) => read(&at, dest),
            Err(_) => false,
        };
        format
            .core_vec(&self.dump, &mut reader)
            .map_err(RprocError::Coredump)
    }

    /// How [`dump`](Self::dump) writes the memory (the platform's choice).
    #[must_use]
    pub fn dump_format(&self) -> DumpFormat {
        self.dump_format
    }

    /// Chooses how [`dump`](Self::dump) writes the memory.
    pub fn set_dump_format(&mut self, format: DumpFormat) {
        self.dump_format = format;
    }

    /// Dumps the dump segments in the chosen [`DumpFormat`] (see
    /// [`dump_as`](Self::dump_as)).
    ///
    /// # Errors
    /// As [`dump_as`](Self::dump_as).
    pub fn dump(
        &self,
        read: &mut dyn FnMut(&Placement, &mut [u8]) -> bool,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, RprocError> {
        self.dump_as(self.dump_format, read, sink)
    }

    /// Dumps the dump segments in `format`, handing the bytes to `sink` in order, and
    /// returns how many there were. `read` is as for [`coredump`](Self::coredump).
    /// Call it in the snapshot window of [`shutdown`](Self::shutdown) or
    /// [`recover`](Self::recover):
    ///
    /// * `Elf`: the whole core file is copied first, then handed over in one piece;
    /// * `Inline`: the same file in pieces of at most 512 bytes, each read from the
    ///   remote's memory just before `sink` gets it (no buffer of the dump's size);
    /// * `Raw`: the segments' bytes only, in pieces;
    /// * `Disabled`: nothing.
    ///
    /// # Errors
    /// As [`coredump`](Self::coredump) (the raw format needs no firmware class).
    pub fn dump_as(
        &self,
        format: DumpFormat,
        read: &mut dyn FnMut(&Placement, &mut [u8]) -> bool,
        sink: &mut dyn FnMut(&[u8]),
    ) -> Result<usize, RprocError> {
        let mut reader = |da: DeviceAddr, dest: &mut [u8]| match self.da_to_va(da, dest.len()) {
            Ok(at) => read(&at, dest),
            Err(_) => false,
        };
        let mut piece = [0u8; 512];
        let mut offset = 0;
        let mut stream = |next: &mut Window<'_>| {
            loop {
                let n = next(offset, &mut piece).map_err(RprocError::Coredump)?;
                if n == 0 {
                    return Ok(offset);
                }
                sink(piece.get(..n).unwrap_or(&[]));
                offset += n;
            }
        };
        match format {
            DumpFormat::Disabled => Ok(0),
            DumpFormat::Elf => {
                let core = self.coredump(read)?;
                sink(&core);
                Ok(core.len())
            }
            DumpFormat::Inline => {
                let format = self.core_format()?;
                stream(&mut |at, dest| format.read_core_at(&self.dump, at, dest, &mut reader))
            }
            DumpFormat::Raw => {
                stream(&mut |at, dest| coredump::read_raw_at(&self.dump, at, dest, &mut reader))
            }
        }
    }

    fn core_format(&self) -> Result<CoreFormat, RprocError> {
        self.core.ok_or(RprocError::State {
            op: "dump",
            state: self.state,
        })
    }

    pub(crate) fn expect(&self, op: &'static str, states: &[State]) -> Result<(), RprocError> {
        if states.contains(&self.state) {
            Ok(())
        } else {
            Err(RprocError::State {
                op,
                state: self.state,
            })
        }
    }
}

/// Fills a buffer with the dump's bytes from an offset on; returns how many.
type Window<'a> = dyn FnMut(usize, &mut [u8]) -> Result<usize, coredump::CoredumpError> + 'a;

/// Whether `other` and the new `entry` (at `da`, physical `range`) cannot both be
/// registered: same name, or overlapping device or physical ranges.
fn clashes(other: &MemEntry<'_>, entry: &MemEntry<'_>, da: DeviceAddr, range: &PhysRange) -> bool {
    let phys = other.phys().is_some_and(|r| r.overlaps(range));
    let dev = other.da().is_some_and(|o| {
        let (a, b) = (
            (o.as_u64(), other.len() as u64),
            (da.as_u64(), entry.len() as u64),
        );
        a.0 < b.0.saturating_add(b.1) && b.0 < a.0.saturating_add(a.1)
    });
    other.name() == entry.name() || phys || dev
}

impl<O: RprocOps> core::fmt::Debug for Rproc<'_, O> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Rproc")
            .field("name", &self.name)
            .field("state", &self.state)
            .field("memory", &self.memory)
            .field("vdevs", &self.vdevs)
            .finish_non_exhaustive()
    }
}
