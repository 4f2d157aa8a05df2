//! ELF images built byte by byte for the tests (also the planner's tests, in
//! `rproc-glue/plan`, which include this file by path).
#![allow(dead_code, unreachable_pub, clippy::cast_possible_truncation)]

/// A program header to put in an image.
pub struct Seg<'a> {
    pub paddr: u64,
    pub data: &'a [u8],
    pub memsz: u64,
    pub ptype: u32,
}

/// Writes `v` in 4 or 8 bytes.
fn word(out: &mut Vec<u8>, elf64: bool, v: u64) {
    if elf64 {
        out.extend_from_slice(&v.to_le_bytes());
    } else {
        out.extend_from_slice(&(v as u32).to_le_bytes());
    }
}

/// An executable image: header, program headers, segment data, the resource table
/// section data, `.shstrtab`, then section headers (null, .resource_table, .shstrtab).
pub fn image(elf64: bool, segs: &[Seg<'_>], rsc: Option<(u64, &[u8])>) -> Vec<u8> {
    let (ehsize, phsize, shsize) = if elf64 { (64, 56, 64) } else { (52, 32, 40) };
    let mut data_at = ehsize + phsize * segs.len();
    let mut offsets = Vec::new();
    for s in segs {
        offsets.push(data_at);
        data_at += s.data.len();
    }
    let rsc_at = data_at;
    let rsc_bytes = rsc.map_or(&[][..], |(_, b)| b);
    let strtab = b"\0.resource_table\0.shstrtab\0";
    let strtab_at = rsc_at + rsc_bytes.len();
    let shoff = strtab_at + strtab.len();
    let shnum = if rsc.is_some() { 3 } else { 0 };

    let mut out = vec![0x7f, b'E', b'L', b'F', if elf64 { 2 } else { 1 }, 1, 1, 0];
    out.extend_from_slice(&[0; 8]);
    out.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    out.extend_from_slice(&40u16.to_le_bytes()); // ARM
    out.extend_from_slice(&1u32.to_le_bytes());
    word(&mut out, elf64, 0x1000_0101); // entry
    word(&mut out, elf64, ehsize as u64);
    word(&mut out, elf64, if shnum > 0 { shoff as u64 } else { 0 });
    out.extend_from_slice(&0u32.to_le_bytes());
    for h in [
        ehsize,
        phsize,
        segs.len(),
        shsize,
        shnum,
        if shnum > 0 { 2 } else { 0 },
    ] {
        out.extend_from_slice(&(h as u16).to_le_bytes());
    }
    assert_eq!(out.len(), ehsize);
    for (s, off) in segs.iter().zip(&offsets) {
        out.extend_from_slice(&s.ptype.to_le_bytes());
        if elf64 {
            out.extend_from_slice(&7u32.to_le_bytes());
        }
        for v in [*off as u64, s.paddr, s.paddr, s.data.len() as u64, s.memsz] {
            word(&mut out, elf64, v);
        }
        if !elf64 {
            out.extend_from_slice(&7u32.to_le_bytes());
        }
        word(&mut out, elf64, 4);
    }
    for s in segs {
        out.extend_from_slice(s.data);
    }
    out.extend_from_slice(rsc_bytes);
    out.extend_from_slice(strtab);
    if let Some((addr, bytes)) = rsc {
        out.resize(out.len() + shsize, 0); // null section
        section(&mut out, elf64, 1, 1, addr, rsc_at, bytes.len()); // .resource_table PROGBITS
        section(&mut out, elf64, 17, 3, 0, strtab_at, strtab.len()); // .shstrtab STRTAB
    }
    out
}

fn section(
    out: &mut Vec<u8>,
    elf64: bool,
    name: u32,
    kind: u32,
    addr: u64,
    off: usize,
    size: usize,
) {
    out.extend_from_slice(&name.to_le_bytes());
    out.extend_from_slice(&kind.to_le_bytes());
    word(out, elf64, 2); // SHF_ALLOC
    for v in [addr, off as u64, size as u64] {
        word(out, elf64, v);
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&0u32.to_le_bytes());
    word(out, elf64, 4);
    word(out, elf64, 0);
}
