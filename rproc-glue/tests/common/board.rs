//! An STM32MP15-like board (the DK2's reserved memory): the Cortex-M4's memories as simulated
//! physical memory, its device with bus windows (RETRAM at da 0), a recording platform
//! and a loader that copies into the simulated memory.

use contig_dma_sim::SimMemory;

use super::{Seg, image};
use contig_rproc_glue::dma_pool::cma::{PhysAddr, PhysRange};
use contig_rproc_glue::dma_pool::{
    BusMap, BusWindow, CoherentPool, Device, DeviceId, Devices, DmaAddr, Error as DmaPoolError,
    NoMapping, PoolOptions,
};
use contig_rproc_glue::firmware::Segment;
use contig_rproc_glue::rsc::Vendor;
use contig_rproc_glue::{
    CarveoutRequest, DeviceAddr, DevmemMap, Loader, MemEntry, MemKind, OpError, Placement, Rproc,
    RprocConfig, RprocError, RprocOps, VendorOutcome,
};

pub const SRAM: u64 = 0x1000_0000; // mcuram2 256K, then vdev0vring0/1 4K each, vdev0buffer 16K
pub const SRAM_LEN: usize = 0x4_6000;
pub const MCURAM: u64 = 0x3000_0000;
pub const MCURAM_LEN: usize = 0x4_0000;
pub const RETRAM: u64 = 0x3800_0000;
pub const RETRAM_LEN: usize = 0x1_0000;
/// Where the board's test firmware keeps its resource table (in SRAM, past the code).
pub const TABLE_DA: u64 = SRAM + 0x800;

/// The board's memories; they must outlive the devices that borrow them.
pub struct Sims {
    pub sram: SimMemory,
    pub mcuram: SimMemory,
    pub retram: SimMemory,
}

pub fn sims() -> Sims {
    let sim =
        |base, len| SimMemory::new(PhysRange::new(PhysAddr::new(base), len).unwrap()).unwrap();
    Sims {
        sram: sim(SRAM, SRAM_LEN),
        mcuram: sim(MCURAM, MCURAM_LEN),
        retram: sim(RETRAM, RETRAM_LEN),
    }
}

impl Sims {
    pub fn holding(&self, pa: PhysAddr) -> &SimMemory {
        [&self.sram, &self.mcuram, &self.retram]
            .into_iter()
            .find(|m| m.range().contains(pa))
            .unwrap()
    }

    pub fn read(&self, pa: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        self.holding(PhysAddr::new(pa))
            .read(PhysAddr::new(pa), &mut out)
            .unwrap();
        out
    }
}

static NO_MAPPING: NoMapping = NoMapping;

/// The M4 device: bus windows for its memories (RETRAM at 0), and MCURAM as its DMA
/// pool for ANY carveouts and rings.
pub fn devices(s: &Sims) -> (Devices<'_>, DeviceId) {
    let devs: Devices<'_> = Devices::new(&NO_MAPPING).unwrap();
    let window = |bus: u64, phys: u64, len: usize| {
        BusWindow::new(DmaAddr::new(bus), PhysAddr::new(phys), len as u64).unwrap()
    };
    let bus = BusMap::windows(vec![
        window(0, RETRAM, RETRAM_LEN),
        window(SRAM, SRAM, SRAM_LEN),
        window(MCURAM, MCURAM, MCURAM_LEN),
        window(0x4000_0000, 0x4000_0000, 0x1_0000),
    ])
    .unwrap();
    let m4 = devs.add(Device::new("m4").unwrap().with_bus(bus)).unwrap();
    let pool = CoherentPool::new(
        "mcuram",
        PhysAddr::new(MCURAM),
        DmaAddr::new(MCURAM),
        MCURAM_LEN,
        &s.mcuram,
        PoolOptions::new(),
    )
    .unwrap();
    devs.declare_coherent(m4, pool).unwrap();
    (devs, m4)
}

/// The processor with the board's reserved-memory regions registered.
pub fn rproc<'m>(devs: &Devices<'m>, m4: DeviceId, s: &'m Sims) -> Rproc<'m, Ops> {
    rproc_with(devs, m4, s, Ops::default())
}

/// The processor with platform ops `ops` and the board's reserved-memory regions.
pub fn rproc_with<'m, O: RprocOps>(
    devs: &Devices<'m>,
    m4: DeviceId,
    s: &'m Sims,
    ops: O,
) -> Rproc<'m, O> {
    let config = RprocConfig {
        auto_boot: false,
        notify_ids: 8,
    };
    let mut rproc = Rproc::new(devs, m4, ops, config).unwrap();
    register(&mut rproc, devs, reserved(s)).unwrap();
    rproc
}

/// The board's reserved-memory regions the processor uses, in device-tree order:
/// name, kind, physical base, bytes and the memory behind them.
pub fn reserved(s: &Sims) -> [(&'static str, MemKind, u64, usize, &SimMemory); 5] {
    [
        ("mcuram2", MemKind::Carveout, SRAM, 0x4_0000, &s.sram),
        (
            "vdev0vring0",
            MemKind::Vring,
            SRAM + 0x4_0000,
            0x1000,
            &s.sram,
        ),
        (
            "vdev0vring1",
            MemKind::Vring,
            SRAM + 0x4_1000,
            0x1000,
            &s.sram,
        ),
        (
            "vdev0buffer",
            MemKind::VdevBuffer,
            SRAM + 0x4_2000,
            0x4000,
            &s.sram,
        ),
        ("retram", MemKind::Carveout, RETRAM, RETRAM_LEN, &s.retram),
    ]
}

/// Registers `regions` (as [`reserved`] lists them) with `rproc`; the first refusal is
/// returned and the rest are not tried.
pub fn register<'m, O: RprocOps>(
    rproc: &mut Rproc<'m, O>,
    devs: &Devices<'m>,
    regions: impl IntoIterator<Item = (&'static str, MemKind, u64, usize, &'m SimMemory)>,
) -> Result<(), RprocError> {
    for (name, kind, pa, len, sim) in regions {
        let entry = MemEntry::region(name, kind, PhysAddr::new(pa), len)
            .map_err(|e| RprocError::from(DmaPoolError::Cma(e)))?
            .with_mapper(sim);
        rproc.register(devs, entry)?;
    }
    Ok(())
}

/// A platform that records what it is asked and fails on request.
#[derive(Default)]
pub struct Ops {
    pub log: Vec<String>,
    pub kicks: Vec<u32>,
    pub fail_start: bool,
    pub fail_vendor: bool,
    pub attach_ok: bool,
    pub hook_carveout: Option<Placement>,
}

impl RprocOps for Ops {
    fn start(&mut self, boot: DeviceAddr) -> Result<(), OpError> {
        self.log.push(format!("start {:#x}", boot.as_u64()));
        if self.fail_start {
            Err(OpError(-5))
        } else {
            Ok(())
        }
    }

    fn stop(&mut self) -> Result<(), OpError> {
        self.log.push("stop".into());
        Ok(())
    }

    fn attach(&mut self) -> Result<(), OpError> {
        self.log.push("attach".into());
        if self.attach_ok {
            Ok(())
        } else {
            Err(OpError(-95))
        }
    }

    fn kick(&mut self, notifyid: u32) {
        self.kicks.push(notifyid);
    }

    fn handle_vendor(&mut self, index: u32, vendor: &Vendor<'_>) -> Result<VendorOutcome, OpError> {
        self.log
            .push(format!("vendor {index} type {}", vendor.kind));
        if self.fail_vendor {
            Err(OpError(-22))
        } else {
            Ok(VendorOutcome::Handled)
        }
    }

    fn alloc_carveout(
        &mut self,
        request: &CarveoutRequest<'_>,
    ) -> Option<Result<Placement, OpError>> {
        let at = self.hook_carveout?;
        self.log.push(format!(
            "alloc_carveout {} {:#x}",
            request.index, request.len
        ));
        Some(Ok(Placement {
            len: request.len,
            ..at
        }))
    }

    fn release_carveout(&mut self, placement: &Placement) {
        self.log
            .push(format!("release_carveout {:#x}", placement.pa.as_u64()));
    }

    fn map_devmem(&mut self, map: &DevmemMap) -> Result<(), OpError> {
        self.log.push(format!("map_devmem {:#x}", map.pa.as_u64()));
        Ok(())
    }

    fn unmap_devmem(&mut self, map: &DevmemMap) {
        self.log
            .push(format!("unmap_devmem {:#x}", map.pa.as_u64()));
    }
}

/// Copies into the simulated memory by physical address.
pub struct SimLoader<'a> {
    pub sims: &'a Sims,
    pub fail_load: bool,
    pub loaded: Vec<(u64, u64, usize)>,
    pub tables: usize,
}

impl<'a> SimLoader<'a> {
    pub fn new(sims: &'a Sims) -> Self {
        Self {
            sims,
            fail_load: false,
            loaded: Vec::new(),
            tables: 0,
        }
    }
}

impl Loader for SimLoader<'_> {
    fn load_segment(&mut self, segment: &Segment<'_>, at: &Placement) -> Result<(), OpError> {
        if self.fail_load {
            return Err(OpError(-12));
        }
        let mem = self.sims.holding(at.pa);
        mem.write(at.pa, segment.data).ok_or(OpError(-14))?;
        let tail = vec![0; at.len - segment.data.len()];
        mem.write(at.pa.checked_add(segment.data.len()).unwrap(), &tail)
            .ok_or(OpError(-14))?;
        self.loaded.push((at.da.as_u64(), at.pa.as_u64(), at.len));
        Ok(())
    }

    fn install_table(&mut self, table: &[u8], at: &Placement) -> Result<(), OpError> {
        self.sims
            .holding(at.pa)
            .write(at.pa, table)
            .ok_or(OpError(-14))?;
        self.tables += 1;
        Ok(())
    }
}

/// An M4 firmware image as the board's tests load it: `vectors` at device address 0
/// (RETRAM, 1 KiB), `code` at the start of SRAM (4 KiB) and `table` as its resource
/// table at [`TABLE_DA`].
pub fn m4_image(vectors: &[u8], code: &[u8], table: &[u8]) -> Vec<u8> {
    let segs = [
        Seg {
            paddr: 0,
            data: vectors,
            memsz: 0x400,
            ptype: 1,
        },
        Seg {
            paddr: SRAM,
            data: code,
            memsz: 0x1000,
            ptype: 1,
        },
    ];
    image(false, &segs, Some((TABLE_DA, table)))
}
