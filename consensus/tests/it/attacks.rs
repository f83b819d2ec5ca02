//! The finality engine under byzantine input: vote floods, catch-up abuse, a commit from a
//! later round that passes the current one, and what it verified (worth forwarding) or not.

use tessera_consensus::finality::{
    CatchUp, FinalityConfig, FinalityEngine, FinalityMessage, Input, Justification, Output,
    SignedTarget, SignedVote, Target, Vote,
};
use tessera_consensus::sim::genesis;
use tessera_consensus::{AuthorityKey, BlockTree, PeerId};
use tessera_runtime::{Hash, Header};

use crate::support::{child, target};

fn invented(salt: u8, number: u32) -> Target {
    Target {
        hash: Hash([salt; 32]),
        number,
    }
}

/// Voter 0 of four (threshold 3) with the chain genesis..=#4 imported and #4 best.
fn four_voters(config: FinalityConfig) -> (FinalityEngine, Vec<Header>, Vec<AuthorityKey>) {
    let keys: Vec<_> = (0..4).map(AuthorityKey::from_index).collect();
    let set = tessera_consensus::finality::AuthoritySet::equal(0, keys.iter().map(|k| k.public()))
        .unwrap();
    let mut engine = FinalityEngine::new(config, set, genesis(), Some(keys[0].clone()));
    let mut chain = vec![genesis()];
    for salt in 1..=4 {
        let next = child(chain.last().unwrap(), salt);
        engine.handle(Input::BlockImported(next.clone()));
        chain.push(next);
    }
    engine.handle(Input::BestBlock(chain[4].hash()));
    (engine, chain, keys)
}

fn message(peer: u64, key: &AuthorityKey, vote: Vote, round: u64) -> (PeerId, FinalityMessage) {
    (
        PeerId(peer),
        FinalityMessage::Vote(SignedVote::sign(key, vote, round, 0)),
    )
}

fn unknown_blocks(outputs: &[Output]) -> usize {
    outputs
        .iter()
        .filter(|o| matches!(o, Output::UnknownBlock(..)))
        .count()
}

#[test]
fn one_voter_cannot_flood_the_pending_votes_and_retries_ask_for_nothing() {
    let config = FinalityConfig {
        max_pending_votes: 40,
        ..FinalityConfig::default()
    };
    let (mut engine, chain, keys) = four_voters(config);
    // 100 signed votes for invented blocks, over both phases of the current and next rounds.
    let flood: Vec<_> = (0..100u8)
        .map(|i| {
            let t = invented(i, 10);
            let (vote, round) = match i % 4 {
                0 => (Vote::Prevote(t), 1),
                1 => (Vote::Precommit(t), 1),
                2 => (Vote::Prevote(t), 2),
                _ => (Vote::Precommit(t), 2),
            };
            message(3, &keys[3], vote, round)
        })
        .collect();
    let outputs = engine.handle(Input::Messages(flood));
    assert!(
        unknown_blocks(&outputs) <= 8,
        "{}",
        unknown_blocks(&outputs)
    );
    assert!(engine.pending_votes() <= 8, "{}", engine.pending_votes());
    assert!(
        engine.stats().signatures_checked <= 8,
        "votes past the voter's places are dropped before their signature check"
    );
    // Honest next-round votes still find room.
    let before = engine.pending_votes();
    engine.handle(Input::Messages(vec![
        message(1, &keys[1], Vote::Prevote(target(&chain[3])), 2),
        message(2, &keys[2], Vote::Prevote(target(&chain[3])), 2),
    ]));
    assert_eq!(engine.pending_votes(), before + 2);
    // An import (and the next round) retries nothing it cannot use and asks for nothing again.
    let outputs = engine.handle(Input::BlockImported(child(&chain[4], 50)));
    assert_eq!(unknown_blocks(&outputs), 0);
    let outputs = engine.handle(Input::Tick(60_000));
    assert_eq!(unknown_blocks(&outputs), 0);
}

/// A completed round-5 catch-up by voters 1-3 for #3, with byzantine extras: voter 3 also
/// precommits an invented block, voter 2 adds 50 prevotes for invented blocks.
fn catch_up(keys: &[AuthorityKey], chain: &[Header]) -> CatchUp {
    let vote = |key: &AuthorityKey, vote: Vote| SignedVote::sign(key, vote, 5, 0).compact();
    let mut prevotes: Vec<SignedTarget> = (1..4)
        .map(|i| vote(&keys[i], Vote::Prevote(target(&chain[3]))))
        .collect();
    prevotes.extend((0..50u8).map(|i| vote(&keys[2], Vote::Prevote(invented(i, 3)))));
    let mut precommits: Vec<SignedTarget> = (1..4)
        .map(|i| vote(&keys[i], Vote::Precommit(target(&chain[3]))))
        .collect();
    precommits.push(vote(&keys[3], Vote::Precommit(invented(200, 3))));
    CatchUp {
        set_id: 0,
        round: 5,
        prevotes,
        precommits,
    }
}

#[test]
fn catch_ups_are_taken_only_from_the_peer_asked_and_survive_byzantine_votes() {
    let (mut engine, chain, keys) = four_voters(FinalityConfig::default());
    let answer = FinalityMessage::CatchUp(catch_up(&keys, &chain));
    engine.handle(Input::Messages(vec![(PeerId(1), answer.clone())]));
    assert_eq!(engine.round(), 1, "an unsolicited catch-up is ignored");
    assert_eq!(engine.stats().signatures_checked, 0);
    // A vote two rounds ahead from peer 2 makes the voter ask peer 2.
    let ahead = message(2, &keys[2], Vote::Prevote(target(&chain[4])), 7);
    let outputs = engine.handle(Input::Messages(vec![ahead]));
    assert!(outputs.iter().any(|o| matches!(
        o,
        Output::SendTo(PeerId(2), FinalityMessage::CatchUpRequest { round: 1, .. })
    )));
    engine.handle(Input::Messages(vec![(PeerId(1), answer.clone())]));
    assert_eq!(engine.round(), 1, "an answer from another peer is ignored");
    let outputs = engine.handle(Input::Messages(vec![(PeerId(2), answer.clone())]));
    assert_eq!(engine.stats().catch_ups, 1, "{outputs:?}");
    assert_eq!(engine.round(), 6);
    assert_eq!(engine.finalized(), target(&chain[3]));
    // The vote ahead, then two votes per voter and phase at most: 4 prevotes, 4 precommits.
    assert!(engine.stats().signatures_checked <= 9);
    assert!(!outputs
        .iter()
        .any(|o| matches!(o, Output::Misbehaviour(..))));
    // The same answer again is not asked for.
    engine.handle(Input::Messages(vec![(PeerId(2), answer)]));
    assert_eq!(engine.stats().catch_ups, 1);

    // Answers are rate-limited: one per completed round and peer.
    let request = FinalityMessage::CatchUpRequest {
        set_id: 0,
        round: 1,
    };
    let answers = |outputs: &[Output]| {
        outputs
            .iter()
            .filter(|o| matches!(o, Output::SendTo(_, FinalityMessage::CatchUp(_))))
            .count()
    };
    let outputs = engine.handle(Input::Messages(vec![
        (PeerId(7), request.clone()),
        (PeerId(7), request.clone()),
        (PeerId(8), request.clone()),
    ]));
    assert_eq!(answers(&outputs), 2);
    let outputs = engine.handle(Input::Messages(vec![(PeerId(7), request)]));
    assert_eq!(answers(&outputs), 0);
}

#[test]
fn a_commit_from_a_later_round_above_the_prevote_ghost_does_not_stall_the_voter() {
    let (mut engine, chain, keys) = four_voters(FinalityConfig::default());
    // Round 1: the others prevote #1; this voter prevotes its best, #4, so the GHOST is #1.
    engine.handle(Input::Messages(
        (1..4)
            .map(|i| message(i, &keys[i as usize], Vote::Prevote(target(&chain[1])), 1))
            .collect(),
    ));
    engine.handle(Input::Tick(2_000));
    assert_eq!(engine.round(), 1);
    // A commit of round 5 finalizes #3, above that GHOST: pruning to #3 leaves round 1 with no
    // GHOST it can ever reach.
    let precommits = (1..4)
        .map(|i| SignedVote::sign(&keys[i], Vote::Precommit(target(&chain[3])), 5, 0).compact());
    let mut tree = BlockTree::new(genesis());
    for h in &chain[1..] {
        tree.insert(h.clone()).unwrap();
    }
    let justification = Justification::build(5, target(&chain[3]), precommits, &tree);
    engine.handle(Input::Messages(vec![(
        PeerId(1),
        FinalityMessage::Commit {
            set_id: 0,
            justification,
        },
    )]));
    assert_eq!(engine.finalized(), target(&chain[3]));
    assert_eq!(
        engine.round(),
        6,
        "a new round based on the finalized block"
    );
    // Round 6 goes on as usual: with voters 1 and 2 it finalizes #4.
    let mut votes = Vec::new();
    for i in 1..3u64 {
        votes.push(message(
            i,
            &keys[i as usize],
            Vote::Prevote(target(&chain[4])),
            6,
        ));
        votes.push(message(
            i,
            &keys[i as usize],
            Vote::Precommit(target(&chain[4])),
            6,
        ));
    }
    engine.handle(Input::Messages(votes));
    let outputs = engine.handle(Input::Tick(10_000));
    assert!(outputs.iter().any(|o| matches!(
        o,
        Output::Broadcast(FinalityMessage::Vote(v)) if v.round == 6 && matches!(v.vote, Vote::Precommit(_))
    )));
    assert_eq!(engine.finalized(), target(&chain[4]));
}

#[test]
fn a_catch_up_for_blocks_not_imported_yet_fetches_them_instead_of_blaming_the_peer() {
    // The voter has only genesis..=#2 (it is syncing); the catch-up votes for #3.
    let keys: Vec<_> = (0..4).map(AuthorityKey::from_index).collect();
    let set = tessera_consensus::finality::AuthoritySet::equal(0, keys.iter().map(|k| k.public()))
        .unwrap();
    let config = FinalityConfig::default();
    let mut engine = FinalityEngine::new(config, set, genesis(), Some(keys[0].clone()));
    let mut chain = vec![genesis()];
    for salt in 1..=4 {
        chain.push(child(chain.last().unwrap(), salt));
    }
    for header in &chain[1..=2] {
        engine.handle(Input::BlockImported(header.clone()));
    }
    let ahead = message(2, &keys[2], Vote::Prevote(target(&chain[4])), 7);
    engine.handle(Input::Messages(vec![ahead.clone()]));
    let answer = FinalityMessage::CatchUp(catch_up(&keys, &chain));
    let outputs = engine.handle(Input::Messages(vec![(PeerId(2), answer.clone())]));
    assert!(
        !outputs
            .iter()
            .any(|o| matches!(o, Output::Misbehaviour(..))),
        "{outputs:?}"
    );
    assert!(outputs
        .iter()
        .any(|o| matches!(o, Output::UnknownBlock(PeerId(2), t) if t.number == 3)));
    assert_eq!(engine.round(), 1);

    // Once the blocks are in and the catch-up timeout has passed, it is asked for and taken.
    for header in &chain[3..=4] {
        engine.handle(Input::BlockImported(header.clone()));
    }
    engine.handle(Input::Tick(config.catch_up_timeout_ms));
    engine.handle(Input::Messages(vec![ahead]));
    engine.handle(Input::Messages(vec![(PeerId(2), answer)]));
    assert_eq!(engine.stats().catch_ups, 1);
    assert_eq!(engine.finalized(), target(&chain[3]));
}

fn verified(outputs: &[Output], peer: u64) -> bool {
    outputs
        .iter()
        .any(|o| matches!(o, Output::Verified(PeerId(p)) if *p == peer))
}

#[test]
fn a_forged_far_ahead_vote_does_not_send_the_voter_to_its_sender_for_a_catch_up() {
    let (mut engine, chain, keys) = four_voters(FinalityConfig::default());
    // Voter 2's name on a vote signed by voter 3: the signature does not verify.
    let (_, forged) = message(3, &keys[3], Vote::Prevote(target(&chain[4])), 9);
    let FinalityMessage::Vote(mut forged) = forged else {
        unreachable!()
    };
    forged.id = keys[2].public();
    let outputs = engine.handle(Input::Messages(vec![(
        PeerId(3),
        FinalityMessage::Vote(forged),
    )]));
    assert!(
        !outputs
            .iter()
            .any(|o| matches!(o, Output::SendTo(_, FinalityMessage::CatchUpRequest { .. }))),
        "{outputs:?}"
    );
    assert!(outputs
        .iter()
        .any(|o| matches!(o, Output::Misbehaviour(PeerId(3), _))));
    assert!(!verified(&outputs, 3));
    // A real one does, and is still not worth forwarding (a round this voter does not keep).
    let outputs = engine.handle(Input::Messages(vec![message(
        2,
        &keys[2],
        Vote::Prevote(target(&chain[4])),
        9,
    )]));
    assert!(outputs.iter().any(|o| matches!(
        o,
        Output::SendTo(PeerId(2), FinalityMessage::CatchUpRequest { .. })
    )));
    assert!(!verified(&outputs, 2));
}

#[test]
fn only_what_was_checked_in_full_is_verified_for_forwarding() {
    let (mut engine, chain, keys) = four_voters(FinalityConfig::default());
    // A vote of the current round for a known block: verified.
    let outputs = engine.handle(Input::Messages(vec![message(
        1,
        &keys[1],
        Vote::Prevote(target(&chain[4])),
        1,
    )]));
    assert!(verified(&outputs, 1), "{outputs:?}");
    // For a block not imported here: its number cannot be checked, so it is kept, not
    // forwarded (and the block is asked for).
    let outputs = engine.handle(Input::Messages(vec![message(
        2,
        &keys[2],
        Vote::Prevote(invented(7, 5)),
        1,
    )]));
    assert!(!verified(&outputs, 2), "{outputs:?}");
    assert_eq!(unknown_blocks(&outputs), 1);
    // Of another authority set: not checkable here, neither verified nor blamed.
    let (_, other_set) = message(3, &keys[3], Vote::Prevote(target(&chain[4])), 1);
    let FinalityMessage::Vote(mut other_set) = other_set else {
        unreachable!()
    };
    other_set.set_id = 1;
    let outputs = engine.handle(Input::Messages(vec![(
        PeerId(3),
        FinalityMessage::Vote(other_set),
    )]));
    assert!(outputs.is_empty(), "{outputs:?}");
}
