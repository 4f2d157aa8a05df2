//! Remote processor memory glue: the firmware's resource table and ELF image, turned
//! into memory the remote can use.
//!
//! This crate owns what Linux remoteproc does for memory: the resource table format
//! ([`rsc`]: a checked zero-copy view, write-back, a builder), firmware ELF images
//! ([`firmware`]: `.resource_table` and loadable segments), device addresses
//! ([`DeviceAddr`], the remote's own address space), vring sizing ([`vring`]), notify
//! ids ([`notify`]) and ELF core dumps ([`coredump`]). It builds on
//! [`contig_dma_pool`] (re-exported as [`dma_pool`]) for devices, pools and addresses.
//!
//! Firmware is untrusted input: every malformed table or image is a typed error naming
//! the entry, field and value, never a panic. Nothing here reads or writes the remote's
//! memory itself: loading segments and dumping them go through the caller's callbacks.
//!
//! ```
//! use contig_rproc_glue::rsc::{Resource, RscTable};
//!
//! // An OpenAMP-style table: one rpmsg vdev (id 7) with two vrings anywhere.
//! let mut t = Vec::new();
//! for w in [1u32, 1, 0, 0, 20] { t.extend_from_slice(&w.to_le_bytes()); }
//! for w in [3u32, 7, 0, 1, 0, 0] { t.extend_from_slice(&w.to_le_bytes()); } // type, id, notifyid, dfeatures, gfeatures, config_len
//! t.extend_from_slice(&[0, 2, 0, 0]); // status, num_of_vrings, reserved
//! for id in [1u32, 2] {
//!     for w in [0xFFFF_FFFF, 0x1000, 256, id, 0] { t.extend_from_slice(&w.to_le_bytes()); }
//! }
//!
//! let table = RscTable::parse(&t).unwrap();
//! for entry in table.entries() {
//!     match entry.resource {
//!         Resource::Vdev(vdev) => {
//!             assert_eq!((entry.index, vdev.id, vdev.dfeatures), (0, 7, 1));
//!             let ids: Vec<u32> = vdev.vrings().map(|r| r.notifyid).collect();
//!             assert_eq!(ids, [1, 2]);
//!             assert!(vdev.vrings().all(|r| r.da.is_none() && r.num == 256));
//!         }
//!         other => panic!("unexpected {other:?}"),
//!     }
//! }
//! ```
#![no_std]

extern crate alloc;

pub mod coredump;
mod da;
mod error;
pub mod firmware;
mod memory;
pub mod notify;
mod ops;
mod resources;
mod rproc;
pub mod rsc;
mod unwind;
mod vdev;
pub mod vring;

pub use contig_dma_pool as dma_pool;
pub use da::DeviceAddr;
pub use error::{MatchError, RegisterError, RprocError};
pub use memory::{DaError, MemEntry, MemHooks, MemKind, Memory, Origin};
pub use ops::{CarveoutRequest, DevmemMap, Loader, OpError, Placement, RprocOps, VendorOutcome};
pub use rproc::{Rproc, RprocConfig, State};
pub use vdev::{RingInfo, VdevInfo};
