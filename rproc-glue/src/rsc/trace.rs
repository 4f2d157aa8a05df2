//! Trace entries: a log buffer the remote writes and the host may read.
//!
//! This module owns the [`Trace`] view and its decoding. The buffer lives at a fixed
//! device address inside the firmware's memory, so `FW_RSC_ADDR_ANY` is refused. It
//! must never read the buffer.
#![forbid(unsafe_code)]

use super::bytes::name_bytes;
use super::error::{EntryError, Field, Problem};
use super::layout::TraceBody;
use super::{EntryAt, addr_field};
use crate::DeviceAddr;

/// Bytes of a trace body after the `type` word (Linux: 44).
pub const TRACE_BODY_LEN: usize = core::mem::size_of::<TraceBody>();

/// A trace entry (`struct fw_rsc_trace`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Trace<'a> {
    /// Device address of the buffer.
    pub da: DeviceAddr,
    /// Length in bytes.
    pub len: u32,
    /// The `reserved` word, as found.
    pub reserved: u32,
    name: &'a [u8],
}

impl<'a> Trace<'a> {
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
        let b = at.body::<TraceBody>()?;
        let len = b.len.get();
        let raw = b.da.get();
        let Some(da) = addr_field(at, raw, len, Field::Da)? else {
            return Err(at.error(Field::Da, u64::from(raw), Problem::AnyNotAllowed));
        };
        Ok(Self {
            da: DeviceAddr::new(u64::from(da)),
            len,
            reserved: b.reserved.get(),
            name: &b.name,
        })
    }
}
