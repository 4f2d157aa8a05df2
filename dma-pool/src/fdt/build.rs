//! Building the CMA area set, the pools and the devices of a [`Layout`] in one call.
//!
//! This module owns [`BuildConfig`], [`Memory`] (what devices borrow: the area set of
//! CMA areas and the default pool) and [`Board`] (the device registry and which node
//! became which device). Every CMA area becomes a region of the area set, the
//! `linux,cma-default` one the default CMA area, the `linux,dma-default` pool the
//! default pool; each device node becomes a device with its bus view, and its first
//! `memory-region` becomes its own pool or CMA area (Linux
//! `of_reserved_mem_device_init`). Other pool regions stay available through
//! [`Layout::pool`] (e.g. for a virtio device under a remote processor). It must
//! never touch the memory it describes.
#![forbid(unsafe_code)]

use crate::cma::fallible::{try_push, try_reserve, try_string};
use alloc::string::String;
use alloc::vec::Vec;

use lock_api::RawMutex;

use crate::cma::{
    AreaSet, BoxedReclaim, Declaration, DefaultLock, Region as CmaRegion, RegionId, RegionSpec,
    Registry,
};
use crate::{BusMap, CoherentPool, Device, DeviceId, Devices, Mapper, PoolOptions};

use super::error::owned;
use super::{DefaultKind, Error, Layout, Region, Role};

/// What a build needs besides the layout.
pub struct BuildConfig<'c, 'm> {
    /// Backends by name for the CMA areas.
    pub registry: &'c Registry,
    /// CPU access to CMA areas and system memory.
    pub ram: &'m dyn Mapper,
    /// CPU access to each pool region (e.g. [`NoMapping`](crate::NoMapping) for
    /// `no-map` ones on real hardware, simulated memory in tests).
    pub mapper: &'c dyn Fn(&Region) -> &'m dyn Mapper,
    /// The reclaim hook of each CMA area (every CMA area is reusable and needs one).
    pub reclaim: &'c dyn Fn(&RegionSpec) -> Option<BoxedReclaim>,
    /// The backend of each CMA area by region name (`None`: the cma default).
    pub backend: &'c dyn Fn(&str) -> Option<&'c str>,
    /// The page of pools and the granule of CMA areas.
    pub page: usize,
}

/// The memory devices borrow: the CMA area set and the default pool.
pub struct Memory<'m, R: RawMutex = DefaultLock> {
    area: AreaSet<R>,
    default_cma: Option<RegionId>,
    default_pool: Option<CoherentPool<'m, R>>,
}

impl<'m, R: RawMutex> Memory<'m, R> {
    /// The CMA areas.
    #[must_use]
    pub const fn area(&self) -> &AreaSet<R> {
        &self.area
    }

    /// The default CMA area (`linux,cma-default`).
    #[must_use]
    pub const fn default_cma(&self) -> Option<RegionId> {
        self.default_cma
    }

    /// The default pool (`linux,dma-default`).
    #[must_use]
    pub const fn default_pool(&self) -> Option<&CoherentPool<'m, R>> {
        self.default_pool.as_ref()
    }
}

/// The devices built from a layout.
pub struct Board<'m, R: RawMutex = DefaultLock> {
    /// The CMA areas and default pool the devices borrow.
    pub memory: &'m Memory<'m, R>,
    /// The device registry, with pools, CMA areas and defaults installed.
    pub devices: Devices<'m, R>,
    /// Which device each bound node became: `(node path, device)`, in
    /// [`Layout::devices`] order.
    pub nodes: Vec<(String, DeviceId)>,
}

impl<R: RawMutex> Board<'_, R> {
    /// The device built from the node at `path`.
    #[must_use]
    pub fn device(&self, path: &str) -> Option<DeviceId> {
        self.nodes
            .iter()
            .find(|(p, _)| p == path)
            .map(|&(_, id)| id)
    }
}

impl Layout {
    /// Builds the CMA area set and default pool into `memory`, then the devices that
    /// borrow them.
    ///
    /// # Errors
    ///
    /// [`Error::Build`] naming the node whose region, pool or device could not be
    /// built; [`Error::PoolTaken`] when a pool would serve two devices (or a device
    /// and the default); [`Error::PoolNotOnBus`].
    pub fn build<'m, R: RawMutex>(
        &self,
        config: &BuildConfig<'_, 'm>,
        memory: &'m mut Option<Memory<'m, R>>,
    ) -> Result<Board<'m, R>, Error> {
        self.check_pool_owners()?;
        let built = self.memory(config)?;
        let memory: &'m Memory<'m, R> = memory.insert(built);
        let fail = |error| self.build_error(DefaultKind::Cma, error);
        let devices = Devices::new(config.ram).map_err(fail)?;
        devices.set_cma(&memory.area).map_err(fail)?;
        devices.set_default_cma(memory.default_cma).map_err(fail)?;
        devices
            .set_default_pool(memory.default_pool.as_ref())
            .map_err(|error| self.build_error(DefaultKind::Dma, error))?;
        let mut nodes = Vec::new();
        try_reserve(&mut nodes, self.devices.len(), "device nodes")?;
        for binding in &self.devices {
            let id = self.add_device(binding, config, &memory.area, &devices)?;
            let path = try_string(&binding.path, "node path bytes")?;
            try_push(&mut nodes, (path, id), "device nodes")?;
        }
        Ok(Board {
            memory,
            devices,
            nodes,
        })
    }

    /// A coherent pool over region `index` as a device with bus view `bus` sees it.
    ///
    /// # Errors
    ///
    /// [`Error::PoolNotOnBus`]; [`Error::Build`] if the pool cannot be built (e.g. a
    /// region that is not whole pages).
    pub fn pool<'m, R: RawMutex>(
        &self,
        index: usize,
        bus: &BusMap,
        mapper: &'m dyn Mapper,
        page: usize,
    ) -> Result<CoherentPool<'m, R>, Error> {
        let Some(region) = self.regions.get(index) else {
            return Err(Error::MissingNode {
                node: "a reserved-memory region",
                needed_by: owned("Layout::pool"),
            });
        };
        let range = region.range;
        let dma = bus
            .to_dma(range.base(), range.size())
            .map_err(|_| Error::PoolNotOnBus {
                node: owned(&region.path),
                region: range,
            })?;
        CoherentPool::new(
            &region.name,
            range.base(),
            dma,
            range.size(),
            mapper,
            PoolOptions::new().page(page),
        )
        .map_err(|error| Error::build(&region.path, error))
    }

    fn is_pool(role: Role) -> bool {
        matches!(role, Role::CoherentPool | Role::RestrictedPool)
    }

    /// A pool region serves one owner: the default, or the one device that lists it
    /// first.
    fn check_pool_owners(&self) -> Result<(), Error> {
        let mut owners: Vec<(usize, &str)> = Vec::new();
        if let Some(index) = self
            .regions
            .iter()
            .position(|r| r.default == Some(DefaultKind::Dma))
        {
            try_push(
                &mut owners,
                (index, DefaultKind::Dma.property()),
                "pool owners",
            )?;
        }
        for binding in &self.devices {
            let Some(first) = binding.first_region() else {
                continue;
            };
            let is_pool = self
                .regions
                .get(first.region)
                .is_some_and(|r| Self::is_pool(r.role));
            if !is_pool {
                continue;
            }
            if let Some(&(_, owner)) = owners.iter().find(|(i, _)| *i == first.region) {
                return Err(Error::PoolTaken {
                    region: self.region_path(first.region),
                    first: owned(owner),
                    second: owned(&binding.path),
                });
            }
            try_push(&mut owners, (first.region, &binding.path), "pool owners")?;
        }
        Ok(())
    }

    fn region_path(&self, index: usize) -> String {
        self.regions
            .get(index)
            .map_or_else(String::new, |r| owned(&r.path))
    }

    fn memory<'m, R: RawMutex>(
        &self,
        config: &BuildConfig<'_, 'm>,
    ) -> Result<Memory<'m, R>, Error> {
        let mut area = AreaSet::new();
        let mut default_cma = None;
        let mut default_pool = None;
        for (index, region) in self.regions.iter().enumerate() {
            let fail = |error: crate::cma::Error| Error::build(&region.path, error.into());
            match region.role {
                Role::CmaArea => {
                    let mut decl = Declaration::new(&region.name, region.range.size())
                        .granule(config.page)
                        .flags(region.flags);
                    if let Some(backend) = (config.backend)(&region.name) {
                        decl = decl.backend(backend);
                    }
                    let spec = decl.at(region.range.base()).map_err(fail)?;
                    let built = CmaRegion::new(spec, config.registry, (config.reclaim)(&spec))
                        .map_err(fail)?;
                    let id = area.add(built).map_err(fail)?;
                    if region.default == Some(DefaultKind::Cma) {
                        default_cma = Some(id);
                    }
                }
                Role::CoherentPool | Role::RestrictedPool
                    if region.default == Some(DefaultKind::Dma) =>
                {
                    let mapper = (config.mapper)(region);
                    default_pool =
                        Some(self.pool(index, &BusMap::Identity, mapper, config.page)?);
                }
                _ => {}
            }
        }
        Ok(Memory {
            area,
            default_cma,
            default_pool,
        })
    }

    fn add_device<'m, R: RawMutex>(
        &self,
        binding: &super::Binding,
        config: &BuildConfig<'_, 'm>,
        area: &AreaSet<R>,
        devices: &Devices<'m, R>,
    ) -> Result<DeviceId, Error> {
        let fail = |error: crate::Error| Error::build(&binding.path, error);
        let mut device = Device::new(&binding.name)
            .map_err(fail)?
            .with_bus(binding.bus.try_clone().map_err(|e| fail(e.into()))?);
        let first = binding
            .first_region()
            .and_then(|b| Some((b.region, self.regions.get(b.region)?)));
        if let Some((_, region)) = first.filter(|(_, r)| r.role == Role::CmaArea) {
            let id = area.id_of(&region.name).map_err(|e| fail(e.into()))?;
            device = device.with_cma_area(id);
        }
        let id = devices.add(device).map_err(fail)?;
        if let Some((index, region)) = first.filter(|(_, r)| Self::is_pool(r.role)) {
            let pool = self.pool(index, &binding.bus, (config.mapper)(region), config.page)?;
            devices.declare_coherent(id, pool).map_err(fail)?;
        }
        Ok(id)
    }

    fn build_error(&self, kind: DefaultKind, error: crate::Error) -> Error {
        let node = self.default_region(kind).map_or("", |r| r.path.as_str());
        Error::build(node, error)
    }
}
