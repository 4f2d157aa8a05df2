//! The size classes of the TLSF backend: which bin a free piece of `len` units is filed
//! under, and the first bin all of whose pieces hold a request.
//!
//! Two levels: the first is the position of the highest set bit of the length, the
//! second splits each power-of-two range into [`SL_COUNT`] equal sub-ranges, so a bin
//! spans at most 1/32 of its lower bound (lengths below 64 get a bin each). Lengths are
//! below `2^LEN_BITS` (the backend's capacity limit), which bounds the first level. This
//! module is pure arithmetic: it never touches a piece or a list.
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

/// One bin: first-level class `fl < FL_COUNT`, second-level bin `sl < SL_COUNT`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Bin {
    pub(super) fl: usize,
    pub(super) sl: usize,
}

/// The bin a free piece of `len >= 1` units is filed under (rounding down: a piece of
/// the bin may be shorter than the bin's upper lengths). Its first level is below
/// [`FL_COUNT`] when `len < 2^LEN_BITS`.
pub(super) const fn bin_of(len: usize) -> Bin {
    if len < SL_COUNT {
        return Bin { fl: 0, sl: len };
    }
    let log = usize::BITS - 1 - len.leading_zeros();
    Bin {
        fl: (log - SL_LOG + 1) as usize,
        sl: (len >> (log - SL_LOG)) & (SL_COUNT - 1),
    }
}

/// The lowest bin whose every piece has at least `count >= 1` units (rounding up), or
/// `None` when no bin can promise that (the rounded length is `2^LEN_BITS` or more).
pub(super) const fn bin_holding(count: usize) -> Option<Bin> {
    if count < SL_COUNT {
        return Some(bin_of(count));
    }
    let log = usize::BITS - 1 - count.leading_zeros();
    let width_minus_one = (1usize << (log - SL_LOG)) - 1;
    match count.checked_add(width_minus_one) {
        Some(rounded) if rounded >> LEN_BITS == 0 => Some(bin_of(rounded)),
        _ => None,
    }
}

/// The shortest length filed under `bin`.
#[cfg(test)]
const fn lower_bound(bin: Bin) -> usize {
    if bin.fl == 0 {
        bin.sl
    } else {
        (SL_COUNT + bin.sl) << (bin.fl - 1)
    }
}

#[cfg(test)]
const SL_LOG_FOR_TESTS: usize = SL_LOG as usize;

#[cfg(test)]
mod tests {
    use super::{
        Bin, FL_COUNT, LEN_BITS, SL_COUNT, SL_LOG_FOR_TESTS, bin_holding, bin_of, lower_bound,
    };

    #[test]
    fn small_lengths_get_a_bin_each() {
        for len in 1..2 * SL_COUNT {
            let bin = bin_of(len);
            assert_eq!(lower_bound(bin), len);
            assert_eq!(bin_holding(len), Some(bin));
        }
        assert_eq!(bin_of(64), Bin { fl: 2, sl: 0 });
        assert_eq!(bin_of(65), Bin { fl: 2, sl: 0 });
        assert_eq!(bin_of(66), Bin { fl: 2, sl: 1 });
    }

    #[test]
    fn bins_are_ordered_and_cover_every_length() {
        let mut last = bin_of(1);
        for len in 2..100_000 {
            let bin = bin_of(len);
            assert!(
                bin >= last && bin.fl < FL_COUNT && bin.sl < SL_COUNT,
                "{len}"
            );
            assert!(lower_bound(bin) <= len, "{len}");
            last = bin;
        }
        let top = bin_of((1 << LEN_BITS) - 1);
        assert_eq!(
            top,
            Bin {
                fl: FL_COUNT - 1,
                sl: SL_COUNT - 1
            }
        );
    }

    #[test]
    fn holding_bin_is_the_first_whose_pieces_all_fit() {
        for count in 1..100_000 {
            let bin = bin_holding(count).unwrap();
            assert!(lower_bound(bin) >= count, "{count}");
            // The bin below may hold shorter pieces.
            if bin > bin_of(1) {
                let below = if bin.sl == 0 {
                    Bin {
                        fl: bin.fl - 1,
                        sl: SL_COUNT - 1,
                    }
                } else {
                    Bin {
                        fl: bin.fl,
                        sl: bin.sl - 1,
                    }
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
