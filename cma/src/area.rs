//! The area set: every region, the default region and the resolved region map.
//!
//! This module owns [`AreaSet`]: adding regions (no duplicate names, no overlaps),
//! resolving a [`RegionMap`] against them, allocating along a device's list or an
//! explicit one, and freeing by handle or by physical address (the owning region found
//! by binary search over the regions sorted by base). Setup (`add`, `set_map`,
//! `set_default`) allocates and needs `&mut self`; allocation and free take `&self`,
//! never allocate, and lock one region at a time.
#![forbid(unsafe_code)]

use crate::fallible::{try_insert, try_push, try_reserve};
use alloc::vec::Vec;

use lock_api::RawMutex;

use crate::error::Explained;
use crate::{
    Allocation, BoxedReclaim, DefaultLock, DmaError, EarlyTable, Error, Name, PhysAddr, PhysRange,
    RawAllocation, Region, RegionId, RegionIndex, RegionMap, RegionSpec, RegionStats, Registry,
    Request,
};

/// A device's resolved list of regions.
#[derive(Clone, Debug)]
struct Route {
    device: Name,
    regions: Vec<RegionId>,
}

/// All regions of a system and how devices map onto them.
///
/// See the [crate documentation](crate) for the whole flow.
pub struct AreaSet<R: RawMutex = DefaultLock> {
    /// In the order added: a [`RegionId`] is an index here, stable forever.
    regions: Vec<Region<R>>,
    /// Region indices sorted by base address, for lookups by address.
    by_base: Vec<usize>,
    /// Sorted by device name.
    routes: Vec<Route>,
    fallback: Option<Vec<RegionId>>,
    default: Option<RegionId>,
}

impl<R: RawMutex> Default for AreaSet<R> {
    fn default() -> Self {
        Self::new()
    }
}

impl<R: RawMutex> AreaSet<R> {
    /// No regions, no map, no default.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            regions: Vec::new(),
            by_base: Vec::new(),
            routes: Vec::new(),
            fallback: None,
            default: None,
        }
    }

    /// Builds a region for every early declaration, in declaration order.
    /// `reclaim` supplies the hook of each reusable region (it is asked for every
    /// region and must answer `None` for the others).
    ///
    /// # Errors
    ///
    /// The first error of [`Region::new`] or [`add`](Self::add).
    pub fn from_early<const N: usize>(
        table: &EarlyTable<N>,
        registry: &Registry,
        reclaim: &mut dyn FnMut(&RegionSpec) -> Option<BoxedReclaim>,
    ) -> Result<Self, Error> {
        let mut area = Self::new();
        for spec in table.regions() {
            area.add(Region::new(*spec, registry, reclaim(spec))?)?;
        }
        Ok(area)
    }

    /// Adds a region.
    ///
    /// # Errors
    ///
    /// [`Error::DuplicateRegion`], then [`Error::Overlap`]; the set is unchanged.
    pub fn add(&mut self, mut region: Region<R>) -> Result<RegionId, Error> {
        if self.regions.iter().any(|r| r.name() == region.name()) {
            return Err(Error::DuplicateRegion {
                region: region.name(),
            });
        }
        let range = region.range();
        let pos = self
            .by_base
            .partition_point(|&i| self.range_at(i).base() < range.base());
        for &i in [pos.checked_sub(1), Some(pos)].iter().flatten() {
            if let Some(&other) = self.by_base.get(i) {
                self.check_disjoint(&region, other)?;
            }
        }
        // Reserve both lists first, so a failure leaves the set unchanged.
        try_reserve(&mut self.regions, 1, "regions")?;
        try_reserve(&mut self.by_base, 1, "region indices")?;
        let id = self.regions.len();
        region.index = RegionIndex::of(RegionId(id));
        try_push(&mut self.regions, region, "regions")?;
        try_insert(&mut self.by_base, pos, id, "region indices")?;
        Ok(RegionId(id))
    }

    /// Makes `name` the region of devices that neither the map nor its `*` entry covers.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownRegion`]; the set is unchanged.
    pub fn set_default(&mut self, name: &str) -> Result<(), Error> {
        self.default = Some(self.id_of(name)?);
        Ok(())
    }

    /// Replaces the region map.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownRegion`] for the first name that is not a region; the set is
    /// unchanged.
    pub fn set_map(&mut self, map: &RegionMap) -> Result<(), Error> {
        let mut routes = Vec::new();
        for route in map.routes() {
            let route = Route {
                device: route.device,
                regions: self.resolve(&route.regions)?,
            };
            try_push(&mut routes, route, "region-map routes")?;
        }
        let fallback = match map.fallback() {
            Some(list) => Some(self.resolve(list)?),
            None => None,
        };
        routes.sort_by_key(|r| r.device);
        self.routes = routes;
        self.fallback = fallback;
        Ok(())
    }

    /// The region called `name`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownRegion`].
    pub fn region(&self, name: &str) -> Result<&Region<R>, Error> {
        let id = self.id_of(name)?;
        self.get(id).ok_or(Error::UnknownRegionId { id: id.0 })
    }

    /// The region with index `id`.
    #[must_use]
    pub fn get(&self, id: RegionId) -> Option<&Region<R>> {
        self.regions.get(id.0)
    }

    /// Every region with its id, in the order added.
    pub fn regions(&self) -> impl Iterator<Item = (RegionId, &Region<R>)> + '_ {
        self.regions
            .iter()
            .enumerate()
            .map(|(i, r)| (RegionId(i), r))
    }

    /// The id of the region called `name`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownRegion`].
    pub fn id_of(&self, name: &str) -> Result<RegionId, Error> {
        self.regions
            .iter()
            .position(|r| r.name() == name)
            .map(RegionId)
            .ok_or(Error::UnknownRegion {
                region: Name::truncated(name),
            })
    }

    /// The region holding `addr`, in `O(log n)`.
    #[must_use]
    pub fn find(&self, addr: PhysAddr) -> Option<RegionId> {
        let pos = self
            .by_base
            .partition_point(|&i| self.range_at(i).base() <= addr);
        let &i = self.by_base.get(pos.checked_sub(1)?)?;
        self.range_at(i).contains(addr).then_some(RegionId(i))
    }

    /// Allocates for `device`: tries the regions of its map entry in order, else those
    /// of the map's `*` entry, else the default region.
    ///
    /// # Errors
    ///
    /// [`Error::ZeroRequest`], [`Error::RequestAlign`], [`Error::NoRegionForDevice`];
    /// when every region fails, the error of the last one tried.
    pub fn alloc(&self, device: &str, request: &Request) -> Result<Allocation<'_, R>, Error> {
        request.validate()?;
        let list = self.regions_for(device)?;
        self.alloc_along(list, request)
    }

    /// Allocates for a `kind` of memory of `device` (the 2010 CMA RFC's `type`): tries
    /// the map entry `device/kind` first, then as [`alloc`](Self::alloc) does.
    ///
    /// # Errors
    ///
    /// As [`alloc`](Self::alloc).
    pub fn alloc_kind(
        &self,
        device: &str,
        kind: &str,
        request: &Request,
    ) -> Result<Allocation<'_, R>, Error> {
        request.validate()?;
        let list = match self.route_of(&[device, "/", kind]) {
            Some(list) => list,
            None => self.regions_for(device)?,
        };
        self.alloc_along(list, request)
    }

    /// Allocates from the first of `regions` (names, tried in order) that can.
    ///
    /// # Errors
    ///
    /// [`Error::ZeroRequest`], [`Error::RequestAlign`], [`Error::EmptyRegionList`],
    /// [`Error::UnknownRegion`] (checked for every name before anything is allocated);
    /// when every region fails, the error of the last one tried.
    pub fn alloc_from(
        &self,
        regions: &[&str],
        request: &Request,
    ) -> Result<Allocation<'_, R>, Error> {
        request.validate()?;
        if regions.is_empty() {
            return Err(Error::EmptyRegionList);
        }
        for name in regions {
            self.id_of(name)?;
        }
        let mut last = None;
        for name in regions {
            match self.alloc_in(self.id_of(name)?, request) {
                Ok(a) => return Ok(a),
                Err(e) => last = Some(e),
            }
        }
        // Only the last failure is reported: name its region once, not per region tried.
        Err(last.map_or(Error::EmptyRegionList, |e| self.to_error(e)))
    }

    /// Allocates from the region called `region`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownRegion`], then those of [`Region::allocate`] (as
    /// [`to_error`](Self::to_error) names them).
    pub fn alloc_from_region(
        &self,
        region: &str,
        request: &Request,
    ) -> Result<Allocation<'_, R>, Error> {
        self.alloc_in(self.id_of(region)?, request)
            .map_err(|e| self.to_error(e))
    }

    /// Allocates from the region with index `id`.
    ///
    /// # Errors
    ///
    /// [`DmaError::UnknownRegionId`], then those of [`Region::allocate`].
    pub fn alloc_in(&self, id: RegionId, request: &Request) -> Result<Allocation<'_, R>, DmaError> {
        let region = self.get(id).ok_or(DmaError::UnknownRegionId { id: id.0 })?;
        let range = region.allocate(request)?;
        Ok(Allocation::from_raw(
            self,
            RawAllocation { region: id, range },
        ))
    }

    /// Allocates exactly the granules that cover `range`, in the region holding its
    /// first byte (found in `O(log n)`).
    ///
    /// # Errors
    ///
    /// [`DmaError::UnknownAddress`], then those of [`Region::claim`].
    pub fn claim(&self, range: PhysRange) -> Result<Allocation<'_, R>, DmaError> {
        let addr = range.base();
        let id = self.find(addr).ok_or(DmaError::UnknownAddress { addr })?;
        let region = self.get(id).ok_or(DmaError::UnknownRegionId { id: id.0 })?;
        let range = region.claim(range)?;
        Ok(Allocation::from_raw(
            self,
            RawAllocation { region: id, range },
        ))
    }

    /// Frees a plain handle.
    ///
    /// # Errors
    ///
    /// [`DmaError::UnknownRegionId`], then those of [`Region::free`] (a second free of
    /// the same handle is [`DmaError::NotAllocated`]).
    pub fn free(&self, raw: RawAllocation) -> Result<(), DmaError> {
        let region = self
            .get(raw.region)
            .ok_or(DmaError::UnknownRegionId { id: raw.region.0 })?;
        region.free(raw.range)
    }

    /// Frees the `size` bytes allocated at `addr`, finding the region in `O(log n)`.
    ///
    /// # Errors
    ///
    /// [`DmaError::AddressOverflow`], [`DmaError::UnknownAddress`], then those of
    /// [`Region::free`].
    pub fn free_at(&self, addr: PhysAddr, size: usize) -> Result<(), DmaError> {
        let range =
            PhysRange::new(addr, size).map_err(|_| DmaError::AddressOverflow { addr, size })?;
        let id = self.find(addr).ok_or(DmaError::UnknownAddress { addr })?;
        self.free(RawAllocation { region: id, range })
    }

    /// The statistics of the region called `name`.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownRegion`].
    pub fn stats(&self, name: &str) -> Result<RegionStats, Error> {
        Ok(self.region(name)?.stats())
    }

    /// The regions `device` draws from, in order.
    ///
    /// # Errors
    ///
    /// [`Error::NoRegionForDevice`].
    pub fn regions_for(&self, device: &str) -> Result<&[RegionId], Error> {
        if let Some(list) = self.route_of(&[device]) {
            return Ok(list);
        }
        if let Some(list) = &self.fallback {
            return Ok(list);
        }
        self.default
            .as_ref()
            .map(core::slice::from_ref)
            .ok_or(Error::NoRegionForDevice {
                device: Name::truncated(device),
            })
    }

    /// The map entry of the device named by concatenating `parts`, found by binary
    /// search without building the name (no heap on the allocation path).
    fn route_of(&self, parts: &[&str]) -> Option<&[RegionId]> {
        let key = || parts.iter().flat_map(|p| p.bytes());
        let i = self
            .routes
            .binary_search_by(|r| r.device.as_str().bytes().cmp(key()))
            .ok()?;
        self.routes.get(i).map(|r| r.regions.as_slice())
    }

    fn alloc_along(
        &self,
        list: &[RegionId],
        request: &Request,
    ) -> Result<Allocation<'_, R>, Error> {
        let mut last = None;
        for &id in list {
            match self.alloc_in(id, request) {
                Ok(a) => return Ok(a),
                Err(e) => last = Some(e),
            }
        }
        // Only the last failure is reported: name its region once, not per region tried.
        Err(last.map_or(Error::EmptyRegionList, |e| self.to_error(e)))
    }

    fn resolve(&self, names: &[Name]) -> Result<Vec<RegionId>, Error> {
        let mut ids = Vec::new();
        try_reserve(&mut ids, names.len(), "region ids")?;
        for n in names {
            try_push(&mut ids, self.id_of(n.as_str())?, "region ids")?;
        }
        Ok(ids)
    }

    fn range_at(&self, index: usize) -> PhysRange {
        self.regions
            .get(index)
            .map_or(PhysRange::EMPTY, Region::range)
    }

    fn check_disjoint(&self, region: &Region<R>, other: usize) -> Result<(), Error> {
        let Some(other) = self.regions.get(other) else {
            return Ok(());
        };
        if region.range().overlaps(&other.range()) {
            return Err(Error::Overlap {
                region: region.name(),
                range: region.range(),
                other: other.name(),
                other_range: other.range(),
            });
        }
        Ok(())
    }
}

impl<R: RawMutex> AreaSet<R> {
    /// The [`Error`] that names the region `error` is about (what the by-name calls
    /// return; see [`Region::to_error`]); an error about no region of this set keeps
    /// its index ([`Error::Dma`]).
    #[must_use]
    pub fn to_error(&self, error: DmaError) -> Error {
        match error
            .region()
            .and_then(RegionIndex::id)
            .and_then(|id| self.get(id))
        {
            Some(region) => region.to_error(error),
            None => error.into(),
        }
    }

    /// `error`'s message with the name of the region it is about.
    ///
    /// ```
    /// use contig_cma::{AreaSet, Declaration, DmaError, PhysAddr, PhysRange, Region, Registry};
    /// let registry = Registry::with_builtins().unwrap();
    /// let spec = Declaration::new("video", 0x4000).at(PhysAddr::new(0x1000_0000)).unwrap();
    /// let mut area: AreaSet = AreaSet::new();
    /// area.add(Region::new(spec, &registry, None).unwrap()).unwrap();
    /// let err = area.free_at(PhysAddr::new(0x1000_1000), 0x1000).unwrap_err();
    /// assert!(matches!(err, DmaError::NotAllocated { .. }));
    /// assert_eq!(
    ///     err.to_string(),
    ///     "region #0: 0x10001000 is not allocated (double free or never allocated)"
    /// );
    /// assert_eq!(
    ///     area.explain(&err).to_string(),
    ///     "region \"video\": 0x10001000 is not allocated (double free or never allocated)"
    /// );
    /// ```
    #[must_use]
    pub fn explain<'a>(&'a self, error: &DmaError) -> impl core::fmt::Display + 'a {
        Explained {
            error: *error,
            name: move |i: RegionIndex| Some(self.get(i.id()?)?.name()),
        }
    }
}

impl<R: RawMutex> core::fmt::Debug for AreaSet<R> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("AreaSet")
            .field("regions", &self.regions)
            .field("default", &self.default)
            .finish_non_exhaustive()
    }
}
