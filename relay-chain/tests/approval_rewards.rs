//! Approval tallies on real relay blocks: each validator's signed count of whose approvals
//! approved candidates in a session, taken unsigned in the two sessions after it and settled
//! into era points when the one after those starts, by what `f + 1` of the validators saw; every
//! false, repeated or mistimed tally refused, which leaves it out of the block.

mod support;

use tessera_relay_chain::approval_rewards::{
    self, ApprovalTally, APPROVAL_POINTS, TALLIES, TALLY_SESSIONS,
};
use tessera_relay_chain::staking::rewards::ERAS_REWARD_POINTS;
use tessera_relay_chain::staking::{self, ACTIVE_ERA, ERAS_START_SESSION_INDEX};
use tessera_relay_chain::{session, Call, ChainSpec, Event};
use tessera_runtime::crypto::Pair;
use tessera_runtime::extrinsic::Extrinsic;
use tessera_runtime::{AccountId, OpaqueExtrinsic};

use support::{report_refused, Relay};

/// Blocks per session in these tests.
const SESSION: u32 = 3;

const VALIDATORS: [&str; 4] = ["Alice", "Bob", "Charlie", "Dave"];

/// The 4-validator local chain with short sessions, all in one era.
fn spec() -> ChainSpec {
    let mut spec = ChainSpec::dev_with_validators(4);
    spec.genesis.epoch_length = u64::from(SESSION);
    spec.genesis.staking.as_mut().unwrap().sessions_per_era = 100;
    spec
}

fn id(name: &str) -> AccountId {
    Pair::dev(name).public()
}

fn current_session(relay: &Relay) -> u32 {
    session::CURRENT_INDEX
        .get_or_default(&mut relay.state())
        .unwrap()
}

/// Builds empty blocks until session `index` has started; the events on the way.
fn run_to_session(relay: &mut Relay, index: u32) -> Vec<Event> {
    let mut events = Vec::new();
    for _ in 0..4 * SESSION * (index + 1) {
        if current_session(relay) >= index {
            return events;
        }
        events.extend(relay.block(vec![]));
    }
    panic!("session {index} never started");
}

/// `signer`'s signature of `counter`'s tally of `session`, in which each validator named in
/// `usages` (the others count 0) approved so many candidates.
fn tally_signed_by(
    relay: &Relay,
    signer: &str,
    counter: &str,
    session: u32,
    usages: &[(&str, u32)],
) -> OpaqueExtrinsic {
    let validators = session::para_validators_of(&mut relay.state(), session)
        .unwrap()
        .unwrap();
    let mut counts = vec![0; validators.len()];
    for (name, count) in usages {
        counts[validators.index_of(&id(name)).unwrap() as usize] = *count;
    }
    let tally = ApprovalTally {
        session,
        validator: validators.index_of(&id(counter)).unwrap(),
        usages: counts,
    };
    submit(relay, signer, tally)
}

fn submit(relay: &Relay, signer: &str, tally: ApprovalTally) -> OpaqueExtrinsic {
    let signature = Pair::dev(signer).sign(&tally.payload(&relay.genesis_hash));
    Extrinsic::<Call> {
        signature: None,
        call: Call::ApprovalRewards(approval_rewards::Call::SubmitTally { tally, signature }),
    }
    .to_opaque()
}

fn tally(relay: &Relay, counter: &str, session: u32, usages: &[(&str, u32)]) -> OpaqueExtrinsic {
    tally_signed_by(relay, counter, counter, session, usages)
}

/// Each validator's era points now, in `VALIDATORS`' order.
fn points(relay: &Relay) -> Vec<u32> {
    let era = ACTIVE_ERA.get(&mut relay.state()).unwrap().unwrap().index;
    let all = ERAS_REWARD_POINTS
        .get_or_default(&mut relay.state(), &era)
        .unwrap();
    VALIDATORS
        .iter()
        .map(|name| all.individual.get(&id(name)).copied().unwrap_or(0))
        .collect()
}

#[test]
fn tallies_are_settled_into_era_points_by_what_more_than_the_liars_saw() {
    let mut relay = Relay::from_spec(&spec());
    run_to_session(&mut relay, 1);

    // Session 0's tallies, taken in sessions 1 and 2. Three honest validators saw much the
    // same; Dave lies, crediting himself alone with 100 approvals.
    let honest = [("Alice", 5), ("Bob", 4), ("Charlie", 3)];
    let alice = tally(&relay, "Alice", 0, &honest);
    relay.block(vec![
        alice.clone(),
        tally(&relay, "Bob", 0, &honest),
        tally(&relay, "Dave", 0, &[("Dave", 100)]),
    ]);
    run_to_session(&mut relay, 2);
    let charlie = tally(
        &relay,
        "Charlie",
        0,
        &[("Alice", 6), ("Bob", 4), ("Charlie", 3)],
    );
    relay.block(vec![charlie]);
    for index in 0..4 {
        assert!(TALLIES
            .get(&mut relay.state(), &(0, index))
            .unwrap()
            .is_some());
    }

    // Refused: a second tally, one signed by another, one of another length, by no validator,
    // or of the current session.
    use approval_rewards::Error;
    assert_eq!(relay.refused(alice), report_refused(Error::DuplicateTally));
    let forged = tally_signed_by(&relay, "Bob", "Alice", 0, &honest);
    assert_eq!(relay.refused(forged), report_refused(Error::BadSignature));
    let short = ApprovalTally {
        session: 0,
        validator: 0,
        usages: vec![1; 3],
    };
    let short = submit(&relay, "Alice", short);
    assert_eq!(relay.refused(short), report_refused(Error::WrongLength));
    let stranger = ApprovalTally {
        session: 0,
        validator: 4,
        usages: vec![1; 4],
    };
    let stranger = submit(&relay, "Eve", stranger);
    assert_eq!(
        relay.refused(stranger),
        report_refused(Error::UnknownValidator)
    );
    let early = tally(&relay, "Bob", 2, &honest);
    assert_eq!(relay.refused(early), report_refused(Error::WrongSession));

    // Session 3 settles them: each validator gets the second largest of the four counts of it
    // (f = 1 of 4 may lie), so Dave's claim alone adds nothing, and Charlie's 6 for Alice
    // neither.
    let before = points(&relay);
    let events = run_to_session(&mut relay, 3);
    let settled: Vec<&approval_rewards::Event> = events
        .iter()
        .filter_map(|event| match event {
            Event::ApprovalRewards(event) => Some(event),
            _ => None,
        })
        .collect();
    let earned: Vec<u32> = [5, 4, 3, 0].map(|usages| usages * APPROVAL_POINTS).into();
    assert_eq!(
        settled,
        [&approval_rewards::Event::Settled {
            session: 0,
            era: 0,
            tallies: 4,
            points: earned.iter().sum(),
        }]
    );
    let after = points(&relay);
    let gained: Vec<u32> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(gained, earned);
    for index in 0..4 {
        assert!(TALLIES
            .get(&mut relay.state(), &(0, index))
            .unwrap()
            .is_none());
    }

    // Too late for session 0 now.
    let late = tally(&relay, "Dave", 0, &honest);
    assert_eq!(relay.refused(late), report_refused(Error::WrongSession));
}

#[test]
fn the_robust_count_is_the_one_more_than_the_liars_claim() {
    use approval_rewards::robust_count;
    // One of four may lie: the second largest.
    assert_eq!(robust_count([9, 1, 2, 3], 4), 3);
    // Those who sent nothing count 0.
    assert_eq!(robust_count([7], 4), 0);
    assert_eq!(robust_count([7, 7], 4), 7);
    // Two of seven may lie: the third largest.
    assert_eq!(robust_count([50, 40, 5, 5, 5, 4, 0], 7), 5);
    assert_eq!(robust_count([], 0), 0);
}

#[test]
fn an_era_is_paid_once_the_approval_points_of_its_last_session_are_in() {
    let mut spec = spec();
    spec.genesis.staking.as_mut().unwrap().sessions_per_era = 2;
    let mut relay = Relay::from_spec(&spec);
    let started = |relay: &Relay, era: u32| {
        ERAS_START_SESSION_INDEX
            .get(&mut relay.state(), &era)
            .unwrap()
            .unwrap()
    };
    // Era 1's first session is planned once era 0's last has begun.
    run_to_session(&mut relay, 1);
    let last = started(&relay, 1) - 1;
    run_to_session(&mut relay, last + 1);
    assert_eq!(
        ACTIVE_ERA.get(&mut relay.state()).unwrap().unwrap().index,
        1
    );

    // Era 0's last session is tallied while era 1 runs: its points are era 0's.
    let counted = [("Alice", 2), ("Bob", 1)];
    relay.block(
        ["Alice", "Bob", "Charlie"]
            .map(|name| tally(&relay, name, last, &counted))
            .into(),
    );
    let payout = Call::Staking(staking::Call::PayoutStakers {
        validator_stash: id("Alice"),
        era: 0,
    });
    // Until they are settled, era 0 is not paid.
    assert_eq!(
        relay.dispatch("Ferdie", payout.clone()),
        Err(tessera_relay_chain::dispatch_error(
            staking::Error::InvalidEraToReward
        ))
    );
    let era_points = |relay: &Relay, era: u32| {
        ERAS_REWARD_POINTS
            .get_or_default(&mut relay.state(), &era)
            .unwrap()
    };
    let (before_0, before_1) = (era_points(&relay, 0), era_points(&relay, 1));
    let events = run_to_session(&mut relay, last + 1 + TALLY_SESSIONS);
    assert!(
        events.contains(&Event::ApprovalRewards(approval_rewards::Event::Settled {
            session: last,
            era: 0,
            tallies: 3,
            points: 3 * APPROVAL_POINTS,
        }))
    );
    let after_0 = era_points(&relay, 0);
    assert_eq!(
        after_0.individual[&id("Alice")],
        before_0.individual.get(&id("Alice")).copied().unwrap_or(0) + 2 * APPROVAL_POINTS
    );
    assert_eq!(after_0.total, before_0.total + 3 * APPROVAL_POINTS);
    assert_eq!(era_points(&relay, 1), before_1);
    // Now it is.
    assert!(relay.dispatch("Ferdie", payout).is_ok());
}
