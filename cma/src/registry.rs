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

type Factory = Box<dyn Fn(Geometry) -> BoxedBackend + Send + Sync>;

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
    /// order-align placement.
    ///
    /// # Panics
    ///
    /// A factory panics, as any allocation does, when a backend's metadata cannot be
    /// allocated.
    #[must_use]
    pub fn with_builtins() -> Self {
        let mut registry = Self::new();
        registry.add_builtin("first-fit", |g| {
            Box::new(FirstFit::new(g.units, g.phase, g.max_allocations))
        });
        registry.add_builtin("bitmap", |g| Box::new(Bitmap::new(g.units, g.phase)));
        registry.add_builtin("tlsf", |g| {
            let tlsf = Tlsf::try_new(g.units, g.phase, g.max_allocations);
            Box::new(tlsf.unwrap_or_else(|e| panic!("tlsf metadata for {} units: {e}", g.units)))
        });
        registry.add_builtin("genalloc", |g| {
            Box::new(GenBackend::first_fit(g.units, g.phase))
        });
        registry.add_builtin("genalloc-best-fit", |g| {
            Box::new(GenBackend::best_fit(g.units, g.phase))
        });
        registry.add_builtin("genalloc-order-align", |g| {
            Box::new(GenBackend::order_align(g.units, g.phase))
        });
        registry
    }

    /// Registers a built-in: a constant, valid name on a registry that cannot hold it
    /// yet, so none of `register`'s checks can fail.
    fn add_builtin(&mut self, name: &'static str, factory: fn(Geometry) -> BoxedBackend) {
        self.factories
            .push((Name::truncated(name), Box::new(factory)));
    }

    /// Registers `factory` under `name`.
    ///
    /// # Errors
    ///
    /// [`Error::BadName`], or [`Error::DuplicateBackend`] when the name is taken.
    pub fn register<F>(&mut self, name: &str, factory: F) -> Result<(), Error>
    where
        F: Fn(Geometry) -> BoxedBackend + Send + Sync + 'static,
    {
        let name = Name::new(name)?;
        if self.find(name).is_some() {
            return Err(Error::DuplicateBackend { backend: name });
        }
        self.factories.push((name, Box::new(factory)));
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
    /// [`Error::UnknownBackend`], or [`Error::BackendCapacity`] when the factory built a
    /// backend of another capacity.
    pub fn build(&self, spec: &RegionSpec) -> Result<BoxedBackend, Error> {
        let factory = self.find(spec.backend()).ok_or(Error::UnknownBackend {
            region: spec.name(),
            backend: spec.backend(),
        })?;
        let geometry = Geometry::of(spec);
        let backend = factory(geometry);
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
