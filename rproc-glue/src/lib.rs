//! Remote processor memory glue: the firmware's resource table and ELF image, turned
//! into memory the remote can use.
//!
//! This crate owns what Linux remoteproc does for memory: the resource table format
//! ([`rsc`]: a checked zero-copy view, write-back, a builder), firmware ELF images
//! ([`firmware`]: `.resource_table` and loadable segments), device addresses
//! ([`DeviceAddr`], the remote's own address space), vring sizing ([`vring`]), notify
//! ids ([`notify`]), ELF core dumps ([`coredump`]), platform profiles mirroring the
//! Linux remoteproc drivers ([`profile`]), and the processor itself
//! ([`Rproc`]): one list of memory entries ([`MemEntry`], [`Memory`]) that the
//! platform registers and the table's carveouts are matched against, vdevs as child
//! devices with their own buffer pools ([`VdevInfo`]), and the lifecycle with platform
//! ops ([`RprocOps`], [`Loader`]) that gives back everything a failed boot took. With
//! the `virtio` feature, the `virtio` module makes a booted processor's vdev a
//! `virtio-drivers` transport (as Linux `remoteproc_virtio.c` does), so existing
//! virtio drivers and queues run over the vrings the table describes. It builds on
//! [`contig_dma_pool`] (re-exported as [`dma_pool`]) for devices, pools and
//! addresses, and knows nothing of what runs on the remote.
//!
//! Boot, in order: check the ELF image and its table; make the registered entries
//! usable; for each table entry in order, match or allocate its memory and write the
//! result back into the cached table (carveouts by name, then `da`, then `pa`; fixed
//! addresses only inside declared memory; vrings from `vdev{N}vring{M}` entries or the
//! processor's pool chain, with the lowest free notify id); check the trace buffers;
//! prepare the subdevices ([`Subdevice`]: the platform's in registration order, then
//! the vdevs, whose child devices and pools come up here); load the segments and
//! install the table through the [`Loader`]; start; start the subdevices. Shutdown and
//! recovery run the same steps back down (the full order, and how it compares with
//! Linux, is in [`Rproc`]'s documentation). A processor boots by firmware name through
//! a platform [`FirmwareSource`], on its own if its auto-boot setting is on, and waits
//! for [`firmware_available`] if the image is not there yet. Cost:
//! `O(entries × registered entries)`; the heap is used for the cached table, the undo
//! log and the subdevice list (setup, not a hot path).
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
#![forbid(unsafe_code)]

extern crate alloc;

mod autoboot;
pub mod coredump;
mod da;
mod error;
pub mod firmware;
mod memory;
pub mod notify;
mod ops;
pub mod profile;
mod recovery;
mod resources;
mod rproc;
pub mod rsc;
mod subdev;
mod unwind;
mod vdev;
#[cfg(feature = "virtio")]
pub mod virtio;
pub mod vring;

pub use autoboot::{
    AutoBoot, FIRMWARE_NAME_MAX, FirmwareName, FirmwareNameError, FirmwareSource,
    firmware_available,
};
pub use contig_dma_pool as dma_pool;
pub use da::DeviceAddr;
pub use error::{MatchError, RegisterError, RprocError};
pub use memory::{DaError, MemEntry, MemHooks, MemKind, Memory, Origin};
pub use ops::{CarveoutRequest, DevmemMap, Loader, OpError, Placement, RprocOps, VendorOutcome};
pub use rproc::{Rproc, RprocConfig, State};
pub use subdev::{BoxedSubdevice, SubdevContext, SubdevId, Subdevice};
pub use vdev::{RingInfo, VdevInfo};
