//! Finality engine: justifications checked alone, a lone voter, the voting rule, set changes
//! and catch-up.

use tessera_consensus::finality::{
    verify_justification, AuthoritySet, BeforeBestBy, FinalityConfig, FinalityEngine, Input,
    Justification, JustificationError, Output, Phase, SignedVote, Target, Vote, MAX_ANCESTRY,
};
use tessera_consensus::sim::{genesis, Behaviour, Partition, Sim, SimConfig};
use tessera_consensus::{AuthorityKey, BlockTree};
use tessera_runtime::{AccountId, Hash, Header};

use crate::support::{child, target};

struct Fixture {
    keys: Vec<AuthorityKey>,
    set: AuthoritySet,
    tree: BlockTree,
    chain: Vec<Header>,
    fork: Header,
}

fn fixture() -> Fixture {
    let keys: Vec<_> = (0..4).map(AuthorityKey::from_index).collect();
    let set = AuthoritySet::equal(0, keys.iter().map(|k| k.public())).unwrap();
    let g = genesis();
    let mut tree = BlockTree::new(g.clone());
    let mut chain = vec![g.clone()];
    for salt in 1..=3 {
        let next = child(chain.last().unwrap(), salt);
        tree.insert(next.clone()).unwrap();
        chain.push(next);
    }
    let fork = child(&chain[1], 9);
    tree.insert(fork.clone()).unwrap();
    Fixture {
        keys,
        set,
        tree,
        chain,
        fork,
    }
}

fn precommit(
    key: &AuthorityKey,
    to: &Header,
    round: u64,
    set_id: u64,
) -> tessera_consensus::finality::SignedTarget {
    SignedVote::sign(key, Vote::Precommit(target(to)), round, set_id).compact()
}

#[test]
fn justifications_verify_alone_and_every_defect_is_caught() {
    let f = fixture();
    let base = &f.chain[1];
    // Three of four precommit for descendants of chain[1] (3 >= threshold 3).
    let votes = vec![
        precommit(&f.keys[0], &f.chain[3], 7, 0),
        precommit(&f.keys[1], &f.chain[2], 7, 0),
        precommit(&f.keys[2], &f.fork, 7, 0),
    ];
    let j = Justification::build(7, target(base), votes.clone(), &f.tree);
    assert_eq!(j.ancestry.len(), 3);
    verify_justification(&f.set, target(base), &j).unwrap();

    // The same authorities under the next set id: signatures were made for set 0.
    let next_set = AuthoritySet::equal(1, f.keys.iter().map(|k| k.public())).unwrap();
    assert!(matches!(
        verify_justification(&next_set, target(base), &j),
        Err(JustificationError::BadSignature(_))
    ));
    assert!(matches!(
        verify_justification(&f.set, target(&f.chain[2]), &j),
        Err(JustificationError::WrongTarget { .. })
    ));
    let mut tampered = j.clone();
    tampered.round = 8;
    assert!(matches!(
        verify_justification(&f.set, target(base), &tampered),
        Err(JustificationError::BadSignature(_))
    ));
    let mut short = j.clone();
    short.precommits.pop();
    short.ancestry =
        Justification::build(7, target(base), short.precommits.clone(), &f.tree).ancestry;
    assert_eq!(
        verify_justification(&f.set, target(base), &short),
        Err(JustificationError::InsufficientWeight { got: 2, needed: 3 })
    );
    let mut padded = j.clone();
    padded.ancestry.push(child(&f.chain[3], 42));
    assert_eq!(
        verify_justification(&f.set, target(base), &padded),
        Err(JustificationError::UnusedAncestry(1))
    );
    let mut duplicate = j.clone();
    duplicate.precommits.push(duplicate.precommits[0]);
    assert!(matches!(
        verify_justification(&f.set, target(base), &duplicate),
        Err(JustificationError::DuplicateVoter(_))
    ));
    let stranger = AuthorityKey::from_index(99);
    let mut unknown = j.clone();
    unknown.precommits.push(precommit(&stranger, base, 7, 0));
    assert_eq!(
        verify_justification(&f.set, target(base), &unknown),
        Err(JustificationError::UnknownVoter(stranger.public()))
    );
    // A precommit on a block that does not descend from the target.
    let off_chain = Justification::build(7, target(&f.chain[2]), votes, &f.tree);
    assert_eq!(
        off_chain.precommits.len(),
        2,
        "the fork precommit is left out"
    );
    let mut forged = off_chain.clone();
    forged.precommits.push(precommit(&f.keys[2], &f.fork, 7, 0));
    assert_eq!(
        verify_justification(&f.set, target(&f.chain[2]), &forged),
        Err(JustificationError::NotDescendant(target(&f.fork)))
    );
}

#[test]
fn justification_sizes_and_repeated_headers_are_checked_up_front() {
    let f = fixture();
    let base = &f.chain[1];
    let votes: Vec<_> = (0..3)
        .map(|i| precommit(&f.keys[i], &f.chain[3], 7, 0))
        .collect();
    let j = Justification::build(7, target(base), votes, &f.tree);
    verify_justification(&f.set, target(base), &j).unwrap();
    // A header listed twice collapses in the lookup map; it is padding all the same.
    let mut repeated = j.clone();
    repeated.ancestry.push(j.ancestry[0].clone());
    assert_eq!(
        verify_justification(&f.set, target(base), &repeated),
        Err(JustificationError::DuplicateAncestry(1))
    );
    // More precommits than voters, or more headers than MAX_ANCESTRY, are refused before any
    // lookup or signature check.
    let mut crowded = j.clone();
    crowded.precommits = vec![j.precommits[0]; 5];
    assert!(matches!(
        verify_justification(&f.set, target(base), &crowded),
        Err(JustificationError::TooLarge {
            what: "precommits",
            len: 5,
            max: 4
        })
    ));
    let mut long = j.clone();
    long.ancestry = vec![j.ancestry[0].clone(); MAX_ANCESTRY + 1];
    assert!(matches!(
        verify_justification(&f.set, target(base), &long),
        Err(JustificationError::TooLarge {
            what: "ancestry",
            ..
        })
    ));
}

fn lone_engine(rule: Option<u32>) -> (FinalityEngine, Vec<Header>, AuthorityKey) {
    let key = AuthorityKey::from_index(0);
    let set = AuthoritySet::equal(0, [key.public()]).unwrap();
    let mut engine =
        FinalityEngine::new(FinalityConfig::default(), set, genesis(), Some(key.clone()));
    if let Some(depth) = rule {
        engine = engine.with_voting_rule(Box::new(BeforeBestBy(depth)));
    }
    let mut chain = vec![genesis()];
    for salt in 1..=6 {
        let next = child(chain.last().unwrap(), salt);
        engine.handle(Input::BlockImported(next.clone()));
        chain.push(next);
    }
    engine.handle(Input::BestBlock(chain[6].hash()));
    (engine, chain, key)
}

fn finalized(outputs: &[Output]) -> Vec<(Target, Justification)> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Finalized {
                target,
                justification,
            } => Some((*target, justification.clone())),
            _ => None,
        })
        .collect()
}

#[test]
fn a_lone_voter_finalizes_its_best_block_after_the_round_timers() {
    let (mut engine, chain, _) = lone_engine(None);
    let outputs = engine.handle(Input::Tick(10_000));
    let done = finalized(&outputs);
    assert_eq!(done.last().unwrap().0, target(&chain[6]));
    verify_justification(
        engine.authority_set(),
        target(&chain[6]),
        &done.last().unwrap().1,
    )
    .unwrap();
    assert_eq!(engine.finalized(), target(&chain[6]));
}

#[test]
fn the_voting_rule_caps_votes() {
    let (mut engine, chain, _) = lone_engine(Some(2));
    engine.handle(Input::Tick(10_000));
    assert_eq!(engine.finalized(), target(&chain[4]));
    // A rule answering outside [base, best] makes the voter vote for the base.
    let key = AuthorityKey::from_index(0);
    let set = AuthoritySet::equal(0, [key.public()]).unwrap();
    let stray = Hash([5; 32]);
    let mut engine = FinalityEngine::new(FinalityConfig::default(), set, genesis(), Some(key))
        .with_voting_rule(Box::new(move |_: &Header, _: &Header, _: &BlockTree| {
            Some(stray)
        }));
    for h in &chain[1..] {
        engine.handle(Input::BlockImported(h.clone()));
    }
    engine.handle(Input::BestBlock(chain[6].hash()));
    engine.handle(Input::Tick(10_000));
    assert_eq!(engine.finalized(), target(&chain[0]));
}

#[test]
fn a_new_set_signs_justifications_the_old_set_rejects() {
    let (mut engine, chain, key) = lone_engine(None);
    engine.handle(Input::Tick(10_000));
    let old_set = engine.authority_set().clone();
    let new_set = AuthoritySet::new(1, vec![(key.public(), 5)]).unwrap();
    engine.handle(Input::NewAuthoritySet(new_set.clone()));
    assert_eq!(engine.round(), 1);
    let next = child(&chain[6], 77);
    engine.handle(Input::BlockImported(next.clone()));
    engine.handle(Input::BestBlock(next.hash()));
    let done = finalized(&engine.handle(Input::Tick(20_000)));
    let (t, j) = done.last().unwrap();
    assert_eq!(*t, target(&next));
    verify_justification(&new_set, *t, j).unwrap();
    assert!(verify_justification(&old_set, *t, j).is_err());
}

#[test]
fn votes_from_strangers_and_bad_signatures_are_misbehaviour() {
    let (mut engine, chain, _) = lone_engine(None);
    let stranger = AuthorityKey::from_index(5);
    let vote = SignedVote::sign(&stranger, Vote::Prevote(target(&chain[2])), 1, 0);
    let mut forged = SignedVote::sign(
        &AuthorityKey::from_index(0),
        Vote::Prevote(target(&chain[2])),
        1,
        0,
    );
    forged.signature.0[0] ^= 1;
    let outputs = engine.handle(Input::Messages(vec![
        (
            tessera_consensus::PeerId(1),
            tessera_consensus::finality::FinalityMessage::Vote(vote),
        ),
        (
            tessera_consensus::PeerId(2),
            tessera_consensus::finality::FinalityMessage::Vote(forged),
        ),
    ]));
    let bad: Vec<_> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Misbehaviour(peer, _) => Some(peer.0),
            _ => None,
        })
        .collect();
    assert_eq!(bad, vec![1, 2]);
    let _ = Phase::Prevote;
    let _: AccountId = stranger.public();
}

#[test]
fn an_isolated_voter_catches_up_from_a_peer() {
    let n = 7;
    let mut config = SimConfig::new(11, n);
    // No commits are gossiped, so the isolated voter can only rejoin through a catch-up; the
    // rounds it is shown hold a byzantine voter's votes for forks it may not have.
    config.finality.commit_senders = 0;
    config.behaviours[6] = Behaviour::RandomForkVoter;
    config.network.partitions.push(Partition {
        from_ms: 0,
        until_ms: 3_000,
        groups: (0..n).map(|i| u8::from(i == 0)).collect(),
    });
    let mut sim = Sim::new(config);
    sim.run_until(3_000);
    assert_eq!(sim.nodes[0].finalized_number(), 0);
    let behind = sim.nodes[0].finality.round();
    let peers = sim.nodes[1].finality.round();
    assert!(peers >= behind + 2, "{peers} vs {behind}");
    sim.run_until(5_000);
    let stats = sim.nodes[0].finality.stats();
    assert!(stats.catch_ups >= 1, "{stats:?}");
    assert!(
        sim.nodes[0].finality.round() >= peers,
        "the catch-up skipped the missed rounds"
    );
    assert!(sim.nodes[0].finalized_number() > 0);
    sim.check_safety().unwrap();
}
