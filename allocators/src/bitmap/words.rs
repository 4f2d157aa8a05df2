//! Bit operations over `u64` word slices: the word-level scans of the bitmap backend.
//!
//! Bit `i` of a slice is bit `i % 64` (least significant first) of word `i / 64`. The
//! functions never index past the slice: an index outside it reads as "no bit" and writes
//! to it are dropped, so a caller's mistake can at worst give a wrong answer, never a panic.

#![forbid(unsafe_code)]

/// Bits per word.
pub(super) const BITS: usize = u64::BITS as usize;

/// The word holding bit `i` and the bit's position in it.
#[inline]
pub(super) const fn split(i: usize) -> (usize, usize) {
    (i / BITS, i % BITS)
}

/// Ones at positions `>= bit` (of a word); `bit` is taken modulo 64.
#[inline]
pub(super) const fn from_bit(bit: usize) -> u64 {
    u64::MAX << (bit % BITS)
}

/// Ones at positions `< bit`, where `bit <= 64`.
#[inline]
pub(super) const fn below_bit(bit: usize) -> u64 {
    if bit >= BITS {
        u64::MAX
    } else {
        (1u64 << bit) - 1
    }
}

/// Word `w` of a used map, full past its end: units past the map can never be free
/// (the run tree's leaf slots past the map, the runs the floors look at).
#[inline]
pub(super) const fn word_or_full(used: &[u64], w: usize) -> u64 {
    if w < used.len() { used[w] } else { u64::MAX }
}

/// Whether bit `i` is set.
#[inline]
pub(super) fn test(words: &[u64], i: usize) -> bool {
    let (w, b) = split(i);
    words.get(w).is_some_and(|word| word >> b & 1 == 1)
}

/// Sets (`value`) or clears bit `i`.
#[inline]
pub(super) fn assign(words: &mut [u64], i: usize, value: bool) {
    let (w, b) = split(i);
    if let Some(word) = words.get_mut(w) {
        if value {
            *word |= 1 << b;
        } else {
            *word &= !(1 << b);
        }
    }
}

/// Sets (`value`) or clears the bits `mask` of word `w`, if there is one.
#[inline]
const fn apply(words: &mut [u64], w: usize, mask: u64, value: bool) {
    if w < words.len() {
        if value {
            words[w] |= mask;
        } else {
            words[w] &= !mask;
        }
    }
}

/// Sets (`value`) or clears every bit of `[from, to)`: the two end words masked, the
/// words between stored whole (a plain loop the compiler turns into a block fill). A
/// `const fn`: the bitmap's constructors over caller storage lay out their padding bits
/// with it.
pub(super) const fn assign_range(words: &mut [u64], from: usize, to: usize, value: bool) {
    if from >= to {
        return;
    }
    let (first, first_bit) = split(from);
    let (last, last_bit) = split(to - 1);
    let (head, tail) = (from_bit(first_bit), below_bit(last_bit + 1));
    if first == last {
        apply(words, first, head & tail, value);
        return;
    }
    apply(words, first, head, value);
    apply(words, last, tail, value);
    let fill = if value { u64::MAX } else { 0 };
    let end = if last < words.len() {
        last
    } else {
        words.len()
    };
    let mut w = first + 1;
    while w < end {
        words[w] = fill;
        w += 1;
    }
}

/// The first set bit in `[from, to)`: the first word masked, then whole words compared
/// with zero ([`first_nonzero`]), then `trailing_zeros`.
pub(super) fn first_set(words: &[u64], from: usize, to: usize) -> Option<usize> {
    if from >= to {
        return None;
    }
    let (w, first_bit) = split(from);
    let hits = words.get(w)? & from_bit(first_bit);
    let (w, hits) = if hits != 0 {
        (w, hits)
    } else {
        // Words `w + 1 ..= last`, as far as the slice goes.
        let last = (to - 1) / BITS;
        let rest = words.get(w + 1..words.len().min(last + 1))?;
        let k = first_nonzero(rest)?;
        (w + 1 + k, rest[k])
    };
    let i = w * BITS + hits.trailing_zeros() as usize;
    (i < to).then_some(i)
}

/// Words OR-ed together per step of [`first_nonzero`].
const STRIDE: usize = 8;

/// The index of the first word of `words` that is not zero: a stride of words at a
/// time ORed together (no branch per word, so long all-zero stretches, such as the
/// start map inside a large allocation, go several times faster), then the word.
#[inline]
fn first_nonzero(words: &[u64]) -> Option<usize> {
    let mut base = 0;
    for stride in words.chunks_exact(STRIDE) {
        if stride.iter().fold(0, |any, &word| any | word) != 0 {
            break;
        }
        base += STRIDE;
    }
    let k = words.get(base..)?.iter().position(|&word| word != 0)?;
    Some(base + k)
}

/// For the 128 bits `lo` (bits 0..64) and `hi` (bits 64..128), the positions `i < 64`
/// such that bits `i .. i + run` are all set (`1 <= run <= 64`): where a run of `run` set
/// bits starts in `lo`, possibly reaching into `hi`. Takes `log2(run)` shift-and steps,
/// or fewer when no start is left: in a word of short holes, one or two.
#[inline]
pub(super) const fn run_starts(lo: u64, hi: u64, run: usize) -> u64 {
    let (mut lo, mut hi) = (lo, hi);
    let mut have = 1;
    // A step only clears starts: once none is left, none comes back.
    while have < run && lo != 0 {
        // `have < run <= 64` so `1 <= step <= 32`: both shifts below are in range.
        let step = if have < run - have { have } else { run - have };
        lo &= lo >> step | hi << (BITS - step);
        hi &= hi >> step;
        have += step;
    }
    lo
}

/// [`run_starts`] for `1 <= run <= 4`, without a branch: a start of a run of 4 is a
/// free unit whose next three are free, and for fewer units the masks set here (once
/// per search) let the later ones through. On random descriptors at 64 B units (1 to
/// 4 units) the loop's exit, on the count and on whether a start was left, was a
/// misprediction on most words scanned, 14 % of all of them, where the steps it
/// spared are one or two.
#[derive(Clone, Copy)]
pub(super) struct ShortRun {
    /// Per `k` in 1..=3: all ones if the run need not reach `k` units further.
    pass: [u64; 3],
}

impl ShortRun {
    /// The masks of a run of `run` units (`1 <= run <= 4`; a larger one is taken as 4).
    #[inline(always)]
    pub(super) fn new(run: usize) -> Self {
        let pass = |k: usize| if run > k { 0 } else { u64::MAX };
        Self {
            pass: [pass(1), pass(2), pass(3)],
        }
    }

    /// [`run_starts`] of `lo` and `hi` for this run.
    #[inline(always)]
    pub(super) fn starts(self, lo: u64, hi: u64) -> u64 {
        // Bits `k` further on, the high word's shifted in: `1 <= k <= 3`.
        let next = |k: u32| lo >> k | hi << (u64::BITS - k);
        lo & (next(1) | self.pass[0]) & (next(2) | self.pass[1]) & (next(3) | self.pass[2])
    }
}

/// Ones at every position `i` of a word whose absolute unit index is a multiple of `align`
/// (`align` a power of two `<= 64`), for a word whose bit 0 is absolute unit `base`.
#[inline]
pub(super) const fn aligned_positions(align: usize, base: usize) -> u64 {
    // 0x..0101 with period `align`, by its log2, looked up: built bit-doubling, it took
    // six steps for alignment 1 on every small request. The period divides 64, so
    // shifting by less than one period and refilling the low bits with the same pattern
    // keeps it exact.
    const PERIODIC: [u64; 7] = [
        u64::MAX,
        0x5555_5555_5555_5555,
        0x1111_1111_1111_1111,
        0x0101_0101_0101_0101,
        0x0001_0001_0001_0001,
        0x0000_0001_0000_0001,
        1,
    ];
    let log2 = align.trailing_zeros() as usize;
    let pattern = if log2 < PERIODIC.len() {
        PERIODIC[log2]
    } else {
        1
    };
    // Masks rather than `%`: `align` and 64 are powers of two, and a division here would
    // cost more than the rest of a word's scan whenever the compiler cannot prove that.
    let mask = align - 1;
    let shift = (align - (base & mask)) & mask;
    pattern << shift | pattern >> ((BITS - shift) & (BITS - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cross_words() {
        let mut w = [0u64; 3];
        assign_range(&mut w, 60, 130, true);
        assert_eq!(w, [0xF << 60, u64::MAX, 0b11]);
        assert_eq!(first_set(&w, 0, 192), Some(60));
        assert_eq!(first_set(&w, 0, 60), None);
        assert_eq!(first_set(&w, 129, 192), Some(129));
        assert_eq!(first_set(&w, 130, 192), None);
        assign_range(&mut w, 61, 129, false);
        assert_eq!(w, [1 << 60, 0, 0b10]);
        assert!(test(&w, 60) && !test(&w, 61) && test(&w, 129) && !test(&w, 999));
        assign(&mut w, 999, true); // out of the slice: dropped, no panic
        assert_eq!(first_set(&w, 130, 10_000), None);
    }

    #[test]
    fn long_scans_find_the_first_set_bit_in_and_past_every_stride() {
        for len in [1, STRIDE - 1, STRIDE, STRIDE + 1, 5 * STRIDE + 3] {
            let mut w = alloc::vec![0u64; len];
            assert_eq!(first_set(&w, 0, len * 64), None);
            for at in (0..len * 64).step_by(61) {
                w[at / 64] = 1 << (at % 64);
                assert_eq!(first_set(&w, 0, len * 64), Some(at), "len {len}");
                assert_eq!(first_set(&w, 0, at), None);
                assert_eq!(first_set(&w, at + 1, len * 64), None);
                w[at / 64] = 0;
            }
        }
    }

    #[test]
    fn run_starts_finds_runs_across_the_word_boundary() {
        let (lo, hi) = (0b11 << 62 | 0b1 << 3, 0b11);
        assert_eq!(run_starts(lo, hi, 1), lo);
        assert_eq!(run_starts(lo, hi, 4), 1 << 62);
        assert_eq!(run_starts(lo, hi, 3), 0b11 << 62);
        assert_eq!(run_starts(lo, hi, 5), 0);
        assert_eq!(run_starts(u64::MAX, u64::MAX, 64), u64::MAX);
        assert_eq!(run_starts(u64::MAX, u64::MAX >> 1, 64), u64::MAX);
        assert_eq!(run_starts(u64::MAX, 0, 64), 1);
        assert_eq!(run_starts(u64::MAX, 0, 33), u64::MAX >> 32);
    }

    #[test]
    fn short_run_starts_match_the_loop() {
        let mut rng = 0x5eed_u64;
        let mut words = alloc::vec![0, u64::MAX, 1, 1 << 63, 0b11 << 62, 0x5555_5555_5555_5555];
        for _ in 0..2000 {
            let (a, b) = (
                crate::test_rng::xorshift(&mut rng),
                crate::test_rng::xorshift(&mut rng),
            );
            words.extend([a, a | b, a & b, !(a & b)]);
        }
        for (k, &lo) in words.iter().enumerate() {
            let hi = words[(k * 7 + 3) % words.len()];
            for run in 1..=4 {
                assert_eq!(
                    ShortRun::new(run).starts(lo, hi),
                    run_starts(lo, hi, run),
                    "{lo:#x} {hi:#x} {run}"
                );
            }
        }
        // A run of exactly 4 across the word boundary, and one of 3 that is not 4.
        assert_eq!(ShortRun::new(4).starts(0b11 << 62, 0b11), 1 << 62);
        assert_eq!(ShortRun::new(4).starts(0b11 << 62, 0b1), 0);
        assert_eq!(ShortRun::new(3).starts(0b11 << 62, 0b1), 1 << 62);
    }

    #[test]
    fn aligned_positions_follow_the_phase() {
        assert_eq!(aligned_positions(1, 7), u64::MAX);
        assert_eq!(aligned_positions(2, 0), 0x5555_5555_5555_5555);
        assert_eq!(aligned_positions(2, 1), 0xAAAA_AAAA_AAAA_AAAA);
        assert_eq!(aligned_positions(64, 0), 1);
        assert_eq!(aligned_positions(64, 3), 1 << 61);
        assert_eq!(aligned_positions(8, 5), 0x0808_0808_0808_0808);
        for log2 in 0..=6 {
            let align = 1 << log2;
            for base in 0..200 {
                let bit_by_bit = (0..64)
                    .filter(|i| (base + i) % align == 0)
                    .fold(0u64, |bits, i| bits | 1 << i);
                assert_eq!(aligned_positions(align, base), bit_by_bit, "{align} {base}");
            }
        }
    }
}
