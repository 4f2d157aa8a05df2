//! Carveout entries: memory the remote wants, fixed or anywhere.
//!
//! This module owns the [`Carveout`] view and its decoding. It must never decide where
//! a carveout goes (the memory entries do) nor trust its addresses beyond their form.
#![forbid(unsafe_code)]

use super::bytes::{le32, name_bytes};
use super::error::{EntryError, Field};
use super::{EntryAt, addr_field};
use crate::DeviceAddr;
use contig_dma_pool::cma::PhysAddr;

/// Bytes of a carveout or devmem body after the `type` word.
pub const CARVEOUT_BODY_LEN: usize = 52;

/// Field offsets inside the body (shared with devmem, which has the same layout).
pub(crate) const DA: usize = 0;
pub(crate) const PA: usize = 4;
pub(crate) const LEN: usize = 8;
pub(crate) const FLAGS: usize = 12;
pub(crate) const RESERVED: usize = 16;
pub(crate) const NAME: usize = 20;

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
        let b = at.body::<CARVEOUT_BODY_LEN>()?;
        let len = le32::<LEN, CARVEOUT_BODY_LEN>(b);
        let da = addr_field(at, le32::<DA, CARVEOUT_BODY_LEN>(b), len, Field::Da)?;
        let pa = addr_field(at, le32::<PA, CARVEOUT_BODY_LEN>(b), len, Field::Pa)?;
        Ok(Self {
            da: da.map(|v| DeviceAddr::new(u64::from(v))),
            pa: pa.map(|v| PhysAddr::new(u64::from(v))),
            len,
            flags: le32::<FLAGS, CARVEOUT_BODY_LEN>(b),
            reserved: le32::<RESERVED, CARVEOUT_BODY_LEN>(b),
            name: name_field::<NAME, CARVEOUT_BODY_LEN>(b),
        })
    }
}

/// The 32-byte name at constant offset `AT` of a body; the bound is checked when
/// compiling, so the slicing cannot fail.
pub(crate) fn name_field<const AT: usize, const N: usize>(b: &[u8; N]) -> &[u8] {
    const { assert!(AT + super::NAME_LEN <= N) };
    &b[AT..AT + super::NAME_LEN]
}
