//! Carveout entries: memory the remote wants, fixed or anywhere.
//!
//! This module owns the [`Carveout`] view and its decoding. It must never decide where
//! a carveout goes (the memory entries do) nor trust its addresses beyond their form.
#![forbid(unsafe_code)]

use super::bytes::name_bytes;
use super::error::{EntryError, Field};
use super::layout::CarveoutBody;
use super::{EntryAt, addr_field};
use crate::DeviceAddr;
use contig_dma_pool::cma::PhysAddr;

/// Bytes of a carveout or devmem body after the `type` word (Linux: 52).
pub const CARVEOUT_BODY_LEN: usize = core::mem::size_of::<CarveoutBody>();

/// A carveout entry (`struct fw_rsc_carveout`): `len` bytes of physically contiguous
/// memory at a fixed or any device address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Carveout<'a> {
    /// Where the remote wants it; `None` for `FW_RSC_ADDR_ANY`.
    pub da: Option<DeviceAddr>,
    /// Physical address; `None` for `FW_RSC_ADDR_ANY`.
    pub pa: Option<PhysAddr>,
    /// Length in bytes.
    pub len: u32,
    /// IOMMU protection flags.
    pub flags: u32,
    /// The `reserved` word, as found.
    pub reserved: u32,
    name: &'a [u8],
}

impl<'a> Carveout<'a> {
    /// The name, up to its first NUL.
    #[must_use]
    pub fn name(&self) -> &'a [u8] {
        name_bytes(self.name)
    }

    /// The name as text, if it is UTF-8.
    #[must_use]
    pub fn name_str(&self) -> Option<&'a str> {
        core::str::from_utf8(self.name()).ok()
    }

    /// Decodes the body of the entry at `at`.
    pub(crate) fn decode(at: &EntryAt<'a>) -> Result<Self, EntryError> {
        let b = at.body::<CarveoutBody>()?;
        let len = b.len.get();
        let da = addr_field(at, b.da.get(), len, Field::Da)?;
        let pa = addr_field(at, b.pa.get(), len, Field::Pa)?;
        Ok(Self {
            da: da.map(|v| DeviceAddr::new(u64::from(v))),
            pa: pa.map(|v| PhysAddr::new(u64::from(v))),
            len,
            flags: b.flags.get(),
            reserved: b.reserved.get(),
            name: &b.name,
        })
    }
}
