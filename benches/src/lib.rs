//! Benchmarks of the contig allocator backends against peer allocators and a Linux
//! power-of-two baseline: seeded, deterministic DMA workloads (W1–W4), one adapter
//! interface over every contender, and the replay that the criterion benches time and
//! the fragmentation report measures.
//!
//! Nothing here is timed; the benches under `benches/` time what these build. Every
//! contender gets the same trace (same seed) on an arena of the same size.
//!
//! ```
//! use contig_benches::{Contender, Replayer, workload};
//! use contig_benches::ours::OurBackend;
//!
//! let trace = workload::virtio::trace(7, 1, 4);
//! let mut arena = Contender::Ours(OurBackend::PowerOfTwo, 4096)
//!     .build(trace.arena_bytes)
//!     .unwrap();
//! let outcome = Replayer::default().run(arena.as_mut(), &trace, false);
//! assert_eq!(outcome.failures, 0);
//! assert_eq!(outcome.misplaced, 0);
//! ```

pub mod arena;
pub mod contender;
pub mod criterion_json;
pub mod memory;
pub mod ours;
pub mod peers;
pub mod pow2;
pub mod prefill;
pub mod replay;
pub mod rng;
pub mod svg;
pub mod workload;

pub use arena::{Arena, Block, largest_allocatable};
pub use contender::Contender;
pub use prefill::{prefill_half, prefill_half_arena};
pub use replay::{Outcome, ReplayOverhead, Replayer};
pub use rng::SplitMix64;
