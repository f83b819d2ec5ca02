//! Unit tests of the engine's bookkeeping: votes at or below the finalized block, and the
//! equivocation records kept per round.

use super::engine::{FinalityConfig, FinalityEngine, Output};
use super::justification::Justification;
use super::message::{SignedVote, Target, Vote};
use super::AuthoritySet;
use crate::{AuthorityKey, PeerId};
use tessera_runtime::{Digest, Hash, Header};

use crate::test_headers::child;

fn target(h: &Header) -> Target {
    Target {
        hash: h.hash(),
        number: h.number,
    }
}

/// Voter 0 of four, with the chain genesis..=#3.
fn setup() -> (FinalityEngine, Vec<Header>, Vec<AuthorityKey>) {
    let keys: Vec<_> = (0..4).map(AuthorityKey::from_index).collect();
    let set = AuthoritySet::equal(0, keys.iter().map(|k| k.public())).unwrap();
    let genesis = Header {
        parent_hash: Hash::ZERO,
        number: 0,
        state_root: Hash::ZERO,
        extrinsics_root: Hash::ZERO,
        digest: Digest::default(),
    };
    let mut engine = FinalityEngine::new(
        FinalityConfig::default(),
        set,
        genesis.clone(),
        Some(keys[0].clone()),
    );
    let mut chain = vec![genesis];
    for salt in 1..=3 {
        let next = child(chain.last().unwrap(), salt);
        engine.tree.insert(next.clone()).unwrap();
        chain.push(next);
    }
    (engine, chain, keys)
}

fn reports(out: &[Output]) -> usize {
    out.iter()
        .filter(|o| matches!(o, Output::ReportEquivocation(_)))
        .count()
}

#[test]
fn next_round_votes_at_or_below_the_finalized_block_still_count() {
    let (mut engine, chain, keys) = setup();
    let mut out = Vec::new();
    let justification = Justification {
        round: 1,
        target: target(&chain[2]),
        precommits: Vec::new(),
        ancestry: Vec::new(),
    };
    engine.finalize(target(&chain[2]), justification, &mut out);
    assert_eq!(engine.round(), 1);
    let below = SignedVote::sign(&keys[3], Vote::Prevote(target(&chain[1])), 2, 0);
    let above = SignedVote::sign(&keys[3], Vote::Prevote(target(&chain[3])), 2, 0);
    engine.import_vote(PeerId(3), below, &mut out);
    engine.import_vote(PeerId(3), above, &mut out);
    let mut out = Vec::new();
    engine.start_round(2, &mut out);
    assert_eq!(engine.current.prevotes.seen_weight(), 1);
    assert_eq!(
        reports(&out),
        1,
        "the two next-round votes are an equivocation"
    );
}

#[test]
fn equivocation_records_are_pruned_with_their_rounds() {
    let (mut engine, chain, keys) = setup();
    let votes = [1, 2].map(|i| SignedVote::sign(&keys[3], Vote::Prevote(target(&chain[i])), 1, 0));
    let mut out = Vec::new();
    for vote in votes {
        engine.import_vote(PeerId(3), vote, &mut out);
    }
    assert_eq!(reports(&out), 1);
    assert_eq!(engine.reported.len(), 1);
    for round in 2..=4 {
        engine.start_round(round, &mut out);
    }
    assert_eq!(engine.reported.len(), 1, "round 1 is still kept");
    engine.start_round(5, &mut out);
    assert!(engine.reported.is_empty());
    let mut out = Vec::new();
    for vote in votes {
        engine.import_vote(PeerId(3), vote, &mut out);
    }
    assert_eq!(
        reports(&out),
        0,
        "votes of a round no longer kept are dropped"
    );
}
