//! The binary layout of the table: one `#[repr(C)]` little-endian struct per header
//! and entry body, used to read, to write back and to build.
//!
//! This module owns the only definition of where each field sits (Linux
//! `include/linux/remoteproc.h`). The structs have alignment 1 (every field is a byte
//! array underneath), so they can be viewed at any offset of a packed table, and their
//! sizes are checked against Linux's when compiling. Decoding and checking the values
//! is the entry modules' job; this one must never interpret a field.
#![forbid(unsafe_code)]

use core::mem::size_of;

use zerocopy::little_endian::U32;
use zerocopy::{FromBytes, Immutable, IntoBytes, KnownLayout, Unaligned};

use super::NAME_LEN;

/// `struct resource_table` without its `offset[]` array.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub(crate) struct Header {
    pub(crate) ver: U32,
    pub(crate) num: U32,
    pub(crate) reserved: [U32; 2],
}

/// `struct fw_rsc_hdr`: the type word before every body.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub(crate) struct EntryHeader {
    pub(crate) kind: U32,
}

/// `struct fw_rsc_carveout`, also `struct fw_rsc_devmem` (the same fields).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub(crate) struct CarveoutBody {
    pub(crate) da: U32,
    pub(crate) pa: U32,
    pub(crate) len: U32,
    pub(crate) flags: U32,
    pub(crate) reserved: U32,
    pub(crate) name: [u8; NAME_LEN],
}

/// `struct fw_rsc_trace`.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub(crate) struct TraceBody {
    pub(crate) da: U32,
    pub(crate) len: U32,
    pub(crate) reserved: U32,
    pub(crate) name: [u8; NAME_LEN],
}

/// `struct fw_rsc_vdev` up to its flexible `vring[]` array (then `config_len` bytes of
/// config follow the rings).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub(crate) struct VdevBody {
    pub(crate) id: U32,
    pub(crate) notifyid: U32,
    pub(crate) dfeatures: U32,
    pub(crate) gfeatures: U32,
    pub(crate) config_len: U32,
    pub(crate) status: u8,
    pub(crate) num_of_vrings: u8,
    pub(crate) reserved: [u8; 2],
}

/// `struct fw_rsc_vdev_vring` (OpenAMP calls `pa` `reserved`).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, FromBytes, IntoBytes, KnownLayout, Immutable, Unaligned,
)]
#[repr(C)]
pub(crate) struct VringDesc {
    pub(crate) da: U32,
    pub(crate) align: U32,
    pub(crate) num: U32,
    pub(crate) notifyid: U32,
    pub(crate) pa: U32,
}

// Linux's sizes (`sizeof` of each struct in remoteproc.h), checked when compiling.
const _: () = assert!(size_of::<Header>() == 16);
const _: () = assert!(size_of::<EntryHeader>() == 4);
const _: () = assert!(size_of::<CarveoutBody>() == 52);
const _: () = assert!(size_of::<TraceBody>() == 44);
const _: () = assert!(size_of::<VdevBody>() == 24);
const _: () = assert!(size_of::<VringDesc>() == 20);

/// A name field holding `name` and NUL padding; `None` if it leaves no room for a NUL.
pub(crate) fn name_field(name: &str) -> Option<[u8; NAME_LEN]> {
    let name = name.as_bytes();
    let mut field = [0; NAME_LEN];
    field
        .get_mut(..name.len())
        .filter(|_| name.len() < NAME_LEN)?
        .copy_from_slice(name);
    Some(field)
}

/// The `T` at byte `at` of `bytes`, or `None` if it does not lie inside them.
pub(crate) fn view<T: FromBytes + KnownLayout + Immutable + Unaligned>(
    bytes: &[u8],
    at: usize,
) -> Option<&T> {
    T::ref_from_prefix(bytes.get(at..)?).ok().map(|(t, _)| t)
}

/// The `T` at byte `at` of `bytes` for writing, or `None` if it does not lie inside
/// them.
pub(crate) fn view_mut<T: FromBytes + IntoBytes + KnownLayout + Unaligned>(
    bytes: &mut [u8],
    at: usize,
) -> Option<&mut T> {
    T::mut_from_prefix(bytes.get_mut(at..)?)
        .ok()
        .map(|(t, _)| t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_sit_where_linux_puts_them() {
        let mut b = [0u8; 24];
        b[16..20].copy_from_slice(&9u32.to_le_bytes()); // config_len
        b[21] = 2; // num_of_vrings
        let v = view::<VdevBody>(&b, 0).unwrap();
        assert_eq!((v.config_len.get(), v.num_of_vrings), (9, 2));
        assert!(view::<VdevBody>(&b, 1).is_none());
        assert!(view::<VdevBody>(&b, usize::MAX).is_none());

        let mut c = [0u8; 53];
        let body = view_mut::<CarveoutBody>(&mut c, 1).unwrap();
        body.len.set(0x0102_0304);
        body.name = name_field("fw").unwrap();
        assert_eq!(c[9..13], [4, 3, 2, 1]);
        assert_eq!(c[21..24], *b"fw\0");
    }

    #[test]
    fn a_name_keeps_room_for_its_nul() {
        assert_eq!(name_field("").unwrap(), [0; NAME_LEN]);
        assert!(name_field(&"x".repeat(NAME_LEN - 1)).is_some());
        assert!(name_field(&"x".repeat(NAME_LEN)).is_none());
    }
}
