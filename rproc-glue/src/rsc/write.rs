//! Write-back: what the host decided, stored into the loaded table for the remote.
//!
//! This module owns [`RscTableMut`]: carveout `da`/`pa`/`len`, vring `da`/`pa`/
//! `notifyid`, and their reset when the memory is freed. Every write keeps the table
//! acceptable to [`RscTable::parse`] (a value that would read back as
//! `FW_RSC_ADDR_ANY` or wrap past 2^32 is refused), and a refused write changes
//! nothing. It must never change an entry's layout or type.
#![forbid(unsafe_code)]

use core::fmt;

use super::error::{Field, RscError, VringField};
use super::layout::{CarveoutBody, VringDesc, view_mut};
use super::resource::Resource;
use super::table::RscTable;
use super::vdev::{VDEV_BODY_LEN, VRING_LEN, Vring};
use super::{FW_RSC_ADDR_ANY, RSC_CARVEOUT, RSC_VDEV};
use crate::DeviceAddr;
use contig_dma_pool::cma::PhysAddr;

/// The notify id Linux stores in a vring whose ring was freed (`-1`).
pub const NOTIFYID_NONE: u32 = u32::MAX;

/// A checked resource table that may be written back to.
///
/// ```
/// use contig_rproc_glue::DeviceAddr;
/// use contig_rproc_glue::dma_pool::cma::PhysAddr;
/// use contig_rproc_glue::rsc::{CarveoutSpec, RscTableBuilder, RscTableMut, Resource};
///
/// let mut b = RscTableBuilder::new();
/// b.add_carveout(&CarveoutSpec::any("fw", 0x1000)).unwrap();
/// let mut bytes = b.build().unwrap();
/// let mut table = RscTableMut::parse(&mut bytes).unwrap();
/// table.set_carveout(0, Some(DeviceAddr::new(0x2000)), Some(PhysAddr::new(0x9000_0000)), 0x1000).unwrap();
/// let Resource::Carveout(c) = table.view().entry(0).unwrap().resource else { panic!() };
/// assert_eq!((c.da, c.pa), (Some(DeviceAddr::new(0x2000)), Some(PhysAddr::new(0x9000_0000))));
/// ```
#[derive(Debug)]
pub struct RscTableMut<'a> {
    bytes: &'a mut [u8],
    num: u32,
}

/// A write-back that was refused; the table is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum WriteError {
    /// No entry `index` (the table has `num`).
    NoEntry {
        /// The index asked for.
        index: u32,
        /// Entries in the table.
        num: u32,
    },
    /// Entry `index` has another type.
    WrongType {
        /// The entry.
        index: u32,
        /// The type the write needs.
        expected: u32,
        /// The entry's type.
        found: u32,
    },
    /// The vdev has no vring `ring`.
    NoVring {
        /// The vdev entry.
        index: u32,
        /// The ring asked for.
        ring: u8,
        /// Vrings the vdev declares.
        num_of_vrings: u8,
    },
    /// The value does not fit 32 bits, equals `FW_RSC_ADDR_ANY`, or with `len` wraps
    /// past 2^32.
    Unrepresentable {
        /// The entry.
        index: u32,
        /// The field.
        field: Field,
        /// The value.
        value: u64,
    },
}

impl<'a> RscTableMut<'a> {
    /// Checks `bytes` as [`RscTable::parse`] does and keeps them for writing.
    ///
    /// # Errors
    /// As [`RscTable::parse`].
    pub fn parse(bytes: &'a mut [u8]) -> Result<Self, RscError> {
        let num = RscTable::parse(bytes)?.num();
        Ok(Self { bytes, num })
    }

    /// Bytes [`RscTable::parse`] accepted with `num` entries.
    pub(crate) fn from_checked(bytes: &'a mut [u8], num: u32) -> Self {
        Self { bytes, num }
    }

    /// A read-only view of the current bytes.
    #[must_use]
    pub fn view(&self) -> RscTable<'_> {
        RscTable::from_checked(self.bytes, self.num)
    }

    /// Stores a carveout's placement; `None` stores `FW_RSC_ADDR_ANY` (to reset it).
    ///
    /// # Errors
    /// [`WriteError`] if `index` is not a carveout or a value cannot be stored.
    pub fn set_carveout(
        &mut self,
        index: u32,
        da: Option<DeviceAddr>,
        pa: Option<PhysAddr>,
        len: u32,
    ) -> Result<(), WriteError> {
        let at = self.entry_of(index, RSC_CARVEOUT)?.0 as usize + 4;
        let da = field_value(index, Field::Da, da.map(DeviceAddr::as_u64), len)?;
        let pa = field_value(index, Field::Pa, pa.map(PhysAddr::as_u64), len)?;
        // Inside the table by construction (parse checked the body); a miss would only
        // skip the write.
        if let Some(body) = view_mut::<CarveoutBody>(self.bytes, at) {
            body.da.set(da);
            body.pa.set(pa);
            body.len.set(len);
        }
        Ok(())
    }

    /// Stores where vring `ring` of vdev `index` was placed and its notify id.
    ///
    /// # Errors
    /// [`WriteError`] if `index` is not a vdev, has no such ring, or a value cannot be
    /// stored.
    pub fn set_vring(
        &mut self,
        index: u32,
        ring: u8,
        da: DeviceAddr,
        pa: PhysAddr,
        notifyid: u32,
    ) -> Result<(), WriteError> {
        let at = self.vring_at(index, ring)?;
        let vfield = |field| Field::Vring { ring, field };
        let da = field_value(index, vfield(VringField::Da), Some(da.as_u64()), 0)?;
        let pa = field_value(index, vfield(VringField::Pa), Some(pa.as_u64()), 0)?;
        self.store_vring(at, da, pa, notifyid);
        Ok(())
    }

    /// Puts vring `ring` of vdev `index` back as `original` had it (so a fixed ring
    /// keeps its address and an ANY ring is ANY again) with notify id -1, as Linux
    /// does when it frees a ring. A `pa` that was not given is stored as 0.
    ///
    /// # Errors
    /// [`WriteError`] if `index` is not a vdev or has no such ring.
    pub fn reset_vring(
        &mut self,
        index: u32,
        ring: u8,
        original: &Vring,
    ) -> Result<(), WriteError> {
        let at = self.vring_at(index, ring)?;
        let da = original
            .da
            .and_then(DeviceAddr::to_u32)
            .unwrap_or(FW_RSC_ADDR_ANY);
        let pa = original
            .pa
            .and_then(|p| u32::try_from(p.as_u64()).ok())
            .unwrap_or(0);
        self.store_vring(at, da, pa, NOTIFYID_NONE);
        Ok(())
    }

    /// The offset and resource of entry `index`, which must have type `kind`.
    fn entry_of(&self, index: u32, kind: u32) -> Result<(u32, Resource<'_>), WriteError> {
        let entry = self.view().entry(index).ok_or(WriteError::NoEntry {
            index,
            num: self.num,
        })?;
        let found = entry.resource.kind();
        if found != kind {
            return Err(WriteError::WrongType {
                index,
                expected: kind,
                found,
            });
        }
        Ok((entry.offset, entry.resource))
    }

    /// Byte offset of vring `ring` of vdev `index`.
    fn vring_at(&self, index: u32, ring: u8) -> Result<usize, WriteError> {
        let (offset, resource) = self.entry_of(index, RSC_VDEV)?;
        let num_of_vrings = match resource {
            Resource::Vdev(v) => v.num_of_vrings(),
            _ => 0,
        };
        if ring >= num_of_vrings {
            return Err(WriteError::NoVring {
                index,
                ring,
                num_of_vrings,
            });
        }
        Ok(offset as usize + 4 + VDEV_BODY_LEN + usize::from(ring) * VRING_LEN)
    }

    /// Stores a vring descriptor's placement at `at`, which was derived from the
    /// checked table, so it lies inside it (a miss would only skip the write).
    fn store_vring(&mut self, at: usize, da: u32, pa: u32, notifyid: u32) {
        if let Some(ring) = view_mut::<VringDesc>(self.bytes, at) {
            ring.da.set(da);
            ring.pa.set(pa);
            ring.notifyid.set(notifyid);
        }
    }
}

/// The table word for an address: ANY for `None`; a fixed value must fit 32 bits, not
/// read back as ANY and leave room for `len` bytes below 2^32.
fn field_value(index: u32, field: Field, value: Option<u64>, len: u32) -> Result<u32, WriteError> {
    let Some(value) = value else {
        return Ok(FW_RSC_ADDR_ANY);
    };
    match u32::try_from(value) {
        Ok(v) if v != FW_RSC_ADDR_ANY && value + u64::from(len) <= 1 << 32 => Ok(v),
        _ => Err(WriteError::Unrepresentable {
            index,
            field,
            value,
        }),
    }
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NoEntry { index, num } => {
                write!(f, "no resource entry {index}: the table has {num}")
            }
            Self::WrongType {
                index,
                expected,
                found,
            } => {
                write!(f, "resource entry {index} has type {found}, not {expected}")
            }
            Self::NoVring {
                index,
                ring,
                num_of_vrings,
            } => write!(
                f,
                "vdev entry {index} has {num_of_vrings} vrings, no vring {ring}"
            ),
            Self::Unrepresentable {
                index,
                field,
                value,
            } => write!(
                f,
                "resource entry {index}: {field} = {value:#x} cannot be stored in the table"
            ),
        }
    }
}

impl core::error::Error for WriteError {}
