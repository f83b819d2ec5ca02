//! Proof that a voter cast two different votes in one round and phase.

use super::authorities::AuthoritySet;
use super::message::SignedVote;
use crate::verify::verify_checks;
use parity_scale_codec::{Decode, Encode};
use tessera_runtime::AccountId;

/// Two signed votes by one voter in the same set, round and phase, for different blocks.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct VoteEquivocation {
    /// The vote seen first.
    pub first: SignedVote,
    /// The conflicting vote.
    pub second: SignedVote,
}

impl VoteEquivocation {
    /// The voter who equivocated.
    pub fn offender(&self) -> AccountId {
        self.first.id
    }

    /// Whether this proves an equivocation by a member of `set` (both signatures checked).
    pub fn is_valid(&self, set: &AuthoritySet) -> bool {
        let (a, b) = (&self.first, &self.second);
        a.id == b.id
            && set.weight(&a.id).is_some()
            && a.set_id == set.set_id()
            && b.set_id == set.set_id()
            && a.round == b.round
            && a.vote.phase().is_some()
            && a.vote.phase() == b.vote.phase()
            && a.vote.target() != b.vote.target()
            && verify_checks(&[a.check(), b.check()]) == [true, true]
    }
}
