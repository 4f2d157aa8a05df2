//! Running a firmware's boot on a board's device tree over simulated memory.
//!
//! This module owns [`plan`]: it builds the board from its [`Layout`] (every region
//! backed by [`SimMemory`]), registers the processor's `memory-region`s as memory
//! entries, boots the firmware through [`Rproc::boot`] with a platform that starts
//! nothing, and copies out where everything landed ([`Snapshot`]). A boot stops at its
//! first problem and gives everything back; to list every problem the planner records
//! it, sets the entry (or segment) aside in a copy of the image and boots again, until
//! a boot succeeds or nothing more can be set aside. It must never print (see
//! `report`) nor touch real memory.
#![forbid(unsafe_code)]

use contig_dma_pool::cma::{
    BoxedReclaim, Claim, PhysAddr, PhysRange, Reclaim, RegionStats, Registry,
};
use contig_dma_pool::fdt::{Binding, BuildConfig, Layout, Region, Role};
use contig_dma_pool::{Attrs, BusMap, Devices, Mapper, NoMapping};
use contig_dma_sim::SimMemory;
use contig_rproc_glue::firmware::{Firmware, Segment};
use contig_rproc_glue::profile::{Pool, Profile, RegionUse, Translation};
use contig_rproc_glue::rsc::{Resource, RscTable, Vendor};
use contig_rproc_glue::{
    DeviceAddr, Loader, MemEntry, MemKind, OpError, Origin, Placement, Rproc, RprocConfig,
    RprocError, RprocOps, VdevInfo, VendorOutcome,
};

use crate::board::Processor;
use crate::problem::{self, Context};

/// Regions larger than this are not simulated (no host memory is spent on them);
/// buffers there are not zeroed and segments there are not copied, placements are
/// still exact.
const SIM_MAX: usize = 256 << 20;

/// A type word no table uses: an entry set aside is rewritten to it so the next boot
/// skips it (unknown types are skipped) while every index stays the same.
const SET_ASIDE: u32 = 0x7fff_0000;

/// Copied out of a successful boot.
pub(crate) struct Snapshot {
    /// The table with the host's write-backs.
    pub(crate) table: Vec<u8>,
    /// The processor's memory entries.
    pub(crate) memory: Vec<MemSnap>,
    /// The vdevs.
    pub(crate) vdevs: Vec<VdevInfo>,
    /// Segments loaded: `(program header index, where)`.
    pub(crate) segments: Vec<(usize, Placement)>,
    /// Where the table was installed.
    pub(crate) table_at: Option<Placement>,
    /// The rpmsg buffers each rpmsg vdev got: `(vdev number, where)`.
    pub(crate) rpmsg: Vec<(u32, Placement)>,
    /// Occupancy of the regions an allocator manages (pools, CMA areas), by region
    /// index.
    pub(crate) stats: Vec<(usize, &'static str, RegionStats)>,
}

/// A memory entry, copied.
pub(crate) struct MemSnap {
    /// Its name.
    pub(crate) name: String,
    /// Its kind.
    pub(crate) kind: MemKind,
    /// Who made it.
    pub(crate) origin: Origin,
    /// Device address.
    pub(crate) da: Option<DeviceAddr>,
    /// Physical address.
    pub(crate) pa: u64,
    /// Bytes.
    pub(crate) len: u64,
    /// Table entry it is bound to.
    pub(crate) bound: Option<u32>,
}

/// What the processor's memory is for, by region index.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Use {
    /// The processor's own DMA pool (its first `memory-region`).
    RprocPool,
    /// Registered as a memory entry of this kind.
    Entry(MemKind),
    /// The processor's CMA area.
    RprocCma,
    /// Some other device's region, or a default.
    Other(String),
    /// One of the processor's regions its driver passes over.
    Ignored,
    /// Nobody's.
    Unused,
}

/// Something set aside after a problem, to find the next one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SetAside {
    /// A table entry.
    Entry(u32),
    /// A program header.
    Segment(usize),
    /// One vring of a vdev entry (`(entry, ring)`), shrunk to one buffer at ANY so the
    /// next boot checks the vdev's other rings.
    Ring(u32, u8),
    /// The installation of the resource table.
    Table,
}

/// The outcome of planning.
pub(crate) struct Plan {
    /// The processor's binding.
    pub(crate) binding: Binding,
    /// What each region is for.
    pub(crate) uses: Vec<Use>,
    /// The table as the firmware has it (before write-back), if any.
    pub(crate) original_table: Option<Vec<u8>>,
    /// Where the table section is for the remote.
    pub(crate) table_da: Option<DeviceAddr>,
    /// The loadable segments: `(index, da, memsz, filesz)`.
    pub(crate) segments: Vec<(usize, DeviceAddr, u64, u64)>,
    /// The last successful boot, if any.
    pub(crate) snapshot: Option<Snapshot>,
    /// What was set aside, with the number of its problem in `problems`.
    pub(crate) set_aside: Vec<(SetAside, usize)>,
    /// Every problem, in the order found.
    pub(crate) problems: Vec<String>,
    /// The processor's pool region, if it has one.
    pub(crate) pool: Option<usize>,
    /// The profile used.
    pub(crate) profile: &'static Profile,
    /// The name each of the processor's regions is registered under, by region index
    /// (the node name without unit address, as Linux names its carveouts).
    pub(crate) names: Vec<(usize, String)>,
    /// The processor's internal memories, registered too.
    pub(crate) internal: Vec<crate::board::Internal>,
}

impl Plan {
    /// Whether the firmware fits.
    pub(crate) fn fits(&self) -> bool {
        self.problems.is_empty() && self.snapshot.is_some()
    }
}

/// The processor's node in `layout`.
///
/// # Errors
/// A message listing the processors the tree has.
pub(crate) fn find_rproc<'l>(layout: &'l Layout, rproc: &str) -> Result<&'l Binding, String> {
    layout.device(rproc).ok_or_else(|| {
        let known: Vec<String> = layout
            .devices
            .iter()
            .map(|d| match d.labels.first() {
                Some(l) => format!("{} ({l})", d.path),
                None => d.path.clone(),
            })
            .collect();
        let known = if known.is_empty() {
            "none".to_owned()
        } else {
            known.join(", ")
        };
        format!(
            "no device node {rproc:?} with a memory-region list in the device tree \
             (nodes with one: {known})"
        )
    })
}

/// Checks `--backend` pairs against the layout and the registry.
///
/// # Errors
/// A message naming the region or backend at fault.
pub(crate) fn check_backends(layout: &Layout, backends: &[(String, String)]) -> Result<(), String> {
    let registry = Registry::with_builtins().map_err(|e| e.to_string())?;
    for (region, backend) in backends {
        if !registry.contains(backend) {
            let known: Vec<String> = registry.names().map(|n| n.as_str().to_owned()).collect();
            return Err(format!(
                "unknown backend {backend:?} for region {region} (known: {})",
                known.join(", ")
            ));
        }
        let Some(r) = layout.region(region) else {
            let known: Vec<&str> = layout.regions.iter().map(|r| r.name.as_str()).collect();
            return Err(format!(
                "--backend names region {region:?}, which the device tree does not have \
                 (regions: {})",
                known.join(", ")
            ));
        };
        if r.role != Role::CmaArea {
            return Err(format!(
                "--backend {region}={backend}: only CMA areas (reusable shared-dma-pool) \
                 take a backend; {region} is a {} and pools always use first-fit",
                role_name(r.role)
            ));
        }
    }
    Ok(())
}

/// A region's role in words.
pub(crate) fn role_name(role: Role) -> &'static str {
    match role {
        Role::CmaArea => "CMA area",
        Role::CoherentPool => "coherent pool",
        Role::RestrictedPool => "restricted pool",
        Role::Reservation => "reservation",
    }
}

/// Plans `image` on the board for the processor `binding`.
///
/// # Errors
/// Input errors: the firmware image or its table is malformed, or the board cannot be
/// built.
pub(crate) fn plan(
    layout: &Layout,
    binding: &Binding,
    processor: &Processor,
    image: &[u8],
    backends: &[(String, String)],
) -> Result<Plan, String> {
    let profile = processor.profile;
    let fw = Firmware::parse(image).map_err(|e| format!("not a usable firmware image: {e}"))?;
    if !profile.accepts(fw.machine(), fw.is_64()) {
        let wanted: Vec<String> = profile
            .machines
            .iter()
            .map(|m| match m.e_machine {
                Some(e) => format!("{} {}", m.class.as_str(), machine_name(e)),
                None => format!("{} (any machine)", m.class.as_str()),
            })
            .collect();
        return Err(format!(
            "the image is {} {}, but {} runs {} (profile {}, Linux {})",
            if fw.is_64() { "ELF64" } else { "ELF32" },
            machine_name(fw.machine()),
            binding.name,
            wanted.join(" or "),
            profile.name,
            profile.driver
        ));
    }
    let table = fw
        .resource_table()
        .map_err(|e| format!("malformed resource table: {e}"))?;
    let original_table = table.map(|t| t.bytes().to_vec());
    let table_da = fw.rsc_section().map(|s| s.da);
    let segments = fw
        .segments()
        .map(|s| (s.index, s.da, s.memsz, s.data.len() as u64))
        .collect();
    let pool = pool_region(layout, binding, profile);
    let uses = uses(layout, binding, pool, profile);
    let mut plan = Plan {
        binding: binding.clone(),
        uses,
        original_table,
        table_da,
        segments,
        snapshot: None,
        set_aside: Vec::new(),
        problems: Vec::new(),
        pool,
        profile,
        names: names(layout, binding, profile),
        internal: processor.internal.clone(),
    };
    let mut image = image.to_vec();
    // Each round sets one entry, ring or segment aside (a ring at most once before its
    // whole entry), so this ends.
    loop {
        let attempt = run(layout, &plan, &image, backends)?;
        match attempt.result {
            Ok(snapshot) => {
                plan.problems.extend(attempt.registration);
                plan.problems.extend(attempt.after);
                plan.snapshot = Some(snapshot);
                break;
            }
            Err((message, aside)) => {
                // A ring that fails again once shrunk: its first problem stands and the
                // whole entry is set aside without a second message.
                let earlier = aside.and_then(|a| {
                    plan.set_aside
                        .iter()
                        .find(|(b, _)| matches!(a, SetAside::Ring(..)) && *b == a)
                        .map(|&(_, n)| n)
                });
                let (aside, number) = match (aside, earlier) {
                    (Some(SetAside::Ring(entry, _)), Some(n)) => (Some(SetAside::Entry(entry)), n),
                    _ => {
                        plan.problems.push(message);
                        (aside, plan.problems.len() - 1)
                    }
                };
                let Some(aside) = aside.filter(|a| set_aside(&mut image, *a)) else {
                    plan.problems.extend(attempt.registration);
                    break;
                };
                plan.set_aside.push((aside, number));
            }
        }
    }
    Ok(plan)
}

/// `EM_*` in words.
pub(crate) fn machine_name(e_machine: u16) -> String {
    let name = match e_machine {
        3 => "x86 (EM_386)",
        8 => "MIPS (EM_MIPS)",
        40 => "ARM (EM_ARM)",
        62 => "x86-64 (EM_X86_64)",
        140 => "TI C6000 (EM_TI_C6000)",
        183 => "AArch64 (EM_AARCH64)",
        243 => "RISC-V (EM_RISCV)",
        other => return format!("machine {other}"),
    };
    name.to_owned()
}

/// The region that becomes the processor's own pool: its first `memory-region`, if
/// the profile says so and it is a coherent pool (Linux `of_reserved_mem_device_init`).
fn pool_region(layout: &Layout, binding: &Binding, profile: &Profile) -> Option<usize> {
    if profile.pool != Pool::First {
        return None;
    }
    let first = binding.first_region()?.region;
    let role = layout.regions.get(first)?.role;
    matches!(role, Role::CoherentPool | Role::RestrictedPool).then_some(first)
}

/// Per-processor names: each region's node name without unit address (two processors
/// may both have a `vdev0vring0`); the board-wide unique name only when one of this
/// processor's earlier regions has the same short name.
fn names(layout: &Layout, binding: &Binding, profile: &Profile) -> Vec<(usize, String)> {
    let mut out: Vec<(usize, String)> = Vec::new();
    if let Some(first) = vdev_fallback(layout, binding, profile) {
        out.push((first, "vdev0buffer".to_owned()));
    }
    for b in &binding.regions {
        let Some(region) = layout.regions.get(b.region) else {
            continue;
        };
        if out.iter().any(|(i, _)| *i == b.region) {
            continue;
        }
        let name = if out.iter().any(|(_, n)| *n == region.base_name) {
            region.name.clone()
        } else {
            region.base_name.clone()
        };
        out.push((b.region, name));
    }
    out
}

/// Linux's `remoteproc_virtio.c`: a vdev without a `vdev{N}buffer` carveout gets its
/// parent's memory-region 0 as its pool (`of_reserved_mem_device_init_by_idx(.., 0)`).
/// With a driver that makes no region the processor's pool (i.MX: `vdevbuffer` first),
/// that region, if a coherent pool, is vdev 0's buffer pool.
fn vdev_fallback(layout: &Layout, binding: &Binding, profile: &Profile) -> Option<usize> {
    if profile.pool != Pool::None {
        return None;
    }
    let named = binding.regions.iter().any(|b| {
        layout
            .regions
            .get(b.region)
            .is_some_and(|r| r.base_name == "vdev0buffer")
    });
    let first = binding.first_region()?.region;
    let role = layout.regions.get(first)?.role;
    (!named && matches!(role, Role::CoherentPool | Role::RestrictedPool)).then_some(first)
}

fn uses(layout: &Layout, binding: &Binding, pool: Option<usize>, profile: &Profile) -> Vec<Use> {
    let fallback = vdev_fallback(layout, binding, profile);
    (0..layout.regions.len())
        .map(|i| {
            let region = &layout.regions[i];
            if Some(i) == pool {
                return Use::RprocPool;
            }
            if Some(i) == fallback {
                return Use::Entry(MemKind::VdevBuffer);
            }
            if let Some(position) = binding.regions.iter().position(|b| b.region == i) {
                // With a driver that inits the device's reserved memory, a CMA area it
                // lists is its CMA area (the first one serves it), not an entry.
                if region.role == Role::CmaArea && profile.pool == Pool::First {
                    return Use::RprocCma;
                }
                // The pool, if any, was taken above: here a region is what its name
                // (node name without unit address) makes it.
                return match profile.region_use(position.max(1), &region.base_name, false) {
                    RegionUse::DmaPool | RegionUse::Carveout => Use::Entry(MemKind::Carveout),
                    RegionUse::Vring => Use::Entry(MemKind::Vring),
                    RegionUse::VdevBuffer => Use::Entry(MemKind::VdevBuffer),
                    RegionUse::Ignored => Use::Ignored,
                };
            }
            let users: Vec<&str> = layout
                .devices
                .iter()
                .filter(|d| d.regions.iter().any(|b| b.region == i))
                .map(|d| d.name.as_str())
                .collect();
            match (users.is_empty(), region.default) {
                (false, _) => Use::Other(users.join(", ")),
                (true, Some(kind)) => Use::Other(kind.property().to_owned()),
                (true, None) => Use::Unused,
            }
        })
        .collect()
}

struct Attempt {
    registration: Vec<String>,
    /// Problems found after a successful boot (rpmsg buffer pools).
    after: Vec<String>,
    result: Result<Snapshot, (String, Option<SetAside>)>,
}

/// One boot on a freshly built board.
fn run(
    layout: &Layout,
    plan: &Plan,
    image: &[u8],
    backends: &[(String, String)],
) -> Result<Attempt, String> {
    static NO_MAPPING: NoMapping = NoMapping;
    let sims: Vec<Option<SimMemory>> = layout
        .regions
        .iter()
        .map(|r| {
            if r.range.size() <= SIM_MAX {
                SimMemory::new(r.range)
            } else {
                None
            }
        })
        .collect();
    let index_of = |r: &Region| layout.regions.iter().position(|x| x.path == r.path);
    let mapper = |r: &Region| -> &dyn Mapper {
        match index_of(r)
            .and_then(|i| sims.get(i))
            .and_then(Option::as_ref)
        {
            Some(sim) => sim,
            None => &NO_MAPPING,
        }
    };
    let registry = Registry::with_builtins().map_err(|e| e.to_string())?;
    let reclaim = |spec: &contig_dma_pool::cma::RegionSpec| {
        spec.flags()
            .is_reusable()
            .then(|| Box::new(NothingLent) as BoxedReclaim)
    };
    let backend = |name: &str| {
        backends
            .iter()
            .find(|(r, _)| r == name)
            .map(|(_, b)| b.as_str())
    };
    let config = BuildConfig {
        registry: &registry,
        ram: &NO_MAPPING,
        mapper: &mapper,
        reclaim: &reclaim,
        backend: &backend,
        page: 4096,
    };
    let mut memory = None;
    // A driver that makes no region its pool (stm32, i.MX, Xilinx) gives the device
    // none: every region is registered as an entry below instead.
    let mut built = layout.clone();
    if plan.profile.pool == Pool::None {
        for d in built
            .devices
            .iter_mut()
            .filter(|d| d.path == plan.binding.path)
        {
            d.regions.clear();
        }
    }
    let board = built
        .build::<contig_dma_pool::cma::DefaultLock>(&config, &mut memory)
        .map_err(|e| format!("the board cannot be built: {e}"))?;
    let devs = board.devices;
    let device = board
        .nodes
        .iter()
        .find(|(p, _)| *p == plan.binding.path)
        .map(|&(_, id)| id)
        .ok_or_else(|| format!("{} was not built as a device", plan.binding.path))?;
    let config = RprocConfig {
        auto_boot: false,
        notify_ids: 64,
    };
    let skip_table = plan
        .set_aside
        .iter()
        .any(|(a, _)| *a == SetAside::Table)
        .then_some(())
        .and(
            plan.table_da
                .zip(plan.original_table.as_ref().map(Vec::len)),
        );
    let ops = Idle { skip_table };
    let mut rproc = Rproc::new(&devs, device, ops, config)
        .map_err(|e| format!("{} cannot be a remote processor: {e}", plan.binding.path))?;
    let mut registration = Vec::new();
    for (i, name) in &plan.names {
        let i = *i;
        let (Some(region), Some(Use::Entry(kind))) = (layout.regions.get(i), plan.uses.get(i))
        else {
            continue;
        };
        let sim = sims.get(i).and_then(Option::as_ref);
        let identity = plan.profile.translation == Translation::Identity;
        if let Err(e) = register(&mut rproc, &devs, name, region, *kind, identity, sim) {
            registration.push(format!(
                "memory-region {name} ({}) cannot be given to {}: {e}",
                span(region.range),
                plan.binding.name
            ));
        }
    }
    for mem in &plan.internal {
        let entry = usize::try_from(mem.len)
            .map_err(|e| e.to_string())
            .and_then(|len| {
                MemEntry::region(&mem.name, MemKind::Carveout, PhysAddr::new(mem.pa), len)
                    .map_err(|e| e.to_string())
            })
            .map(|e| e.at_da(mem.da));
        if let Err(e) = entry.and_then(|e| rproc.register(&devs, e).map_err(|e| e.to_string())) {
            registration.push(format!(
                "internal memory {} (pa {:#x}, da {:#x}) cannot be given to {}: {e}",
                mem.name,
                mem.pa,
                mem.da.as_u64(),
                plan.binding.name
            ));
        }
    }
    let mut loader = SimLoader {
        skip_table: skip_table.is_some(),
        sims: &sims,
        segments: Vec::new(),
        table: None,
    };
    let mut after = Vec::new();
    let result = match rproc.boot(&devs, image, &mut loader) {
        Ok(()) => {
            let rpmsg;
            (after, rpmsg) = rpmsg_buffers(plan, &rproc, &devs);
            let mut snap = snapshot(layout, &rproc, &devs, loader, board.memory);
            snap.rpmsg = rpmsg;
            Ok(snap)
        }
        Err(e) => {
            let ctx = Context {
                plan,
                devs: &devs,
                device,
                image,
            };
            Err((problem::describe(&e, &ctx), aside_for(&e)))
        }
    };
    Ok(Attempt {
        registration,
        after,
        result,
    })
}

/// Linux's `virtio_rpmsg_bus`: `MAX_RPMSG_NUM_BUFS`.
const RPMSG_MAX_BUFS: u64 = 512;
/// Linux's `virtio_rpmsg_bus`: `MAX_RPMSG_BUF_SIZE`.
const RPMSG_BUF_SIZE: u64 = 512;
/// `VIRTIO_ID_RPMSG`.
const VIRTIO_ID_RPMSG: u32 = 7;

/// What rpmsg will ask of each rpmsg vdev's buffer pool once the vdev probes: Linux's
/// `virtio_rpmsg_bus` takes `min(2 x num of vring 0, 512)` buffers of 512 bytes in one
/// coherent allocation from the vdev's device. The allocation is made (and kept, as
/// rpmsg keeps it, so the map shows it); one message per vdev whose pool cannot give it,
/// and where each allocation landed.
fn rpmsg_buffers(
    plan: &Plan,
    rproc: &Rproc<'_, Idle>,
    devs: &Devices<'_>,
) -> (Vec<String>, Vec<(u32, Placement)>) {
    let table = plan
        .original_table
        .as_deref()
        .and_then(|t| RscTable::parse(t).ok());
    let (mut out, mut placed) = (Vec::new(), Vec::new());
    for vdev in rproc.vdevs() {
        let entry = table.as_ref().and_then(|t| t.entry(vdev.index));
        let Some(Resource::Vdev(v)) = entry.map(|e| e.resource) else {
            continue;
        };
        if v.id != VIRTIO_ID_RPMSG {
            continue;
        }
        // The firmware's own num (a ring set aside was booted shrunk).
        let Some(num) = v.vring(0).map(|r| r.num) else {
            continue;
        };
        let bufs = (2 * u64::from(num)).min(RPMSG_MAX_BUFS);
        let bytes = bufs * RPMSG_BUF_SIZE;
        let pool = devs.pool(vdev.device).ok().flatten();
        let from = match (pool, vdev.own_pool) {
            (Some(p), true) => format!(
                "its buffer pool {} ({:#x} bytes)",
                p.name(),
                p.phys().size()
            ),
            (Some(p), false) => format!(
                "its parent's DMA pool {} ({:#x} bytes)",
                p.name(),
                p.phys().size()
            ),
            (None, _) => {
                "the default pools (it has no vdev buffer region and the processor no DMA pool)"
                    .to_owned()
            }
        };
        let size = usize::try_from(bytes).unwrap_or(usize::MAX);
        match devs.alloc_coherent(Some(vdev.device), size, Attrs::NO_ZERO) {
            Ok(buf) => placed.push((
                vdev.number,
                Placement {
                    da: DeviceAddr::new(buf.dma.as_u64()),
                    pa: buf.phys,
                    cpu: None,
                    len: buf.size,
                },
            )),
            Err(e) => out.push(format!(
                "table entry {} (vdev id {}): rpmsg needs {bufs} buffers of {RPMSG_BUF_SIZE} \
                 bytes (2 x num {} of vring 0, at most {RPMSG_MAX_BUFS}) = {bytes:#x} bytes in \
                 one piece from {from}, which cannot give it: {}; enlarge vdev{}buffer or \
                 lower num",
                vdev.index,
                v.id,
                num,
                devs.explain(&e),
                vdev.number
            )),
        }
    }
    (out, placed)
}

fn register<'m>(
    rproc: &mut Rproc<'m, Idle>,
    devs: &Devices<'m>,
    name: &str,
    region: &Region,
    kind: MemKind,
    identity: bool,
    sim: Option<&'m SimMemory>,
) -> Result<(), String> {
    let entry = MemEntry::region(name, kind, region.range.base(), region.range.size())
        .map_err(|e| e.to_string())?;
    let entry = if identity {
        entry.at_da(DeviceAddr::new(region.range.base().as_u64()))
    } else {
        entry
    };
    let entry = match sim {
        Some(sim) => entry.with_mapper(sim),
        None => entry,
    };
    rproc.register(devs, entry).map_err(|e| e.to_string())
}

fn aside_for(e: &RprocError) -> Option<SetAside> {
    match e {
        RprocError::Resource {
            index,
            ring: Some(ring),
            ..
        } => Some(SetAside::Ring(*index, *ring)),
        RprocError::Resource { index, .. } | RprocError::Vendor { index, .. } => {
            Some(SetAside::Entry(*index))
        }
        RprocError::Segment { segment, .. } => Some(SetAside::Segment(*segment)),
        RprocError::TableSection { .. } => Some(SetAside::Table),
        _ => None,
    }
}

/// Rewrites what `aside` names in `image` so the next boot passes it by: an entry's
/// type becomes one no table uses, a segment's file and memory sizes become 0 (it
/// stays `PT_LOAD`, so an image whose only segment is set aside still parses). False
/// if it cannot.
fn set_aside(image: &mut [u8], aside: SetAside) -> bool {
    let mut copy = image.to_vec();
    let patches: Vec<(Option<usize>, Vec<u8>)> = match aside {
        SetAside::Entry(index) => {
            vec![(entry_offset(&copy, index), SET_ASIDE.to_le_bytes().to_vec())]
        }
        SetAside::Segment(index) => {
            let (at, width) = (
                phdr_offset(&copy, index),
                if copy.get(4) == Some(&2) { 8 } else { 4 },
            );
            // p_filesz and p_memsz: words 4 and 5 of an ELF32 header, 4 and 5 of ELF64's
            // (after p_type and p_flags packed in its first 8 bytes).
            let filesz = at.and_then(|a| a.checked_add(4 * width));
            let memsz = at.and_then(|a| a.checked_add(5 * width));
            vec![(filesz, vec![0; width]), (memsz, vec![0; width])]
        }
        SetAside::Ring(index, ring) => {
            // A vdev body is 24 bytes after the type word; each ring is 20 bytes:
            // da, align, num, notifyid, pa.
            let at = entry_offset(&copy, index)
                .and_then(|e| e.checked_add(4 + 24 + 20 * usize::from(ring)));
            // da ANY, align 16, num 1: the smallest ring, one page.
            vec![
                (at, 0xFFFF_FFFFu32.to_le_bytes().to_vec()),
                (
                    at.and_then(|a| a.checked_add(4)),
                    16u32.to_le_bytes().to_vec(),
                ),
                (
                    at.and_then(|a| a.checked_add(8)),
                    1u32.to_le_bytes().to_vec(),
                ),
            ]
        }
        SetAside::Table => return true,
    };
    for (at, bytes) in patches {
        let Some(slot) = at.and_then(|at| copy.get_mut(at..at.checked_add(bytes.len())?)) else {
            return false;
        };
        slot.copy_from_slice(&bytes);
    }
    if Firmware::parse(&copy).is_err() {
        return false;
    }
    image.copy_from_slice(&copy);
    true
}

fn entry_offset(image: &[u8], index: u32) -> Option<usize> {
    let fw = Firmware::parse(image).ok()?;
    let section = fw.rsc_section()?;
    let table = RscTable::parse(section.bytes).ok()?;
    let entry = table.entry(index)?;
    usize::try_from(section.offset)
        .ok()?
        .checked_add(usize::try_from(entry.offset).ok()?)
}

/// Offset of program header `index`.
fn phdr_offset(image: &[u8], index: usize) -> Option<usize> {
    let read = |at: usize, n: usize| -> Option<u64> {
        let bytes = image.get(at..at.checked_add(n)?)?;
        Some(
            bytes
                .iter()
                .rev()
                .fold(0u64, |acc, &b| (acc << 8) | u64::from(b)),
        )
    };
    let (phoff, entsize) = match image.get(4)? {
        1 => (read(28, 4)?, read(42, 2)?),
        2 => (read(32, 8)?, read(54, 2)?),
        _ => return None,
    };
    let off = entsize.checked_mul(u64::try_from(index).ok()?)?;
    usize::try_from(phoff.checked_add(off)?).ok()
}

fn snapshot(
    layout: &Layout,
    rproc: &Rproc<'_, Idle>,
    devs: &Devices<'_>,
    loader: SimLoader<'_>,
    memory: &contig_dma_pool::fdt::Memory<'_>,
) -> Snapshot {
    let mem = rproc
        .memory()
        .iter()
        .map(|e| MemSnap {
            name: e.name().as_str().to_owned(),
            kind: e.kind(),
            origin: e.origin(),
            da: e.da(),
            pa: e.pa().as_u64(),
            len: e.len() as u64,
            bound: e.bound_to(),
        })
        .collect();
    let region_of = |phys: PhysRange| {
        layout
            .regions
            .iter()
            .position(|r| r.range.contains_range(&phys))
    };
    let mut stats = Vec::new();
    let pools = std::iter::once(rproc.device())
        .chain(rproc.vdevs().iter().map(|v| v.device))
        .filter_map(|d| devs.pool(d).ok().flatten())
        .map(|pool| (pool.phys(), pool.stats()));
    let default = memory
        .default_pool()
        .map(|pool| (pool.phys(), pool.stats()));
    for (phys, pool_stats) in pools.chain(default) {
        if let Some(i) = region_of(phys) {
            if !stats.iter().any(|(j, _, _)| *j == i) {
                stats.push((i, "first-fit", pool_stats));
            }
        }
    }
    for (_, region) in memory.area().regions() {
        if let Some(i) = region_of(region.range()) {
            stats.push((i, region.backend_name(), region.stats()));
        }
    }
    Snapshot {
        table: rproc
            .table()
            .map(|t| t.bytes().to_vec())
            .unwrap_or_default(),
        memory: mem,
        vdevs: rproc.vdevs().to_vec(),
        segments: loader.segments,
        table_at: loader.table,
        rpmsg: Vec::new(),
        stats,
    }
}

/// `base..end (size)` of a range.
pub(crate) fn span(range: PhysRange) -> String {
    format!("{:#x}..{:#x}", range.base().as_u64(), range.end().as_u64())
}

/// The bus windows of a binding, in words.
pub(crate) fn windows(bus: &BusMap) -> String {
    match bus {
        BusMap::Identity => "bus addresses are physical".to_owned(),
        BusMap::Offset(o) => format!("bus = physical - {o:#x}"),
        BusMap::Windows(ws) => ws
            .iter()
            .map(|w| {
                format!(
                    "da {:#x}..{:#x} -> pa {:#x}",
                    w.bus().as_u64(),
                    w.bus().as_u64().saturating_add(w.len()),
                    w.phys().as_u64()
                )
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// A platform that starts nothing: the planner only places.
struct Idle {
    /// The table's `(da, len)` once its installation was found to have no place (a
    /// problem already recorded): answered here so the boot goes on to check the rest,
    /// and dropped by the loader.
    skip_table: Option<(DeviceAddr, usize)>,
}

/// A reclaim hook for CMA areas: in the simulation the OS has borrowed nothing.
struct NothingLent;

impl RprocOps for Idle {
    fn start(&mut self, _boot: DeviceAddr) -> Result<(), OpError> {
        Ok(())
    }

    fn stop(&mut self) -> Result<(), OpError> {
        Ok(())
    }

    fn kick(&mut self, _notifyid: u32) {}

    fn da_to_va(&self, da: DeviceAddr, len: usize) -> Option<Placement> {
        // Never recorded nor shown: the loader drops the table when this is set.
        (self.skip_table == Some((da, len))).then_some(Placement {
            da,
            pa: PhysAddr::new(0),
            cpu: None,
            len,
        })
    }

    fn handle_vendor(
        &mut self,
        _index: u32,
        _vendor: &Vendor<'_>,
    ) -> Result<VendorOutcome, OpError> {
        Ok(VendorOutcome::Ignored)
    }
}

impl Reclaim for NothingLent {
    fn claim(&self, _range: PhysRange) -> Claim {
        Claim::Claimed
    }

    fn release(&self, _range: PhysRange) {}
}

/// Copies segments and the table into the simulated regions, recording where.
struct SimLoader<'s> {
    skip_table: bool,
    sims: &'s [Option<SimMemory>],
    segments: Vec<(usize, Placement)>,
    table: Option<Placement>,
}

impl SimLoader<'_> {
    fn write(&self, at: &Placement, data: &[u8]) -> Result<(), OpError> {
        let sim = self
            .sims
            .iter()
            .flatten()
            .find(|s| s.range().contains(at.pa));
        match sim {
            Some(sim) => sim.write(at.pa, data).ok_or(OpError(-14)),
            None => Ok(()), // not simulated: the placement alone is the answer
        }
    }
}

impl Loader for SimLoader<'_> {
    fn load_segment(&mut self, segment: &Segment<'_>, at: &Placement) -> Result<(), OpError> {
        self.write(at, segment.data)?;
        let tail = at.len.saturating_sub(segment.data.len());
        let after = at
            .pa
            .checked_add(segment.data.len())
            .map_err(|_| OpError(-14))?;
        let rest = Placement { pa: after, ..*at };
        self.write(&rest, &vec![0; tail])?;
        self.segments.push((segment.index, *at));
        Ok(())
    }

    fn install_table(&mut self, table: &[u8], at: &Placement) -> Result<(), OpError> {
        if self.skip_table {
            return Ok(());
        }
        self.write(at, table)?;
        self.table = Some(*at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn setting_aside_rewrites_only_the_named_entry_or_segment() {
        let sample = crate::sample::image();
        let mut image = sample.clone();
        assert!(set_aside(&mut image, SetAside::Entry(1)));
        let fw = Firmware::parse(&image).unwrap();
        let kinds: Vec<u32> = fw
            .resource_table()
            .unwrap()
            .unwrap()
            .entries()
            .map(|e| e.resource.kind())
            .collect();
        assert_eq!(kinds, [0, SET_ASIDE, 3]);
        assert!(set_aside(&mut image, SetAside::Segment(0)));
        let fw = Firmware::parse(&image).unwrap();
        let seg = fw.segments().next().unwrap();
        assert_eq!((seg.memsz, seg.data.len()), (0, 0));
        // Nothing else moved.
        let changed = image.iter().zip(&sample).filter(|(a, b)| a != b).count();
        assert!(changed <= 4 + 8, "{changed} bytes changed");
        // An entry that is not there cannot be set aside, and the image stays as it was.
        let before = image.clone();
        assert!(!set_aside(&mut image, SetAside::Entry(9)));
        assert_eq!(image, before);
    }
}
