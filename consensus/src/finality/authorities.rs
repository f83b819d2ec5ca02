//! The weighted authority set that votes on finality, and its thresholds.

use std::collections::BTreeMap;
use tessera_runtime::AccountId;

/// Why an authority set is unusable.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AuthoritySetError {
    /// No authorities.
    #[error("the authority set is empty")]
    Empty,
    /// An authority with weight zero.
    #[error("authority {0} has zero weight")]
    ZeroWeight(AccountId),
    /// The same authority twice.
    #[error("authority {0} is listed twice")]
    Duplicate(AccountId),
    /// Weights that overflow a u64.
    #[error("the total weight overflows")]
    WeightOverflow,
}

/// The authorities of one set id, each with a voting weight.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthoritySet {
    set_id: u64,
    authorities: Vec<(AccountId, u64)>,
    index: BTreeMap<AccountId, usize>,
    total: u64,
    /// Simulator fault injection only: weight taken off the threshold (zero otherwise).
    threshold_reduction: u64,
}

impl AuthoritySet {
    /// A set numbered `set_id`; fails on empty sets, zero weights and duplicates.
    pub fn new(set_id: u64, authorities: Vec<(AccountId, u64)>) -> Result<Self, AuthoritySetError> {
        if authorities.is_empty() {
            return Err(AuthoritySetError::Empty);
        }
        let mut index = BTreeMap::new();
        let mut total: u64 = 0;
        for (position, (id, weight)) in authorities.iter().enumerate() {
            if *weight == 0 {
                return Err(AuthoritySetError::ZeroWeight(*id));
            }
            if index.insert(*id, position).is_some() {
                return Err(AuthoritySetError::Duplicate(*id));
            }
            total = total
                .checked_add(*weight)
                .ok_or(AuthoritySetError::WeightOverflow)?;
        }
        Ok(AuthoritySet {
            set_id,
            authorities,
            index,
            total,
            threshold_reduction: 0,
        })
    }

    /// A set of equal-weight authorities.
    pub fn equal(
        set_id: u64,
        ids: impl IntoIterator<Item = AccountId>,
    ) -> Result<Self, AuthoritySetError> {
        Self::new(set_id, ids.into_iter().map(|id| (id, 1)).collect())
    }

    /// The set id, bumped at each change.
    pub fn set_id(&self) -> u64 {
        self.set_id
    }

    /// The authorities and weights, in order.
    pub fn authorities(&self) -> &[(AccountId, u64)] {
        &self.authorities
    }

    /// How many authorities.
    pub fn len(&self) -> usize {
        self.authorities.len()
    }

    /// Whether there are none (never, for a set built by [`AuthoritySet::new`]).
    pub fn is_empty(&self) -> bool {
        self.authorities.is_empty()
    }

    /// The sum of all weights.
    pub fn total_weight(&self) -> u64 {
        self.total
    }

    /// The most weight that may be faulty: `(total - 1) / 3`.
    pub fn faulty_weight(&self) -> u64 {
        self.total.saturating_sub(1) / 3
    }

    /// The weight a supermajority needs: `total - faulty`, the least weight above 2/3.
    pub fn threshold(&self) -> u64 {
        self.total
            .saturating_sub(self.faulty_weight())
            .saturating_sub(self.threshold_reduction)
    }

    /// The same set with a threshold `by` weight lower: unsafe, for showing in the simulator
    /// that the safety checks catch a wrong threshold.
    #[cfg(feature = "simulator")]
    pub(crate) fn with_lowered_threshold(mut self, by: u64) -> Self {
        self.threshold_reduction = by;
        self
    }

    /// The weight of `id`, if it is in the set.
    pub fn weight(&self, id: &AccountId) -> Option<u64> {
        let position = self.index.get(id)?;
        self.authorities.get(*position).map(|(_, w)| *w)
    }

    /// The position of `id` in the set.
    pub fn position(&self, id: &AccountId) -> Option<usize> {
        self.index.get(id).copied()
    }

    /// The authority at `position`.
    pub fn get(&self, position: usize) -> Option<&(AccountId, u64)> {
        self.authorities.get(position)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(n: u8) -> Vec<AccountId> {
        (0..n).map(|i| AccountId([i; 32])).collect()
    }

    #[test]
    fn thresholds_are_the_least_weight_above_two_thirds() {
        for n in 1u8..40 {
            let set = AuthoritySet::equal(0, ids(n)).unwrap();
            let t = set.threshold();
            assert!(3 * t > 2 * u64::from(n), "n={n}");
            assert!(3 * (t - 1) <= 2 * u64::from(n), "n={n}");
        }
    }

    #[test]
    fn bad_sets_are_rejected() {
        assert_eq!(
            AuthoritySet::equal(0, vec![]),
            Err(AuthoritySetError::Empty)
        );
        let a = AccountId([1; 32]);
        assert_eq!(
            AuthoritySet::new(0, vec![(a, 1), (a, 2)]),
            Err(AuthoritySetError::Duplicate(a))
        );
        assert_eq!(
            AuthoritySet::new(0, vec![(a, 0)]),
            Err(AuthoritySetError::ZeroWeight(a))
        );
        assert_eq!(
            AuthoritySet::new(0, vec![(a, u64::MAX), (AccountId([2; 32]), 1)]),
            Err(AuthoritySetError::WeightOverflow)
        );
    }
}
