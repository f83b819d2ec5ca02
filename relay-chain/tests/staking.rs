//! Staking on real relay blocks: genesis stakers elect era 0, a newcomer bonds, validates and
//! is elected with a nominator's backing at the era's end, unbonding waits out the bonding
//! duration (and rebonding takes funds back), and what a caller must not be able to do.

mod support;

use tessera_relay_chain::staking::{
    self, ActiveEraInfo, Event as StakingEvent, IndividualExposure, Perbill, RewardDestination,
    ValidatorPrefs, ACTIVE_ERA, CURRENT_ERA, LEDGER, MAX_NOMINATIONS,
};
use tessera_relay_chain::{Call, ChainSpec, Event, UNIT};
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::DispatchError;
use tessera_runtime::extrinsic::MultiAddress;
use tessera_runtime::modules::{balances, sudo, system};
use tessera_runtime::{AccountId, Balance};

use support::Relay;

/// Blocks per session in these tests.
const SESSION: u32 = 3;
/// Sessions per era.
const ERA_SESSIONS: u32 = 2;

/// The 4-validator local chain with short sessions and eras, electing 3 of its candidates.
fn spec() -> ChainSpec {
    let mut spec = ChainSpec::dev_with_validators(4);
    spec.genesis.session_length = Some(SESSION);
    let staking = spec.genesis.staking.as_mut().unwrap();
    staking.validator_count = 3;
    staking.sessions_per_era = ERA_SESSIONS;
    staking.bonding_duration = 2;
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
    let issuance = |relay: &Relay| {
        balances::TOTAL_ISSUANCE
            .get(&mut relay.state())
            .unwrap()
            .unwrap()
    };
    let before = issuance(&relay);
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
    assert_eq!(issuance(&relay), before - relay.fees);
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
    let chunk_era = CURRENT_ERA.get(&mut relay.state()).unwrap().unwrap() + 2;
    assert_eq!(ledger(&relay).unwrap().unlocking[0].era, chunk_era);
    // Too early: nothing is freed.
    let events = relay.dispatch("Ferdie", withdraw.clone()).unwrap();
    assert!(staking_events(events).is_empty());
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
    let era = CURRENT_ERA.get(&mut relay.state()).unwrap().unwrap() + 2;
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
