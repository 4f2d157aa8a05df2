//! The unit tests' one source of cheap, seeded randomness: a xorshift generator, so
//! that every random run repeats exactly from its seed. Test-only; no backend uses it.

/// Advances the xorshift state `state` by one step and returns the new state.
pub(crate) fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

/// One step of `state`, reduced to `0..n` (0 when `n` is 0).
pub(crate) fn below(state: &mut u64, n: usize) -> usize {
    let value = xorshift(state);
    if n == 0 {
        0
    } else {
        usize::try_from(value % n as u64).expect("less than n, a usize")
    }
}
