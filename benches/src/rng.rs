//! SplitMix64: a small, fast, seedable generator so every run builds the same state.

#![forbid(unsafe_code)]

/// The SplitMix64 generator (Steele, Lea, Flood 2014); good enough to shuffle
/// workloads, not for cryptography.
#[derive(Clone, Debug)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator started from `seed`.
    #[must_use]
    pub const fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A value in `lo..=hi` (slightly biased for huge ranges, irrelevant here).
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        let span = (hi - lo) as u64 + 1;
        lo + usize::try_from(self.next_u64() % span).unwrap_or(0)
    }

    /// True with probability `1 / n`.
    pub fn one_in(&mut self, n: u64) -> bool {
        self.next_u64() % n == 0
    }

    /// A uniform value in `[0, 1)` with 53 bits of precision.
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// An exponentially distributed value with the given mean (inverse transform).
    pub fn exponential(&mut self, mean: f64) -> f64 {
        -mean * (1.0 - self.unit()).ln()
    }

    /// A value in `lo..=hi` whose logarithm is uniform: as many requests between 4 KiB
    /// and 8 KiB as between 2 MiB and 4 MiB.
    pub fn log_uniform(&mut self, lo: usize, hi: usize) -> usize {
        let (ln_lo, ln_hi) = ((lo as f64).ln(), (hi as f64).ln());
        let value = (ln_lo + self.unit() * (ln_hi - ln_lo)).exp();
        // The float round trip may land a hair outside the range; the cast saturates and
        // the clamp brings it back, so truncation cannot escape `lo..=hi`.
        #[allow(clippy::cast_possible_truncation)]
        let value = value as usize;
        value.clamp(lo, hi)
    }

    /// One element of a non-empty slice, uniformly.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.range(0, items.len() - 1)]
    }
}

#[cfg(test)]
mod tests {
    use super::SplitMix64;

    #[test]
    fn is_reproducible_and_in_range() {
        let (mut a, mut b) = (SplitMix64::new(7), SplitMix64::new(7));
        for _ in 0..1000 {
            let x = a.range(1, 16);
            assert_eq!(x, b.range(1, 16));
            assert!((1..=16).contains(&x));
        }
        assert_ne!(SplitMix64::new(1).next_u64(), SplitMix64::new(2).next_u64());
    }

    #[test]
    fn continuous_draws_stay_in_range() {
        let mut rng = SplitMix64::new(3);
        let mut small = 0;
        let mut sum = 0.0;
        for _ in 0..10_000 {
            let u = rng.unit();
            assert!((0.0..1.0).contains(&u));
            let e = rng.exponential(2.0);
            assert!(e >= 0.0);
            sum += e;
            let l = rng.log_uniform(4096, 4 << 20);
            assert!((4096..=4 << 20).contains(&l));
            small += usize::from(l < 64 << 10);
        }
        // Mean of Exp(2) is 2; log-uniform puts 4/10 of the mass below 64 KiB.
        assert!(
            (1.8..2.2).contains(&(sum / 10_000.0)),
            "mean {}",
            sum / 10_000.0
        );
        assert!((3_500..4_500).contains(&small), "{small} below 64 KiB");
    }
}
