//! The sector patterns shared with `run.sh`.
//!
//! Every 512-byte sector holds one 32-byte line 16 times: an 8-byte tag, ` sector `,
//! the sector number in six decimal digits, ` contig..` and a newline, exactly what
//! `printf '%s sector %06d contig..\n' TAG N` prints. `run.sh` writes [`PREFILL`] lines
//! into the disk image before the run, and after it compares the sectors the kernel
//! wrote with [`WRITTEN`] lines.

use core::fmt;

use virtio_drivers::device::blk::SECTOR_SIZE;

/// Tag of the sectors `run.sh` fills before the run (device -> memory).
pub const PREFILL: &[u8; 8] = b"PREFILL:";
/// Tag of the sectors the kernel writes (memory -> device).
pub const WRITTEN: &[u8; 8] = b"WRITTEN:";
/// First pre-filled sector (`run.sh`: `PREFILL_FIRST`).
pub const PREFILL_FIRST: usize = 16;
/// First sector the kernel writes (`run.sh`: `WRITTEN_FIRST`).
pub const WRITTEN_FIRST: usize = 64;
/// Sectors in each pattern (`run.sh`: `SECTORS`).
pub const SECTORS: usize = 8;
/// Bytes in each pattern.
pub const BYTES: usize = SECTORS * SECTOR_SIZE;

const LINE: usize = 32;

/// Fills `buf` (whole sectors) with `tag` lines for sectors `first..`.
pub fn fill(tag: &[u8; 8], first: usize, buf: &mut [u8]) {
    for (i, sector) in buf.chunks_mut(SECTOR_SIZE).enumerate() {
        let mut line = [0u8; LINE];
        line[..8].copy_from_slice(tag);
        line[8..16].copy_from_slice(b" sector ");
        let mut n = first + i;
        for digit in line[16..22].iter_mut().rev() {
            *digit = b'0' + (n % 10) as u8;
            n /= 10;
        }
        line[22..].copy_from_slice(b" contig..\n");
        for chunk in sector.chunks_mut(LINE) {
            chunk.copy_from_slice(&line[..chunk.len()]);
        }
    }
}

/// Where a buffer first differs from its pattern.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Difference {
    /// The sector.
    pub sector: usize,
    /// The byte inside the sector.
    pub offset: usize,
    /// What the pattern has there.
    pub want: u8,
    /// What the buffer has.
    pub got: u8,
}

/// The first byte where `got` differs from the `tag` pattern for sectors `first..`.
pub fn mismatch(tag: &[u8; 8], first: usize, got: &[u8]) -> Option<Difference> {
    let mut want = [0u8; BYTES];
    let Some(want) = want.get_mut(..got.len()) else {
        // Longer than any pattern: never a match.
        return Some(Difference {
            sector: first,
            offset: 0,
            want: 0,
            got: 0,
        });
    };
    fill(tag, first, want);
    let at = want.iter().zip(got).position(|(w, g)| w != g)?;
    Some(Difference {
        sector: first + at / SECTOR_SIZE,
        offset: at % SECTOR_SIZE,
        want: want[at],
        got: got[at],
    })
}

/// "identical", or where and how a buffer differs from its pattern.
pub struct Verdict(pub Option<Difference>);

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("identical"),
            Some(d) => write!(
                f,
                "first difference in sector {} at byte {}: expected '{}', found '{}'",
                d.sector,
                d.offset,
                d.want.escape_ascii(),
                d.got.escape_ascii()
            ),
        }
    }
}
