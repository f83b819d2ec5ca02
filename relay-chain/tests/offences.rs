//! Equivocation reports on real relay blocks: two finality votes in one round, or two headers
//! sealed for one slot, reported unsigned; the offender slashed with its nominators in the era
//! of the offence's session, chilled, disabled and left out of the next election; a share
//! that grows with the offenders of one set's rounds; and every false, stale or repeated
//! report refused, which leaves it out of the block.

mod support;

use parity_scale_codec::Encode;
use tessera_relay_chain::offences::{self, TimeSlot};
use tessera_relay_chain::staking::{
    self, Event as StakingEvent, Perbill, RewardDestination, ACTIVE_ERA, CURRENT_ERA, PERBILL_ONE,
};
use tessera_relay_chain::{
    babe, disputes, grandpa, session, Call, ChainSpec, Event, DEV_VALIDATOR_BOND, UNIT,
};
use tessera_runtime::consensus::{PreDigest, Target, Vote, BABE_ENGINE_ID};
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::DispatchError;
use tessera_runtime::extrinsic::{Extrinsic, MultiAddress};
use tessera_runtime::header::Digest;
use tessera_runtime::{AccountId, Balance, DigestItem, Hash, Header, OpaqueExtrinsic};

use support::{report_refused, Relay};

/// Blocks per session in these tests.
const SESSION: u32 = 3;

/// The 4-validator local chain with short sessions and eras of two sessions.
fn spec(validator_count: u32) -> ChainSpec {
    let mut spec = ChainSpec::dev_with_validators(4);
    spec.genesis.epoch_length = u64::from(SESSION);
    let staking = spec.genesis.staking.as_mut().unwrap();
    staking.validator_count = validator_count;
    staking.sessions_per_era = 2;
    staking.bonding_duration = 3;
    staking.slash_defer_duration = 1;
    spec
}

fn id(name: &str) -> AccountId {
    Pair::dev(name).public()
}

/// The dev name of account `who`.
fn name_of(who: &AccountId) -> &'static str {
    ["Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"]
        .into_iter()
        .find(|name| id(name) == *who)
        .unwrap()
}

fn unsigned(call: Call) -> OpaqueExtrinsic {
    Extrinsic::<Call> {
        signature: None,
        call,
    }
    .to_opaque()
}

fn target(byte: u8) -> Target {
    Target {
        hash: Hash([byte; 32]),
        number: u32::from(byte),
    }
}

/// A finality report: `first` signed by `offender`, `second` by `second_signer`, in `round`
/// of set `set_id`.
fn vote_proof(
    offender: &str,
    second_signer: &str,
    set_id: u64,
    round: u64,
    first: Vote,
    second: Vote,
) -> grandpa::EquivocationProof {
    let sign = |name: &str, vote: &Vote| {
        Pair::dev(name).sign(&tessera_runtime::consensus::vote_payload(
            vote, round, set_id,
        ))
    };
    grandpa::EquivocationProof {
        set_id,
        round,
        offender: id(offender),
        first: (first, sign(offender, &first)),
        second: (second, sign(second_signer, &second)),
    }
}

fn grandpa_call(proof: grandpa::EquivocationProof) -> Call {
    Call::Grandpa(grandpa::Call::ReportEquivocationUnsigned {
        equivocation_proof: Box::new(proof),
    })
}

/// `offender` prevoting for two blocks in `round` of the current set.
fn double_prevote(relay: &Relay, offender: &str, round: u64) -> OpaqueExtrinsic {
    let set_id = current_set(relay);
    let proof = vote_proof(
        offender,
        offender,
        set_id,
        round,
        Vote::Prevote(target(1)),
        Vote::Prevote(target(2)),
    );
    unsigned(grandpa_call(proof))
}

fn current_set(relay: &Relay) -> u64 {
    grandpa::CURRENT_SET_ID
        .get_or_default(&mut relay.state())
        .unwrap()
}

fn current_session(relay: &Relay) -> u32 {
    session::CURRENT_INDEX
        .get_or_default(&mut relay.state())
        .unwrap()
}

/// A header for `slot` claimed by authority `index`, told apart by `tag`, sealed by `sealer`.
fn sealed(slot: u64, index: u32, tag: u8, sealer: &str) -> Header {
    let claim = PreDigest::Secondary {
        authority_index: index,
        slot,
    };
    let mut header = Header {
        parent_hash: Hash([tag; 32]),
        number: 1,
        state_root: Hash::ZERO,
        extrinsics_root: Hash::ZERO,
        digest: Digest {
            logs: vec![claim.to_digest_item()],
        },
    };
    let seal = Pair::dev(sealer).sign(header.hash().as_bytes());
    header
        .digest
        .logs
        .push(DigestItem::Seal(BABE_ENGINE_ID, seal.encode()));
    header
}

fn babe_report(offender: &str, slot: u64, first: Header, second: Header) -> OpaqueExtrinsic {
    let proof = babe::EquivocationProof {
        offender: id(offender),
        slot,
        first_header: first,
        second_header: second,
    };
    unsigned(Call::Babe(babe::Call::ReportEquivocationUnsigned {
        equivocation_proof: Box::new(proof),
    }))
}

fn offences_events(events: &[Event]) -> Vec<offences::Event> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Offences(event) => Some(event.clone()),
            _ => None,
        })
        .collect()
}

fn staking_events(events: &[Event]) -> Vec<StakingEvent> {
    events
        .iter()
        .filter_map(|event| match event {
            Event::Staking(event) => Some(event.clone()),
            _ => None,
        })
        .collect()
}

fn active_era(relay: &Relay) -> u32 {
    ACTIVE_ERA.get(&mut relay.state()).unwrap().unwrap().index
}

/// Builds empty blocks until the active era is `era`; the events on the way.
fn run_to_era(relay: &mut Relay, era: u32) -> Vec<Event> {
    let mut events = Vec::new();
    for _ in 0..20 * SESSION {
        if active_era(relay) >= era {
            return events;
        }
        events.extend(relay.block(vec![]));
    }
    panic!("era {era} never started");
}

fn elected(relay: &Relay, era: u32) -> Vec<AccountId> {
    staking::ERAS_ELECTED
        .get_or_default(&mut relay.state(), &era)
        .unwrap()
}

/// (3/4)² of the stake: one offender of four validators.
const ONE_OF_FOUR: Perbill = Perbill(562_500_000);
const ALL: Perbill = Perbill(PERBILL_ONE);

#[test]
fn the_slash_share_grows_with_the_offenders_as_polkadots() {
    assert_eq!(offences::slash_fraction(1, 4), ONE_OF_FOUR);
    assert_eq!(offences::slash_fraction(2, 4), ALL);
    assert_eq!(offences::slash_fraction(1, 300), Perbill(100_000));
    assert_eq!(offences::slash_fraction(1, 0), ALL);
}

#[test]
fn a_double_vote_is_slashed_with_its_nominators_and_its_voter_left_out_of_the_next_era() {
    let mut relay = Relay::from_spec(&spec(4));
    // Ferdie nominates Alice alone: all his stake is behind her.
    let bond = Call::Staking(staking::Call::Bond {
        value: 100_000 * UNIT,
        payee: RewardDestination::Stash,
    });
    relay.dispatch("Ferdie", bond).unwrap();
    let nominate = Call::Staking(staking::Call::Nominate {
        targets: vec![MultiAddress::Id(id("Alice"))],
    });
    relay.dispatch("Ferdie", nominate).unwrap();
    let era = CURRENT_ERA.get(&mut relay.state()).unwrap().unwrap() + 1;
    run_to_era(&mut relay, era);

    // Alice prevotes for two blocks in round 7: anyone's report of it is taken unsigned.
    let set_id = current_set(&relay);
    let report = double_prevote(&relay, "Alice", 7);
    let events = relay.block(vec![report.clone()]);
    // Judged in the latest session of the set: this one.
    let session = current_session(&relay);
    assert_eq!(
        offences_events(&events),
        [offences::Event::Offence {
            session,
            time_slot: TimeSlot::Round { set_id, round: 7 },
            offender: id("Alice"),
            fraction: ONE_OF_FOUR,
        }]
    );
    let reported = staking_events(&events);
    assert!(reported.contains(&StakingEvent::Chilled { stash: id("Alice") }));
    assert!(reported.contains(&StakingEvent::SlashReported {
        validator: id("Alice"),
        fraction: ONE_OF_FOUR,
        slash_era: era,
    }));
    // She is disabled for the rest of the session: she no longer authors.
    let alice_at = session::validators(&mut relay.state())
        .unwrap()
        .iter()
        .position(|v| *v == id("Alice"))
        .unwrap() as u32;
    assert_eq!(disputes::disabled(&mut relay.state()).unwrap(), [alice_at]);

    // The same offence again is refused, and so is the block carrying it.
    assert_eq!(
        relay.refused(report),
        report_refused(grandpa::Error::DuplicateOffenceReport)
    );
    // Votes that do not prove a double vote are refused.
    let prevote = |byte| Vote::Prevote(target(byte));
    let precommit = |byte| Vote::Precommit(target(byte));
    let false_proofs = [
        // One vote twice.
        vote_proof("Bob", "Bob", set_id, 7, prevote(1), prevote(1)),
        // Two phases.
        vote_proof("Bob", "Bob", set_id, 7, prevote(1), precommit(2)),
        // The second signed by someone else.
        vote_proof("Bob", "Charlie", set_id, 7, prevote(1), prevote(2)),
        // A primary's proposal is no vote.
        vote_proof(
            "Bob",
            "Bob",
            set_id,
            7,
            Vote::PrimaryPropose(target(1)),
            Vote::PrimaryPropose(target(2)),
        ),
    ];
    for proof in false_proofs {
        assert_eq!(
            relay.refused(unsigned(grandpa_call(proof))),
            report_refused(grandpa::Error::InvalidEquivocationProof)
        );
    }
    // A set the chain does not know, or a voter who is not in the set.
    let unknown_set = vote_proof("Bob", "Bob", set_id + 5, 7, prevote(1), prevote(2));
    let no_voter = vote_proof("Ferdie", "Ferdie", set_id, 7, prevote(1), prevote(2));
    for proof in [unknown_set, no_voter] {
        assert_eq!(
            relay.refused(unsigned(grandpa_call(proof))),
            report_refused(grandpa::Error::InvalidKeyOwnershipProof)
        );
    }
    // Signed, a report is refused: no account may make it.
    let proof = vote_proof("Bob", "Bob", set_id, 7, prevote(1), prevote(2));
    assert_eq!(
        relay.dispatch("Dave", grandpa_call(proof)),
        Err(DispatchError::BadOrigin)
    );

    // Alice is taken once for the set's rounds: another round of hers is refused too.
    let again = double_prevote(&relay, "Alice", 10);
    assert_eq!(
        relay.refused(again),
        report_refused(grandpa::Error::DuplicateOffenceReport)
    );
    // Bob double-votes in round 8: two offenders of four in the set's rounds make (3·2/4)²,
    // capped at all their stake, and Alice's share rises to it too. Charlie's offence
    // after them finds them slashed all already.
    let events = relay.block(vec![double_prevote(&relay, "Bob", 8)]);
    for name in ["Alice", "Bob"] {
        assert!(
            staking_events(&events).contains(&StakingEvent::SlashReported {
                validator: id(name),
                fraction: ALL,
                slash_era: era,
            }),
            "{name}"
        );
    }
    let events = staking_events(&relay.block(vec![double_prevote(&relay, "Charlie", 8)]));
    let reported: Vec<AccountId> = events
        .iter()
        .filter_map(|event| match event {
            StakingEvent::SlashReported {
                validator,
                fraction,
                ..
            } if *fraction == ALL => Some(*validator),
            _ => None,
        })
        .collect();
    assert_eq!(reported, [id("Charlie")]);

    // Bob was elected for the next era before he was reported: he votes twice there too. That
    // counts in the era he was reported in, where he lost all he had already.
    run_to_era(&mut relay, era + 1);
    assert!(session::validators(&mut relay.state())
        .unwrap()
        .contains(&id("Bob")));
    let events = relay.block(vec![double_prevote(&relay, "Bob", 9)]);
    assert_eq!(offences_events(&events).len(), 1);
    assert!(!staking_events(&events)
        .iter()
        .any(|event| matches!(event, StakingEvent::SlashReported { .. })));
    assert_eq!(
        staking::slashing::SLASHING_SPANS
            .get(&mut relay.state(), &id("Bob"))
            .unwrap(),
        Some((era, era + 1))
    );

    // The eras planned after the offences leave them out; at the deferred era's start all
    // three lose all their stake, and Ferdie all he had behind Alice (her first share and the
    // rest, in one slash). The issuance falls by exactly that.
    let before = relay.issuance();
    let fees_before = relay.fees;
    let events = staking_events(&run_to_era(&mut relay, era + 2));
    // Era `era + 1` was planned as its last session began: before Bob's and Charlie's
    // offences, after Alice's.
    let next = elected(&relay, era + 1);
    assert!(!next.contains(&id("Alice")) && next.contains(&id("Bob")));
    assert_eq!(elected(&relay, era + 2), [id("Dave")]);
    let expected = [
        ("Alice", DEV_VALIDATOR_BOND),
        ("Ferdie", 100_000 * UNIT),
        ("Bob", DEV_VALIDATOR_BOND),
        ("Charlie", DEV_VALIDATOR_BOND),
    ];
    let slashed = |who: AccountId| -> Balance {
        events
            .iter()
            .map(|event| match event {
                StakingEvent::Slashed { staker, amount } if *staker == who => *amount,
                _ => 0,
            })
            .sum()
    };
    let mut burnt = 0;
    for (name, amount) in expected {
        assert_eq!(slashed(id(name)), amount, "{name}");
        burnt += amount;
    }
    assert_eq!(
        relay.issuance(),
        before - burnt - (relay.fees - fees_before)
    );
}

#[test]
fn two_headers_for_one_slot_are_judged_against_the_keys_of_the_slots_session() {
    // Era 0's election takes three of the four genesis validators from session 1 on.
    let mut relay = Relay::from_spec(&spec(3));
    while current_session(&relay) < 2 {
        relay.block(vec![]);
    }
    let first_session = session::SESSION_AUTHORITIES
        .get(&mut relay.state(), &0)
        .unwrap()
        .unwrap();
    assert_eq!(first_session.babe.len(), 4);
    let now = session::validators(&mut relay.state()).unwrap();
    let (index, left) = first_session
        .babe
        .iter()
        .enumerate()
        .find(|(_, key)| !now.contains(key))
        .map(|(index, key)| (index as u32, name_of(key)))
        .unwrap();

    // The validator who left sealed two blocks for slot 2 (epoch 0, session 0): reported in
    // era 1, it is judged by session 0's keys. Staking did not elect it, so it has no stake
    // at risk: it is chilled, and disables nobody.
    assert_eq!(active_era(&relay), 1);
    let slot = 2;
    let report = babe_report(
        left,
        slot,
        sealed(slot, index, 1, left),
        sealed(slot, index, 2, left),
    );
    let events = relay.block(vec![report.clone()]);
    assert_eq!(
        offences_events(&events),
        [offences::Event::Offence {
            session: 0,
            time_slot: TimeSlot::Slot(slot),
            offender: id(left),
            fraction: ONE_OF_FOUR,
        }]
    );
    let reported = staking_events(&events);
    assert!(reported.contains(&StakingEvent::Chilled { stash: id(left) }));
    assert!(!reported
        .iter()
        .any(|event| matches!(event, StakingEvent::SlashReported { .. })));
    assert!(disputes::disabled(&mut relay.state()).unwrap().is_empty());
    assert_eq!(
        relay.refused(report),
        report_refused(babe::Error::DuplicateOffenceReport)
    );

    // One who stayed did the same in slot 3: the second offender of session 0's four, it is
    // slashed all its exposure in era 0. (Of three validators, none may be disabled now: that
    // takes four.)
    let stayer = name_of(&now[0]);
    let then_at = first_session
        .babe
        .iter()
        .position(|key| *key == now[0])
        .unwrap() as u32;
    let report = babe_report(
        stayer,
        3,
        sealed(3, then_at, 1, stayer),
        sealed(3, then_at, 2, stayer),
    );
    let events = relay.block(vec![report]);
    assert!(
        staking_events(&events).contains(&StakingEvent::SlashReported {
            validator: now[0],
            fraction: ALL,
            slash_era: 0,
        })
    );
    assert!(disputes::disabled(&mut relay.state()).unwrap().is_empty());

    // Headers that do not prove it are refused.
    let author = name_of(&now[1]);
    let at = |slot: u64| {
        let epoch = (slot - 1) / u64::from(SESSION);
        session::session_of_epoch(&mut relay.state(), epoch)
            .unwrap()
            .unwrap()
            .1
            .babe
            .iter()
            .position(|key| *key == id(author))
            .unwrap() as u32
    };
    let slot = u64::from(relay.head.number);
    let i = at(slot);
    let false_reports = [
        // One header twice.
        babe_report(
            author,
            slot,
            sealed(slot, i, 1, author),
            sealed(slot, i, 1, author),
        ),
        // Two slots.
        babe_report(
            author,
            slot,
            sealed(slot, i, 1, author),
            sealed(slot - 1, i, 2, author),
        ),
        // The second sealed by someone else.
        babe_report(
            author,
            slot,
            sealed(slot, i, 1, author),
            sealed(slot, i, 2, left),
        ),
        // Unsealed.
        babe_report(author, slot, sealed(slot, i, 1, author), {
            let mut header = sealed(slot, i, 2, author);
            header.digest.logs.pop();
            header
        }),
    ];
    for report in false_reports {
        assert_eq!(
            relay.refused(report),
            report_refused(babe::Error::InvalidEquivocationProof)
        );
    }
    // Sealed in another authority's place, or in an epoch that has not begun.
    let other = (i + 1) % 3;
    let future = slot + 3 * u64::from(SESSION);
    let not_its_place = babe_report(
        author,
        slot,
        sealed(slot, other, 1, author),
        sealed(slot, other, 2, author),
    );
    let not_begun = babe_report(
        author,
        future,
        sealed(future, i, 1, author),
        sealed(future, i, 2, author),
    );
    for report in [not_its_place, not_begun] {
        assert_eq!(
            relay.refused(report),
            report_refused(babe::Error::InvalidKeyOwnershipProof)
        );
    }

    // Once session 0 is older than the dispute period, its keys are gone: a report of an
    // offence in it is refused, and the offences taken for it are forgotten.
    while current_session(&relay) <= session::DISPUTE_PERIOD {
        relay.block(vec![]);
    }
    let scope = offences::ReportScope::Session(0);
    assert_eq!(
        offences::REPORTS.get(&mut relay.state(), &scope).unwrap(),
        None
    );
    let stale = babe_report(
        left,
        1,
        sealed(1, index, 1, left),
        sealed(1, index, 2, left),
    );
    assert_eq!(
        relay.refused(stale),
        report_refused(babe::Error::InvalidKeyOwnershipProof)
    );
}

#[test]
fn an_epoch_is_judged_by_the_session_that_started_in_it_or_after_it_if_skipped() {
    let relay = Relay::from_spec(&spec(4));
    let mut state = relay.state();
    // Sessions 0 to 3 started in epochs 0, 1, 3 and 4: no block of this chain started epoch
    // 2, so a fork's blocks in it claimed with the keys announced for the next session.
    for (session, first_epoch) in [(0u32, 0u64), (1, 1), (2, 3), (3, 4)] {
        let authorities = session::SessionAuthorities {
            first_epoch,
            ..Default::default()
        };
        session::SESSION_AUTHORITIES.insert(&mut state, &session, &authorities);
    }
    session::CURRENT_INDEX.put(&mut state, &3);
    let sessions = |state: &mut tessera_runtime::state::State<'_>| -> Vec<Option<u32>> {
        (0..6)
            .map(|epoch| {
                session::session_of_epoch(state, epoch)
                    .unwrap()
                    .map(|(session, _)| session)
            })
            .collect()
    };
    assert_eq!(
        sessions(&mut state),
        [Some(0), Some(1), Some(2), Some(2), Some(3), None]
    );
    // Session 1's keys gone: its epoch is unknown, and so is the one after it (session 1 may
    // have started in it).
    session::SESSION_AUTHORITIES.remove(&mut state, &1);
    assert_eq!(
        sessions(&mut state),
        [Some(0), None, None, Some(2), Some(3), None]
    );
}

#[test]
fn a_later_offender_of_a_set_that_spans_eras_raises_each_share_in_the_era_of_its_offence() {
    let mut relay = Relay::from_spec(&spec(4));
    // Era 1 is elected as session 1, era 0's last, starts; Alice double-votes after that.
    while current_session(&relay) < 1 {
        relay.block(vec![]);
    }
    let set_id = current_set(&relay);
    let events = relay.block(vec![double_prevote(&relay, "Alice", 1)]);
    assert!(
        staking_events(&events).contains(&StakingEvent::SlashReported {
            validator: id("Alice"),
            fraction: ONE_OF_FOUR,
            slash_era: 0,
        })
    );
    // Alice validates again and is elected for era 2: eras 1 and 2 have the same validators,
    // so the same set votes on. Bob double-votes in era 2.
    let validate = Call::Staking(staking::Call::Validate {
        prefs: staking::ValidatorPrefs {
            commission: Perbill(0),
            blocked: false,
        },
    });
    relay.dispatch("Alice", validate).unwrap();
    run_to_era(&mut relay, 2);
    assert_eq!(current_set(&relay), set_id);
    let events = staking_events(&relay.block(vec![double_prevote(&relay, "Bob", 2)]));
    // Two of four: both lose all, Bob in era 2 and Alice in era 0, where she offended (era 2,
    // past her span, would slash her again for it).
    for (name, era) in [("Bob", 2), ("Alice", 0)] {
        assert!(
            events.contains(&StakingEvent::SlashReported {
                validator: id(name),
                fraction: ALL,
                slash_era: era,
            }),
            "{name}: {events:?}"
        );
    }
}
