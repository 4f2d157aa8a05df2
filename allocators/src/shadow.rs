//! A reference model that checks any [`Backend`] operation by operation.
//!
//! The model is deliberately obvious: one `bool` per unit and an ordered map of live
//! allocations. [`Shadow::step`] runs one [`Op`] on the backend under test, works out
//! what the answer must be, and reports a [`Mismatch`] on any disagreement: a result
//! that overlaps, leaves the space or the window, is misaligned, a failure where a fit
//! exists, an error other than the one the documented check order demands, stats that
//! are not exact, or an allocation list that differs from the model's.
//!
//! Our quickcheck tests and fuzz targets drive every backend through it; authors of a
//! custom backend can do the same. It allocates freely and is `O(capacity)` per step:
//! it is for tests, never for production.
//!
//! ```
//! use contig_allocators::{Request, first_fit::FirstFit, shadow::{Op, Placement, Shadow}};
//!
//! let mut backend = FirstFit::new(64, 0, 8).unwrap();
//! let mut model = Shadow::new(64, 0, Some(8), Placement::Lowest);
//! model.step(&mut backend, Op::Allocate(Request::new(5).aligned(4))).unwrap();
//! model.step(&mut backend, Op::Free { start: 0, count: 5 }).unwrap();
//! model.step(&mut backend, Op::Free { start: 0, count: 5 }).unwrap(); // must fail: checked
//! ```

use alloc::collections::BTreeMap;
use alloc::format;
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use core::fmt;

use crate::{Backend, Error, Extent, Request, Stats, align_up_with_phase, check_range};

/// One operation on a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `Backend::allocate`.
    Allocate(Request),
    /// `Backend::claim`.
    Claim {
        /// First unit.
        start: usize,
        /// Units.
        count: usize,
    },
    /// `Backend::free`.
    Free {
        /// First unit.
        start: usize,
        /// Units.
        count: usize,
    },
}

/// Which result the model accepts when several runs fit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Only the lowest fitting offset (first-fit semantics).
    Lowest,
    /// Any fitting offset (best-fit and other policies). A failure is still only
    /// accepted when no run fits at all.
    Any,
}

/// A disagreement between the backend and the model.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mismatch(pub String);

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl core::error::Error for Mismatch {}

macro_rules! mismatch {
    ($($arg:tt)*) => { Err(Mismatch(format!($($arg)*))) };
}

/// The reference model of one unit space.
#[derive(Clone, Debug)]
pub struct Shadow {
    used: Vec<bool>,
    allocations: BTreeMap<usize, usize>,
    phase: usize,
    limit: Option<usize>,
    placement: Placement,
    metadata_bytes: Option<usize>,
}

impl Shadow {
    /// A model of an empty space of `capacity` units at absolute unit `phase`, whose
    /// backend holds at most `limit` live allocations (`None`: unbounded).
    #[must_use]
    pub fn new(capacity: usize, phase: usize, limit: Option<usize>, placement: Placement) -> Self {
        Self {
            used: vec![false; capacity],
            allocations: BTreeMap::new(),
            phase,
            limit,
            placement,
            metadata_bytes: None,
        }
    }

    /// The live allocations of the model, in offset order.
    pub fn live(&self) -> impl Iterator<Item = Extent> + '_ {
        self.allocations
            .iter()
            .map(|(&start, &count)| Extent::new(start, count))
    }

    /// The `n`-th live allocation (modulo their number), to drive mostly-valid frees.
    #[must_use]
    pub fn nth_live(&self, n: usize) -> Option<Extent> {
        let len = self.allocations.len();
        if len == 0 {
            return None;
        }
        self.live().nth(n % len)
    }

    /// Units in the space.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.used.len()
    }

    /// Runs `op` on `backend`, checks the answer and the whole resulting state.
    ///
    /// # Errors
    ///
    /// A [`Mismatch`] describing the first disagreement.
    pub fn step<B: Backend + ?Sized>(&mut self, backend: &mut B, op: Op) -> Result<(), Mismatch> {
        match op {
            Op::Allocate(request) => {
                let got = backend.allocate(request);
                self.check_allocate(request, got)?;
            }
            Op::Claim { start, count } => {
                let got = backend.claim(start, count);
                let want = self.expect_claim(start, count);
                if got != want {
                    return mismatch!("claim({start}, {count}): backend {got:?}, model {want:?}");
                }
                if want.is_ok() {
                    self.mark(start, count, true);
                    self.allocations.insert(start, count);
                }
            }
            Op::Free { start, count } => {
                let got = backend.free(start, count);
                let want = self.expect_free(start, count);
                if got != want {
                    return mismatch!("free({start}, {count}): backend {got:?}, model {want:?}");
                }
                if want.is_ok() {
                    self.mark(start, count, false);
                    self.allocations.remove(&start);
                }
            }
        }
        self.check_state(backend)
    }

    /// Checks stats (exact; metadata constant) and the allocation list against the model.
    ///
    /// # Errors
    ///
    /// A [`Mismatch`] describing the first disagreement.
    pub fn check_state<B: Backend + ?Sized>(&mut self, backend: &B) -> Result<(), Mismatch> {
        let got = backend.stats();
        let want = Stats {
            metadata_bytes: got.metadata_bytes,
            ..self.stats()
        };
        if got != want {
            return mismatch!("stats: backend {got:?}, model {want:?}");
        }
        match self.metadata_bytes {
            None => self.metadata_bytes = Some(got.metadata_bytes),
            Some(m) if m != got.metadata_bytes => {
                return mismatch!("metadata changed from {m} to {} bytes", got.metadata_bytes);
            }
            Some(_) => {}
        }
        let mut listed = Vec::new();
        backend.for_each_allocation(&mut |e| listed.push(e));
        let want: Vec<Extent> = self.live().collect();
        if listed != want {
            return mismatch!("allocations: backend {listed:?}, model {want:?}");
        }
        if backend.capacity() != self.capacity() {
            return mismatch!(
                "capacity: backend {}, model {}",
                backend.capacity(),
                self.capacity()
            );
        }
        Ok(())
    }

    /// The exact stats the model expects (metadata reported as 0).
    #[must_use]
    pub fn stats(&self) -> Stats {
        Stats::of_units(self.used.iter().copied(), self.allocations.len())
    }

    /// The lowest offset at which `request` fits, or the error the backend must return.
    ///
    /// # Errors
    ///
    /// The error demanded by the documented check order.
    pub fn lowest_fit(&self, request: Request) -> Result<usize, Error> {
        let window = request.validate(self.capacity())?;
        if self
            .limit
            .is_some_and(|limit| self.allocations.len() >= limit)
        {
            return Err(Error::TooManyAllocations {
                limit: self.limit.unwrap_or(0),
            });
        }
        let (count, align) = (request.count(), request.align());
        let mut candidate = align_up_with_phase(window.lo, align, self.phase);
        while let Some(start) = candidate {
            match start.checked_add(count) {
                Some(end) if end <= window.hi => {}
                _ => break,
            }
            match self.used[start..start + count].iter().rposition(|&u| u) {
                None => return Ok(start),
                Some(busy) => {
                    candidate = align_up_with_phase(start + busy + 1, align, self.phase);
                }
            }
        }
        Err(Error::NoSpace { count, align })
    }

    fn check_allocate(
        &mut self,
        request: Request,
        got: Result<usize, Error>,
    ) -> Result<(), Mismatch> {
        let want = self.lowest_fit(request);
        let start = match (got, want) {
            (Ok(start), Ok(lowest)) => {
                if self.placement == Placement::Lowest && start != lowest {
                    return mismatch!(
                        "allocate({request:?}): backend {start}, lowest fit {lowest}"
                    );
                }
                start
            }
            (got, want) if got == want => return Ok(()),
            (got, want) => {
                return mismatch!("allocate({request:?}): backend {got:?}, model {want:?}");
            }
        };
        let count = request.count();
        let window = request
            .validate(self.capacity())
            .map_err(|e| Mismatch(format!("{e}")))?;
        let fits = start >= window.lo
            && start.checked_add(count).is_some_and(|end| end <= window.hi)
            && self.phase.wrapping_add(start) % request.align() == 0
            && !self.used[start..start + count].iter().any(|&u| u);
        if !fits {
            return mismatch!(
                "allocate({request:?}): backend returned {start}, which is not a free aligned run in {window:?}"
            );
        }
        self.mark(start, count, true);
        self.allocations.insert(start, count);
        Ok(())
    }

    fn expect_claim(&self, start: usize, count: usize) -> Result<(), Error> {
        check_range(start, count, self.capacity())?;
        if let Some(busy) = self.used[start..start + count].iter().position(|&u| u) {
            return Err(Error::RangeBusy {
                start,
                count,
                first_busy: start + busy,
            });
        }
        match self.limit {
            Some(limit) if self.allocations.len() >= limit => {
                Err(Error::TooManyAllocations { limit })
            }
            _ => Ok(()),
        }
    }

    fn expect_free(&self, start: usize, count: usize) -> Result<(), Error> {
        check_range(start, count, self.capacity())?;
        if !self.used[start] {
            return Err(Error::NotAllocated { start });
        }
        match self.allocations.get(&start) {
            None => Err(Error::NotAllocationStart { start }),
            Some(&actual) if actual != count => Err(Error::WrongCount {
                start,
                count,
                actual,
            }),
            Some(_) => Ok(()),
        }
    }

    fn mark(&mut self, start: usize, count: usize, used: bool) {
        self.used[start..start + count].fill(used);
    }
}
