//! Deterministic randomness: every draw is a hash of the seed, the table,
//! the column, the row and what the draw is for (a counter-based splitmix64),
//! so a value depends on nothing but its coordinates. That keeps rows
//! identical on every machine, lets a table derive a value another table
//! drew (a child event's time from its parent's) without storing it, and
//! streams ten million rows in constant memory.

/// The splitmix64 finaliser: a bijection on `u64` that mixes every bit.
pub fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A hash of several coordinates, order-sensitive.
pub fn hash(parts: &[u64]) -> u64 {
    parts
        .iter()
        .fold(0x243f_6a88_85a3_08d3, |h, p| mix(h ^ mix(*p)))
}

/// A stable 64-bit name for a string (FNV-1a), independent of the
/// standard library's randomised hasher.
pub fn salt(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// A draw in `0..n` (0 when `n` is 0), by multiply-shift: unbiased enough
/// for demo data, and free of division.
pub fn below(h: u64, n: u64) -> u64 {
    ((u128::from(h) * u128::from(n)) >> 64) as u64
}

/// A draw in `lo..=hi`.
pub fn between(h: u64, lo: i64, hi: i64) -> i64 {
    if hi <= lo {
        return lo;
    }
    lo + below(h, (hi - lo) as u64 + 1) as i64
}

/// True for `per_mille` draws in a thousand.
pub fn chance(h: u64, per_mille: u64) -> bool {
    below(h, 1000) < per_mille
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn draws_are_fixed_numbers() {
        // Pinned: a change here changes every demo warehouse.
        assert_eq!(mix(0), 0xe220_a839_7b1d_cdaf);
        assert_eq!(salt(""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(salt("a"), 0xaf63_dc4c_8601_ec8c);
    }

    #[test]
    fn below_stays_in_range() {
        for i in 0..1000 {
            let h = hash(&[7, i]);
            assert!(below(h, 13) < 13);
            let b = between(h, -3, 3);
            assert!((-3..=3).contains(&b));
        }
        assert_eq!(below(u64::MAX, 0), 0);
    }
}
