//! Epoch randomness along a chain: the randomness of epoch n+2 hashes epoch n's randomness,
//! the index n+2 and the VRF outputs of epoch n's primary blocks on that chain.

use parity_scale_codec::{Decode, Encode};
use tessera_runtime::hashing::blake2_256;

/// Most empty epochs a block may skip over (a bound on the randomness walk).
pub const MAX_EPOCH_SKIP: u64 = 1_024;

/// The randomness state a block leaves for its children.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct EpochState {
    /// The block's epoch.
    pub epoch: u64,
    /// Randomness of this epoch.
    pub randomness: [u8; 32],
    /// Randomness of the next epoch (fixed since the previous epoch ended).
    pub next_randomness: [u8; 32],
    /// Running hash of this epoch's VRF outputs on this chain so far.
    pub accumulator: [u8; 32],
}

impl EpochState {
    /// The state of the genesis block: epochs 0 and 1 use `randomness`.
    pub fn genesis(randomness: [u8; 32]) -> Self {
        EpochState {
            epoch: 0,
            randomness,
            next_randomness: randomness,
            accumulator: [0; 32],
        }
    }

    /// The state a child in `epoch` starts from (before its own VRF output), or `None` if it
    /// goes back in time or skips more than [`MAX_EPOCH_SKIP`] epochs.
    pub fn for_child(&self, epoch: u64) -> Option<EpochState> {
        let gap = epoch.checked_sub(self.epoch)?;
        if gap > MAX_EPOCH_SKIP {
            return None;
        }
        let mut state = *self;
        for _ in 0..gap {
            let after_next = state.epoch.checked_add(2)?;
            let derived = blake2_256(&(state.randomness, after_next, state.accumulator).encode()).0;
            state = EpochState {
                epoch: state.epoch.checked_add(1)?,
                randomness: state.next_randomness,
                next_randomness: derived,
                accumulator: [0; 32],
            };
        }
        Some(state)
    }

    /// Folds a primary block's VRF randomness into this epoch's accumulator.
    pub fn absorb(&mut self, vrf_randomness: &[u8; 32]) {
        self.accumulator = blake2_256(&(self.accumulator, vrf_randomness).encode()).0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn randomness_of_epoch_n_plus_2_comes_from_epoch_n() {
        let genesis = EpochState::genesis([1; 32]);
        let mut a = genesis.for_child(0).unwrap();
        let mut b = a;
        a.absorb(&[5; 32]);
        b.absorb(&[6; 32]);
        let (a1, b1) = (a.for_child(1).unwrap(), b.for_child(1).unwrap());
        // Epoch 1 randomness is fixed already; epoch 2's depends on epoch 0's outputs.
        assert_eq!(a1.randomness, [1; 32]);
        assert_eq!(a1.randomness, b1.randomness);
        assert_ne!(a1.next_randomness, b1.next_randomness);
        assert_eq!(a.for_child(2).unwrap().randomness, a1.next_randomness);
        assert_eq!(genesis.for_child(MAX_EPOCH_SKIP + 1), None);
        assert_eq!(a1.for_child(0), None);
    }
}
