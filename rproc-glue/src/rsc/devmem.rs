//! Devmem entries: device memory (registers, SRAM) the remote wants mapped.
//!
//! This module owns the [`Devmem`] view and its decoding. A devmem maps a fixed
//! physical range at a fixed device address, so `FW_RSC_ADDR_ANY` in either field is
//! refused here. It must never map anything; whether the range is allowed is decided
//! against the declared memory later.
#![forbid(unsafe_code)]

use super::bytes::name_bytes;
use super::carveout::CARVEOUT_BODY_LEN;
use super::error::{EntryError, Field, Problem};
use super::layout::CarveoutBody;
use super::{EntryAt, addr_field};
use crate::DeviceAddr;
use contig_dma_pool::cma::PhysAddr;

/// Bytes of a devmem body after the `type` word (the carveout layout).
pub const DEVMEM_BODY_LEN: usize = CARVEOUT_BODY_LEN;

/// A devmem entry (`struct fw_rsc_devmem`): physical `pa` mapped at device address `da`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Devmem<'a> {
    /// Device address of the mapping.
    pub da: DeviceAddr,
    /// Physical address mapped.
    pub pa: PhysAddr,
    /// Length in bytes.
    pub len: u32,
    /// IOMMU protection flags.
    pub flags: u32,
    /// The `reserved` word, as found.
    pub reserved: u32,
    name: &'a [u8],
}

impl<'a> Devmem<'a> {
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
        let fixed = |raw: u32, field: Field| match addr_field(at, raw, len, field)? {
            Some(v) => Ok(u64::from(v)),
            None => Err(at.error(field, u64::from(raw), Problem::AnyNotAllowed)),
        };
        let da = fixed(b.da.get(), Field::Da)?;
        let pa = fixed(b.pa.get(), Field::Pa)?;
        Ok(Self {
            da: DeviceAddr::new(da),
            pa: PhysAddr::new(pa),
            len,
            flags: b.flags.get(),
            reserved: b.reserved.get(),
            name: &b.name,
        })
    }
}
