//! The resource table as a whole: header, offset array, entries.
//!
//! This module owns [`RscTable`], a zero-copy view over table bytes that is fully
//! checked when made, so reading it afterwards cannot fail. It must never copy the table
//! nor write to it ([`super::RscTableMut`] writes back).
#![forbid(unsafe_code)]

use super::bytes::read_u32;
use super::carveout::Carveout;
use super::devmem::Devmem;
use super::error::{EntryError, Field, Problem, RscError};
use super::layout::{EntryHeader, Header, VdevBody, view};
use super::resource::{Entry, Resource, Skipped, Vendor};
use super::trace::Trace;
use super::vdev::{VDEV_BODY_LEN, VRING_LEN, Vdev};
use super::{
    EntryAt, HEADER_LEN, MAX_ENTRIES, OFFSET_MAX, RSC_CARVEOUT, RSC_DEVMEM, RSC_TRACE, RSC_VDEV,
    RSC_VENDOR_END, RSC_VENDOR_START,
};

/// A checked, zero-copy view of a resource table.
///
/// [`RscTable::parse`] checks the header, every offset and every entry (see
/// [`RscError`]); afterwards the entries are read straight from the bytes.
#[derive(Clone, Copy, Debug)]
pub struct RscTable<'a> {
    bytes: &'a [u8],
    num: u32,
}

impl<'a> RscTable<'a> {
    /// Checks `bytes` as a resource table. `O(num²)` for the overlap check between
    /// entries, a few reads per pair; `num` is at most [`MAX_ENTRIES`] (firmware tables
    /// have a handful).
    ///
    /// # Errors
    /// The first problem found, in order: header, offset array, then each entry by index
    /// (its offset, its body, its overlap with earlier entries).
    pub fn parse(bytes: &'a [u8]) -> Result<Self, RscError> {
        let num = check_header(bytes)?;
        let table = Self { bytes, num };
        for index in 0..num {
            let entry = table.decode(index)?;
            table.check_overlap(&entry)?;
        }
        Ok(table)
    }

    /// A view of bytes that [`RscTable::parse`] accepted with `num` entries (and that
    /// were only changed since in ways that keep them acceptable).
    pub(crate) fn from_checked(bytes: &'a [u8], num: u32) -> Self {
        Self { bytes, num }
    }

    /// The table's bytes.
    #[must_use]
    pub fn bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// Number of entries (`num`).
    #[must_use]
    pub fn num(&self) -> u32 {
        self.num
    }

    /// Bytes taken by the header and the offset array.
    #[must_use]
    pub fn header_len(&self) -> usize {
        HEADER_LEN + 4 * self.num as usize
    }

    /// Entry `index`, or `None` past `num`.
    #[must_use]
    pub fn entry(&self, index: u32) -> Option<Entry<'a>> {
        // `parse` decoded every index already; decoding is a pure function of the
        // bytes, so this succeeds for every index below `num`.
        (index < self.num)
            .then(|| self.decode(index).ok())
            .flatten()
    }

    /// All entries in offset-array order.
    pub fn entries(&self) -> impl Iterator<Item = Entry<'a>> + 'a {
        let table = *self;
        (0..self.num).filter_map(move |i| table.entry(i))
    }

    /// The entries of unknown type, which users of the table skip.
    pub fn skipped(&self) -> impl Iterator<Item = Skipped> + 'a {
        self.entries().filter_map(|e| match e.resource {
            Resource::Unknown { kind } => Some(Skipped {
                index: e.index,
                offset: e.offset,
                kind,
            }),
            _ => None,
        })
    }

    fn decode(&self, index: u32) -> Result<Entry<'a>, EntryError> {
        let slot = HEADER_LEN + 4 * index as usize;
        let past_end = EntryError {
            index,
            offset: 0,
            field: Field::Offset,
            value: slot as u64,
            problem: Problem::PastEnd {
                table_len: self.bytes.len(),
            },
        };
        let offset = read_u32(self.bytes, slot).ok_or(past_end)?;
        let at = EntryAt::new(self.bytes, index, offset);
        let value = u64::from(offset);
        if offset > OFFSET_MAX {
            let problem = Problem::TooLarge {
                max: u64::from(OFFSET_MAX),
            };
            return Err(at.error(Field::Offset, value, problem));
        }
        if (offset as usize) < self.header_len() {
            let problem = Problem::InsideHeader {
                header_len: self.header_len() as u64,
            };
            return Err(at.error(Field::Offset, value, problem));
        }
        let Some(kind) = view::<EntryHeader>(self.bytes, offset as usize).map(|h| h.kind.get())
        else {
            let problem = Problem::PastEnd {
                table_len: self.bytes.len(),
            };
            return Err(at.error(Field::Offset, value, problem));
        };
        let resource = match kind {
            RSC_CARVEOUT => Resource::Carveout(Carveout::decode(&at.with_kind(kind))?),
            RSC_DEVMEM => Resource::Devmem(Devmem::decode(&at.with_kind(kind))?),
            RSC_TRACE => Resource::Trace(Trace::decode(&at.with_kind(kind))?),
            RSC_VDEV => Resource::Vdev(Vdev::decode(&at.with_kind(kind))?),
            RSC_VENDOR_START..=RSC_VENDOR_END => {
                let body = self.bytes.get(at.body_start()..).unwrap_or(&[]);
                Resource::Vendor(Vendor { kind, body })
            }
            _ => Resource::Unknown { kind },
        };
        Ok(Entry {
            index,
            offset,
            resource,
        })
    }

    /// Refuses an entry whose bytes overlap an earlier entry's: a write-back into one
    /// would corrupt the other.
    /// `O(index)`, each step a few reads (no re-decoding).
    fn check_overlap(&self, entry: &Entry<'a>) -> Result<(), EntryError> {
        let start = u64::from(entry.offset);
        let end = start + 4 + entry.resource.body_len() as u64;
        for other in 0..entry.index {
            let (o_start, o_end) = self.span(other);
            if start < o_end && o_start < end {
                return Err(EntryError {
                    index: entry.index,
                    offset: entry.offset,
                    field: Field::Offset,
                    value: start,
                    problem: Problem::Overlaps { other },
                });
            }
        }
        Ok(())
    }

    /// Bytes `[start, end)` of entry `index`, which `parse` has already checked: its
    /// `type` word and the body its type gives it (vdev: header, vrings, config).
    fn span(&self, index: u32) -> (u64, u64) {
        let offset = read_u32(self.bytes, HEADER_LEN + 4 * index as usize).unwrap_or(0);
        let at = offset as usize;
        let kind = view::<EntryHeader>(self.bytes, at).map_or(u32::MAX, |h| h.kind.get());
        let body = match kind {
            RSC_CARVEOUT | RSC_DEVMEM => super::CARVEOUT_BODY_LEN as u64,
            RSC_TRACE => super::TRACE_BODY_LEN as u64,
            RSC_VDEV => view::<VdevBody>(self.bytes, at + 4).map_or(0, |v| {
                let rings = VRING_LEN * usize::from(v.num_of_vrings);
                (VDEV_BODY_LEN + rings) as u64 + u64::from(v.config_len.get())
            }),
            _ => 0,
        };
        (u64::from(offset), u64::from(offset) + 4 + body)
    }
}

/// Checks the header and that the offset array fits; returns `num`.
fn check_header(bytes: &[u8]) -> Result<u32, RscError> {
    let header = view::<Header>(bytes, 0).ok_or(RscError::HeaderTruncated { len: bytes.len() })?;
    let (ver, num) = (header.ver.get(), header.num.get());
    let reserved = header.reserved.map(|w| w.get());
    if ver != 1 {
        return Err(RscError::Version { ver });
    }
    for (word, value) in (0u8..).zip(reserved) {
        if value != 0 {
            return Err(RscError::ReservedNotZero { word, value });
        }
    }
    let needed = HEADER_LEN as u64 + 4 * u64::from(num);
    if needed > bytes.len() as u64 {
        return Err(RscError::OffsetsTruncated {
            num,
            needed,
            len: bytes.len(),
        });
    }
    if num > MAX_ENTRIES {
        return Err(RscError::TooManyEntries {
            num,
            max: MAX_ENTRIES,
        });
    }
    Ok(num)
}
