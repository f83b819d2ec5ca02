//! Authorship parameters: slots, epochs, the authority list and the primary-slot threshold.

use tessera_runtime::AccountId;

/// How authorship works on a chain.
#[derive(Clone, Debug, PartialEq)]
pub struct AuthorshipConfig {
    /// Length of a slot in milliseconds.
    pub slot_duration_ms: u64,
    /// Slots per epoch.
    pub epoch_length: u64,
    /// The chance `c = numerator / denominator` that a slot has at least one primary author.
    pub c: (u64, u64),
    /// Authorities and their weights.
    pub authorities: Vec<(AccountId, u64)>,
    /// Randomness of epochs 0 and 1.
    pub genesis_randomness: [u8; 32],
    /// Whether slots without a primary author get a round-robin secondary author.
    pub secondary_slots: bool,
}

impl AuthorshipConfig {
    /// A config with `c = 1/4`, secondary slots on, zero genesis randomness.
    pub fn new(
        slot_duration_ms: u64,
        epoch_length: u64,
        authorities: Vec<(AccountId, u64)>,
    ) -> Self {
        AuthorshipConfig {
            slot_duration_ms,
            epoch_length,
            c: (1, 4),
            authorities,
            genesis_randomness: [0; 32],
            secondary_slots: true,
        }
    }

    /// The epoch a slot belongs to on a chain whose block #1 has slot `origin` (epoch 0
    /// starts there; `None` while the chain has only its genesis block).
    pub fn epoch_of(&self, slot: u64, origin: Option<u64>) -> u64 {
        slot.saturating_sub(origin.unwrap_or(slot))
            .checked_div(self.epoch_length)
            .unwrap_or_default()
    }

    /// The slot at time `now_ms`.
    pub fn slot_at(&self, now_ms: u64) -> u64 {
        now_ms
            .checked_div(self.slot_duration_ms)
            .unwrap_or_default()
    }
}

/// BABE's primary threshold: `p = 1 - (1 - c)^(weight / total)`, scaled to `p * 2^128`.
///
/// A VRF output whose first 16 bytes, read as a little-endian u128, are below it wins the slot.
/// Computed in f64 as Substrate's first BABE did; every node computes it the same way from the
/// same configuration.
pub fn primary_threshold(c: (u64, u64), weight: u64, total: u64) -> u128 {
    if c.1 == 0 || total == 0 {
        return 0;
    }
    let c = (c.0 as f64 / c.1 as f64).clamp(0.0, 1.0);
    let theta = weight as f64 / total as f64;
    let p = 1.0 - (1.0 - c).powf(theta);
    if p >= 1.0 {
        u128::MAX
    } else {
        // `as` saturates; 2^128 is exactly representable in f64.
        (p * 2f64.powi(128)) as u128
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_follow_babe() {
        // One authority with all the weight wins with probability c.
        let t = primary_threshold((1, 4), 1, 1);
        assert_eq!(t, u128::MAX / 4 + 1);
        // Ten equal authorities: 1 - (3/4)^(1/10) ≈ 0.02835.
        let t = primary_threshold((1, 4), 1, 10) as f64 / 2f64.powi(128);
        assert!((t - 0.028_358).abs() < 1e-5, "{t}");
        assert_eq!(primary_threshold((0, 4), 1, 10), 0);
        assert_eq!(primary_threshold((1, 1), 1, 10), u128::MAX);
        assert!(primary_threshold((1, 4), 2, 10) > primary_threshold((1, 4), 1, 10));
    }
}
