//! GRANDPA-like finality.
//!
//! Voters of a weighted [`AuthoritySet`] run numbered rounds. In each round the primary may
//! propose the previous round's estimate; every voter prevotes for the head of the best chain
//! containing that estimate (capped by an optional [`VotingRule`]), then precommits for the
//! prevote GHOST, the deepest block that prevotes for it or its descendants carry more than 2/3
//! of the weight of. A block is final once precommits for it or its descendants carry more than
//! 2/3 of the weight; the engine then outputs [`Output::Finalized`] with a [`Justification`]
//! that [`verify_justification`] checks on its own. A round ends when it is *completable* (no
//! block beyond its estimate can still be finalized in it), following GRANDPA's rules, so the
//! next round's prevotes never contradict a block finalized in the previous one.
//!
//! Votes are sr25519 signatures over SCALE of `(vote, round, set_id)`, so a vote or
//! justification of one set never verifies under another. Two different votes by one voter in
//! one round and phase are reported as a [`VoteEquivocation`]. A voter that sees votes two or
//! more rounds ahead asks the sender for a catch-up: the votes of a completed round, which it
//! checks and adopts (only from the peer asked; each peer is answered once per round). Votes
//! waiting for their block or round are kept at most two per voter, round and kind. A commit
//! that finalizes a block past the current round moves the voter to a new round based on it.
//!
//! The authority set changes as the chain says: a `ScheduledChange` consensus log (which the
//! runtime deposits and execution checks) is enacted when its block (plus its delay) is
//! finalized; until then the set votes no further than that block. The next set starts at
//! round 1 with the set id one higher, and [`Output::NewAuthoritySet`] tells the node.

mod authorities;
mod changes;
mod engine;
#[cfg(test)]
mod engine_tests;
mod equivocation;
mod error;
mod incoming;
mod justification;
mod message;
mod pending;
mod round;
mod votes;
mod voting_rule;
mod warp;

pub use authorities::{AuthoritySet, AuthoritySetError};
pub use engine::{FinalityConfig, FinalityEngine, FinalityStats, Input, Output};
pub use equivocation::VoteEquivocation;
pub use error::MessageError;
pub use justification::{
    verify_justification, verify_justification_with, Justification, JustificationError,
};
pub use message::{
    vote_payload, CatchUp, FinalityMessage, Phase, SignedTarget, SignedVote, Target, Vote,
    MAX_ANCESTRY, MAX_MESSAGE_BYTES, MAX_VOTES,
};
pub use voting_rule::{BeforeBestBy, VotingRule};
pub use warp::{
    verify_warp_proof, WarpFragment, WarpProof, WarpProofError, Warped, MAX_WARP_FRAGMENTS,
};
