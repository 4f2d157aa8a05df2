//! Core dumps of a remote processor's memory: an ELF core file, or the raw bytes.
//!
//! This module owns the core file's layout, as Linux `rproc_coredump` writes it: an ELF
//! header (`ET_CORE`, the firmware's class and machine, the boot address as entry), one
//! `PT_LOAD` program header per chosen segment (`p_vaddr = p_paddr = da`, read-write-
//! execute, no alignment) and the segments' bytes back to back; any window of that
//! file can be produced on its own ([`CoreFormat::read_core_at`]), which is how the
//! inline format streams it. It also owns the raw format (the segments' bytes only)
//! and [`DumpFormat`], the platform's choice. Bytes come from the caller's reader; a
//! range it cannot translate is filled with `0xff`. It must never read memory itself,
//! and it writes only into the buffer it is given.
#![forbid(unsafe_code)]

use alloc::vec::Vec;
use core::fmt;

use crate::DeviceAddr;

const ET_CORE: u16 = 4;
const PT_LOAD: u32 = 1;
const PF_RWX: u32 = 7;
/// Program header count that means "see section 0" in ELF; a core file stays below it.
const PN_XNUM: usize = 0xffff;

/// How a processor's memory is dumped (Linux `rproc_dump_mechanism`, plus raw), chosen
/// by the platform with [`Rproc::set_dump_format`](crate::Rproc::set_dump_format).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum DumpFormat {
    /// An ELF core file, every segment copied into one buffer first (Linux's
    /// default): the dump outlives the memory it was read from.
    #[default]
    Elf,
    /// The same ELF core file, streamed piece by piece straight from the remote's
    /// memory while the processor's memory is still held (Linux's "inline": for
    /// memory that goes away when the processor stops, and to avoid a buffer the size
    /// of the dump). The whole dump happens inside the snapshot window.
    Inline,
    /// The dump segments' bytes back to back, no headers (one segment list).
    Raw,
    /// No dump.
    Disabled,
}

/// Bytes of a raw dump of `segments`: their sizes summed.
///
/// # Errors
/// [`CoredumpError::TooLarge`] if that does not fit the host's address space.
pub fn raw_size(segments: &[DumpSegment]) -> Result<usize, CoredumpError> {
    segments
        .iter()
        .enumerate()
        .try_fold(0usize, |total, (i, s)| {
            let too_large = CoredumpError::TooLarge {
                segment: i,
                size: s.size,
            };
            let size = usize::try_from(s.size).map_err(|_| too_large)?;
            total.checked_add(size).ok_or(too_large)
        })
}

/// Fills `dest` with the bytes of the raw dump of `segments` from byte `offset` on and
/// returns how many it wrote: `dest.len()` unless the dump ends first (0 at or after
/// its end). `read(da, part)` reads the remote's bytes at `da`; a part it cannot read
/// is `0xff`.
///
/// # Errors
/// As [`raw_size`].
pub fn read_raw_at(
    segments: &[DumpSegment],
    offset: usize,
    dest: &mut [u8],
    read: &mut dyn FnMut(DeviceAddr, &mut [u8]) -> bool,
) -> Result<usize, CoredumpError> {
    let total = raw_size(segments)?;
    let n = dest.len().min(total.saturating_sub(offset));
    let mut at = 0;
    for s in segments {
        let size = usize::try_from(s.size).unwrap_or(0);
        copy_segment(s, at, size, offset, &mut dest[..n], read);
        at += size;
    }
    Ok(n)
}

/// Copies the part of segment `s` (at `start` in the file, `size` bytes) that falls in
/// the file window `[offset, offset + window.len())` into `window`.
fn copy_segment(
    s: &DumpSegment,
    start: usize,
    size: usize,
    offset: usize,
    window: &mut [u8],
    read: &mut dyn FnMut(DeviceAddr, &mut [u8]) -> bool,
) {
    let lo = start.max(offset);
    let hi = (start + size).min(offset + window.len());
    if lo >= hi {
        return;
    }
    let Some(part) = window.get_mut(lo - offset..hi - offset) else {
        return;
    };
    let da = s.da.checked_add((lo - start) as u64);
    if !da.is_some_and(|da| read(da, part)) {
        part.fill(0xff);
    }
}

/// A range of the remote's memory to dump.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DumpSegment {
    /// Device address of the first byte.
    pub da: DeviceAddr,
    /// Bytes to dump.
    pub size: u64,
}

/// The shape of the core file: class, machine and entry, usually the firmware's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CoreFormat {
    /// ELF64 if true, ELF32 otherwise.
    pub elf64: bool,
    /// `e_machine` (40 is ARM, 243 RISC-V).
    pub machine: u16,
    /// `e_entry`: the boot address.
    pub entry: DeviceAddr,
}

/// Why a core file could not be written; the output buffer is unchanged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CoredumpError {
    /// The heap could not hold the core file.
    OutOfMemory {
        /// Bytes asked for.
        bytes: usize,
    },
    /// The core file needs `needed` bytes, the buffer has `available`.
    NoSpace {
        /// Bytes of the whole core file.
        needed: usize,
        /// Bytes in the buffer.
        available: usize,
    },
    /// The core file would not fit the host's address space.
    TooLarge {
        /// Index of the segment that made it too large.
        segment: usize,
        /// Its size.
        size: u64,
    },
    /// An ELF32 core cannot hold this segment's address, size or file offset (the
    /// segments before it already fill 4 GiB of the file).
    NotElf32 {
        /// Index of the segment.
        segment: usize,
        /// Its address.
        da: DeviceAddr,
        /// Its size.
        size: u64,
    },
    /// More segments than an ELF program header table can count.
    TooManySegments {
        /// Segments asked for.
        count: usize,
    },
}

impl CoreFormat {
    fn header_len(&self) -> u16 {
        if self.elf64 { 64 } else { 52 }
    }

    fn phdr_len(&self) -> u16 {
        if self.elf64 { 56 } else { 32 }
    }

    /// Bytes of the header and program headers for `n` segments.
    fn headers_len(&self, n: usize) -> usize {
        usize::from(self.header_len()) + usize::from(self.phdr_len()) * n
    }

    /// Bytes of the core file for `segments`.
    ///
    /// # Errors
    /// [`CoredumpError`] if the segments cannot be described in this format.
    pub fn core_size(&self, segments: &[DumpSegment]) -> Result<usize, CoredumpError> {
        if segments.len() >= PN_XNUM {
            return Err(CoredumpError::TooManySegments {
                count: segments.len(),
            });
        }
        let mut total = self.headers_len(segments.len());
        for (i, s) in segments.iter().enumerate() {
            // `total` is this segment's `p_offset`, an ELF32 word like `da` and `size`.
            let fits32 = s.da.to_u32().is_some()
                && u32::try_from(s.size).is_ok()
                && u32::try_from(total).is_ok();
            if !self.elf64 && !fits32 {
                return Err(CoredumpError::NotElf32 {
                    segment: i,
                    da: s.da,
                    size: s.size,
                });
            }
            let too_large = CoredumpError::TooLarge {
                segment: i,
                size: s.size,
            };
            let size = usize::try_from(s.size).map_err(|_| too_large)?;
            total = total.checked_add(size).ok_or(too_large)?;
        }
        Ok(total)
    }

    /// Writes the core file for `segments` at the start of `out`; `read(da, dest)` fills
    /// `dest` with the remote's bytes at `da` and returns `false` if it cannot translate
    /// them, in which case the segment reads as `0xff`. Returns the bytes written.
    ///
    /// ```
    /// use contig_rproc_glue::DeviceAddr;
    /// use contig_rproc_glue::coredump::{CoreFormat, DumpSegment};
    /// let fmt = CoreFormat { elf64: false, machine: 40, entry: DeviceAddr::new(0x1000_0000) };
    /// let segs = [DumpSegment { da: DeviceAddr::new(0x1000_0000), size: 4 },
    ///             DumpSegment { da: DeviceAddr::new(0xdead_0000), size: 2 }];
    /// let mut out = [0u8; 52 + 2 * 32 + 6];
    /// let n = fmt.write_core(&segs, &mut |da, dest| {
    ///     if da.as_u64() != 0x1000_0000 { return false; }
    ///     dest.copy_from_slice(b"M4ok");
    ///     true
    /// }, &mut out).unwrap();
    /// assert_eq!(n, out.len());
    /// assert_eq!(&out[116..], b"M4ok\xff\xff");
    /// ```
    ///
    /// # Errors
    /// [`CoredumpError::NoSpace`] with both sizes if `out` is too small, or as
    /// [`CoreFormat::core_size`].
    pub fn write_core(
        &self,
        segments: &[DumpSegment],
        read: &mut dyn FnMut(DeviceAddr, &mut [u8]) -> bool,
        out: &mut [u8],
    ) -> Result<usize, CoredumpError> {
        let needed = self.core_size(segments)?;
        let Some(out) = out.get_mut(..needed) else {
            return Err(CoredumpError::NoSpace {
                needed,
                available: out.len(),
            });
        };
        let mut w = Writer {
            out,
            pos: 0,
            elf64: self.elf64,
        };
        self.write_header(&mut w, segments.len());
        // `core_size` proved every size fits `usize` and their sum fits `out`.
        let size = |s: &DumpSegment| usize::try_from(s.size).unwrap_or(0);
        let mut offset = self.headers_len(segments.len());
        for s in segments {
            write_phdr(&mut w, offset, s);
            offset += size(s);
        }
        for s in segments {
            let start = w.pos;
            let end = start + size(s);
            if let Some(dest) = w.out.get_mut(start..end) {
                if !read(s.da, dest) {
                    dest.fill(0xff);
                }
            }
            w.pos = end;
        }
        Ok(needed)
    }

    /// Fills `dest` with the bytes of the core file for `segments` from byte `offset`
    /// on and returns how many it wrote: `dest.len()` unless the file ends first (0 at
    /// or after its end). Only the segment bytes inside the window are read, each
    /// through `read(da, part)`; a part it cannot read is `0xff`. The same file as
    /// [`write_core`](Self::write_core), one window at a time (as Linux's inline dump
    /// serves a reader).
    ///
    /// ```
    /// use contig_rproc_glue::DeviceAddr;
    /// use contig_rproc_glue::coredump::{CoreFormat, DumpSegment};
    /// let fmt = CoreFormat { elf64: false, machine: 40, entry: DeviceAddr::new(0) };
    /// let segs = [DumpSegment { da: DeviceAddr::new(0x100), size: 8 }];
    /// let mut read = |da: DeviceAddr, dest: &mut [u8]| {
    ///     for (i, b) in dest.iter_mut().enumerate() { *b = (da.as_u64() as u8).wrapping_add(i as u8); }
    ///     true
    /// };
    /// let whole = fmt.core_vec(&segs, &mut read).unwrap();
    /// let mut window = [0u8; 5];
    /// assert_eq!(fmt.read_core_at(&segs, whole.len() - 6, &mut window, &mut read), Ok(5));
    /// assert_eq!(window[..], whole[whole.len() - 6..whole.len() - 1]);
    /// ```
    ///
    /// # Errors
    /// As [`CoreFormat::core_size`].
    pub fn read_core_at(
        &self,
        segments: &[DumpSegment],
        offset: usize,
        dest: &mut [u8],
        read: &mut dyn FnMut(DeviceAddr, &mut [u8]) -> bool,
    ) -> Result<usize, CoredumpError> {
        let total = self.core_size(segments)?;
        let n = dest.len().min(total.saturating_sub(offset));
        let window = &mut dest[..n];
        // Headers: rebuilt in a small buffer, one at a time, and the overlap copied.
        let mut piece = [0u8; 64];
        let hl = usize::from(self.header_len());
        let mut w = Writer {
            out: &mut piece[..hl],
            pos: 0,
            elf64: self.elf64,
        };
        self.write_header(&mut w, segments.len());
        copy_bytes(&piece[..hl], 0, offset, window);
        let pl = usize::from(self.phdr_len());
        let mut data = self.headers_len(segments.len());
        for (i, s) in segments.iter().enumerate() {
            let mut w = Writer {
                out: &mut piece[..pl],
                pos: 0,
                elf64: self.elf64,
            };
            write_phdr(&mut w, data, s);
            copy_bytes(&piece[..pl], hl + i * pl, offset, window);
            let size = usize::try_from(s.size).unwrap_or(0);
            copy_segment(s, data, size, offset, window, read);
            data += size;
        }
        Ok(n)
    }

    /// The core file as a new vector.
    ///
    /// # Errors
    /// As [`CoreFormat::core_size`].
    pub fn core_vec(
        &self,
        segments: &[DumpSegment],
        read: &mut dyn FnMut(DeviceAddr, &mut [u8]) -> bool,
    ) -> Result<Vec<u8>, CoredumpError> {
        let size = self.core_size(segments)?;
        let mut out = crate::dma_pool::cma::fallible::try_vec_filled(0, size, "core bytes")
            .map_err(|_| CoredumpError::OutOfMemory { bytes: size })?;
        self.write_core(segments, read, &mut out)?;
        Ok(out)
    }

    fn write_header(&self, w: &mut Writer<'_>, phnum: usize) {
        let class = if self.elf64 { 2 } else { 1 };
        w.bytes(&[
            0x7f, b'E', b'L', b'F', class, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ]);
        w.u16(ET_CORE);
        w.u16(self.machine);
        w.u32(1);
        w.addr(self.entry.as_u64());
        w.addr(u64::from(self.header_len())); // e_phoff: right after the header
        w.addr(0); // e_shoff: no sections
        w.u32(0);
        w.u16(self.header_len());
        w.u16(self.phdr_len());
        w.u16(u16::try_from(phnum).unwrap_or(u16::MAX));
        w.u16(0);
        w.u16(0);
        w.u16(0);
    }
}

/// Copies the part of `bytes` (at `start` in the file) inside the file window
/// `[offset, offset + window.len())` into `window`.
fn copy_bytes(bytes: &[u8], start: usize, offset: usize, window: &mut [u8]) {
    let lo = start.max(offset);
    let hi = (start + bytes.len()).min(offset + window.len());
    if lo < hi {
        if let (Some(d), Some(b)) = (
            window.get_mut(lo - offset..hi - offset),
            bytes.get(lo - start..hi - start),
        ) {
            d.copy_from_slice(b);
        }
    }
}

fn write_phdr(w: &mut Writer<'_>, offset: usize, s: &DumpSegment) {
    w.u32(PT_LOAD);
    if w.elf64 {
        w.u32(PF_RWX);
    }
    w.addr(offset as u64);
    w.addr(s.da.as_u64());
    w.addr(s.da.as_u64());
    w.addr(s.size);
    w.addr(s.size);
    if !w.elf64 {
        w.u32(PF_RWX);
    }
    w.addr(0);
}

/// Sequential little-endian writes into a buffer sized beforehand.
struct Writer<'a> {
    out: &'a mut [u8],
    pos: usize,
    elf64: bool,
}

impl Writer<'_> {
    fn bytes(&mut self, b: &[u8]) {
        let end = self.pos + b.len();
        // The buffer was sized by `core_size`, so the range is inside it.
        if let Some(dest) = self.out.get_mut(self.pos..end) {
            dest.copy_from_slice(b);
        }
        self.pos = end;
    }

    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }

    /// An address or size field: 8 bytes in ELF64, 4 in ELF32 (`core_size` checked
    /// that ELF32 values fit).
    fn addr(&mut self, v: u64) {
        if self.elf64 {
            self.bytes(&v.to_le_bytes());
        } else {
            self.u32(u32::try_from(v).unwrap_or(u32::MAX));
        }
    }
}

impl fmt::Display for CoredumpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::OutOfMemory { bytes } => {
                write!(
                    f,
                    "out of memory reserving room for a {bytes}-byte core file"
                )
            }
            Self::NoSpace { needed, available } => {
                write!(
                    f,
                    "core file needs {needed} bytes, the buffer has {available}"
                )
            }
            Self::TooLarge { segment, size } => {
                write!(
                    f,
                    "core segment {segment} of {size:#x} bytes does not fit in memory"
                )
            }
            Self::NotElf32 { segment, da, size } => write!(
                f,
                "core segment {segment} at {da} of {size:#x} bytes does not fit an ELF32 core"
            ),
            Self::TooManySegments { count } => {
                write!(f, "{count} core segments are more than ELF can count")
            }
        }
    }
}

impl core::error::Error for CoredumpError {}
