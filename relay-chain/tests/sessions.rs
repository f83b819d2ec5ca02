//! Sessions on real relay blocks: each epoch's first block starts a session and announces the
//! next epoch's authorities; the validators staking elects (with the session keys they set)
//! take over a session after they are announced, and each change of the set is signalled to
//! finality in the block it happens.

mod support;

use tessera_relay_chain::session::SessionKeys;
use tessera_relay_chain::staking::{self, Perbill, RewardDestination, ValidatorPrefs};
use tessera_relay_chain::{babe, dispatch_error, grandpa, session, Call, ChainSpec, UNIT};
use tessera_runtime::consensus::{NextEpochDescriptor, PreDigest, ScheduledChange};
use tessera_runtime::crypto::Pair;
use tessera_runtime::AccountId;

use support::Relay;

/// Slots (and, one block per slot, blocks) per epoch.
const EPOCH: u32 = 3;

fn id(name: &str) -> AccountId {
    Pair::dev(name).public()
}

/// What one block did to the sets.
struct Seen {
    number: u32,
    descriptor: Option<NextEpochDescriptor>,
    change: Option<ScheduledChange>,
    validators: Vec<AccountId>,
    keys: Vec<SessionKeys>,
    set_id: u64,
}

impl Seen {
    fn babe_keys(&self) -> Vec<AccountId> {
        self.keys.iter().map(|k| k.babe).collect()
    }

    fn grandpa_keys(&self) -> Vec<AccountId> {
        self.keys.iter().map(|k| k.grandpa).collect()
    }
}

/// Eve's session keys: one derived key per role, none of them her account.
fn eve_keys() -> SessionKeys {
    let key = |role: &str| Pair::from_uri(&format!("//Eve//{role}")).unwrap().public();
    SessionKeys {
        grandpa: key("grandpa"),
        babe: key("babe"),
        para_validator: key("para"),
        para_assignment: key("asgn"),
    }
}

fn ids(list: &[(AccountId, u64)]) -> Vec<AccountId> {
    list.iter().map(|(id, _)| *id).collect()
}

fn set_keys(keys: SessionKeys) -> Call {
    Call::Session(session::Call::SetKeys {
        keys,
        proof: vec![],
    })
}

#[test]
fn sessions_follow_epochs_and_hand_the_elected_set_to_authorship_and_finality() {
    let mut spec = ChainSpec::dev_with_validators(4);
    spec.genesis.epoch_length = u64::from(EPOCH);
    let staking_spec = spec.genesis.staking.as_mut().unwrap();
    staking_spec.validator_count = 3;
    staking_spec.sessions_per_era = 2;
    let mut relay = Relay::from_spec(&spec);
    let genesis_validators = session::validators(&mut relay.state()).unwrap();
    assert_eq!(genesis_validators.len(), 4);

    // Keys are refused to an account that is no stash.
    assert_eq!(
        relay.dispatch("Eve", set_keys(eve_keys())),
        Err(dispatch_error(session::Error::NoAssociatedValidatorId))
    );
    // Eve bonds more than any genesis staker, sets her session keys and validates: the next
    // election takes her in.
    let stake = |call| Call::Staking(call);
    relay
        .dispatch(
            "Eve",
            stake(staking::Call::Bond {
                value: 300_000 * UNIT,
                payee: RewardDestination::Stash,
            }),
        )
        .unwrap();
    relay.dispatch("Eve", set_keys(eve_keys())).unwrap();
    // A key that is someone else's is refused.
    let taken = SessionKeys {
        babe: eve_keys().babe,
        ..SessionKeys::all(id("Alice"))
    };
    assert_eq!(
        relay.dispatch("Alice", set_keys(taken)),
        Err(dispatch_error(session::Error::DuplicatedKey))
    );
    relay
        .dispatch(
            "Eve",
            stake(staking::Call::Validate {
                prefs: ValidatorPrefs {
                    commission: Perbill(0),
                    blocked: false,
                },
            }),
        )
        .unwrap();

    // Meanwhile (block #4, session 1) the three genesis stakers era 0 elected took over: the
    // first change of the set.
    let after_first = session::validators(&mut relay.state()).unwrap();
    assert_eq!(after_first.len(), 3);
    assert!(after_first.iter().all(|v| genesis_validators.contains(v)));
    assert_eq!(
        grandpa::CURRENT_SET_ID.get(&mut relay.state()).unwrap(),
        Some(1)
    );

    let mut seen = Vec::new();
    for _ in 0..12 * EPOCH {
        relay.block(vec![]);
        let header = relay.head.clone();
        let mut state = relay.state();
        seen.push(Seen {
            number: header.number,
            descriptor: NextEpochDescriptor::from_header(&header).unwrap(),
            change: ScheduledChange::from_header(&header).unwrap(),
            validators: session::validators(&mut state).unwrap(),
            keys: session::validator_keys(&mut state).unwrap(),
            set_id: grandpa::CURRENT_SET_ID.get_or_default(&mut state).unwrap(),
        });
        // The header's slot claim is what the runtime read.
        let slot = PreDigest::from_header(&header).unwrap().slot();
        assert_eq!(babe::CURRENT_SLOT.get(&mut state).unwrap(), Some(slot));
    }

    // Block #1 starts epoch 0 and every epoch's first block (one per EPOCH slots) announces
    // the next; no other block does.
    for block in &seen {
        let starts = (block.number - 1) % EPOCH == 0;
        assert_eq!(
            block.descriptor.is_some(),
            starts,
            "block #{}",
            block.number
        );
    }
    // What an epoch's first block announces holds the next epoch: the session's validators'
    // authorship keys, and BABE's authorities, from that epoch's first block on.
    let starts: Vec<&Seen> = seen.iter().filter(|b| b.descriptor.is_some()).collect();
    for pair in starts.windows(2) {
        let announced = ids(&pair[0].descriptor.as_ref().unwrap().authorities);
        assert_eq!(
            pair[1].babe_keys(),
            announced,
            "epoch at #{}",
            pair[1].number
        );
    }
    let last = starts.last().unwrap();
    let authorities = babe::AUTHORITIES.get(&mut relay.state()).unwrap().unwrap();
    assert_eq!(ids(&authorities), last.babe_keys());

    // Then the set changed once more, with Eve in: signalled to finality with the session's
    // finality keys, in the block it happens and no other.
    let changes: Vec<&Seen> = seen.iter().filter(|b| b.change.is_some()).collect();
    let at: Vec<u32> = changes.iter().map(|b| b.number).collect();
    assert_eq!(changes.len(), 1, "changes at {at:?}");
    let mut previous = after_first.clone();
    for block in &seen {
        match &block.change {
            Some(change) => {
                assert_ne!(block.validators, previous, "block #{}", block.number);
                assert_eq!(ids(&change.next_authorities), block.grandpa_keys());
                assert_eq!(change.delay, 0);
            }
            None => assert_eq!(block.validators, previous, "block #{}", block.number),
        }
        previous = block.validators.clone();
    }
    let with_eve = changes[0];
    assert!(with_eve.validators.contains(&id("Eve")));
    assert_eq!(with_eve.set_id, 2);
    // Eve's keys, not her account, author and vote.
    assert!(with_eve.keys.contains(&eve_keys()));
    let finality = with_eve.grandpa_keys();
    assert!(finality.contains(&eve_keys().grandpa) && !finality.contains(&id("Eve")));
    // Those who stay keep their places; the newcomer takes the place left.
    let stayed: Vec<AccountId> = after_first
        .iter()
        .filter(|v| with_eve.validators.contains(v))
        .copied()
        .collect();
    assert_eq!(with_eve.validators[..stayed.len()], stayed[..]);

    // Purged keys stay Eve's: nobody can take a key her node still holds.
    relay
        .dispatch("Eve", Call::Session(session::Call::PurgeKeys))
        .unwrap();
    assert_eq!(
        relay.dispatch("Alice", set_keys(taken)),
        Err(dispatch_error(session::Error::DuplicatedKey))
    );
    assert_eq!(
        relay.dispatch("Eve", Call::Session(session::Call::PurgeKeys)),
        Err(dispatch_error(session::Error::NoKeys))
    );
}
