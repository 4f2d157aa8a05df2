//! One physical region: a validated spec, a backend behind a lock, and counters.
//!
//! This module owns [`Region`]: the translation between bytes/addresses and the
//! backend's units, the lock around the backend, and the per-region counters. It must
//! never touch the memory it manages, never allocate from the heap after construction,
//! and never hold its lock while calling [`Reclaim::claim`].
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use core::fmt;

use contig_allocators::bitmap::{Bitmap, TooFewWords};
use contig_allocators::first_fit::{FirstFit, Node, TooFewNodes};
use contig_allocators::{Backend, Error as BackendError, Extent, Request as UnitRequest, Window};
use lock_api::{Mutex, RawMutex};

use crate::BackendOp;
use crate::error::Explained;
use crate::reclaim::{self, Claim, Reclaim};
use crate::registry::BoxedBackend;
use crate::stats::{Counters, RegionStats};
use crate::{
    DmaError, Error, Flags, Name, PhysAddr, PhysRange, RegionIndex, RegionSpec, Registry, Request,
};

/// The lock regions use unless told otherwise: a spin lock.
///
/// It is **not IRQ-safe**: it leaves interrupts as they are, so if an interrupt
/// handler allocates or frees from a region while the code it interrupted on the same
/// CPU holds that region's lock, the handler spins forever. A kernel that uses a region
/// (or an [`AreaSet`](crate::AreaSet), a [`GlobalArea`](crate::GlobalArea)) from
/// interrupt context uses [`IrqSafe<DefaultLock, Cpu>`](crate::IrqSafe) instead, with
/// its own [`InterruptControl`](crate::InterruptControl) `Cpu`, or any other
/// `lock_api::RawMutex` that masks interrupts.
pub type DefaultLock = spin::mutex::SpinMutex<()>;

/// A reclaim hook as a region holds it.
pub type BoxedReclaim = Box<dyn Reclaim + Send + Sync>;

/// A reclaim hook in a `static`, as a region built at compile time holds it
/// ([`InlineBitmap::with_reclaim`]).
pub type StaticReclaim = &'static (dyn Reclaim + Send + Sync);

/// The reclaim hook of a reusable region: boxed, or a `static`'s.
enum Hook {
    Boxed(BoxedReclaim),
    Static(StaticReclaim),
}

struct State<B> {
    backend: B,
    counters: Counters,
}

/// A physical region managed by a backend, safe to share between threads.
///
/// Sizes and addresses are bytes; the backend works in units of the region's granule.
/// Requests are rounded up to whole granules and aligned to at least one granule.
///
/// ```
/// use contig_cma::{Declaration, PhysAddr, Region, Registry, Request};
///
/// let registry = Registry::with_builtins().unwrap();
/// let spec = Declaration::new("dsp", 0x10_0000)
///     .backend("first-fit")
///     .at(PhysAddr::new(0x1000_0000))
///     .unwrap();
/// let region: Region = Region::new(spec, &registry, None).unwrap();
/// let got = region.allocate(&Request::new(0x1800).aligned(0x4000)).unwrap();
/// assert_eq!(got.base(), PhysAddr::new(0x1000_0000));
/// assert_eq!(region.stats().used_bytes(), 0x2000); // two 4 KiB granules
/// region.free(got).unwrap();
/// assert!(region.free(got).is_err()); // double free
/// ```
///
/// `B` is the backend's type: by default the boxed one a [`Registry`] builds, or any
/// [`Backend`] given by value to [`with_backend`](Self::with_backend). A backend over
/// inline storage, such as a first-fit backend over its own node array or a bitmap over
/// its own words, makes a region that needs no heap at all: it can live in a `static`
/// and serve allocations before the kernel's heap exists ([`Region::first_fit`] and
/// [`Region::bitmap`] build one at compile time).
///
/// ```
/// use contig_allocators::first_fit::{FirstFit, Node};
/// use contig_cma::{Declaration, DefaultLock, PhysAddr, Region, Request};
///
/// // 64 KiB of 4 KiB granules, at most 4 live buffers: 9 tree nodes, inline.
/// const NODES: usize = FirstFit::nodes_for(16, 4);
/// type EarlyRegion = Region<DefaultLock, FirstFit<[Node; NODES]>>;
/// static EARLY: spin::Once<EarlyRegion> = spin::Once::new();
///
/// // At boot, before any heap: nothing below allocates (the region's spec, its
/// // backend and its lock are all held inline).
/// let spec = Declaration::new("early", 0x1_0000)
///     .backend("first-fit")
///     .max_allocations(4)
///     .at(PhysAddr::new(0x8000_0000))
///     .unwrap();
/// let backend = FirstFit::with_storage(spec.units(), spec.phase(), spec.max_allocations());
/// let region = EARLY
///     .try_call_once(|| Region::with_backend(spec, backend.unwrap(), None))
///     .unwrap();
///
/// let buf = region.allocate(&Request::new(0x2000)).unwrap();
/// assert_eq!(buf.base(), PhysAddr::new(0x8000_0000));
/// assert_eq!(region.backend_name(), "first-fit");
/// region.free(buf).unwrap();
/// assert_eq!(region.stats().used_bytes(), 0);
/// ```
pub struct Region<R: RawMutex = DefaultLock, B = BoxedBackend> {
    spec: RegionSpec,
    backend_name: &'static str,
    reclaim: Option<Hook>,
    /// Its index in the area set holding it, for its errors ([`RegionIndex::ALONE`]
    /// until an [`AreaSet`](crate::AreaSet) takes it).
    pub(crate) index: RegionIndex,
    state: Mutex<R, State<B>>,
}

impl<R: RawMutex> Region<R> {
    /// A region of `spec` with the backend the registry builds for it.
    ///
    /// # Errors
    ///
    /// The errors of [`Registry::build`], then those of [`with_backend`](Self::with_backend).
    pub fn new(
        spec: RegionSpec,
        registry: &Registry,
        reclaim: Option<BoxedReclaim>,
    ) -> Result<Self, Error> {
        let backend = registry.build(&spec)?;
        Self::with_backend(spec, backend, reclaim)
    }
}

/// A region spec checked against a first-fit backend with `N` inline tree nodes, built
/// for it: what [`Region::first_fit`] turns into a region, in const context.
///
/// Validation and construction are two steps because a `static`'s initializer can take
/// apart a `Result` of this type (it owns nothing to drop) but not one of a [`Region`].
#[derive(Clone, Debug)]
pub struct InlineFirstFit<const N: usize> {
    spec: RegionSpec,
    backend: FirstFit<[Node; N]>,
}

impl<const N: usize> InlineFirstFit<N> {
    /// Builds the backend for `spec`: `spec.units()` units at `spec.phase()`, at most
    /// `spec.max_allocations()` live allocations, over `N` nodes (size `N` with
    /// [`FirstFit::nodes_for`]`(spec.units(), spec.max_allocations())`).
    ///
    /// # Errors
    ///
    /// [`Error::MissingReclaim`] for a reusable region (a static region with a reclaim
    /// hook is a bitmap one, [`InlineBitmap::with_reclaim`]; or use
    /// [`Region::with_backend`]), then [`Error::BackendStorage`] when `N` is below the
    /// node budget.
    pub const fn new(spec: RegionSpec) -> Result<Self, Error> {
        if spec.flags().is_reusable() {
            return Err(Error::MissingReclaim {
                region: spec.name(),
            });
        }
        match FirstFit::with_storage(spec.units(), spec.phase(), spec.max_allocations()) {
            Ok(backend) => Ok(Self { spec, backend }),
            Err(TooFewNodes { needed, given }) => Err(Error::BackendStorage {
                region: spec.name(),
                needed,
                given,
            }),
        }
    }
}

impl<R: RawMutex, const N: usize> Region<R, FirstFit<[Node; N]>> {
    /// The region of a checked spec and its inline first-fit backend: a `const fn`
    /// that needs no heap, so the region can be a `static`'s initializer. The backend
    /// was built for the spec, so it is empty and of the right size.
    ///
    /// ```
    /// use contig_allocators::first_fit::{FirstFit, Node};
    /// use contig_cma::{Declaration, DefaultLock, InlineFirstFit, PhysAddr, Region, Request};
    ///
    /// // 64 KiB of 4 KiB granules, at most 4 live buffers: 9 inline tree nodes.
    /// const NODES: usize = FirstFit::nodes_for(16, 4);
    /// static EARLY: Region<DefaultLock, FirstFit<[Node; NODES]>> = {
    ///     let declared = Declaration::new("early", 0x1_0000)
    ///         .backend("first-fit")
    ///         .max_allocations(4)
    ///         .at(PhysAddr::new(0x8000_0000));
    ///     // Evaluated at compile time: a bad declaration fails the build.
    ///     let checked = match declared {
    ///         Ok(spec) => InlineFirstFit::new(spec),
    ///         Err(_) => panic!("bad declaration"),
    ///     };
    ///     match checked {
    ///         Ok(parts) => Region::first_fit(parts),
    ///         Err(_) => panic!("too few nodes"),
    ///     }
    /// };
    ///
    /// // No heap below: the spec, the lock and the backend's nodes are all in `EARLY`.
    /// let buf = EARLY.allocate(&Request::new(0x2000).aligned(0x4000)).unwrap();
    /// assert_eq!(buf.base(), PhysAddr::new(0x8000_0000));
    /// EARLY.free(buf).unwrap();
    /// assert!(EARLY.free(buf).is_err()); // double free
    /// assert_eq!(EARLY.stats().used_bytes(), 0);
    /// ```
    #[must_use]
    pub const fn first_fit(parts: InlineFirstFit<N>) -> Self {
        Self::inline(parts.spec, "first-fit", None, parts.backend)
    }
}

/// A region spec checked against a bitmap backend of `W` inline words, built for it
/// (and, for a reusable region, its reclaim hook): what [`Region::bitmap`] turns into
/// a region, in const context.
///
/// Validation and construction are two steps for the reason given at
/// [`InlineFirstFit`].
#[derive(Clone)]
pub struct InlineBitmap<const W: usize> {
    spec: RegionSpec,
    backend: Bitmap<[u64; W]>,
    reclaim: Option<StaticReclaim>,
}

impl<const W: usize> InlineBitmap<W> {
    /// Builds the backend for `spec`: `spec.units()` units at `spec.phase()`, over `W`
    /// words (size `W` with [`Bitmap::words_for`]`(spec.units())`).
    ///
    /// # Errors
    ///
    /// [`Error::MissingReclaim`] for a reusable region (give it its hook with
    /// [`with_reclaim`](Self::with_reclaim)), then [`Error::BackendStorage`] when `W`
    /// is below `words_for(spec.units())`.
    pub const fn new(spec: RegionSpec) -> Result<Self, Error> {
        if spec.flags().is_reusable() {
            return Err(Error::MissingReclaim {
                region: spec.name(),
            });
        }
        Self::build(spec, None)
    }

    /// [`new`](Self::new) for a reusable region, whose memory the OS uses while it is
    /// free: `hook` (a `static`) takes each range back before it is handed out and
    /// gets it again when it is freed, as a boxed hook does for a region built at run
    /// time.
    ///
    /// ```
    /// use core::sync::atomic::{AtomicUsize, Ordering};
    /// use contig_allocators::bitmap::Bitmap;
    /// use contig_cma::{
    ///     Claim, Declaration, DefaultLock, Flags, InlineBitmap, PhysAddr, PhysRange, Reclaim,
    ///     Region, RegionSpec, Request,
    /// };
    ///
    /// /// The OS side: counts the granules it lends out (a kernel migrates pages here).
    /// struct Lent(AtomicUsize);
    /// impl Reclaim for Lent {
    ///     fn claim(&self, range: PhysRange) -> Claim {
    ///         self.0.fetch_sub(range.size() / 0x1000, Ordering::Relaxed);
    ///         Claim::Claimed
    ///     }
    ///     fn release(&self, range: PhysRange) {
    ///         self.0.fetch_add(range.size() / 0x1000, Ordering::Relaxed);
    ///     }
    /// }
    /// static LENT: Lent = Lent(AtomicUsize::new(64)); // all 64 granules, at boot
    ///
    /// const SPEC: RegionSpec = match Declaration::new("cma", 0x4_0000)
    ///     .flags(Flags::REUSABLE)
    ///     .at(PhysAddr::new(0x9000_0000))
    /// {
    ///     Ok(spec) => spec,
    ///     Err(_) => panic!("bad declaration"),
    /// };
    /// static CMA: Region<DefaultLock, Bitmap<[u64; Bitmap::words_for(SPEC.units())]>> =
    ///     match InlineBitmap::with_reclaim(SPEC, &LENT) {
    ///         Ok(parts) => Region::bitmap(parts),
    ///         Err(_) => panic!("too few words"),
    ///     };
    ///
    /// let buf = CMA.allocate(&Request::new(0x3000)).unwrap();
    /// assert_eq!(LENT.0.load(Ordering::Relaxed), 61); // three granules taken back
    /// CMA.free(buf).unwrap();
    /// assert_eq!(LENT.0.load(Ordering::Relaxed), 64);
    /// ```
    ///
    /// # Errors
    ///
    /// [`Error::UnexpectedReclaim`] when the region is not reusable, then
    /// [`Error::BackendStorage`] as for [`new`](Self::new).
    pub const fn with_reclaim(spec: RegionSpec, hook: StaticReclaim) -> Result<Self, Error> {
        if !spec.flags().is_reusable() {
            return Err(Error::UnexpectedReclaim {
                region: spec.name(),
            });
        }
        Self::build(spec, Some(hook))
    }

    const fn build(spec: RegionSpec, reclaim: Option<StaticReclaim>) -> Result<Self, Error> {
        match Bitmap::inline(spec.units(), spec.phase()) {
            Ok(backend) => Ok(Self {
                spec,
                backend,
                reclaim,
            }),
            Err(TooFewWords { needed, given, .. }) => Err(Error::BackendStorage {
                region: spec.name(),
                needed,
                given,
            }),
        }
    }
}

impl<const W: usize> fmt::Debug for InlineBitmap<W> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("InlineBitmap")
            .field("spec", &self.spec)
            .field("backend", &self.backend)
            .field("reclaim", &self.reclaim.is_some())
            .finish()
    }
}

impl<R: RawMutex, const W: usize> Region<R, Bitmap<[u64; W]>> {
    /// The region of a checked spec and its inline bitmap backend (the default backend
    /// of regions built at run time): a `const fn` that needs no heap, so the region
    /// can be a `static`'s initializer. Its metadata is the bitmap's, `W` words of
    /// 2.8 to 3.6 bits per granule (see [`contig_allocators::bitmap`]), and it places
    /// buffers exactly as a bitmap region built at run time does.
    ///
    /// ```
    /// use contig_allocators::bitmap::Bitmap;
    /// use contig_cma::{
    ///     Declaration, DefaultLock, DmaError, InlineBitmap, PhysAddr, Region, RegionIndex, Request,
    /// };
    ///
    /// // 1 MiB of 4 KiB granules (bitmap is the declaration's default backend).
    /// const WORDS: usize = Bitmap::words_for(256); // 13 words, inline
    /// static EARLY: Region<DefaultLock, Bitmap<[u64; WORDS]>> = {
    ///     let declared = Declaration::new("early", 0x10_0000).at(PhysAddr::new(0x8000_0000));
    ///     // Evaluated at compile time: a bad declaration fails the build.
    ///     let checked = match declared {
    ///         Ok(spec) => InlineBitmap::new(spec),
    ///         Err(_) => panic!("bad declaration"),
    ///     };
    ///     match checked {
    ///         Ok(parts) => Region::bitmap(parts),
    ///         Err(_) => panic!("too few words"),
    ///     }
    /// };
    ///
    /// // No heap below: the spec, the lock and the backend's words are all in `EARLY`.
    /// let buf = EARLY.allocate(&Request::new(0x3000).aligned(0x4000)).unwrap();
    /// assert_eq!(buf.base(), PhysAddr::new(0x8000_0000));
    /// assert_eq!(EARLY.backend_name(), "bitmap");
    /// EARLY.free(buf).unwrap();
    /// let double_free = EARLY.free(buf).unwrap_err();
    /// assert_eq!(
    ///     double_free,
    ///     DmaError::NotAllocated { region: RegionIndex::ALONE, addr: buf.base() }
    /// );
    /// assert_eq!(
    ///     EARLY.explain(&double_free).to_string(),
    ///     "region \"early\": 0x80000000 is not allocated (double free or never allocated)"
    /// );
    /// assert_eq!(EARLY.stats().used_bytes(), 0);
    /// ```
    #[must_use]
    pub const fn bitmap(parts: InlineBitmap<W>) -> Self {
        let reclaim = match parts.reclaim {
            Some(hook) => Some(Hook::Static(hook)),
            None => None,
        };
        Self::inline(parts.spec, "bitmap", reclaim, parts.backend)
    }
}

impl<R: RawMutex, B> Region<R, B> {
    /// A region of `spec` over `backend`, built for it and empty, with fresh counters:
    /// the `const` part of [`Region::first_fit`] and [`Region::bitmap`].
    const fn inline(
        spec: RegionSpec,
        backend_name: &'static str,
        reclaim: Option<Hook>,
        backend: B,
    ) -> Self {
        Self {
            spec,
            backend_name,
            reclaim,
            index: RegionIndex::ALONE,
            state: Mutex::const_new(
                R::INIT,
                State {
                    backend,
                    counters: Counters {
                        allocations: 0,
                        failures: 0,
                        frees: 0,
                        reclaim_busy: 0,
                        reclaim_retries: 0,
                        reclaim_failures: 0,
                    },
                },
            ),
        }
    }

    /// The region's reclaim hook, if it is reusable.
    fn hook(&self) -> Option<&(dyn Reclaim + Send + Sync)> {
        match &self.reclaim {
            None => None,
            Some(Hook::Boxed(hook)) => Some(&**hook),
            Some(Hook::Static(hook)) => Some(*hook),
        }
    }
}

impl<R: RawMutex, B: Backend> Region<R, B> {
    /// A region of `spec` managed by `backend`, which must be empty and sized for it
    /// (`spec.units()` units at phase `spec.phase()`).
    ///
    /// # Errors
    ///
    /// [`Error::BackendCapacity`], [`Error::BackendInUse`], then
    /// [`Error::MissingReclaim`] for a reusable region without a hook or
    /// [`Error::UnexpectedReclaim`] for a hook on any other region.
    pub fn with_backend(
        spec: RegionSpec,
        backend: B,
        reclaim: Option<BoxedReclaim>,
    ) -> Result<Self, Error> {
        if backend.capacity() != spec.units() {
            return Err(Error::BackendCapacity {
                region: spec.name(),
                expected: spec.units(),
                actual: backend.capacity(),
            });
        }
        let used = backend.stats().used();
        if used != 0 {
            // Units the region never handed out (nor claimed from the OS) could not be
            // accounted for or freed correctly.
            return Err(Error::BackendInUse {
                region: spec.name(),
                used,
            });
        }
        match (spec.flags().is_reusable(), reclaim.is_some()) {
            (true, false) => {
                return Err(Error::MissingReclaim {
                    region: spec.name(),
                });
            }
            (false, true) => {
                return Err(Error::UnexpectedReclaim {
                    region: spec.name(),
                });
            }
            _ => {}
        }
        Ok(Self {
            spec,
            backend_name: backend.name(),
            reclaim: reclaim.map(Hook::Boxed),
            index: RegionIndex::ALONE,
            state: Mutex::new(State {
                backend,
                counters: Counters::default(),
            }),
        })
    }

    /// The validated description the region was built from.
    #[must_use]
    pub const fn spec(&self) -> &RegionSpec {
        &self.spec
    }

    /// The region's name.
    #[must_use]
    pub const fn name(&self) -> Name {
        self.spec.name()
    }

    /// The region's physical bytes.
    #[must_use]
    pub const fn range(&self) -> PhysRange {
        self.spec.range()
    }

    /// The region's flags.
    #[must_use]
    pub const fn flags(&self) -> Flags {
        self.spec.flags()
    }

    /// The name the backend gives itself.
    #[must_use]
    pub const fn backend_name(&self) -> &'static str {
        self.backend_name
    }

    /// Allocates whole granules for `request` and returns the physical range: its
    /// base is the first granule, its size is exactly `request.size()`.
    ///
    /// # Errors
    ///
    /// [`DmaError::ZeroRequest`], [`DmaError::RequestAlign`],
    /// [`DmaError::WindowMissesRegion`], then [`DmaError::NoSpace`] or
    /// [`DmaError::TooManyAllocations`] from the backend; for reusable regions also
    /// [`DmaError::ReclaimFailed`], [`DmaError::ReclaimRetryLimit`] and
    /// [`DmaError::ReclaimAllBusy`]. The region is unchanged on error (apart from its
    /// counters).
    ///
    /// Cost: one lock acquisition and the backend's `allocate`; for a reusable region,
    /// up to `retry_limit + 1` hook calls (made without the lock) and backend round trips.
    pub fn allocate(&self, request: &Request) -> Result<PhysRange, DmaError> {
        if request.size() == 0 {
            return Err(DmaError::ZeroRequest);
        }
        if !request.align().is_power_of_two() {
            return Err(DmaError::RequestAlign {
                align: request.align(),
            });
        }
        let start = match (self.unit_request(request), self.hook()) {
            (Err(e), _) => self.counted(Err(e)),
            (Ok(units), None) => self.allocate_plain(units),
            (Ok(units), Some(hook)) => {
                self.counted(reclaim::allocate(self, hook, units, request.size()))
            }
        }?;
        // Cannot fail: the granules lie inside the region, whose end was checked at
        // construction, and the size is at most theirs.
        let base = self.unit_range(start, 1).base();
        PhysRange::new(base, request.size()).map_err(|_| DmaError::AddressOverflow {
            addr: base,
            size: request.size(),
        })
    }

    /// Allocates and counts the outcome under one acquisition of the lock: the hot path.
    fn allocate_plain(&self, units: UnitRequest) -> Result<usize, DmaError> {
        let mut state = self.state.lock();
        let result = state.backend.allocate(units);
        Self::count(&mut state.counters, result.is_ok());
        result.map_err(|e| self.backend_error(e, BackendOp::Allocate))
    }

    /// Counts the outcome of an allocation made outside the lock.
    fn counted<T>(&self, result: Result<T, DmaError>) -> Result<T, DmaError> {
        Self::count(&mut self.state.lock().counters, result.is_ok());
        result
    }

    fn count(counters: &mut Counters, ok: bool) {
        if ok {
            counters.allocations += 1;
        } else {
            counters.failures += 1;
        }
    }

    /// Allocates exactly the granules that cover `range` (a carveout at a fixed
    /// address, memory a device already uses) and returns them; free them like any
    /// allocation.
    ///
    /// # Errors
    ///
    /// In order: [`DmaError::ZeroRequest`], [`DmaError::OutsideRegion`],
    /// [`DmaError::RangeBusy`] or [`DmaError::TooManyAllocations`] from the backend;
    /// for reusable regions [`DmaError::ReclaimBusy`] or [`DmaError::ReclaimFailed`].
    /// The region is unchanged on error (apart from its counters).
    pub fn claim(&self, range: PhysRange) -> Result<PhysRange, DmaError> {
        let (start, count) = self.covering_units(range)?;
        self.counted(self.claim_units(start, count))?;
        Ok(self.unit_range(start, count))
    }

    /// Frees the allocation that starts at `range.base()`; `range.size()` must round
    /// up to the same number of granules as the allocation.
    ///
    /// # Errors
    ///
    /// In order: [`DmaError::OutsideRegion`], [`DmaError::ZeroRequest`],
    /// [`DmaError::NotAllocationStart`] for an address inside a granule,
    /// [`DmaError::NotAllocated`] (a double free), [`DmaError::NotAllocationStart`],
    /// [`DmaError::WrongSize`].
    pub fn free(&self, range: PhysRange) -> Result<(), DmaError> {
        let (start, count) = self.units_of(range)?;
        let mut state = self.state.lock();
        state
            .backend
            .free(start, count)
            .map_err(|e| self.free_error(e, range))?;
        state.counters.frees += 1;
        if let Some(hook) = self.hook() {
            // Under the lock: nobody may claim the range before the OS has it back.
            hook.release(self.unit_range(start, count));
        }
        Ok(())
    }

    /// A snapshot of the occupancy and counters.
    #[must_use]
    pub fn stats(&self) -> RegionStats {
        let state = self.state.lock();
        RegionStats {
            granule: self.spec.granule(),
            backend: state.backend.stats(),
            counters: state.counters,
        }
    }

    /// Calls `f` with every live allocation (whole granules), in address order, with
    /// the region lock held: `f` must not call back into the region.
    pub fn for_each_allocation(&self, f: &mut dyn FnMut(PhysRange)) {
        let state = self.state.lock();
        state
            .backend
            .for_each_allocation(&mut |e: Extent| f(self.unit_range(e.start, e.count)));
    }

    /// Turns a byte request into a unit request.
    fn unit_request(&self, request: &Request) -> Result<UnitRequest, DmaError> {
        let granule = self.spec.granule();
        let count = request.size().div_ceil(granule);
        let align = (request.align() / granule).max(1);
        let window = match request.window() {
            None => None,
            Some(w) => Some(self.unit_window(w)?),
        };
        Ok(UnitRequest::new(count).aligned(align).with_window(window))
    }

    /// The whole granules of the region inside `window`.
    fn unit_window(&self, window: PhysRange) -> Result<Window, DmaError> {
        let missed = DmaError::WindowMissesRegion {
            region: self.index,
            window,
        };
        let inside = self.range().intersection(&window).ok_or(missed)?;
        let base = self.range().base();
        let granule = self.spec.granule();
        let lo = inside
            .base()
            .offset_from(base)
            .ok_or(missed)?
            .div_ceil(granule);
        let hi = inside.end().offset_from(base).ok_or(missed)? / granule;
        if lo < hi {
            Ok(Window::new(lo, hi))
        } else {
            Err(missed)
        }
    }

    /// The granules that cover `range`.
    fn covering_units(&self, range: PhysRange) -> Result<(usize, usize), DmaError> {
        if range.is_empty() {
            return Err(DmaError::ZeroRequest);
        }
        let outside = DmaError::OutsideRegion {
            region: self.index,
            range,
        };
        if !self.range().contains_range(&range) {
            return Err(outside);
        }
        let base = self.range().base();
        let granule = self.spec.granule();
        let lo = range.base().offset_from(base).ok_or(outside)? / granule;
        let hi = range
            .end()
            .offset_from(base)
            .ok_or(outside)?
            .div_ceil(granule);
        Ok((lo, hi - lo))
    }

    /// Claims units in the backend, then from the OS for a reusable region.
    fn claim_units(&self, start: usize, count: usize) -> Result<(), DmaError> {
        self.state
            .lock()
            .backend
            .claim(start, count)
            .map_err(|e| self.backend_error(e, BackendOp::Claim))?;
        let Some(hook) = self.hook() else {
            return Ok(());
        };
        let range = self.unit_range(start, count);
        let outcome = hook.claim(range);
        if outcome == Claim::Claimed {
            return Ok(());
        }
        self.give_back(start, count, outcome)?;
        let region = self.index;
        Err(match outcome {
            Claim::Busy => DmaError::ReclaimBusy { region, range },
            _ => DmaError::ReclaimFailed { region, range },
        })
    }

    /// The first unit and unit count of an allocation given in bytes.
    fn units_of(&self, range: PhysRange) -> Result<(usize, usize), DmaError> {
        let outside = DmaError::OutsideRegion {
            region: self.index,
            range,
        };
        if !self.range().contains(range.base()) || !self.range().contains_range(&range) {
            return Err(outside);
        }
        if range.is_empty() {
            return Err(DmaError::ZeroRequest);
        }
        let offset = range
            .base()
            .offset_from(self.range().base())
            .ok_or(outside)?;
        let granule = self.spec.granule();
        if offset % granule != 0 {
            return Err(DmaError::NotAllocationStart {
                region: self.index,
                addr: range.base(),
            });
        }
        Ok((offset / granule, range.size().div_ceil(granule)))
    }

    /// The physical range of `count` units from unit `start` (a range inside the
    /// region, so the arithmetic cannot overflow).
    pub(crate) fn unit_range(&self, start: usize, count: usize) -> PhysRange {
        let granule = self.spec.granule();
        let base = PhysAddr::new(
            self.range()
                .base()
                .as_u64()
                .saturating_add((start as u64).saturating_mul(granule as u64)),
        );
        PhysRange::new(base, count.saturating_mul(granule)).unwrap_or(PhysRange::EMPTY)
    }

    pub(crate) fn backend_allocate(&self, request: UnitRequest) -> Result<usize, BackendError> {
        self.state.lock().backend.allocate(request)
    }

    /// The backend's refusal of `op`, in bytes and addresses of the region.
    pub(crate) fn backend_error(&self, source: BackendError, op: BackendOp) -> DmaError {
        let region = self.index;
        let granule = self.spec.granule();
        match source {
            BackendError::NoSpace { count, align } => DmaError::NoSpace {
                region,
                size: count.saturating_mul(granule),
                align: align.saturating_mul(granule),
            },
            BackendError::TooManyAllocations { limit } => {
                DmaError::TooManyAllocations { region, limit }
            }
            BackendError::RangeBusy {
                start,
                count,
                first_busy,
            } => DmaError::RangeBusy {
                region,
                range: self.unit_range(start, count),
                first_busy: self.unit_range(first_busy, 1).base(),
            },
            _ => DmaError::BackendFault { region, op },
        }
    }

    /// The [`Error`] a by-name call reports for `error` of this region: the variant
    /// that names the region, with the backend's answer in units where it had one.
    #[must_use]
    pub fn to_error(&self, error: DmaError) -> Error {
        let region = self.name();
        let granule = self.spec.granule();
        let units = |range: PhysRange| {
            let start = range.base().offset_from(self.range().base()).unwrap_or(0) / granule;
            (start, range.size() / granule)
        };
        let backend = |source| Error::Backend { region, source };
        match error {
            DmaError::WindowMissesRegion { window, .. } => {
                Error::WindowMissesRegion { region, window }
            }
            DmaError::NoSpace { size, align, .. } => backend(BackendError::NoSpace {
                count: size / granule,
                align: align / granule,
            }),
            DmaError::TooManyAllocations { limit, .. } => {
                backend(BackendError::TooManyAllocations { limit })
            }
            DmaError::RangeBusy {
                range, first_busy, ..
            } => {
                let (start, count) = units(range);
                let busy = PhysRange::new(first_busy, granule).map_or(start, |b| units(b).0);
                backend(BackendError::RangeBusy {
                    start,
                    count,
                    first_busy: busy,
                })
            }
            DmaError::ReclaimFailed { range, .. } => Error::ReclaimFailed { region, range },
            DmaError::ReclaimBusy { range, .. } => Error::ReclaimBusy { region, range },
            DmaError::ReclaimRetryLimit { size, retries, .. } => Error::ReclaimRetryLimit {
                region,
                size,
                retries,
            },
            DmaError::ReclaimAllBusy { size, busy, .. } => {
                Error::ReclaimAllBusy { region, size, busy }
            }
            DmaError::OutsideRegion { range, .. } => Error::OutsideRegion { region, range },
            DmaError::NotAllocated { addr, .. } => Error::NotAllocated { region, addr },
            DmaError::NotAllocationStart { addr, .. } => Error::NotAllocationStart { region, addr },
            DmaError::WrongSize {
                addr, size, actual, ..
            } => Error::WrongSize {
                region,
                addr,
                size,
                actual,
            },
            other => other.into(),
        }
    }

    /// `error`'s message with this region's name (see [`DmaError`]).
    ///
    /// ```
    /// use contig_cma::{Declaration, DefaultLock, DmaError, PhysAddr, Region, Registry, Request};
    /// let registry = Registry::with_builtins().unwrap();
    /// let spec = Declaration::new("dsp", 0x4000).at(PhysAddr::new(0x1000_0000)).unwrap();
    /// let region: Region<DefaultLock> = Region::new(spec, &registry, None).unwrap();
    /// let err = region.allocate(&Request::new(0x8000)).unwrap_err();
    /// assert!(matches!(err, DmaError::NoSpace { size: 0x8000, .. }));
    /// assert_eq!(err.to_string(), "the region: no free run of 0x8000 bytes aligned to 0x1000");
    /// assert_eq!(
    ///     region.explain(&err).to_string(),
    ///     "region \"dsp\": no free run of 0x8000 bytes aligned to 0x1000"
    /// );
    /// ```
    #[must_use]
    pub fn explain<'a>(&'a self, error: &DmaError) -> impl core::fmt::Display + 'a {
        let name = self.name();
        let index = self.index;
        Explained {
            error: *error,
            name: move |i: RegionIndex| (i == index).then_some(name),
        }
    }

    /// Frees a candidate the reclaim hook refused, and counts the refusal.
    pub(crate) fn give_back(
        &self,
        start: usize,
        count: usize,
        outcome: Claim,
    ) -> Result<(), DmaError> {
        let mut state = self.state.lock();
        match outcome {
            Claim::Failed => state.counters.reclaim_failures += 1,
            _ => state.counters.reclaim_busy += 1,
        }
        state
            .backend
            .free(start, count)
            .map_err(|e| self.backend_error(e, BackendOp::Free))
    }

    pub(crate) fn count_retry(&self) {
        self.state.lock().counters.reclaim_retries += 1;
    }

    fn free_error(&self, source: BackendError, range: PhysRange) -> DmaError {
        let (region, addr) = (self.index, range.base());
        match source {
            BackendError::ZeroCount => DmaError::ZeroRequest,
            BackendError::NotAllocated { .. } => DmaError::NotAllocated { region, addr },
            BackendError::NotAllocationStart { .. } => {
                DmaError::NotAllocationStart { region, addr }
            }
            BackendError::WrongCount { actual, .. } => DmaError::WrongSize {
                region,
                addr,
                size: range.size(),
                actual: actual.saturating_mul(self.spec.granule()),
            },
            other => self.backend_error(other, BackendOp::Free),
        }
    }
}

impl<R: RawMutex, B> fmt::Debug for Region<R, B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Region")
            .field("spec", &self.spec)
            .field("backend", &self.backend_name)
            .field("reclaim", &self.reclaim.is_some())
            .finish_non_exhaustive()
    }
}
