//! Seeded, deterministic workloads shared by the benchmarks (and usable by tests and
//! fuzz seeds): a tiny reproducible random generator and region pre-fill helpers.
//!
//! Nothing here is timed; the criterion benches under `benches/` time what these build.

pub mod prefill;
pub mod rng;

pub use prefill::{Contender, prefill_half};
pub use rng::SplitMix64;
