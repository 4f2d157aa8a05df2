//! Backends by name.
//!
//! This module owns the [`Registry`]: a list of named factories that build a
//! [`Backend`] for a region's geometry. Regions choose their backend by name at
//! declaration; users register their own next to the built-ins. It runs at setup time
//! only (it allocates) and must never be consulted on the allocation path.
#![forbid(unsafe_code)]

use alloc::boxed::Box;
use alloc::vec::Vec;

use contig_allocators::Backend;
use contig_allocators::bitmap::Bitmap;
use contig_allocators::first_fit::FirstFit;
use contig_allocators::genalloc::GenBackend;
use contig_allocators::tlsf::Tlsf;

use crate::fallible::{try_box, try_push, try_reserve};
use crate::{Error, Name, RegionSpec};

/// A backend as a region holds it.
pub type BoxedBackend = Box<dyn Backend + Send>;

/// What a factory must build: a space of `units` units whose offset 0 is absolute unit
/// `phase`, with metadata for `max_allocations` live allocations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Geometry {
    /// Units in the space.
    pub units: usize,
    /// Absolute unit index of offset 0 (the region base divided by the granule).
    pub phase: usize,
    /// Live allocations the metadata must hold (backends without a limit ignore it).
    pub max_allocations: usize,
}

impl Geometry {
    /// The geometry a region of this spec needs.
    #[must_use]
    pub const fn of(spec: &RegionSpec) -> Self {
        Self {
            units: spec.units(),
            phase: spec.phase(),
            max_allocations: spec.max_allocations(),
        }
    }
}

type Factory = Box<dyn Fn(Geometry) -> Result<BoxedBackend, Error> + Send + Sync>;

/// `backend` boxed as a region holds it.
fn boxed<B: Backend + Send + 'static>(backend: B) -> Result<BoxedBackend, Error> {
    let backend: BoxedBackend = try_box(backend, "backends")?;
    Ok(backend)
}

/// Named backend factories.
///
/// ```
/// use contig_allocators::{Backend, Error, Extent, Request, Stats};
/// use contig_cma::{Geometry, Registry};
///
/// struct Never(usize);
/// impl Backend for Never {
///     fn name(&self) -> &'static str { "never" }
///     fn capacity(&self) -> usize { self.0 }
///     fn allocate(&mut self, r: Request) -> Result<usize, Error> {
///         r.validate(self.0)?;
///         Err(Error::NoSpace { count: r.count(), align: r.align() })
///     }
///     fn claim(&mut self, _: usize, _: usize) -> Result<(), Error> { Err(Error::ZeroCount) }
///     fn free(&mut self, start: usize, _: usize) -> Result<(), Error> {
///         Err(Error::NotAllocated { start })
///     }
///     fn stats(&self) -> Stats { Stats { capacity: self.0, free: self.0, ..Stats::default() } }
///     fn for_each_allocation(&self, _: &mut dyn FnMut(Extent)) {}
/// }
///
/// let mut registry = Registry::new();
/// registry.register("never", |g: Geometry| Box::new(Never(g.units))).unwrap();
/// assert!(registry.register("never", |g: Geometry| Box::new(Never(g.units))).is_err());
/// assert!(registry.contains("never") && !registry.contains("other"));
/// ```
#[derive(Default)]
pub struct Registry {
    factories: Vec<(Name, Factory)>,
}

/// The backends every [`Registry::with_builtins`] holds, by name.
pub const BUILTIN_BACKENDS: &[&str] = &[
    "first-fit",
    "bitmap",
    "tlsf",
    "genalloc",
    "genalloc-best-fit",
    "genalloc-order-align",
];

impl Registry {
    /// A registry with no backend at all.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A registry holding the built-in backends ([`BUILTIN_BACKENDS`]): `first-fit`
    /// (sized for the region's `max_allocations`), `bitmap`, `tlsf` (sized for the
    /// region's `max_allocations`), and genalloc with its first-fit, best-fit and
    /// order-align placement. A factory returns [`Error::OutOfMemory`] when the
    /// backend's metadata cannot be allocated.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfMemory`] when the heap cannot hold the list.
    pub fn with_builtins() -> Result<Self, Error> {
        let mut registry = Self::new();
        try_reserve(
            &mut registry.factories,
            BUILTIN_BACKENDS.len(),
            "backend factories",
        )?;
        registry.add_builtin("first-fit", |g| {
            boxed(FirstFit::new(g.units, g.phase, g.max_allocations)?)
        })?;
        registry.add_builtin("bitmap", |g| boxed(Bitmap::new(g.units, g.phase)?))?;
        registry.add_builtin("tlsf", |g| {
            boxed(Tlsf::try_new(g.units, g.phase, g.max_allocations)?)
        })?;
        registry.add_builtin("genalloc", |g| {
            boxed(GenBackend::first_fit(g.units, g.phase)?)
        })?;
        registry.add_builtin("genalloc-best-fit", |g| {
            boxed(GenBackend::best_fit(g.units, g.phase)?)
        })?;
        registry.add_builtin("genalloc-order-align", |g| {
            boxed(GenBackend::order_align(g.units, g.phase)?)
        })?;
        Ok(registry)
    }

    /// Registers a built-in: a constant, valid name on a registry that cannot hold it
    /// yet, so none of `register`'s checks can fail (only the heap can).
    fn add_builtin(
        &mut self,
        name: &'static str,
        factory: fn(Geometry) -> Result<BoxedBackend, Error>,
    ) -> Result<(), Error> {
        let factory: Factory = try_box(factory, "backend factories")?;
        try_push(
            &mut self.factories,
            (Name::truncated(name), factory),
            "backend factories",
        )?;
        Ok(())
    }

    /// Registers `factory` under `name`.
    ///
    /// # Errors
    ///
    /// [`Error::BadName`], [`Error::DuplicateBackend`] when the name is taken, or
    /// [`Error::OutOfMemory`]; the registry is unchanged.
    pub fn register<F>(&mut self, name: &str, factory: F) -> Result<(), Error>
    where
        F: Fn(Geometry) -> BoxedBackend + Send + Sync + 'static,
    {
        self.try_register(name, move |g| Ok(factory(g)))
    }

    /// Registers a factory that may fail (e.g. with [`Error::OutOfMemory`] when it cannot
    /// allocate the backend's metadata) under `name`. [`Registry::build`] and so
    /// [`Region::new`](crate::Region::new) return its error.
    ///
    /// # Errors
    ///
    /// [`Error::BadName`], [`Error::DuplicateBackend`] when the name is taken, or
    /// [`Error::OutOfMemory`]; the registry is unchanged.
    pub fn try_register<F>(&mut self, name: &str, factory: F) -> Result<(), Error>
    where
        F: Fn(Geometry) -> Result<BoxedBackend, Error> + Send + Sync + 'static,
    {
        let name = Name::new(name)?;
        if self.find(name).is_some() {
            return Err(Error::DuplicateBackend { backend: name });
        }
        try_reserve(&mut self.factories, 1, "backend factories")?;
        let factory: Factory = try_box(factory, "backend factories")?;
        try_push(&mut self.factories, (name, factory), "backend factories")?;
        Ok(())
    }

    /// Whether a backend is registered under `name`.
    #[must_use]
    pub fn contains(&self, name: &str) -> bool {
        self.factories.iter().any(|(n, _)| n == name)
    }

    /// The registered names, in registration order.
    pub fn names(&self) -> impl Iterator<Item = Name> + '_ {
        self.factories.iter().map(|(n, _)| *n)
    }

    /// Builds the backend the spec names, sized for its geometry.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownBackend`], the factory's own error (e.g. [`Error::OutOfMemory`]),
    /// or [`Error::BackendCapacity`] when the factory built a backend of another capacity.
    pub fn build(&self, spec: &RegionSpec) -> Result<BoxedBackend, Error> {
        let factory = self.find(spec.backend()).ok_or(Error::UnknownBackend {
            region: spec.name(),
            backend: spec.backend(),
        })?;
        let geometry = Geometry::of(spec);
        let backend = factory(geometry)?;
        if backend.capacity() != geometry.units {
            return Err(Error::BackendCapacity {
                region: spec.name(),
                expected: geometry.units,
                actual: backend.capacity(),
            });
        }
        Ok(backend)
    }

    fn find(&self, name: Name) -> Option<&Factory> {
        self.factories
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, f)| f)
    }
}

impl core::fmt::Debug for Registry {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}
