//! Deterministic pseudo-randomness for the synthetic organisation.
//!
//! Everything the emulator invents is a pure function of the seed and of the
//! item's coordinates (mailbox, conversation, message…). That is what lets it
//! generate millions of messages lazily: any item can be rebuilt on demand, in
//! any order, and always comes out the same. We keep our own SplitMix64 instead
//! of a `rand` generator so that a dependency upgrade can never change the
//! organisation behind a seed.

/// One SplitMix64 step: a fast, well-mixed 64-bit hash of `x`.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Hashes a seed and a list of coordinates into one value.
pub fn hash(seed: u64, parts: &[u64]) -> u64 {
    parts.iter().fold(mix(seed), |acc, p| mix(acc ^ mix(*p)))
}

/// A small sequential generator, seeded from coordinates, for building one item.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for the item at `parts` under `seed`.
    pub fn new(seed: u64, parts: &[u64]) -> Self {
        Rng(hash(seed, parts))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        mix(self.0)
    }

    /// A value in `0..n` (`n` must be non-zero).
    pub fn below(&mut self, n: u64) -> u64 {
        debug_assert!(n > 0, "Rng::below needs a non-empty range");
        self.next_u64() % n.max(1)
    }

    /// True with probability `percent` in a hundred.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

/// Formats 16 bytes as a lowercase GUID, the shape Entra uses for object ids.
pub fn guid(seed: u64, parts: &[u64]) -> String {
    let a = hash(seed, parts);
    let b = mix(a ^ 0xA5A5_A5A5);
    format!(
        "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
        a >> 32,
        (a >> 16) & 0xffff,
        a & 0xfff,
        0x8000 | ((b >> 48) & 0x3fff),
        b & 0xffff_ffff_ffff
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_coordinates_give_the_same_values() {
        assert_eq!(hash(7, &[1, 2, 3]), hash(7, &[1, 2, 3]));
        assert_ne!(hash(7, &[1, 2, 3]), hash(7, &[1, 2, 4]));
        assert_ne!(hash(7, &[1, 2]), hash(8, &[1, 2]));
    }

    #[test]
    fn guids_have_the_entra_shape() {
        let g = guid(1, &[2]);
        assert_eq!(g.len(), 36);
        assert_eq!(g.matches('-').count(), 4);
        assert_eq!(&g[14..15], "4");
    }

    #[test]
    fn below_stays_in_range() {
        let mut r = Rng::new(3, &[]);
        for n in 1..200 {
            assert!(r.below(n) < n);
        }
    }
}
