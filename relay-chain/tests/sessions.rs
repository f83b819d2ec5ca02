//! Sessions on real relay blocks: each epoch's first block starts a session and announces the
//! next epoch's authorities; the validators staking elects (with the session keys they set)
//! take over a session after they are announced, and each change of the set is signalled to
//! finality in the block it happens.

mod support;

use tessera_relay_chain::inclusion::{self, BackedCandidate, SignedBitfield, ValidityVote};
use tessera_relay_chain::paras::{self, HeadData, ParaId};
use tessera_relay_chain::session::{ParaValidators, SessionKeys};
use tessera_relay_chain::staking::{self, Perbill, RewardDestination, ValidatorPrefs};
use tessera_relay_chain::{
    babe, dispatch_error, disputes, grandpa, session, Call, ChainSpec, Event, GenesisPara,
    HexBytes, UNIT,
};
use tessera_runtime::consensus::{NextEpochDescriptor, PreDigest, ScheduledChange};
use tessera_runtime::crypto::Pair;
use tessera_runtime::executive::InvalidTransaction;
use tessera_runtime::parachain::{
    CandidateCommitments, CandidateDescriptor, CommittedCandidateReceipt,
};
use tessera_runtime::{AccountId, Hash};

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

/// Eve bonds more than any genesis validator.
fn eve_bonds(relay: &mut Relay) {
    let bond = staking::Call::Bond {
        value: 300_000 * UNIT,
        payee: RewardDestination::Stash,
    };
    relay.dispatch("Eve", Call::Staking(bond)).unwrap();
}

/// Eve offers to validate, at no commission.
fn eve_validates(relay: &mut Relay) {
    let prefs = ValidatorPrefs {
        commission: Perbill(0),
        blocked: false,
    };
    relay
        .dispatch("Eve", Call::Staking(staking::Call::Validate { prefs }))
        .unwrap();
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
    eve_bonds(&mut relay);
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
    eve_validates(&mut relay);

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

/// The signing pair behind parachain key `key`: a genesis validator's account, or one of Eve's
/// session keys.
fn para_signer(key: &AccountId) -> Pair {
    let eve_para = Pair::from_uri("//Eve//para").unwrap();
    if eve_para.public() == *key {
        return eve_para;
    }
    ["Alice", "Bob", "Charlie", "Dave", "Eve"]
        .into_iter()
        .map(Pair::dev)
        .find(|pair| pair.public() == *key)
        .expect("a dev key")
}

/// A candidate of `para` on the head, with head data `head`, signed by its collator.
fn candidate(relay: &Relay, para: ParaId, head: Vec<u8>) -> CommittedCandidateReceipt {
    let mut state = relay.state();
    let pvd = inclusion::persisted_validation_data(&mut state, para, &relay.head)
        .unwrap()
        .unwrap();
    let code_hash = paras::code_for_candidate(&mut state, para, relay.head.number + 1)
        .unwrap()
        .unwrap();
    let commitments = CandidateCommitments {
        head_data: HeadData(head),
        hrmp_watermark: relay.head.number,
        ..CandidateCommitments::default()
    };
    let mut descriptor = CandidateDescriptor {
        para_id: para,
        relay_parent: relay.head.hash(),
        collator: Pair::dev("Ferdie").public(),
        persisted_validation_data_hash: pvd.hash(),
        pov_hash: Hash([9; 32]),
        erasure_root: Hash([8; 32]),
        signature: tessera_runtime::Signature([0; 64]),
        para_head: commitments.head_data.hash(),
        validation_code_hash: code_hash,
    };
    let payload = CandidateDescriptor::signature_payload(
        &descriptor.relay_parent,
        descriptor.para_id,
        &descriptor.persisted_validation_data_hash,
        &descriptor.pov_hash,
        &descriptor.validation_code_hash,
    );
    descriptor.signature = Pair::dev("Ferdie").sign(&payload);
    CommittedCandidateReceipt {
        descriptor,
        commitments,
    }
}

/// `candidate` backed by the validators at `by` (indices in the session), each signing with
/// its parachain key.
fn backed(
    session: &ParaValidators,
    candidate: CommittedCandidateReceipt,
    by: &[u32],
) -> BackedCandidate {
    let payload = inclusion::statement_payload(&candidate.hash());
    let votes = by
        .iter()
        .map(|&validator| ValidityVote {
            validator,
            signature: para_signer(session.key(validator).unwrap()).sign(&payload),
        })
        .collect();
    BackedCandidate { candidate, votes }
}

/// Validator `validator`'s bitfield on the head, signed by `pair`.
fn bitfield(relay: &Relay, validator: u32, bits: Vec<bool>, pair: &Pair) -> SignedBitfield {
    let payload = inclusion::bitfield_payload(&relay.head.hash(), &bits);
    SignedBitfield {
        validator,
        signature: pair.sign(&payload),
        bits,
    }
}

/// Every validator of `session` holds its chunk of the one core's candidate.
fn all_hold(relay: &Relay, session: &ParaValidators) -> Vec<SignedBitfield> {
    (0..session.len() as u32)
        .map(|v| bitfield(relay, v, vec![true], &para_signer(session.key(v).unwrap())))
        .collect()
}

fn enter(
    relay: &Relay,
    bitfields: Vec<SignedBitfield>,
    backed: Vec<BackedCandidate>,
) -> inclusion::Call {
    inclusion::Call::Enter {
        parent_header: relay.head.clone(),
        bitfields,
        backed,
        disputes: vec![],
        pvf_checks: vec![],
    }
}

fn inclusion_events(events: Vec<Event>) -> Vec<inclusion::Event> {
    events
        .into_iter()
        .filter_map(|event| match event {
            Event::ParaInclusion(event) => Some(event),
            _ => None,
        })
        .collect()
}

#[test]
fn para_work_passes_to_the_new_validators_and_their_para_keys_at_a_session_change() {
    const PARA: ParaId = ParaId(1000);
    let mut spec = ChainSpec::dev_with_validators(4);
    spec.genesis.epoch_length = u64::from(EPOCH);
    spec.genesis.paras.push(GenesisPara {
        id: PARA.0,
        head: HexBytes(vec![1, 0]),
        code: HexBytes(vec![1; 64]),
    });
    let staking_spec = spec.genesis.staking.as_mut().unwrap();
    staking_spec.validator_count = 4;
    staking_spec.sessions_per_era = 1;
    let mut relay = Relay::from_spec(&spec);

    // Eve bonds more than any genesis staker, sets keys of her own and validates.
    eve_bonds(&mut relay);
    relay.dispatch("Eve", set_keys(eve_keys())).unwrap();
    eve_validates(&mut relay);

    // Up to the block before the one where Eve's set takes over: a candidate is backed there
    // by the old set (the genesis validators sign with their accounts).
    let taking_over = loop {
        let mut state = relay.state();
        let queued = session::QUEUED_VALIDATORS.get(&mut state).unwrap();
        let current = session::validators(&mut state).unwrap();
        let next_start = relay.head.number + 2;
        if queued.is_some_and(|q| q.contains(&id("Eve")) && q != current)
            && (next_start - 1).is_multiple_of(EPOCH)
        {
            break next_start;
        }
        relay.block(vec![]);
        assert!(relay.head.number < 20 * EPOCH, "Eve never queued");
    };
    let old = session::para_validators(&mut relay.state()).unwrap();
    let old_era = staking::ACTIVE_ERA
        .get(&mut relay.state())
        .unwrap()
        .unwrap()
        .index;
    let head_before = inclusion::included_head(&mut relay.state(), PARA)
        .unwrap()
        .unwrap();
    let pending = candidate(&relay, PARA, vec![1, 1]);
    let by = [0, 1];
    let events = relay
        .try_block(
            enter(&relay, vec![], vec![backed(&old, pending.clone(), &by)]),
            vec![],
        )
        .unwrap();
    assert!(inclusion_events(events)
        .iter()
        .any(|e| matches!(e, inclusion::Event::CandidateBacked { .. })));

    // The block where Eve's set takes over drops the pending candidate (its chunks are the
    // old set's), and leaves out the old set's bitfields on its parent (checked against the
    // new set, they would fail the inherent).
    let old_bitfields = all_hold(&relay, &old);
    let events = relay
        .try_block(enter(&relay, old_bitfields, vec![]), vec![])
        .unwrap();
    assert_eq!(relay.head.number, taking_over);
    let new = session::para_validators(&mut relay.state()).unwrap();
    assert_ne!(new.stashes, old.stashes);
    assert!(session::para_validators_changed_in(&mut relay.state(), taking_over).unwrap());
    assert_eq!(
        inclusion_events(events),
        vec![inclusion::Event::CandidateTimedOut {
            para: PARA,
            candidate_hash: pending.hash(),
        }]
    );
    assert_eq!(
        inclusion::included_head(&mut relay.state(), PARA).unwrap(),
        Some(head_before)
    );

    // In the new session Eve signs parachain work with her para key, at her index.
    let eve = new.index_of(&eve_keys().para_validator).unwrap();
    assert_eq!(new.stash(eve), Some(&id("Eve")));
    assert!(new.index_of(&id("Eve")).is_none());
    let group =
        inclusion::backing_group(new.len() as u32, &[PARA], PARA, relay.head.number + 1).unwrap();
    assert!(group.contains(&eve));
    let other = *group.iter().find(|v| **v != eve).unwrap();
    let fresh = candidate(&relay, PARA, vec![1, 2]);
    // Her account's signature is not her statement.
    let mut forged = backed(&new, fresh.clone(), &[eve, other]);
    forged.votes[0].signature = Pair::dev("Eve").sign(&inclusion::statement_payload(&fresh.hash()));
    let refused = relay.try_block(enter(&relay, vec![], vec![forged]), vec![]);
    assert_eq!(
        refused.unwrap_err(),
        InvalidTransaction::InherentFailed(dispatch_error(inclusion::Error::BadStatementSignature))
    );
    relay
        .try_block(
            enter(
                &relay,
                vec![],
                vec![backed(&new, fresh.clone(), &[eve, other])],
            ),
            vec![],
        )
        .unwrap();
    // Nor is a bitfield her account signs hers.
    let mut bitfields = all_hold(&relay, &new);
    let as_account = bitfield(&relay, eve, vec![true], &Pair::dev("Eve"));
    bitfields[eve as usize] = as_account;
    let refused = relay.try_block(enter(&relay, bitfields, vec![]), vec![]);
    assert_eq!(
        refused.unwrap_err(),
        InvalidTransaction::InherentFailed(dispatch_error(inclusion::Error::BadBitfieldSignature))
    );
    // With her para key it counts, and the candidate she backed is included.
    let events = relay
        .try_block(enter(&relay, all_hold(&relay, &new), vec![]), vec![])
        .unwrap();
    assert!(
        inclusion_events(events).contains(&inclusion::Event::CandidateIncluded {
            para: PARA,
            candidate_hash: fresh.hash(),
            head_hash: HeadData(vec![1, 2]).hash(),
        })
    );
    // A dispute among the old set, about a candidate of its session, is still recorded (the
    // chain keeps its keys for the dispute period), naming the stash that voted the losing
    // way, though it has left the set.
    let disputed = Hash([7; 32]);
    let dave = old.stashes.iter().position(|v| *v == id("Dave")).unwrap() as u32;
    let votes: Vec<disputes::DisputeVote> = (0..old.len() as u32)
        .map(|validator| {
            let valid = validator == dave;
            let payload = disputes::dispute_payload(&disputed, old.session, valid);
            disputes::DisputeVote {
                candidate: disputed,
                session: old.session,
                valid,
                validator,
                kind: disputes::VoteKind::Explicit,
                signature: para_signer(old.key(validator).unwrap()).sign(&payload),
            }
        })
        .collect();
    let set = disputes::DisputeStatementSet {
        candidate: disputed,
        session: old.session,
        valid: false,
        votes,
    };
    let with_dispute = |relay: &Relay, set: disputes::DisputeStatementSet| {
        let inclusion::Call::Enter {
            parent_header,
            bitfields,
            backed,
            pvf_checks,
            ..
        } = enter(relay, vec![], vec![]);
        inclusion::Call::Enter {
            parent_header,
            bitfields,
            backed,
            disputes: vec![set],
            pvf_checks,
        }
    };
    // Claimed for a session the chain does not hold, it fails the inherent.
    let mut unknown = set.clone();
    unknown.session = new.session + 100;
    assert_eq!(
        relay
            .try_block(with_dispute(&relay, unknown), vec![])
            .unwrap_err(),
        InvalidTransaction::InherentFailed(dispatch_error(disputes::Error::DisputeWrongSession))
    );
    let events = relay.try_block(with_dispute(&relay, set), vec![]).unwrap();
    // Slashed on its stake in the era of the dispute's session, not the active one.
    let active = staking::ACTIVE_ERA
        .get(&mut relay.state())
        .unwrap()
        .unwrap();
    assert!(old_era < active.index);
    assert!(events.iter().any(|event| matches!(
        event,
        Event::Staking(staking::Event::SlashReported { validator, slash_era, .. })
            if *validator == id("Dave") && *slash_era == old_era
    )));
    assert!(
        inclusion_events(events).contains(&inclusion::Event::ValidatorOffence {
            validator: dave,
            candidate_hash: disputed,
            offence: disputes::Offence::BackedInvalid,
        })
    );
    let offences = disputes::OFFENCES
        .get(&mut relay.state(), &id("Dave"))
        .unwrap();
    assert_eq!(offences.map(|o| o.backed_invalid), Some(1));
    // Not in the current set: nobody is disabled for it.
    assert!(disputes::disabled(&mut relay.state()).unwrap().is_empty());
}
