//! The size classes of the TLSF backend: which bin a free piece of `len` units is filed
//! under, and the first bin all of whose pieces hold a request.
//!
//! Two levels: the first is the position of the highest set bit of the length, the
//! second splits each power-of-two range into [`SL_COUNT`] equal sub-ranges, so a bin
//! spans at most 1/32 of its lower bound (lengths below 64 get a bin each). Lengths are
//! below `2^LEN_BITS` (the backend's capacity limit), which bounds the first level. A
//! bin is one flat index, `first level * SL_COUNT + second level`, so bins compare
//! and index tables as one integer. This module is pure arithmetic: it never touches a
//! piece or a list.
#![forbid(unsafe_code)]

/// log2 of the second-level bins per first-level class.
const SL_LOG: u32 = 5;
/// Second-level bins per first-level class.
pub(super) const SL_COUNT: usize = 1 << SL_LOG;
/// Lengths (and counts worth searching for) are below `2^LEN_BITS`.
pub(super) const LEN_BITS: u32 = 30;
/// First-level classes: class 0 holds the lengths below [`SL_COUNT`], class `f >= 1`
/// the lengths whose highest set bit is `f + SL_LOG - 1` (at most `LEN_BITS - 1`).
pub(super) const FL_COUNT: usize = (LEN_BITS - SL_LOG + 1) as usize;
/// Flat bin indices are below this.
pub(super) const BIN_COUNT: usize = FL_COUNT * SL_COUNT;

/// One bin, as its flat index `fl * SL_COUNT + sl` (below [`BIN_COUNT`]): first-level
/// class `fl < FL_COUNT`, second-level bin `sl < SL_COUNT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Bin(pub(super) usize);

impl Bin {
    /// The first-level class.
    pub(super) const fn fl(self) -> usize {
        self.0 >> SL_LOG
    }

    /// The second-level bin inside the class.
    pub(super) const fn sl(self) -> usize {
        self.0 & (SL_COUNT - 1)
    }

    /// The first bin of first-level class `fl`, plus `sl`.
    pub(super) const fn at(fl: usize, sl: usize) -> Self {
        Self((fl << SL_LOG) + sl)
    }
}

/// The bin a free piece of `len >= 1` units is filed under (rounding down: a piece of
/// the bin may be shorter than the bin's upper lengths). It is below [`BIN_COUNT`] when
/// `len < 2^LEN_BITS`.
#[inline(always)]
pub(super) const fn bin_of(len: usize) -> Bin {
    // Below 64 units the shift is 0 and the bin is the length itself (class 0 is
    // lengths below 32, class 1 the next 32); above, the length shifted down to its six
    // top bits lands in 32..64, and each doubling adds a class of 32 bins.
    if len < 2 * SL_COUNT {
        return Bin(len);
    }
    let shift = (len >> SL_LOG).ilog2();
    Bin(((shift as usize) << SL_LOG) + (len >> shift))
}

/// The lowest bin whose every piece has at least `count >= 1` units (rounding up), or
/// `None` when no bin can promise that (the rounded length is `2^LEN_BITS` or more).
#[inline(always)]
pub(super) const fn bin_holding(count: usize) -> Option<Bin> {
    if count <= 2 * SL_COUNT {
        return Some(Bin(count));
    }
    // The bin after the one `count - 1` is filed under: that bin's lower bound is at
    // most `count - 1`, so the next one's is at least `count`, and no lower bin's is.
    // (The flat index carries into the next class by itself.) One `bin_of` and an
    // increment, where rounding `count` up to its own bin's bound took a mask and a
    // carry test; `count - 1` is at least 64 here, so `bin_of`'s branch for short
    // lengths is left out.
    let below = count - 1;
    let shift = (below >> SL_LOG).ilog2();
    let bin = ((shift as usize) << SL_LOG) + (below >> shift) + 1;
    if bin < BIN_COUNT {
        Some(Bin(bin))
    } else {
        None
    }
}

/// The shortest length filed under `bin`.
#[inline(always)]
pub(super) const fn lower_bound(bin: Bin) -> usize {
    if bin.fl() == 0 {
        bin.sl()
    } else {
        (SL_COUNT + bin.sl()) << (bin.fl() - 1)
    }
}

#[cfg(test)]
const SL_LOG_FOR_TESTS: usize = SL_LOG as usize;

#[cfg(test)]
mod tests {
    use super::{
        BIN_COUNT, Bin, FL_COUNT, LEN_BITS, SL_COUNT, SL_LOG_FOR_TESTS, bin_holding, bin_of,
        lower_bound,
    };

    #[test]
    fn small_lengths_get_a_bin_each() {
        for len in 1..2 * SL_COUNT {
            let bin = bin_of(len);
            assert_eq!(lower_bound(bin), len);
            assert_eq!(bin_holding(len), Some(bin));
        }
        assert_eq!(bin_of(64), Bin::at(2, 0));
        assert_eq!(bin_of(65), Bin::at(2, 0));
        assert_eq!(bin_of(66), Bin::at(2, 1));
    }

    /// The two levels as the module documentation defines them, computed the long way.
    fn two_levels(len: usize) -> (usize, usize) {
        if len < SL_COUNT {
            return (0, len);
        }
        let log = len.ilog2() as usize;
        (
            log - SL_LOG_FOR_TESTS + 1,
            (len >> (log - SL_LOG_FOR_TESTS)) - SL_COUNT,
        )
    }

    #[test]
    fn bins_are_ordered_and_cover_every_length() {
        let mut last = bin_of(1);
        for len in 2..100_000 {
            let bin = bin_of(len);
            assert!(bin >= last, "{len}");
            last = bin;
        }
        // Every length up to 100k, and the lengths around each power of two above.
        let probes = (1..100_000).chain((17..LEN_BITS).flat_map(|b| {
            let p = 1usize << b;
            [p - 1, p, p + 1, p + p / 2]
        }));
        for len in probes {
            let bin = bin_of(len);
            assert_eq!((bin.fl(), bin.sl()), two_levels(len), "{len}");
            assert!(bin.fl() < FL_COUNT && bin.0 < BIN_COUNT, "{len}");
            assert!(lower_bound(bin) <= len, "{len}");
        }
        let top = bin_of((1 << LEN_BITS) - 1);
        assert_eq!(top, Bin::at(FL_COUNT - 1, SL_COUNT - 1));
        assert_eq!(top.0, BIN_COUNT - 1);
    }

    #[test]
    fn holding_bin_is_the_first_whose_pieces_all_fit() {
        for count in 1..100_000 {
            let bin = bin_holding(count).unwrap();
            assert!(lower_bound(bin) >= count, "{count}");
            // The bin below may hold shorter pieces.
            if bin > bin_of(1) {
                let below = if bin.sl() == 0 {
                    Bin::at(bin.fl() - 1, SL_COUNT - 1)
                } else {
                    Bin(bin.0 - 1)
                };
                assert!(lower_bound(below) < count, "{count}");
            }
        }
        assert_eq!(bin_holding(usize::MAX), None);
        assert_eq!(bin_holding(1 << LEN_BITS), None);
        // The largest length still has a bin that holds it when it is that bin's lower
        // bound; one above it rounds past the last bin.
        let last = (SL_COUNT * 2 - 1) << (LEN_BITS as usize - SL_LOG_FOR_TESTS - 1);
        assert_eq!(bin_holding(last), Some(bin_of(last)));
        assert_eq!(bin_holding(last + 1), None);
    }
}
