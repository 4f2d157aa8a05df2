//! Early declaration of regions, before a heap exists.
//!
//! This module owns the [`EarlyTable`] (a fixed-capacity table of validated region specs,
//! `const`-constructible so it can live in a `static`), the [`EarlyMemory`] platform
//! trait that reserves physical memory (memblock's role in Linux), and the [`Dynamic`]
//! placement rules. It must never allocate from the heap: it runs before one exists.
//! Turning the specs into full regions is [`AreaSet::from_early`](crate::AreaSet::from_early)'s job.
#![forbid(unsafe_code)]

use crate::{Declaration, Error, Name, PhysAddr, PhysRange, RegionSpec};

/// What the platform's early memory manager offers (Linux: memblock).
///
/// Implementations must reserve exactly what they return, and never return a range that
/// is not memory or is already reserved. [`MemoryMap`](crate::MemoryMap) is a simple one
/// over a list of memory banks.
pub trait EarlyMemory {
    /// Reserves exactly `range` if every byte of it is memory and none is reserved;
    /// returns whether it did.
    fn reserve(&mut self, range: PhysRange) -> bool;

    /// Finds `size` free bytes whose base is a multiple of `align` (a power of two)
    /// inside `within`, reserves them and returns them; `None` when nothing fits.
    fn reserve_within(&mut self, size: usize, align: usize, within: PhysRange)
    -> Option<PhysRange>;
}

/// Where a dynamic region may be placed: alignment, allowed ranges and an upper limit
/// (device-tree `alignment`, `alloc-ranges`; Linux's `limit` argument).
///
/// ```
/// use contig_cma::{Dynamic, PhysAddr, PhysRange};
/// const LOW: [PhysRange; 1] = [match PhysRange::new(PhysAddr::new(0x8000_0000), 0x1000_0000) {
///     Ok(r) => r,
///     Err(_) => panic!("bad constant"),
/// }];
/// let rule = Dynamic::new().aligned(0x40_0000).ranges(&LOW).limit(PhysAddr::new(0x9000_0000));
/// assert_eq!(rule.align(), Some(0x40_0000));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Dynamic<'a> {
    align: Option<usize>,
    ranges: &'a [PhysRange],
    limit: Option<PhysAddr>,
}

impl<'a> Dynamic<'a> {
    /// Anywhere, aligned to the region's granule.
    #[must_use]
    pub const fn new() -> Self {
        Self {
            align: None,
            ranges: &[],
            limit: None,
        }
    }

    /// Base aligned to `align` bytes (a power of two; the granule if larger).
    #[must_use]
    pub const fn aligned(self, align: usize) -> Self {
        Self {
            align: Some(align),
            ..self
        }
    }

    /// Only inside these ranges, tried in order (empty: anywhere).
    #[must_use]
    pub const fn ranges(self, ranges: &'a [PhysRange]) -> Self {
        Self { ranges, ..self }
    }

    /// Only below `limit` (exclusive).
    #[must_use]
    pub const fn limit(self, limit: PhysAddr) -> Self {
        Self {
            limit: Some(limit),
            ..self
        }
    }

    /// The alignment asked for, if any.
    #[must_use]
    pub const fn align(&self) -> Option<usize> {
        self.align
    }

    /// The part of `window` below the limit, if any.
    fn clip(&self, window: PhysRange) -> Option<PhysRange> {
        let end = match self.limit {
            Some(limit) => window.end().min(limit),
            None => window.end(),
        };
        PhysRange::from_bounds(window.base(), end).filter(|r| !r.is_empty())
    }
}

/// The whole physical space a `usize` size can describe: the default window.
const ANYWHERE: PhysRange = match PhysRange::new(PhysAddr::new(0), usize::MAX) {
    Ok(r) => r,
    Err(_) => PhysRange::EMPTY,
};

/// A fixed-capacity table of early regions, usable in a `static` before a heap exists.
///
/// Declaring validates like Linux `cma_declare_contiguous` does, but says which value
/// was wrong, and leaves the table unchanged on any error.
///
/// ```
/// use contig_cma::{Declaration, Dynamic, EarlyTable, MemoryMap, PhysAddr, PhysRange};
///
/// let mut table: EarlyTable<4> = EarlyTable::new();
/// let mut mem: MemoryMap<8> = MemoryMap::new();
/// assert!(mem.add_memory(PhysRange::new(PhysAddr::new(0x8000_0000), 0x1000_0000).unwrap()));
///
/// let fixed = Declaration::new("mcuram", 0x4_0000).backend("first-fit");
/// table.declare_fixed(&fixed, PhysAddr::new(0x8000_0000), None, &mut mem).unwrap();
/// let cma = Declaration::new("cma", 0x100_0000);
/// let placed = table.declare_dynamic(&cma, &Dynamic::new().aligned(0x40_0000), &mut mem).unwrap();
/// assert_eq!(placed.range().base(), PhysAddr::new(0x8040_0000));
/// assert!(table.declare_fixed(&fixed, PhysAddr::new(0x9000_0000), None, &mut mem).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct EarlyTable<const N: usize> {
    specs: [Option<RegionSpec>; N],
}

impl<const N: usize> Default for EarlyTable<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> EarlyTable<N> {
    /// An empty table of `N` slots.
    #[must_use]
    pub const fn new() -> Self {
        Self { specs: [None; N] }
    }

    /// Declares a region at a fixed `base`, ending at or below `limit` if one is given,
    /// and reserves it in `mem`.
    ///
    /// # Errors
    ///
    /// In order: [`Error::TableFull`], the errors of [`Declaration::at`],
    /// [`Error::DuplicateRegion`], [`Error::OutsideLimit`], [`Error::Overlap`],
    /// [`Error::NotFree`] when `mem` refuses the range.
    pub fn declare_fixed(
        &mut self,
        decl: &Declaration<'_>,
        base: PhysAddr,
        limit: Option<PhysAddr>,
        mem: &mut dyn EarlyMemory,
    ) -> Result<RegionSpec, Error> {
        let slot = self.free_slot(decl)?;
        let spec = decl.at(base)?;
        self.check_new(spec.name(), None)?;
        if let Some(limit) = limit.filter(|&l| spec.range().end() > l) {
            return Err(Error::OutsideLimit {
                region: spec.name(),
                range: spec.range(),
                limit,
            });
        }
        self.check_new(spec.name(), Some(spec.range()))?;
        if !mem.reserve(spec.range()) {
            return Err(Error::NotFree {
                region: spec.name(),
                range: spec.range(),
            });
        }
        self.put(slot, spec)
    }

    /// Declares a region placed by `mem` according to `rule`.
    ///
    /// # Errors
    ///
    /// In order: [`Error::TableFull`], the base-independent errors of
    /// [`Declaration::at`], [`Error::AlignNotPowerOfTwo`], [`Error::DuplicateRegion`],
    /// [`Error::NoRoom`].
    pub fn declare_dynamic(
        &mut self,
        decl: &Declaration<'_>,
        rule: &Dynamic<'_>,
        mem: &mut dyn EarlyMemory,
    ) -> Result<RegionSpec, Error> {
        let slot = self.free_slot(decl)?;
        let (name, _) = decl.check()?;
        let align = match rule.align {
            None => decl.granule_size(),
            Some(a) if a.is_power_of_two() => a.max(decl.granule_size()),
            Some(align) => {
                return Err(Error::AlignNotPowerOfTwo {
                    region: name,
                    align,
                });
            }
        };
        self.check_new(name, None)?;
        let placed = Self::place(decl.size(), align, rule, mem).ok_or(Error::NoRoom {
            region: name,
            size: decl.size(),
            align,
        })?;
        let spec = decl.at(placed.base())?;
        self.put(slot, spec)
    }

    /// The declared regions, in declaration order.
    pub fn regions(&self) -> impl Iterator<Item = &RegionSpec> + '_ {
        self.specs.iter().flatten()
    }

    /// Regions declared so far.
    #[must_use]
    pub fn len(&self) -> usize {
        self.regions().count()
    }

    /// Whether no region is declared.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The table's capacity `N`.
    #[must_use]
    pub const fn capacity(&self) -> usize {
        N
    }

    fn free_slot(&self, decl: &Declaration<'_>) -> Result<usize, Error> {
        self.specs
            .iter()
            .position(Option::is_none)
            .ok_or(Error::TableFull {
                region: Name::truncated(decl.name()),
                capacity: N,
            })
    }

    /// Rejects a name already declared and, given a range, an overlap.
    fn check_new(&self, name: Name, range: Option<PhysRange>) -> Result<(), Error> {
        for other in self.regions() {
            if other.name() == name {
                return Err(Error::DuplicateRegion { region: name });
            }
            if let Some(range) = range.filter(|r| r.overlaps(&other.range())) {
                return Err(Error::Overlap {
                    region: name,
                    range,
                    other: other.name(),
                    other_range: other.range(),
                });
            }
        }
        Ok(())
    }

    fn place(
        size: usize,
        align: usize,
        rule: &Dynamic<'_>,
        mem: &mut dyn EarlyMemory,
    ) -> Option<PhysRange> {
        let anywhere = [ANYWHERE];
        let windows = if rule.ranges.is_empty() {
            &anywhere[..]
        } else {
            rule.ranges
        };
        windows
            .iter()
            .filter_map(|&w| rule.clip(w))
            .find_map(|w| mem.reserve_within(size, align, w))
    }

    fn put(&mut self, slot: usize, spec: RegionSpec) -> Result<RegionSpec, Error> {
        match self.specs.get_mut(slot) {
            Some(entry) => {
                *entry = Some(spec);
                Ok(spec)
            }
            None => Err(Error::TableFull {
                region: spec.name(),
                capacity: N,
            }),
        }
    }
}
