// A naive but correct backend for tests: one `bool` per unit and a sorted list of live
// allocations, lowest fit first, checks in the documented order. O(capacity) per call.
// Written to be `include!`d (doc examples, unit tests) as well as used as a module.

/// The test backend.
#[derive(Clone, Debug)]
pub struct Naive {
    used: ::std::vec::Vec<bool>,
    live: ::std::collections::BTreeMap<usize, usize>,
    phase: usize,
    limit: Option<usize>,
}

impl Naive {
    /// `capacity` units at phase 0, no limit on live allocations.
    pub fn new(capacity: usize) -> Self {
        Self::with_phase(capacity, 0, None)
    }

    /// `capacity` units at `phase`, at most `limit` live allocations.
    pub fn with_phase(capacity: usize, phase: usize, limit: Option<usize>) -> Self {
        Self {
            used: ::std::vec![false; capacity],
            live: ::std::collections::BTreeMap::new(),
            phase,
            limit,
        }
    }

    fn busy_in(&self, start: usize, count: usize) -> Option<usize> {
        (start..start + count).find(|&u| self.used[u])
    }

    fn full(&self) -> Result<(), ::contig_allocators::Error> {
        match self.limit {
            Some(limit) if self.live.len() >= limit => {
                Err(::contig_allocators::Error::TooManyAllocations { limit })
            }
            _ => Ok(()),
        }
    }
}

impl ::contig_allocators::Backend for Naive {
    fn name(&self) -> &'static str {
        "naive"
    }

    fn capacity(&self) -> usize {
        self.used.len()
    }

    fn allocate(
        &mut self,
        request: ::contig_allocators::Request,
    ) -> Result<usize, ::contig_allocators::Error> {
        let window = request.validate(self.used.len())?;
        self.full()?;
        let (count, align) = (request.count(), request.align());
        let mut at = ::contig_allocators::align_up_with_phase(window.lo, align, self.phase);
        while let Some(start) = at {
            if start.checked_add(count).is_none_or(|end| end > window.hi) {
                break;
            }
            match self.busy_in(start, count) {
                None => {
                    self.used[start..start + count].fill(true);
                    self.live.insert(start, count);
                    return Ok(start);
                }
                Some(b) => {
                    at = ::contig_allocators::align_up_with_phase(b + 1, align, self.phase);
                }
            }
        }
        Err(::contig_allocators::Error::NoSpace { count, align })
    }

    fn claim(&mut self, start: usize, count: usize) -> Result<(), ::contig_allocators::Error> {
        ::contig_allocators::check_range(start, count, self.used.len())?;
        if let Some(first_busy) = self.busy_in(start, count) {
            return Err(::contig_allocators::Error::RangeBusy {
                start,
                count,
                first_busy,
            });
        }
        self.full()?;
        self.used[start..start + count].fill(true);
        self.live.insert(start, count);
        Ok(())
    }

    fn free(&mut self, start: usize, count: usize) -> Result<(), ::contig_allocators::Error> {
        ::contig_allocators::check_range(start, count, self.used.len())?;
        if !self.used[start] {
            return Err(::contig_allocators::Error::NotAllocated { start });
        }
        match self.live.get(&start) {
            None => Err(::contig_allocators::Error::NotAllocationStart { start }),
            Some(&actual) if actual != count => Err(::contig_allocators::Error::WrongCount {
                start,
                count,
                actual,
            }),
            Some(_) => {
                self.used[start..start + count].fill(false);
                self.live.remove(&start);
                Ok(())
            }
        }
    }

    fn stats(&self) -> ::contig_allocators::Stats {
        ::contig_allocators::Stats::of_units(self.used.iter().copied(), self.live.len())
    }

    fn for_each_allocation(&self, f: &mut dyn FnMut(::contig_allocators::Extent)) {
        for (&start, &count) in &self.live {
            f(::contig_allocators::Extent::new(start, count));
        }
    }
}
