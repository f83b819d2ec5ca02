//! Staking on real relay blocks: genesis stakers elect era 0, a newcomer bonds, validates and
//! is elected with a nominator's backing at the era's end, unbonding waits out the bonding
//! duration (and rebonding takes funds back), and what a caller must not be able to do.

mod support;

use tessera_relay_chain::disputes::{dispute_payload, DisputeStatementSet, DisputeVote, VoteKind};
use tessera_relay_chain::staking::{
    self, ActiveEraInfo, Event as StakingEvent, IndividualExposure, Perbill, RewardDestination,
    ValidatorPrefs, ACTIVE_ERA, CURRENT_ERA, LEDGER, MAX_NOMINATIONS,
};
use tessera_relay_chain::{session, Call, ChainSpec, Event, UNIT};
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::DispatchError;
use tessera_runtime::extrinsic::MultiAddress;
use tessera_runtime::modules::{balances, sudo, system};
use tessera_runtime::Hash;
use tessera_runtime::{AccountId, Balance};

use support::Relay;
use tessera_relay_chain::approval_rewards::TALLY_SESSIONS;

/// Blocks per session in these tests.
const SESSION: u32 = 3;
/// Sessions per era.
const ERA_SESSIONS: u32 = 2;

/// The 4-validator local chain with short sessions and eras, electing 3 of its candidates.
fn spec() -> ChainSpec {
    let mut spec = ChainSpec::dev_with_validators(4);
    spec.genesis.epoch_length = u64::from(SESSION);
    let staking = spec.genesis.staking.as_mut().unwrap();
    staking.validator_count = 3;
    staking.sessions_per_era = ERA_SESSIONS;
    staking.bonding_duration = 3;
    staking.slash_defer_duration = 1;
    spec
}

fn id(name: &str) -> AccountId {
    Pair::dev(name).public()
}

fn staking(call: staking::Call) -> Call {
    Call::Staking(call)
}

fn nominate(names: &[&str]) -> Call {
    let targets = names.iter().map(|n| MultiAddress::Id(id(n))).collect();
    staking(staking::Call::Nominate { targets })
}

fn bond(value: Balance) -> Call {
    staking(staking::Call::Bond {
        value,
        payee: RewardDestination::Stash,
    })
}

const VALIDATE: Call = Call::Staking(staking::Call::Validate {
    prefs: ValidatorPrefs {
        commission: Perbill(50_000_000),
        blocked: false,
    },
});

fn module_error(error: impl Into<DispatchError>) -> DispatchError {
    tessera_relay_chain::dispatch_error(error)
}

fn reserved(relay: &Relay, who: &str) -> Balance {
    system::ACCOUNT
        .get(&mut relay.state(), &id(who))
        .unwrap()
        .unwrap_or_default()
        .data
        .reserved
}

fn elected(relay: &Relay, era: u32) -> Vec<AccountId> {
    staking::ERAS_ELECTED
        .get_or_default(&mut relay.state(), &era)
        .unwrap()
}

fn active_era(relay: &Relay) -> ActiveEraInfo {
    ACTIVE_ERA.get(&mut relay.state()).unwrap().unwrap()
}

/// The era the next election plans (the one after the latest planned).
fn next_election(relay: &Relay) -> u32 {
    CURRENT_ERA.get(&mut relay.state()).unwrap().unwrap() + 1
}

/// Builds empty blocks until the active era is `era`; the staking events on the way.
fn run_to_era(relay: &mut Relay, era: u32) -> Vec<StakingEvent> {
    let mut events = Vec::new();
    for _ in 0..10 * SESSION * ERA_SESSIONS {
        if active_era(relay).index >= era {
            return events;
        }
        events.extend(relay.block(vec![]).into_iter().filter_map(|e| match e {
            Event::Staking(event) => Some(event),
            _ => None,
        }));
    }
    panic!("era {era} never started: {:?}", active_era(relay));
}

fn staking_events(events: Vec<Event>) -> Vec<StakingEvent> {
    events
        .into_iter()
        .filter_map(|event| match event {
            Event::Staking(event) => Some(event),
            _ => None,
        })
        .collect()
}

#[test]
fn genesis_stakers_elect_era_zero_and_their_bonds_are_reserved() {
    let relay = Relay::from_spec(&spec());
    let bond = tessera_relay_chain::DEV_VALIDATOR_BOND;
    for name in ["Alice", "Bob", "Charlie", "Dave"] {
        assert_eq!(reserved(&relay, name), bond, "{name}");
        assert_eq!(relay.free(&id(name)), 1_000_000 * UNIT - bond, "{name}");
    }
    // Equal stakes: the ties go to the candidates bonded first.
    assert_eq!(
        elected(&relay, 0),
        vec![id("Alice"), id("Bob"), id("Charlie")]
    );
    let overview = staking::ERAS_STAKERS_OVERVIEW
        .get(&mut relay.state(), &(0, id("Alice")))
        .unwrap()
        .unwrap();
    assert_eq!(
        (overview.total, overview.own, overview.page_count),
        (bond, bond, 0)
    );
    assert_eq!(active_era(&relay).index, 0);
}

#[test]
fn a_newcomer_bonds_validates_and_is_elected_with_a_nominators_backing() {
    let mut relay = Relay::from_spec(&spec());
    let before = relay.issuance();
    let eve_free = relay.free(&id("Eve"));

    let events = relay.dispatch("Eve", bond(50_000 * UNIT)).unwrap();
    assert!(events.contains(&Event::Balances(balances::Event::Reserved {
        who: id("Eve"),
        amount: 50_000 * UNIT,
    })));
    let mut eve_fees = relay.fee_paid(&id("Eve"));
    relay.dispatch("Eve", VALIDATE).unwrap();
    eve_fees += relay.fee_paid(&id("Eve"));
    relay.dispatch("Ferdie", bond(200_000 * UNIT)).unwrap();
    let events = relay
        .dispatch("Ferdie", nominate(&["Eve", "Dave"]))
        .unwrap();
    assert!(staking_events(events).contains(&StakingEvent::Nominated {
        stash: id("Ferdie"),
        targets: vec![id("Eve"), id("Dave")],
    }));

    let era = next_election(&relay);
    let events = run_to_era(&mut relay, era);
    // Dave (100k + Ferdie's) wins first, then Eve (50k + Ferdie's), then the first of the
    // three 100k candidates: sequential Phragmén by hand gives the same.
    assert!(events.contains(&StakingEvent::StakersElected {
        era_index: era,
        validators: 3,
    }));
    assert!(events.contains(&StakingEvent::EraStarted { era_index: era }));
    assert_eq!(
        elected(&relay, era),
        vec![id("Dave"), id("Eve"), id("Alice")]
    );
    // Ferdie's loads on Dave and Eve come out equal: 100k behind each.
    let exposure = |relay: &Relay, who: &str| {
        staking::ERAS_STAKERS_OVERVIEW
            .get(&mut relay.state(), &(era, id(who)))
            .unwrap()
            .unwrap()
    };
    let eve = exposure(&relay, "Eve");
    assert_eq!(
        (eve.own, eve.total, eve.nominator_count),
        (50_000 * UNIT, 150_000 * UNIT, 1)
    );
    let dave = exposure(&relay, "Dave");
    assert_eq!((dave.own, dave.total), (100_000 * UNIT, 200_000 * UNIT));
    let page = staking::ERAS_STAKERS_PAGED
        .get(&mut relay.state(), &(era, id("Eve"), 0))
        .unwrap()
        .unwrap();
    assert_eq!(
        page.others,
        vec![IndividualExposure {
            who: id("Ferdie"),
            value: 100_000 * UNIT,
        }]
    );
    let total = staking::ERAS_TOTAL_STAKE
        .get(&mut relay.state(), &era)
        .unwrap()
        .unwrap();
    assert_eq!(total, 450_000 * UNIT);
    // Bonding moves funds, it creates none: the issuance only lost the burnt fees.
    assert_eq!(relay.issuance(), before - relay.fees);
    assert_eq!(
        relay.free(&id("Eve")) + reserved(&relay, "Eve"),
        eve_free - eve_fees
    );

    // Eve chills: the next era elects without her.
    relay
        .dispatch("Eve", staking(staking::Call::Chill))
        .unwrap();
    let era = next_election(&relay);
    run_to_era(&mut relay, era);
    assert_eq!(
        elected(&relay, era),
        vec![id("Dave"), id("Alice"), id("Bob")]
    );
}

#[test]
fn unbonded_funds_wait_the_bonding_duration_and_rebond_takes_them_back() {
    let mut relay = Relay::from_spec(&spec());
    relay.dispatch("Ferdie", bond(100_000 * UNIT)).unwrap();
    relay.dispatch("Ferdie", nominate(&["Bob"])).unwrap();
    let unbond = |value| staking(staking::Call::Unbond { value });
    let withdraw = staking(staking::Call::WithdrawUnbonded {
        num_slashing_spans: 0,
    });
    relay.dispatch("Ferdie", unbond(30_000 * UNIT)).unwrap();
    let ledger = |relay: &Relay| LEDGER.get(&mut relay.state(), &id("Ferdie")).unwrap();
    let chunk_era = CURRENT_ERA.get(&mut relay.state()).unwrap().unwrap() + 3;
    assert_eq!(ledger(&relay).unwrap().unlocking[0].era, chunk_era);
    // Too early: nothing is freed.
    let events = relay.dispatch("Ferdie", withdraw.clone()).unwrap();
    let freed = staking_events(events);
    assert!(
        !freed
            .iter()
            .any(|e| matches!(e, StakingEvent::Withdrawn { .. })),
        "{freed:?}"
    );
    assert_eq!(reserved(&relay, "Ferdie"), 100_000 * UNIT);
    // Rebond takes 10k back; 20k stay unbonding.
    relay
        .dispatch(
            "Ferdie",
            staking(staking::Call::Rebond {
                value: 10_000 * UNIT,
            }),
        )
        .unwrap();
    let now = ledger(&relay).unwrap();
    assert_eq!((now.active, now.total), (80_000 * UNIT, 100_000 * UNIT));

    run_to_era(&mut relay, chunk_era);
    let free = relay.free(&id("Ferdie"));
    let events = relay.dispatch("Ferdie", withdraw.clone()).unwrap();
    assert!(staking_events(events).contains(&StakingEvent::Withdrawn {
        stash: id("Ferdie"),
        amount: 20_000 * UNIT,
    }));
    let fee = relay.fee_paid(&id("Ferdie"));
    assert_eq!(relay.free(&id("Ferdie")), free + 20_000 * UNIT - fee);
    assert_eq!(reserved(&relay, "Ferdie"), 80_000 * UNIT);

    // Unbonding everything chills the stash; withdrawing it ends its staking.
    let events = relay.dispatch("Ferdie", unbond(Balance::MAX)).unwrap();
    assert!(staking_events(events).contains(&StakingEvent::Chilled {
        stash: id("Ferdie")
    }));
    let era = CURRENT_ERA.get(&mut relay.state()).unwrap().unwrap() + 3;
    run_to_era(&mut relay, era);
    let events = relay.dispatch("Ferdie", withdraw).unwrap();
    assert!(staking_events(events).contains(&StakingEvent::Withdrawn {
        stash: id("Ferdie"),
        amount: 80_000 * UNIT,
    }));
    assert_eq!(ledger(&relay), None);
    assert_eq!(reserved(&relay, "Ferdie"), 0);
    assert!(staking::NOMINATORS
        .get(&mut relay.state(), &id("Ferdie"))
        .unwrap()
        .is_none());
}

#[test]
fn bad_staking_calls_are_refused_and_bonded_funds_cannot_be_spent() {
    let mut relay = Relay::from_spec(&spec());
    let error = |e: staking::Error| module_error(e);
    // Nothing bonded yet.
    assert_eq!(
        relay.dispatch("Ferdie", VALIDATE),
        Err(error(staking::Error::NotStash))
    );
    // A bond must leave the existential deposit free (after the fee, which this failure
    // shows: a bond of the same size costs the same).
    let all = relay.free(&id("Ferdie"));
    assert_eq!(
        relay.dispatch("Ferdie", bond(all)),
        Err(module_error(balances::Error::InsufficientBalance))
    );
    let fee = relay.fee_paid(&id("Ferdie"));
    let almost_all = relay.free(&id("Ferdie")) - fee - UNIT / 1_000;
    assert_eq!(
        relay.dispatch("Ferdie", bond(almost_all)),
        Err(module_error(balances::Error::KeepAlive))
    );
    relay.dispatch("Ferdie", bond(500 * UNIT)).unwrap();
    assert_eq!(
        relay.dispatch("Ferdie", bond(500 * UNIT)),
        Err(error(staking::Error::AlreadyBonded))
    );
    // 500 is below the validator minimum (1,000).
    assert_eq!(
        relay.dispatch("Ferdie", VALIDATE),
        Err(error(staking::Error::InsufficientBond))
    );
    assert_eq!(
        relay.dispatch("Ferdie", nominate(&[])),
        Err(error(staking::Error::EmptyTargets))
    );
    let many = vec!["Alice"; MAX_NOMINATIONS + 1];
    assert_eq!(
        relay.dispatch("Ferdie", nominate(&many)),
        Err(error(staking::Error::TooManyTargets))
    );
    assert_eq!(
        relay.dispatch("Ferdie", nominate(&["Eve"])),
        Err(error(staking::Error::BadTarget))
    );
    relay.dispatch("Ferdie", nominate(&["Alice"])).unwrap();
    // Unbonding below the nominator minimum (10) while nominating.
    assert_eq!(
        relay.dispatch(
            "Ferdie",
            staking(staking::Call::Unbond { value: 495 * UNIT })
        ),
        Err(error(staking::Error::InsufficientBond))
    );
    let too_high = staking(staking::Call::Validate {
        prefs: ValidatorPrefs {
            commission: Perbill(1_000_000_001),
            blocked: false,
        },
    });
    assert_eq!(
        relay.dispatch("Alice", too_high),
        Err(error(staking::Error::CommissionTooHigh))
    );
    assert_eq!(
        relay.dispatch(
            "Alice",
            staking(staking::Call::SetValidatorCount { new: 2 })
        ),
        Err(DispatchError::BadOrigin)
    );
    // Bonded funds cannot be transferred: Charlie's free balance is all she can move.
    let free = relay.free(&id("Charlie"));
    let transfer = Call::Balances(balances::Call::Transfer {
        dest: MultiAddress::Id(id("Bob")),
        value: free + UNIT,
    });
    assert_eq!(
        relay.dispatch("Charlie", transfer),
        Err(module_error(balances::Error::InsufficientBalance))
    );
    // Spending all of its free balance leaves a staker's account, and its bond, in place
    // (the fee is the failed transfer's: one of the same size costs the same).
    let fee = relay.fee_paid(&id("Charlie"));
    let everything = Call::Balances(balances::Call::Transfer {
        dest: MultiAddress::Id(id("Bob")),
        value: relay.free(&id("Charlie")) - fee - UNIT / 1_000,
    });
    relay.dispatch("Charlie", everything).unwrap();
    assert_eq!(relay.free(&id("Charlie")), UNIT / 1_000);
    assert_eq!(
        reserved(&relay, "Charlie"),
        tessera_relay_chain::DEV_VALIDATOR_BOND
    );
    // Rewards to a controller are refused: stash and controller are one.
    let controller = staking(staking::Call::Bond {
        value: UNIT,
        payee: RewardDestination::Controller,
    });
    assert_eq!(
        relay.dispatch("Eve", controller),
        Err(error(staking::Error::ControllerDeprecated))
    );

    // Root sets the validator count; above the bound is refused.
    let sudo = |call: staking::Call| {
        Call::Sudo(sudo::Call::Sudo {
            call: Box::new(Call::Staking(call)),
        })
    };
    let events = relay
        .dispatch("Alice", sudo(staking::Call::SetValidatorCount { new: 2 }))
        .unwrap();
    assert!(events
        .iter()
        .any(|e| matches!(e, Event::Sudo(sudo::Event::Sudid { result: Ok(()) }))));
    let config = staking::CONFIG.get(&mut relay.state()).unwrap().unwrap();
    assert_eq!(config.validator_count, 2);
    // No election could fill 0 seats.
    let events = relay
        .dispatch("Alice", sudo(staking::Call::SetValidatorCount { new: 0 }))
        .unwrap();
    assert!(events.contains(&Event::Sudo(sudo::Event::Sudid {
        result: Err(error(staking::Error::TooFewElected)),
    })));

    // A nominator that bonded little is chilled by anyone once root raises the minimum.
    let chill_ferdie = staking(staking::Call::ChillOther {
        stash: id("Ferdie"),
    });
    assert_eq!(
        relay.dispatch("Bob", chill_ferdie.clone()),
        Err(error(staking::Error::CannotChillOther))
    );
    relay
        .dispatch(
            "Alice",
            sudo(staking::Call::SetStakingConfigs {
                min_nominator_bond: 1_000 * UNIT,
                min_validator_bond: 1_000 * UNIT,
            }),
        )
        .unwrap();
    let events = relay.dispatch("Bob", chill_ferdie).unwrap();
    assert!(staking_events(events).contains(&StakingEvent::Chilled {
        stash: id("Ferdie")
    }));

    let era = next_election(&relay);
    run_to_era(&mut relay, era);
    assert_eq!(elected(&relay, era).len(), 2);
}

#[test]
fn an_ended_eras_inflation_is_paid_by_points_commission_and_exposure() {
    let mut spec = spec();
    spec.genesis.staking.as_mut().unwrap().validator_count = 4;
    let mut relay = Relay::from_spec(&spec);
    // Alice authors every block: she earns all the points.
    relay.author = Some(id("Alice"));
    let ten_percent = staking::Call::Validate {
        prefs: ValidatorPrefs {
            commission: Perbill(100_000_000),
            blocked: false,
        },
    };
    relay.dispatch("Alice", staking(ten_percent)).unwrap();
    relay
        .dispatch(
            "Ferdie",
            staking(staking::Call::Bond {
                value: 100_000 * UNIT,
                payee: RewardDestination::Staked,
            }),
        )
        .unwrap();
    relay.dispatch("Ferdie", nominate(&["Alice"])).unwrap();
    let era = next_election(&relay);
    run_to_era(&mut relay, era);
    let exposure = staking::ERAS_STAKERS_OVERVIEW
        .get(&mut relay.state(), &(era, id("Alice")))
        .unwrap()
        .unwrap();
    assert_eq!(
        (exposure.own, exposure.total),
        (100_000 * UNIT, 200_000 * UNIT)
    );

    // The era ends: its payout is the issuance's 10 % a year for its blocks' time.
    let before = relay.issuance();
    let events = run_to_era(&mut relay, era + 1);
    // With an author, fees are paid to it, not burnt: the issuance has not moved.
    assert_eq!(relay.issuance(), before);
    let era_ms = u128::from(SESSION * ERA_SESSIONS) * 2_000;
    let expected = before / 10 * era_ms / 31_557_600_000;
    assert!(events.contains(&StakingEvent::EraPaid {
        era_index: era,
        validator_payout: expected,
        remainder: 0,
    }));
    let points = staking::rewards::ERAS_REWARD_POINTS
        .get(&mut relay.state(), &era)
        .unwrap()
        .unwrap();
    assert_eq!(points.individual[&id("Alice")], points.total);
    assert_eq!(points.total, 20 * SESSION * ERA_SESSIONS);

    // Anyone pays it: Alice takes 10 % and half the rest; Ferdie the other half, staked.
    let payout = |validator: &str, era| {
        staking(staking::Call::PayoutStakers {
            validator_stash: id(validator),
            era,
        })
    };
    assert_eq!(
        relay.dispatch("Bob", payout("Alice", era + 1)),
        Err(module_error(staking::Error::InvalidEraToReward))
    );
    // Not before the approval points of its last session are in: settled two sessions on.
    assert_eq!(
        relay.dispatch("Bob", payout("Alice", era)),
        Err(module_error(staking::Error::InvalidEraToReward))
    );
    let mut waited = 0;
    while !tessera_relay_chain::approval_rewards::era_settled(&mut relay.state(), era).unwrap() {
        relay.block(vec![]);
        waited += 1;
    }
    assert!(
        waited > TALLY_SESSIONS * SESSION - SESSION,
        "{waited} blocks"
    );
    let ferdie_active = LEDGER
        .get(&mut relay.state(), &id("Ferdie"))
        .unwrap()
        .unwrap()
        .active;
    let before = relay.issuance();
    let events = staking_events(relay.dispatch("Bob", payout("Alice", era)).unwrap());
    let commission = expected / 10;
    let half = (expected - commission) / 2;
    assert_eq!(
        events,
        vec![
            StakingEvent::Rewarded {
                stash: id("Alice"),
                dest: RewardDestination::Staked,
                amount: commission + half,
            },
            StakingEvent::Rewarded {
                stash: id("Ferdie"),
                dest: RewardDestination::Staked,
                amount: half,
            },
        ]
    );
    // Minted exactly what was paid; Ferdie's reward went to his bond.
    assert_eq!(relay.issuance(), before + commission + 2 * half);
    let ledger = LEDGER
        .get(&mut relay.state(), &id("Ferdie"))
        .unwrap()
        .unwrap();
    assert_eq!(ledger.active, ferdie_active + half);
    assert_eq!(reserved(&relay, "Ferdie"), 100_000 * UNIT + half);
    assert_eq!(
        relay.dispatch("Bob", payout("Alice", era)),
        Err(module_error(staking::Error::AlreadyClaimed))
    );
    // Bob authored nothing: his payout is nothing. Eve was never elected.
    let paid_bob = staking_events(relay.dispatch("Charlie", payout("Bob", era)).unwrap());
    assert!(
        !paid_bob
            .iter()
            .any(|event| matches!(event, StakingEvent::Rewarded { .. })),
        "{paid_bob:?}"
    );
    assert_eq!(
        relay.dispatch("Charlie", payout("Eve", era)),
        Err(module_error(staking::Error::NotElected))
    );
}

/// A dispute about `candidate` concluded invalid, in which dev validator `offender` said valid
/// and the session's other validators invalid.
fn concluded_invalid(relay: &Relay, candidate: Hash, offender: &str) -> DisputeStatementSet {
    let names = ["Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"];
    let validators = session::validators(&mut relay.state()).unwrap();
    // Backed in the current session.
    let now = session::CURRENT_INDEX
        .get_or_default(&mut relay.state())
        .unwrap();
    let votes = validators
        .iter()
        .enumerate()
        .map(|(index, account)| {
            let name = names.into_iter().find(|n| id(n) == *account).unwrap();
            let valid = name == offender;
            let payload = dispute_payload(&candidate, now, valid);
            DisputeVote {
                candidate,
                session: now,
                valid,
                validator: index as u32,
                kind: VoteKind::Explicit,
                signature: Pair::dev(name).sign(&payload),
            }
        })
        .collect();
    DisputeStatementSet {
        candidate,
        session: now,
        valid: false,
        votes,
    }
}

#[test]
fn backers_of_an_invalid_candidate_are_chilled_and_slashed_with_their_nominators_after_the_deferral(
) {
    // All four validators stay elected, so three honest ones conclude each dispute.
    let mut spec = spec();
    spec.genesis.staking.as_mut().unwrap().validator_count = 4;
    let mut relay = Relay::from_spec(&spec);
    relay.dispatch("Ferdie", bond(100_000 * UNIT)).unwrap();
    relay
        .dispatch("Ferdie", nominate(&["Alice", "Bob"]))
        .unwrap();
    let era = next_election(&relay);
    run_to_era(&mut relay, era);
    // Ferdie's loads split his stake 2:1 between Alice (elected first) and Bob.
    let behind = |relay: &Relay, validator: &str| {
        staking::ERAS_STAKERS_PAGED
            .get(&mut relay.state(), &(era, id(validator), 0))
            .unwrap()
            .unwrap()
            .others[0]
            .value
    };
    let ferdie_behind_alice = behind(&relay, "Alice");
    assert_eq!(ferdie_behind_alice + behind(&relay, "Bob"), 100_000 * UNIT);
    assert!(ferdie_behind_alice > 66_666 * UNIT && ferdie_behind_alice < 66_667 * UNIT);

    // Alice, then Bob, backed candidates that disputes concluded invalid.
    let events = staking_events(relay.block_with_disputes(
        vec![
            concluded_invalid(&relay, Hash([1; 32]), "Alice"),
            concluded_invalid(&relay, Hash([2; 32]), "Bob"),
        ],
        vec![],
    ));
    let all = Perbill(staking::PERBILL_ONE);
    for name in ["Alice", "Bob"] {
        assert!(events.contains(&StakingEvent::Chilled { stash: id(name) }));
        assert!(events.contains(&StakingEvent::SlashReported {
            validator: id(name),
            fraction: all,
            slash_era: era,
        }));
    }
    let apply_at = era + 2;
    let waiting = staking::slashing::UNAPPLIED_SLASHES
        .get(&mut relay.state(), &apply_at)
        .unwrap()
        .unwrap();
    assert_eq!(waiting.len(), 2);
    // Reported again, the same offence adds nothing.
    let again = concluded_invalid(&relay, Hash([3; 32]), "Alice");
    relay.block_with_disputes(vec![again], vec![]);
    let waiting_now = staking::slashing::UNAPPLIED_SLASHES
        .get(&mut relay.state(), &apply_at)
        .unwrap()
        .unwrap();
    assert_eq!(waiting_now, waiting);

    // Root cancels Bob's; a position past the end is refused.
    let cancel = |indices: Vec<u32>| {
        Call::Sudo(sudo::Call::Sudo {
            call: Box::new(Call::Staking(staking::Call::CancelDeferredSlash {
                era: apply_at,
                slash_indices: indices,
            })),
        })
    };
    let events = relay.dispatch("Alice", cancel(vec![2])).unwrap();
    assert!(events.contains(&Event::Sudo(sudo::Event::Sudid {
        result: Err(module_error(staking::Error::InvalidSlashIndex)),
    })));
    let events = relay.dispatch("Alice", cancel(vec![1])).unwrap();
    assert!(
        staking_events(events).contains(&StakingEvent::SlashCancelled {
            slash_era: apply_at,
            validator: id("Bob"),
        })
    );

    // Bob validates again: Ferdie's nomination of him, made before the offence, no longer
    // counts.
    relay.dispatch("Bob", VALIDATE).unwrap();

    // At the deferred era's start Alice loses all her bond and Ferdie his part behind her;
    // the issuance falls by exactly that. Bob keeps his.
    let before = relay.issuance();
    let fees_before = relay.fees;
    let events = run_to_era(&mut relay, apply_at);
    // The era planned right after the offences leaves both offenders out; the next has Bob
    // back, without Ferdie behind him.
    let chosen = elected(&relay, era + 1);
    assert!(!chosen.contains(&id("Alice")) && !chosen.contains(&id("Bob")));
    assert!(elected(&relay, apply_at).contains(&id("Bob")));
    let bob = staking::ERAS_STAKERS_OVERVIEW
        .get(&mut relay.state(), &(apply_at, id("Bob")))
        .unwrap()
        .unwrap();
    assert_eq!((bob.total, bob.nominator_count), (bob.own, 0));
    let bond = tessera_relay_chain::DEV_VALIDATOR_BOND;
    assert!(events.contains(&StakingEvent::Slashed {
        staker: id("Alice"),
        amount: bond,
    }));
    assert!(events.contains(&StakingEvent::Slashed {
        staker: id("Ferdie"),
        amount: ferdie_behind_alice,
    }));
    assert_eq!(
        relay.issuance(),
        before - bond - ferdie_behind_alice - (relay.fees - fees_before)
    );
    assert_eq!(reserved(&relay, "Alice"), 0);
    assert_eq!(
        reserved(&relay, "Ferdie"),
        100_000 * UNIT - ferdie_behind_alice
    );
    let ledger = LEDGER
        .get(&mut relay.state(), &id("Ferdie"))
        .unwrap()
        .unwrap();
    assert_eq!(ledger.active, 100_000 * UNIT - ferdie_behind_alice);
    assert_eq!(reserved(&relay, "Bob"), bond);
}

#[test]
fn the_block_that_elects_an_era_counts_the_elections_weight() {
    let mut relay = Relay::from_spec(&spec());
    relay.dispatch("Ferdie", bond(100_000 * UNIT)).unwrap();
    relay
        .dispatch("Ferdie", nominate(&["Alice", "Bob"]))
        .unwrap();
    let mut plain = None;
    for _ in 0..SESSION * ERA_SESSIONS * 2 {
        let events = relay.block(vec![]);
        let weight = relay.last_weight;
        let elected = events
            .iter()
            .any(|e| matches!(e, Event::Staking(StakingEvent::StakersElected { .. })));
        let Some(plain) = plain.filter(|_| elected) else {
            if !elected {
                plain = Some(weight);
            }
            continue;
        };
        // Four candidates voting for themselves and Ferdie: five voters, four candidates.
        let work =
            5 * staking::ELECTION_WEIGHT_PER_VOTER + 4 * staking::ELECTION_WEIGHT_PER_CANDIDATE;
        assert_eq!(weight, plain + work);
        return;
    }
    panic!("no election in two eras");
}
