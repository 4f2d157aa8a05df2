//! What a region is before it exists: its declaration and its validated spec.
//!
//! This module owns [`Declaration`] (what platform code asks for: name, size, granule,
//! backend, flags) and [`RegionSpec`] (a declaration placed at a base and fully
//! validated). A `RegionSpec` can only be built through validation, so everything
//! downstream may rely on it. It must never touch memory or a backend.
#![forbid(unsafe_code)]

use crate::{Error, Flags, Name, PhysAddr, PhysRange};

/// Granule used when a declaration does not set one (one 4 KiB page).
pub const DEFAULT_GRANULE: usize = 4096;
/// Backend used when a declaration does not name one (CMA's choice).
pub const DEFAULT_BACKEND: &str = "bitmap";
/// Busy candidates a reusable region skips before giving up, unless set.
pub const DEFAULT_RETRY_LIMIT: usize = 8;

/// A region as platform code asks for it, before it has a base.
///
/// All setters are `const`, so a board file can keep its declarations in `const` items.
///
/// ```
/// use contig_cma::{Declaration, Flags, PhysAddr};
/// const VIDEO: Declaration<'static> = Declaration::new("video", 0x40_0000)
///     .granule(0x1000)
///     .backend("first-fit")
///     .flags(Flags::NO_MAP);
/// let spec = VIDEO.at(PhysAddr::new(0x8000_0000)).unwrap();
/// assert_eq!(spec.range().end(), PhysAddr::new(0x8040_0000));
/// assert!(VIDEO.at(PhysAddr::new(0x8000_0800)).is_err()); // base not granule-aligned
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Declaration<'a> {
    name: &'a str,
    size: usize,
    granule: usize,
    backend: &'a str,
    flags: Flags,
    max_allocations: Option<usize>,
    retry_limit: usize,
}

impl<'a> Declaration<'a> {
    /// A region called `name` of `size` bytes, with the default granule, backend,
    /// allocation limit and retry limit, and no flags.
    #[must_use]
    pub const fn new(name: &'a str, size: usize) -> Self {
        Self {
            name,
            size,
            granule: DEFAULT_GRANULE,
            backend: DEFAULT_BACKEND,
            flags: Flags::NONE,
            max_allocations: None,
            retry_limit: DEFAULT_RETRY_LIMIT,
        }
    }

    /// The allocation unit in bytes (a power of two; base and size must be multiples).
    #[must_use]
    pub const fn granule(self, granule: usize) -> Self {
        Self { granule, ..self }
    }

    /// The registered backend that manages the region.
    #[must_use]
    pub const fn backend(self, backend: &'a str) -> Self {
        Self { backend, ..self }
    }

    /// The region's flags.
    #[must_use]
    pub const fn flags(self, flags: Flags) -> Self {
        Self { flags, ..self }
    }

    /// How many live allocations the backend's metadata must hold.
    ///
    /// Unless set, one per granule: the region can always be filled, down to its
    /// smallest (one-granule) allocations. The backends that size metadata by this
    /// number are `first-fit` (64 bytes per node on 64-bit targets, at most
    /// `min(2m + 1, units)` nodes: up to 64 bytes per granule, 1.6 % of a region of
    /// 4 KiB granules) and `tlsf` (16 bytes per free-piece node, at most
    /// `min(m + 1, ceil(units / 2))` of them, plus 4 bytes per granule: up to 12 bytes
    /// per granule, 0.3 %); `bitmap` and genalloc ignore it (2 bits per granule). With a
    /// fine granule (64 B: up to 100 % for first-fit) set it to what the region really
    /// holds, e.g. its size divided by the smallest buffer.
    #[must_use]
    pub const fn max_allocations(self, max_allocations: usize) -> Self {
        Self {
            max_allocations: Some(max_allocations),
            ..self
        }
    }

    /// How many busy candidates a reusable region skips before an allocation fails.
    #[must_use]
    pub const fn retry_limit(self, retry_limit: usize) -> Self {
        Self {
            retry_limit,
            ..self
        }
    }

    /// The name asked for, unvalidated.
    #[must_use]
    pub const fn name(&self) -> &'a str {
        self.name
    }

    /// Bytes asked for.
    #[must_use]
    pub const fn size(&self) -> usize {
        self.size
    }

    /// The declaration placed at `base`, fully validated.
    ///
    /// # Errors
    ///
    /// In order: [`Error::BadName`] (region name, then backend name), [`Error::ZeroSize`],
    /// [`Error::GranuleNotPowerOfTwo`], [`Error::SizeMisaligned`],
    /// [`Error::ReusableNoMap`], [`Error::BaseMisaligned`], [`Error::AddressOverflow`].
    ///
    /// A `const fn`, so a `static` region's spec can be checked at compile time.
    pub const fn at(&self, base: PhysAddr) -> Result<RegionSpec, Error> {
        let (name, backend) = match self.check() {
            Ok(names) => names,
            Err(e) => return Err(e),
        };
        if !base.is_aligned(self.granule) {
            return Err(Error::BaseMisaligned {
                region: name,
                base,
                granule: self.granule,
            });
        }
        let range = match PhysRange::new(base, self.size) {
            Ok(range) => range,
            Err(e) => return Err(e),
        };
        let units = self.size / self.granule;
        Ok(RegionSpec {
            name,
            range,
            granule: self.granule,
            backend,
            flags: self.flags,
            max_allocations: match self.max_allocations {
                Some(max) => max,
                None => units,
            },
            retry_limit: self.retry_limit,
        })
    }

    /// Every check that does not need a base; returns the validated region and backend
    /// names.
    ///
    /// # Errors
    ///
    /// The first five checks of [`at`](Self::at), in the same order.
    pub const fn check(&self) -> Result<(Name, Name), Error> {
        let name = match Name::new(self.name) {
            Ok(name) => name,
            Err(e) => return Err(e),
        };
        let backend = match Name::new(self.backend) {
            Ok(backend) => backend,
            Err(e) => return Err(e),
        };
        if self.size == 0 {
            return Err(Error::ZeroSize { region: name });
        }
        if !self.granule.is_power_of_two() {
            return Err(Error::GranuleNotPowerOfTwo {
                region: name,
                granule: self.granule,
            });
        }
        if self.size % self.granule != 0 {
            return Err(Error::SizeMisaligned {
                region: name,
                size: self.size,
                granule: self.granule,
            });
        }
        if self.flags.is_reusable() && self.flags.is_no_map() {
            return Err(Error::ReusableNoMap { region: name });
        }
        Ok((name, backend))
    }

    /// The granule asked for.
    #[must_use]
    pub const fn granule_size(&self) -> usize {
        self.granule
    }
}

/// A validated region description: name, range, granule, backend name, flags and limits.
///
/// Built only by [`Declaration::at`] (directly or through the
/// [`EarlyTable`](crate::EarlyTable)), so its invariants hold: valid names, non-empty
/// range that does not overflow, granule a power of two, base and size multiples of it,
/// not both reusable and no-map.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RegionSpec {
    name: Name,
    range: PhysRange,
    granule: usize,
    backend: Name,
    flags: Flags,
    max_allocations: usize,
    retry_limit: usize,
}

impl RegionSpec {
    /// The region's name.
    #[must_use]
    pub const fn name(&self) -> Name {
        self.name
    }

    /// The physical bytes of the region.
    #[must_use]
    pub const fn range(&self) -> PhysRange {
        self.range
    }

    /// The allocation unit in bytes.
    #[must_use]
    pub const fn granule(&self) -> usize {
        self.granule
    }

    /// Units in the region (`size / granule`).
    #[must_use]
    pub const fn units(&self) -> usize {
        self.range.size() / self.granule
    }

    /// The absolute unit index of the base, as backends want it (`base / granule`).
    ///
    /// Cut to `usize`: backends only use it modulo an alignment, which keeps the low bits.
    #[must_use]
    pub const fn phase(&self) -> usize {
        #[allow(clippy::cast_possible_truncation)] // only the low bits matter, see above
        let phase = (self.range.base().as_u64() / self.granule as u64) as usize;
        phase
    }

    /// The name of the backend that manages the region.
    #[must_use]
    pub const fn backend(&self) -> Name {
        self.backend
    }

    /// The region's flags.
    #[must_use]
    pub const fn flags(&self) -> Flags {
        self.flags
    }

    /// Live allocations the backend's metadata holds.
    #[must_use]
    pub const fn max_allocations(&self) -> usize {
        self.max_allocations
    }

    /// Busy candidates skipped before an allocation of a reusable region fails.
    #[must_use]
    pub const fn retry_limit(&self) -> usize {
        self.retry_limit
    }
}
