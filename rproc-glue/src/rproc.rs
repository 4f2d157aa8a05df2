//! A remote processor and its lifecycle.
//!
//! This module owns [`Rproc`]: its states (offline -> resources parsed -> allocated ->
//! running -> stopped/crashed), boot (parse -> register/match -> allocate -> load
//! segments through the caller's [`Loader`] -> install the table -> start), shutdown
//! (stop -> snapshot window -> free), recovery (stop -> reload -> start, keeping every
//! allocation), attach, translations and core dumps. A failed boot gives back
//! everything it took. It must never touch the remote's memory itself (the loader and
//! dump reader do) nor decide policy a platform hook can decide.
#![forbid(unsafe_code)]

use alloc::vec::Vec;

use lock_api::RawMutex;

use crate::DeviceAddr;
use crate::coredump::{CoreFormat, DumpSegment};
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
use crate::unwind::Undo;
use crate::vdev::VdevInfo;

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
    /// Whether the platform should boot it on its own (a property of the processor,
    /// whatever its table holds).
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

/// A remote processor: a device of the DMA layer, platform ops, memory entries and the
/// cached resource table with the host's write-backs.
///
/// ```
/// use contig_rproc_glue::dma_pool::cma::{PhysAddr, PhysRange};
/// use contig_rproc_glue::dma_pool::{BusMap, BusWindow, Device, Devices, DmaAddr, NoMapping};
/// use contig_rproc_glue::{DeviceAddr, MemEntry, MemKind, OpError, Rproc, RprocConfig, RprocOps, State};
///
/// struct M4;
/// impl RprocOps for M4 {
///     fn start(&mut self, _boot: DeviceAddr) -> Result<(), OpError> { Ok(()) }
///     fn stop(&mut self) -> Result<(), OpError> { Ok(()) }
///     fn kick(&mut self, _notifyid: u32) {}
/// }
///
/// // STM32MP15: the M4 sees RETRAM (physical 0x3800_0000, 64K) at device address 0.
/// let devs: Devices = Devices::new(&NoMapping).unwrap();
/// let window = BusWindow::new(DmaAddr::new(0), PhysAddr::new(0x3800_0000), 0x1_0000).unwrap();
/// let m4 = devs.add(Device::new("m4").unwrap().with_bus(BusMap::windows(vec![window]).unwrap())).unwrap();
/// let mut rproc = Rproc::new(&devs, m4, M4, RprocConfig::default()).unwrap();
/// let retram = MemEntry::region("retram", MemKind::Carveout, PhysAddr::new(0x3800_0000), 0x1_0000).unwrap();
/// rproc.register(&devs, retram).unwrap();
///
/// assert_eq!(rproc.state(), State::Offline);
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
    table_da: Option<DeviceAddr>,
    fallback: Option<(Vec<u8>, u32, DeviceAddr)>,
    pub(crate) undo: Vec<Undo>,
    pub(crate) vdevs: Vec<VdevInfo>,
    pub(crate) skipped: Vec<Skipped>,
    core: Option<CoreFormat>,
    dump: Vec<DumpSegment>,
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
            notify: NotifyIds::new(config.notify_ids),
            table: Vec::new(),
            table_num: 0,
            table_da: None,
            fallback: None,
            undo: Vec::new(),
            vdevs: Vec::new(),
            skipped: Vec::new(),
            core: None,
            dump: Vec::new(),
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

    /// Changes [`auto_boot`](Self::auto_boot).
    pub fn set_auto_boot(&mut self, auto_boot: bool) {
        self.auto_boot = auto_boot;
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

    /// The vdevs made from the table, in table order.
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
        self.memory.register(entry);
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
    /// results back into the cached table), loads its segments and the table through
    /// `loader`, and starts the processor.
    ///
    /// # Errors
    /// Any step's [`RprocError`]; everything allocated so far is given back and the
    /// processor is offline again.
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
                self.table = table.bytes().to_vec();
                self.table_num = table.num();
                self.table_da = fw.rsc_section().map(|s| s.da);
            }
            (None, Some((bytes, num, da))) => {
                self.table.clone_from(bytes);
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
            self.load_and_start(&fw, loader)
        });
        self.settle(devs, result)
    }

    /// Attaches to a processor a boot loader started, whose live table is `table` at
    /// device address `table_da`: allocates its resources, writes the table back
    /// through `loader` and asks the platform to attach.
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
        self.table = table.to_vec();
        self.table_da = Some(table_da);
        self.state = State::Parsed;
        let result = self.allocate(devs).and_then(|()| {
            self.state = State::Allocated;
            self.install(loader)?;
            self.ops.attach().map_err(|error| RprocError::Platform {
                op: "attach",
                error,
            })
        });
        self.settle(devs, result)
    }

    /// Running on success; otherwise everything is given back.
    fn settle<R: RawMutex>(
        &mut self,
        devs: &Devices<'m, R>,
        result: Result<(), RprocError>,
    ) -> Result<(), RprocError> {
        match result {
            Ok(()) => {
                self.state = State::Running;
                Ok(())
            }
            Err(e) => {
                // The boot error is the one to report; a failure to give something
                // back leaves the processor stopped with the rest still held, so a
                // later shutdown can retry.
                self.state = match self.release(devs) {
                    Ok(()) => State::Offline,
                    Err(_) => State::Stopped,
                };
                Err(e)
            }
        }
    }

    fn load_and_start(
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
        self.install(loader)?;
        self.ops
            .start(fw.entry())
            .map_err(|error| RprocError::Platform { op: "start", error })
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

    /// Shuts the processor down: stops it, calls `snapshot` while its memory is still
    /// held (state [`State::Stopped`]: dump it, read the trace), then gives everything
    /// back and resets the table's write-backs.
    ///
    /// # Errors
    /// [`RprocError::State`] unless running, crashed or stopped; the platform's stop
    /// failure (nothing changes); a DMA-layer refusal while giving back (e.g. a vdev
    /// pool a driver still uses), in which case the rest stays held and the processor
    /// stays stopped so the shutdown can be retried.
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
            self.ops
                .stop()
                .map_err(|error| RprocError::Platform { op: "stop", error })?;
            self.state = State::Stopped;
            snapshot(self);
        }
        self.release(devs)?;
        self.state = State::Offline;
        Ok(())
    }

    /// Marks a running processor crashed.
    ///
    /// # Errors
    /// [`RprocError::State`] unless running.
    pub fn report_crash(&mut self) -> Result<(), RprocError> {
        self.expect("report a crash of", &[State::Running])?;
        self.state = State::Crashed;
        Ok(())
    }

    /// Recovers a crashed processor: stops it, loads `image` again into the memory it
    /// already holds, installs the cached table and starts it. Carveouts, vrings and
    /// vdevs are kept.
    ///
    /// # Errors
    /// [`RprocError::State`] unless crashed; the step's error (the processor stays
    /// crashed, its resources held).
    pub fn recover(&mut self, image: &[u8], loader: &mut dyn Loader) -> Result<(), RprocError> {
        self.expect("recover", &[State::Crashed])?;
        let fw = Firmware::parse(image)?;
        self.ops
            .stop()
            .map_err(|error| RprocError::Platform { op: "stop", error })?;
        self.load_and_start(&fw, loader)?;
        self.state = State::Running;
        Ok(())
    }

    /// Kicks vring `notifyid` if the processor runs and the id is one of its vrings.
    /// Returns whether it kicked.
    pub fn kick(&mut self, notifyid: u32) -> bool {
        let known = self
            .vdevs
            .iter()
            .flat_map(|v| &v.rings)
            .any(|r| r.notifyid == notifyid);
        if self.state == State::Running && known {
            self.ops.kick(notifyid);
        }
        self.state == State::Running && known
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
    pub fn add_dump_segment(&mut self, da: DeviceAddr, size: u64) {
        self.dump.push(DumpSegment { da, size });
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
        let format = self.core.ok_or(RprocError::State {
            op: "dump",
            state: self.state,
        })?;
        let mut reader = |da: DeviceAddr, dest: &mut [u8]| match self.da_to_va(da, dest.len()) {
            Ok(at) => read(&at, dest),
            Err(_) => false,
        };
        format
            .core_vec(&self.dump, &mut reader)
            .map_err(RprocError::Coredump)
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
