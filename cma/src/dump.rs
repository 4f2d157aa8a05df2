//! A text dump of an area set: regions, their occupancy and live allocations.
//!
//! This module owns the dump format (what Linux shows under `debugfs/cma/`). It only
//! reads: it locks each region in turn while printing it and must never change state.
#![forbid(unsafe_code)]

use core::fmt;

use lock_api::RawMutex;

use crate::{AreaSet, Region};

/// Displays an [`AreaSet`]; returned by [`AreaSet::dump`].
///
/// One header line per region, then its counters, then one line per live allocation
/// (whole granules):
///
/// ```text
/// region "video" [0x80000000, 0x80400000) granule 0x1000 backend first-fit flags -
///   used 0x3000 of 0x400000 bytes, largest free 0x3fd000, 2 live
///   allocations 2, failures 0, frees 0, busy 0, retries 0, reclaim failures 0
///   [0x80000000, 0x80001000)
///   [0x80001000, 0x80003000)
/// ```
pub struct Dump<'a, R: RawMutex>(&'a AreaSet<R>);

impl<R: RawMutex> AreaSet<R> {
    /// The text dump of every region and live allocation.
    #[must_use]
    pub fn dump(&self) -> Dump<'_, R> {
        Dump(self)
    }
}

impl<R: RawMutex> fmt::Display for Dump<'_, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (_, region) in self.0.regions() {
            dump_region(region, f)?;
        }
        Ok(())
    }
}

fn dump_region<R: RawMutex>(region: &Region<R>, f: &mut fmt::Formatter<'_>) -> fmt::Result {
    let flags = region.flags();
    let flag_text = match (flags.is_reusable(), flags.is_no_map()) {
        (true, _) => "reusable",
        (false, true) => "no-map",
        (false, false) => "-",
    };
    writeln!(
        f,
        "region {:?} {} granule {:#x} backend {} flags {flag_text}",
        region.name(),
        region.range(),
        region.spec().granule(),
        region.backend_name(),
    )?;
    let stats = region.stats();
    let c = stats.counters;
    writeln!(
        f,
        "  used {:#x} of {:#x} bytes, largest free {:#x}, {} live",
        stats.used_bytes(),
        stats.size_bytes(),
        stats.largest_free_bytes(),
        stats.backend.live_allocations
    )?;
    writeln!(
        f,
        "  allocations {}, failures {}, frees {}, busy {}, retries {}, reclaim failures {}",
        c.allocations, c.failures, c.frees, c.reclaim_busy, c.reclaim_retries, c.reclaim_failures
    )?;
    let mut result = Ok(());
    region.for_each_allocation(&mut |range| {
        if result.is_ok() {
            result = writeln!(f, "  {range}");
        }
    });
    result
}
