//! Why a resource table was refused.
//!
//! This module owns [`RscError`] and its parts. Every error carries the values that
//! made it wrong: the entry index, its byte offset, the field and the field's value.
//! It must never hold a reference into the table (errors outlive the bytes).
#![forbid(unsafe_code)]

use core::fmt;

/// A field of a resource-table entry, named as in Linux `remoteproc.h`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    /// The entry's slot in the offset array.
    Offset,
    /// The entry's `type` word.
    Type,
    /// `da`.
    Da,
    /// `pa`.
    Pa,
    /// `len`.
    Len,
    /// A `reserved` word or byte.
    Reserved,
    /// vdev `num_of_vrings`.
    NumOfVrings,
    /// vdev `config_len`.
    ConfigLen,
    /// A field of vring `ring` of a vdev.
    Vring {
        /// The vring's index in the vdev.
        ring: u8,
        /// Which field.
        field: VringField,
    },
}

/// A field of a vdev's vring descriptor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VringField {
    /// `da`.
    Da,
    /// `align`.
    Align,
    /// `num`.
    Num,
    /// `notifyid`.
    NotifyId,
    /// `pa` (OpenAMP: `reserved`).
    Pa,
}

/// What is wrong with a field's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// The entry header (its `type` word) does not fit before the table's end.
    PastEnd {
        /// The table's length in bytes.
        table_len: usize,
    },
    /// Above the largest value that makes sense (offsets: 2^31 - 1, Linux treats them
    /// as signed; vring `num`: 32768, the virtio limit).
    TooLarge {
        /// The largest accepted value.
        max: u64,
    },
    /// The entry starts inside the header or the offset array.
    InsideHeader {
        /// Bytes taken by the header and the offset array.
        header_len: u64,
    },
    /// The entry's body needs more bytes than remain in the table.
    Truncated {
        /// Bytes the entry needs after its `type` word.
        needed: u64,
        /// Bytes left in the table after its `type` word.
        available: u64,
    },
    /// Must be zero.
    NotZero,
    /// Must not be zero.
    Zero,
    /// Must be a power of two.
    NotPowerOfTwo,
    /// `FW_RSC_ADDR_ANY` where a fixed address is required.
    AnyNotAllowed,
    /// `address + len` wraps past 2^32.
    RangeOverflow,
    /// The entry's bytes overlap those of entry `other`.
    Overlaps {
        /// Index of the other entry.
        other: u32,
    },
}

/// One entry's refusal: which entry, where, which field, its value and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryError {
    /// Index of the entry in the offset array.
    pub index: u32,
    /// Byte offset of the entry in the table (as the offset array says).
    pub offset: u32,
    /// The offending field.
    pub field: Field,
    /// The field's value.
    pub value: u64,
    /// Why the value is refused.
    pub problem: Problem,
}

/// A resource table that cannot be used, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RscError {
    /// Shorter than the 16-byte header.
    HeaderTruncated {
        /// The table's length in bytes.
        len: usize,
    },
    /// `ver` is not 1.
    Version {
        /// The version found.
        ver: u32,
    },
    /// A header `reserved` word is not zero.
    ReservedNotZero {
        /// Which word (0 or 1).
        word: u8,
        /// Its value.
        value: u32,
    },
    /// `num` offsets do not fit in the table.
    OffsetsTruncated {
        /// The header's `num`.
        num: u32,
        /// Bytes the header and offset array need.
        needed: u64,
        /// The table's length in bytes.
        len: usize,
    },
    /// More entries than [`MAX_ENTRIES`](super::MAX_ENTRIES).
    TooManyEntries {
        /// The header's `num`.
        num: u32,
        /// The limit.
        max: u32,
    },
    /// An entry is malformed.
    Entry(EntryError),
}

impl From<EntryError> for RscError {
    fn from(e: EntryError) -> Self {
        Self::Entry(e)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match self {
            Self::Offset => "offset",
            Self::Type => "type",
            Self::Da => "da",
            Self::Pa => "pa",
            Self::Len => "len",
            Self::Reserved => "reserved",
            Self::NumOfVrings => "num_of_vrings",
            Self::ConfigLen => "config_len",
            Self::Vring { ring, field } => {
                let field = match field {
                    VringField::Da => "da",
                    VringField::Align => "align",
                    VringField::Num => "num",
                    VringField::NotifyId => "notifyid",
                    VringField::Pa => "pa",
                };
                return write!(f, "vring[{ring}].{field}");
            }
        };
        f.write_str(name)
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PastEnd { table_len } => write!(f, "past the end of the {table_len}-byte table"),
            Self::TooLarge { max } => write!(f, "is above {max:#x}"),
            Self::InsideHeader { header_len } => {
                write!(f, "inside the {header_len}-byte header and offset array")
            }
            Self::Truncated { needed, available } => {
                write!(f, "needs {needed} bytes, {available} left")
            }
            Self::NotZero => f.write_str("must be zero"),
            Self::Zero => f.write_str("must not be zero"),
            Self::NotPowerOfTwo => f.write_str("must be a power of two"),
            Self::AnyNotAllowed => f.write_str("must be a fixed address, not FW_RSC_ADDR_ANY"),
            Self::RangeOverflow => f.write_str("address + len wraps past 2^32"),
            Self::Overlaps { other } => write!(f, "overlaps entry {other}"),
        }
    }
}

impl fmt::Display for EntryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "resource entry {} (offset {:#x}): {} = {:#x} {}",
            self.index, self.offset, self.field, self.value, self.problem
        )
    }
}

impl fmt::Display for RscError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::HeaderTruncated { len } => {
                write!(
                    f,
                    "resource table of {len} bytes has no room for its 16-byte header"
                )
            }
            Self::Version { ver } => write!(f, "resource table version {ver}, only 1 is known"),
            Self::ReservedNotZero { word, value } => {
                write!(
                    f,
                    "resource table reserved[{word}] = {value:#x}, must be zero"
                )
            }
            Self::OffsetsTruncated { num, needed, len } => write!(
                f,
                "resource table with {num} entries needs {needed} bytes of header, has {len}"
            ),
            Self::TooManyEntries { num, max } => {
                write!(
                    f,
                    "resource table has {num} entries, at most {max} are accepted"
                )
            }
            Self::Entry(e) => e.fmt(f),
        }
    }
}

impl core::error::Error for RscError {}
