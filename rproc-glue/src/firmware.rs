//! Firmware ELF images: the resource table section and the loadable segments.
//!
//! This module owns [`Firmware`], a checked view of a little-endian ELF32 or ELF64
//! image parsed with the `elf` crate's zero-allocation parser. Everything Linux's
//! `rproc_elf_sanity_check` and loader refuse is refused here when the image is
//! parsed, so listing segments afterwards cannot fail. It must never copy a segment
//! anywhere (loading is the caller's callback) nor allocate.
#![forbid(unsafe_code)]

use core::fmt;

use elf::ElfBytes;
use elf::abi::{PT_LOAD, SHF_COMPRESSED, SHT_NOBITS};
use elf::endian::LittleEndian;
use elf::file::Class;
use elf::segment::ProgramHeader;

use crate::DeviceAddr;
use crate::rsc::{RscError, RscTable};

/// The name of the section that holds the resource table.
pub const RESOURCE_TABLE_SECTION: &str = ".resource_table";

/// A checked firmware image.
///
/// ```
/// use contig_rproc_glue::firmware::{Firmware, FirmwareError};
/// assert!(matches!(Firmware::parse(b"\x7fELF"), Err(FirmwareError::Elf(_))));
/// ```
#[derive(Debug)]
pub struct Firmware<'a> {
    elf: ElfBytes<'a, LittleEndian>,
    rsc: Option<RscSection<'a>>,
}

/// A loadable (`PT_LOAD`) segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Segment<'a> {
    /// Index in the program header table.
    pub index: usize,
    /// Where the remote wants it (`p_paddr`, as Linux's loader uses).
    pub da: DeviceAddr,
    /// Bytes in memory; the part past `data` is zeroed by the loader.
    pub memsz: u64,
    /// The bytes in the file (`p_filesz` of them).
    pub data: &'a [u8],
    /// `p_flags`.
    pub flags: u32,
}

/// The `.resource_table` section.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RscSection<'a> {
    /// Where the loaded table lives for the remote (`sh_addr`).
    pub da: DeviceAddr,
    /// Byte offset of the section in the image.
    pub offset: u64,
    /// The section's bytes in the image.
    pub bytes: &'a [u8],
}

/// A field of a program or section header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderField {
    /// `p_filesz`.
    FileSize,
    /// `p_memsz`.
    MemSize,
    /// `p_offset` / `sh_offset`.
    Offset,
    /// `sh_type`.
    SectionType,
    /// `sh_flags`.
    SectionFlags,
}

/// Why an image was refused.
#[derive(Debug)]
#[non_exhaustive]
pub enum FirmwareError {
    /// The ELF parser refused the image (bad magic, not little-endian, truncated
    /// headers, tables outside the file...).
    Elf(elf::ParseError),
    /// The image has no `PT_LOAD` segment.
    NoLoadableSegments,
    /// A `PT_LOAD` segment is inconsistent.
    Segment {
        /// Index in the program header table.
        index: usize,
        /// The offending field.
        field: HeaderField,
        /// Its value.
        value: u64,
        /// What it was checked against: `p_memsz` for `p_filesz`, the file length for
        /// `p_offset`, and the top of the address space for `p_memsz`.
        limit: u64,
    },
    /// The `.resource_table` section cannot be read from the image.
    RscSection {
        /// The offending field.
        field: HeaderField,
        /// Its value.
        value: u64,
    },
    /// The `.resource_table` section is not a valid table.
    Rsc(RscError),
}

impl<'a> Firmware<'a> {
    /// Checks `bytes` as a firmware image: ELF header, program headers, every loadable
    /// segment (`p_filesz <= p_memsz`, its bytes inside the file, `p_paddr + p_memsz`
    /// without overflow) and the `.resource_table` section if there is one.
    ///
    /// # Errors
    /// The first problem found, as a [`FirmwareError`].
    pub fn parse(bytes: &'a [u8]) -> Result<Self, FirmwareError> {
        let elf = ElfBytes::<LittleEndian>::minimal_parse(bytes).map_err(FirmwareError::Elf)?;
        let phdrs = elf.segments().ok_or(FirmwareError::NoLoadableSegments)?;
        let mut loadable = 0usize;
        for (index, phdr) in phdrs
            .iter()
            .enumerate()
            .filter(|(_, p)| p.p_type == PT_LOAD)
        {
            check_segment(bytes.len(), index, &phdr)?;
            loadable += 1;
        }
        if loadable == 0 {
            return Err(FirmwareError::NoLoadableSegments);
        }
        let rsc = find_rsc(&elf)?;
        Ok(Self { elf, rsc })
    }

    /// Whether the image is ELF64.
    #[must_use]
    pub fn is_64(&self) -> bool {
        self.elf.ehdr.class == Class::ELF64
    }

    /// `e_machine`.
    #[must_use]
    pub fn machine(&self) -> u16 {
        self.elf.ehdr.e_machine
    }

    /// The boot address (`e_entry`).
    #[must_use]
    pub fn entry(&self) -> DeviceAddr {
        DeviceAddr::new(self.elf.ehdr.e_entry)
    }

    /// The loadable segments in program-header order.
    pub fn segments(&self) -> impl Iterator<Item = Segment<'a>> + '_ {
        let phdrs = self
            .elf
            .segments()
            .into_iter()
            .flat_map(|t| t.iter().enumerate());
        // `parse` checked every PT_LOAD segment's data range, so none is dropped here.
        phdrs
            .filter(|(_, p)| p.p_type == PT_LOAD)
            .filter_map(|(index, p)| {
                Some(Segment {
                    index,
                    da: DeviceAddr::new(p.p_paddr),
                    memsz: p.p_memsz,
                    data: self.elf.segment_data(&p).ok()?,
                    flags: p.p_flags,
                })
            })
    }

    /// The `.resource_table` section, if the image has one.
    #[must_use]
    pub fn rsc_section(&self) -> Option<RscSection<'a>> {
        self.rsc
    }

    /// The resource table, checked; `None` if the image has no such section.
    ///
    /// # Errors
    /// [`FirmwareError::Rsc`] if the section is not a valid table.
    pub fn resource_table(&self) -> Result<Option<RscTable<'a>>, FirmwareError> {
        self.rsc
            .map(|s| RscTable::parse(s.bytes).map_err(FirmwareError::Rsc))
            .transpose()
    }
}

fn check_segment(file_len: usize, index: usize, p: &ProgramHeader) -> Result<(), FirmwareError> {
    let refuse = |field, value, limit| FirmwareError::Segment {
        index,
        field,
        value,
        limit,
    };
    if p.p_filesz > p.p_memsz {
        return Err(refuse(HeaderField::FileSize, p.p_filesz, p.p_memsz));
    }
    let file_len = file_len as u64;
    match p.p_offset.checked_add(p.p_filesz) {
        Some(end) if end <= file_len => {}
        _ => return Err(refuse(HeaderField::Offset, p.p_offset, file_len)),
    }
    if p.p_paddr.checked_add(p.p_memsz).is_none() {
        return Err(refuse(
            HeaderField::MemSize,
            p.p_memsz,
            u64::MAX - p.p_paddr,
        ));
    }
    Ok(())
}

fn find_rsc<'a>(elf: &ElfBytes<'a, LittleEndian>) -> Result<Option<RscSection<'a>>, FirmwareError> {
    let Some(shdr) = elf
        .section_header_by_name(RESOURCE_TABLE_SECTION)
        .map_err(FirmwareError::Elf)?
    else {
        return Ok(None);
    };
    let refuse = |field, value| FirmwareError::RscSection { field, value };
    if shdr.sh_type == SHT_NOBITS {
        return Err(refuse(HeaderField::SectionType, u64::from(shdr.sh_type)));
    }
    if shdr.sh_flags & u64::from(SHF_COMPRESSED) != 0 {
        return Err(refuse(HeaderField::SectionFlags, shdr.sh_flags));
    }
    let (bytes, _) = elf
        .section_data(&shdr)
        .map_err(|_| refuse(HeaderField::Offset, shdr.sh_offset))?;
    Ok(Some(RscSection {
        da: DeviceAddr::new(shdr.sh_addr),
        offset: shdr.sh_offset,
        bytes,
    }))
}

impl fmt::Display for HeaderField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::FileSize => "p_filesz",
            Self::MemSize => "p_memsz",
            Self::Offset => "offset",
            Self::SectionType => "sh_type",
            Self::SectionFlags => "sh_flags",
        })
    }
}

impl fmt::Display for FirmwareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Elf(e) => write!(f, "firmware is not a valid little-endian ELF image: {e}"),
            Self::NoLoadableSegments => f.write_str("firmware has no loadable segment"),
            Self::Segment {
                index,
                field,
                value,
                limit,
            } => write!(
                f,
                "firmware segment {index}: {field} = {value:#x} exceeds {limit:#x}"
            ),
            Self::RscSection { field, value } => {
                write!(
                    f,
                    "firmware {RESOURCE_TABLE_SECTION} section: {field} = {value:#x} is unusable"
                )
            }
            Self::Rsc(e) => write!(f, "firmware {RESOURCE_TABLE_SECTION}: {e}"),
        }
    }
}

impl core::error::Error for FirmwareError {}
