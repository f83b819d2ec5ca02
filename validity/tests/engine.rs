//! Approval voting and disputes between validators with real VRF assignments and sr25519
//! signatures: a block is approved once its assigned checkers approve, never while a candidate
//! is disputed, a dispute concludes the way two thirds find, and every message that is forged,
//! misplaced or repeated is refused with the reason.

use parity_scale_codec::{DecodeAll, Encode};
use proptest::prelude::*;
use std::sync::{Arc, OnceLock};
use tessera_consensus::AuthorityKey;
use tessera_relay_chain::disputes::GENESIS_SESSION;
use tessera_runtime::{AccountId, Hash, Signature};
use tessera_validity::assignment::{AssignmentKind, Crypto, RelayVrfStory, ValidatorKeys};
use tessera_validity::disputes::{Concluded, DisputeMessage, DisputeOutput, Disputes};
use tessera_validity::engine::{
    Approval, ApprovalEngine, Assignment, IncludedCandidate, Message, MessageError, NewBlock,
    Output, SessionValidators,
};
use tessera_validity::{ApprovalConfig, CoreIndex, ValidatorIndex};

const VALIDATORS: u32 = 6;

fn config() -> ApprovalConfig {
    ApprovalConfig {
        needed_approvals: 2,
        relay_vrf_modulo_samples: 2,
        ..ApprovalConfig::dev()
    }
}

fn publics() -> Arc<[AccountId]> {
    (0..u64::from(VALIDATORS))
        .map(|i| AuthorityKey::from_index(i).public())
        .collect()
}

fn keys(i: u32) -> ValidatorKeys {
    ValidatorKeys::new(Some(AuthorityKey::from_index(u64::from(i))), publics())
}

fn validators() -> Vec<Validator> {
    (0..VALIDATORS)
        .map(|i| {
            let me = Some(ValidatorIndex(i));
            let engine = ApprovalEngine::new(config(), keys(i), me, VALIDATORS);
            (
                engine,
                Disputes::new(keys(i), me, GENESIS_SESSION, VALIDATORS),
            )
        })
        .collect()
}

fn hash(byte: u8) -> Hash {
    Hash([byte; 32])
}

/// Block `number` with two candidates, backed by validators 0 and 1, and 2 and 3.
fn block(number: u8, parent: Hash) -> NewBlock {
    NewBlock {
        hash: hash(number),
        parent,
        number: u32::from(number),
        slot_ms: 0,
        story: RelayVrfStory([number; 32]),
        n_cores: 2,
        candidates: vec![
            IncludedCandidate {
                hash: hash(100 + number),
                core: CoreIndex(0),
                backers: vec![ValidatorIndex(0), ValidatorIndex(1)],
            },
            IncludedCandidate {
                hash: hash(200 + number),
                core: CoreIndex(1),
                backers: vec![ValidatorIndex(2), ValidatorIndex(3)],
            },
        ],
        sent: Vec::new(),
    }
}

/// What one validator runs.
type Validator = (ApprovalEngine<ValidatorKeys>, Disputes<ValidatorKeys>);

/// What is in flight between the validators.
enum Pending {
    Approval(usize, Output),
    Dispute(usize, DisputeOutput),
}

/// What the validators did, by validator.
#[derive(Default)]
struct Settled {
    approved: Vec<Vec<Hash>>,
    /// Whose approvals approved a candidate, as each validator saw it.
    approved_by: Vec<Vec<(Hash, Vec<ValidatorIndex>)>>,
    concluded: Vec<Vec<Concluded>>,
    /// Every approval and dispute message sent, encoded.
    sent: Vec<Vec<u8>>,
    dispute_sent: Vec<Vec<u8>>,
}

/// Runs the validators until quiet from `pending`, delivering every message to every other
/// validator and answering checks with `valid`.
fn settle(
    validators: &mut [Validator],
    mut pending: Vec<Pending>,
    valid: impl Fn(&Hash) -> bool,
    now: u64,
) -> Settled {
    let n = validators.len();
    let mut settled = Settled {
        approved: vec![Vec::new(); n],
        approved_by: vec![Vec::new(); n],
        concluded: vec![Vec::new(); n],
        sent: Vec::new(),
        dispute_sent: Vec::new(),
    };
    while let Some(next) = pending.pop() {
        match next {
            Pending::Approval(from, Output::Send(message)) => {
                settled.sent.push(message.encode());
                for (to, (engine, _)) in validators.iter_mut().enumerate() {
                    if to != from {
                        let outputs = engine.message(message.clone(), now).unwrap();
                        pending.extend(outputs.into_iter().map(|o| Pending::Approval(to, o)));
                    }
                }
            }
            Pending::Approval(
                from,
                Output::Check {
                    block,
                    candidate,
                    hash,
                },
            ) => {
                let outputs = validators[from]
                    .0
                    .checked(block, candidate, valid(&hash), now);
                pending.extend(outputs.into_iter().map(|o| Pending::Approval(from, o)));
            }
            Pending::Approval(from, Output::Approved(block)) => settled.approved[from].push(block),
            Pending::Approval(from, Output::ApprovedBy { block, approvers }) => {
                settled.approved_by[from].push((block, approvers));
            }
            Pending::Approval(from, Output::FoundInvalid { candidate, .. }) => {
                let outputs = validators[from].1.checked(candidate, false);
                pending.extend(outputs.into_iter().map(|o| Pending::Dispute(from, o)));
            }
            Pending::Dispute(from, DisputeOutput::Send(message)) => {
                settled.dispute_sent.push(message.encode());
                let candidate = message.opening.candidate;
                for (to, (engine, disputes)) in validators.iter_mut().enumerate() {
                    if to != from {
                        let outputs = disputes.message(message.clone()).unwrap();
                        pending.extend(outputs.into_iter().map(|o| Pending::Dispute(to, o)));
                    }
                    if disputes.is_active(&candidate) {
                        let held = engine.dispute(&candidate, true, now);
                        pending.extend(held.into_iter().map(|o| Pending::Approval(to, o)));
                    }
                }
            }
            Pending::Dispute(from, DisputeOutput::Check(candidate)) => {
                let outputs = validators[from].1.checked(candidate, valid(&candidate));
                pending.extend(outputs.into_iter().map(|o| Pending::Dispute(from, o)));
            }
            Pending::Dispute(from, DisputeOutput::Concluded(concluded)) => {
                let (engine, _) = &mut validators[from];
                let outputs = engine.dispute(&concluded.candidate, !concluded.valid, now);
                pending.extend(outputs.into_iter().map(|o| Pending::Approval(from, o)));
                settled.concluded[from].push(concluded);
            }
        }
        if pending.is_empty() {
            // Coalesced approvals go out on the next tick.
            for (i, (engine, _)) in validators.iter_mut().enumerate() {
                pending.extend(
                    engine
                        .tick(now)
                        .into_iter()
                        .map(|o| Pending::Approval(i, o)),
                );
            }
        }
    }
    settled
}

fn import(validators: &mut [Validator], block: &NewBlock) -> Vec<Pending> {
    validators
        .iter_mut()
        .enumerate()
        .flat_map(|(i, (engine, _))| {
            engine
                .new_block(block.clone(), 10)
                .into_iter()
                .map(move |o| Pending::Approval(i, o))
        })
        .collect()
}

fn checks(pending: &[Pending]) -> usize {
    pending
        .iter()
        .filter(|p| matches!(p, Pending::Approval(_, Output::Check { .. })))
        .count()
}

#[test]
fn a_block_is_approved_by_everyone_once_its_checkers_approve_and_its_child_follows() {
    let mut validators = validators();
    let first = block(1, hash(0));
    let pending = import(&mut validators, &first);
    assert!(checks(&pending) >= 2, "tranche 0 brings checkers");
    assert!(validators
        .iter()
        .all(|(e, _)| e.is_approved(&first.hash) == Some(false)));
    let settled = settle(&mut validators, pending, |_| true, 20);
    assert!(settled.approved.iter().all(|a| a == &[first.hash]));

    let second = block(2, first.hash);
    let pending = import(&mut validators, &second);
    let settled = settle(&mut validators, pending, |_| true, 30);
    assert!(settled.approved.iter().all(|a| a == &[second.hash]));
    let status = validators[5].0.block_approval(&second.hash).unwrap();
    assert_eq!((status.candidates_approved, status.candidates), (2, 2));

    validators[5].0.finalized(2);
    assert_eq!(validators[5].0.tracked(), 0);
}

#[test]
fn an_invalid_candidate_is_disputed_concluded_invalid_and_its_block_never_approved() {
    let mut validators = validators();
    let first = block(1, hash(0));
    let pending = import(&mut validators, &first);
    let invalid = first.candidates[1].hash;
    let settled = settle(&mut validators, pending, |h| *h != invalid, 20);
    assert!(settled.approved.iter().all(Vec::is_empty));
    for ((engine, disputes), concluded) in validators.iter().zip(&settled.concluded) {
        let status = engine.block_approval(&first.hash).unwrap();
        assert_eq!((status.disputed, status.approved), (1, false));
        assert_eq!(disputes.outcome(&invalid), Some(false));
        // The backers never voted, so nobody is on the losing side of this one.
        assert!(concluded[0].offenders().is_empty());
    }
    // Its child is not approved either, though its own candidates are.
    let second = block(2, first.hash);
    let pending = import(&mut validators, &second);
    let settled = settle(&mut validators, pending, |_| true, 30);
    assert!(settled.approved.iter().all(Vec::is_empty));
    let status = validators[0].0.block_approval(&second.hash).unwrap();
    assert_eq!(status.candidates_approved, 2);
}

#[test]
fn a_dispute_of_a_valid_candidate_concludes_valid_its_block_is_approved_and_the_accuser_named() {
    let mut validators = validators();
    let first = block(1, hash(0));
    let pending = import(&mut validators, &first);
    // Validator 4 says the first candidate is invalid before anyone checked.
    let accused = first.candidates[0].hash;
    let mut pending: Vec<Pending> = pending
        .into_iter()
        .filter(|p| !matches!(p, Pending::Approval(4, Output::Check { .. })))
        .collect();
    let opened = validators[4].1.checked(accused, false);
    pending.extend(opened.into_iter().map(|o| Pending::Dispute(4, o)));
    let settled = settle(&mut validators, pending, |_| true, 20);
    let concluded = &settled.concluded[0][0];
    assert_eq!(concluded.offenders(), [ValidatorIndex(4)]);
    // What it concluded is what the relay runtime records: its checks pass on the set.
    let genesis = tessera_relay_chain::ChainSpec::dev()
        .build_genesis()
        .unwrap();
    let nodes: std::collections::BTreeMap<_, _> = genesis.state.new_nodes.into_iter().collect();
    let mut state = tessera_runtime::state::State::new(&nodes, genesis.header.state_root);
    let session = tessera_relay_chain::session::ParaValidators {
        session: 0,
        stashes: publics().to_vec(),
        keys: publics().to_vec(),
        assignment_keys: publics().to_vec(),
    };
    // With the candidate's backing statements (validators 0 and 1 backed it), as the chain
    // names backers: they said valid, so the accuser alone loses.
    let backing: Vec<_> = first.candidates[0]
        .backers
        .iter()
        .map(|backer| tessera_relay_chain::inclusion::ValidityVote {
            validator: backer.0,
            signature: AuthorityKey::from_index(u64::from(backer.0))
                .sign(&tessera_relay_chain::inclusion::statement_payload(&accused)),
        })
        .collect();
    let set = concluded.statement_set(&backing);
    assert_eq!(set.votes.len(), concluded.votes.len() + 2);
    assert_eq!(set.losers(), [4]);
    tessera_relay_chain::disputes::check(&mut state, &session, &set).unwrap();
    // The accuser never approves what it was assigned: once it is a no-show, later tranches
    // cover it.
    let later = config().no_show_ms + 20;
    let ticks: Vec<Pending> = validators
        .iter_mut()
        .enumerate()
        .flat_map(|(i, (engine, _))| {
            engine
                .tick(later)
                .into_iter()
                .map(move |o| Pending::Approval(i, o))
        })
        .collect();
    let covered = settle(&mut validators, ticks, |_| true, later);
    for (i, (_, disputes)) in validators.iter().enumerate() {
        assert_eq!(disputes.outcome(&accused), Some(true), "validator {i}");
        let approved = [&settled.approved[i][..], &covered.approved[i][..]].concat();
        assert_eq!(approved, [first.hash], "validator {i}");
    }
}

#[test]
fn forged_misplaced_and_repeated_messages_are_refused_with_the_reason() {
    let mut validators = validators();
    let first = block(1, hash(0));
    let pending = import(&mut validators, &first);
    let assignment = pending
        .iter()
        .find_map(|p| match p {
            Pending::Approval(_, Output::Send(Message::Assignment(a))) => Some(a.clone()),
            _ => None,
        })
        .expect("someone is assigned in tranche 0");
    let receiver = (assignment.validator.0 as usize + 1) % VALIDATORS as usize;
    let engine = &mut validators[receiver].0;

    // An approval before the assignment it rests on.
    let cores = match &assignment.cert.kind {
        AssignmentKind::Modulo { cores } => cores.clone(),
        AssignmentKind::Delay { core } => vec![*core],
    };
    let candidate = cores[0].0;
    let candidate_hash = first.candidates[candidate as usize].hash;
    let signer = keys(assignment.validator.0);
    let payload = tessera_validity::assignment::approval_payload(&first.hash, &[candidate_hash]);
    let approval = Approval {
        block: first.hash,
        candidates: vec![candidate],
        validator: assignment.validator,
        signature: signer.sign(&payload).unwrap(),
    };
    assert_eq!(
        engine.message(Message::Approval(approval.clone()), 20),
        Err(MessageError::NotAssigned {
            validator: assignment.validator.0,
            candidate
        })
    );
    // Someone else's certificate, an unknown block, an unknown validator.
    let mut stolen = assignment.clone();
    stolen.validator = ValidatorIndex((assignment.validator.0 + 2) % VALIDATORS);
    assert!(matches!(
        engine.message(Message::Assignment(stolen), 20),
        Err(MessageError::Assignment(_) | MessageError::Backer(_))
    ));
    let mut elsewhere = assignment.clone();
    elsewhere.block = hash(99);
    assert_eq!(
        engine.message(Message::Assignment(elsewhere), 20),
        Err(MessageError::UnknownBlock(hash(99)))
    );
    let mut stranger = assignment.clone();
    stranger.validator = ValidatorIndex(VALIDATORS);
    assert_eq!(
        engine.message(Message::Assignment(stranger), 20),
        Err(MessageError::UnknownValidator(VALIDATORS))
    );
    // The real one, once; then the approval, with a good signature only.
    engine
        .message(Message::Assignment(assignment.clone()), 20)
        .unwrap();
    assert_eq!(
        engine.message(Message::Assignment(assignment), 20),
        Err(MessageError::Duplicate)
    );
    let mut forged = approval.clone();
    forged.signature = Signature([1; 64]);
    assert_eq!(
        engine.message(Message::Approval(forged), 20),
        Err(MessageError::BadSignature)
    );
    let mut out_of_range = approval.clone();
    out_of_range.candidates = vec![7];
    assert_eq!(
        engine.message(Message::Approval(out_of_range), 20),
        Err(MessageError::NoSuchCandidate(7))
    );
    engine
        .message(Message::Approval(approval.clone()), 20)
        .unwrap();
    assert_eq!(
        engine.message(Message::Approval(approval), 20),
        Err(MessageError::Duplicate)
    );
}

#[test]
fn a_backer_cannot_check_its_own_candidate() {
    let mut validators = validators();
    let first = block(1, hash(0));
    import(&mut validators, &first);
    // Validator 0 backed core 0: its delay assignment there is drawn but refused.
    let drawn = keys(0).assignments(&first.story, &config(), 2, &[CoreIndex(0)]);
    let cert = drawn[&CoreIndex(0)].cert.clone();
    let assignment = Assignment {
        block: first.hash,
        validator: ValidatorIndex(0),
        cert,
    };
    assert_eq!(
        validators[4].0.message(Message::Assignment(assignment), 20),
        Err(MessageError::Backer(0))
    );
}

fn sends(outputs: &[Output]) -> Vec<Message> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Send(message) => Some(message.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_restarted_validator_sends_its_kept_messages_again_and_signs_nothing_new() {
    let first = block(1, hash(0));
    // A validator that draws a tranche-0 assignment in the block.
    let (me, mut engine, outputs) = (0..VALIDATORS)
        .find_map(|i| {
            let mut engine = ApprovalEngine::new(config(), keys(i), Some(ValidatorIndex(i)), 6);
            let outputs = engine.new_block(first.clone(), 10);
            (!sends(&outputs).is_empty()).then_some((i, engine, outputs))
        })
        .expect("someone is assigned in tranche 0");
    let assignments = sends(&outputs);
    let mut sent = assignments.clone();
    for output in &outputs {
        if let Output::Check {
            block, candidate, ..
        } = output
        {
            assert!(sends(&engine.checked(*block, *candidate, true, 20)).is_empty());
        }
    }
    let approvals = sends(&engine.tick(20));
    assert_eq!(approvals.len(), 1, "one approval for the checks done");
    sent.extend(approvals);
    let restart = || ApprovalEngine::new(config(), keys(me), Some(ValidatorIndex(me)), 6);

    // Restarted after approving: the same messages again, nothing to check or sign.
    let mut engine = restart();
    let outputs = engine.new_block(
        NewBlock {
            sent: sent.clone(),
            ..first.clone()
        },
        30,
    );
    assert_eq!(sends(&outputs), sent);
    assert!(!outputs.iter().any(|o| matches!(o, Output::Check { .. })));
    assert!(sends(&engine.tick(40)).is_empty());

    // Restarted after announcing but before approving: the same assignment, checked again,
    // and the approval signed once.
    let mut engine = restart();
    let outputs = engine.new_block(
        NewBlock {
            sent: assignments.clone(),
            ..first.clone()
        },
        30,
    );
    assert_eq!(sends(&outputs), assignments, "no new assignment drawn");
    let rechecks: Vec<(Hash, u32)> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Check {
                block, candidate, ..
            } => Some((*block, *candidate)),
            _ => None,
        })
        .collect();
    assert!(!rechecks.is_empty());
    for (block, candidate) in rechecks {
        engine.checked(block, candidate, true, 40);
    }
    let approvals = sends(&engine.tick(40));
    assert!(matches!(&approvals[..], [Message::Approval(_)]));
    assert!(sends(&engine.tick(50)).is_empty());
}

#[test]
fn a_checker_whose_tranche_started_while_a_dispute_held_its_candidate_checks_when_it_is_released() {
    // A validator whose only assignment to the candidate is in a delay tranche, and a block
    // with that one candidate: it needs two checkers, and nobody else announces, so that
    // tranche is needed as soon as it starts.
    let (me, block) = (2..VALIDATORS)
        .flat_map(|me| (1..=60u8).map(move |number| (me, number)))
        .find_map(|(me, number)| {
            let mut block = block(number, hash(0));
            block.candidates.truncate(1);
            let ours = keys(me).assignments(&block.story, &config(), 2, &[CoreIndex(0)]);
            ours.get(&CoreIndex(0))
                .filter(|ours| ours.tranche >= 1)
                .map(|_| (me, block))
        })
        .expect("some validator draws a delay tranche");
    let candidate = block.candidates[0].hash;
    let mut engine = ApprovalEngine::new(config(), keys(me), Some(ValidatorIndex(me)), 6);
    assert!(checks_in(&engine.new_block(block, 0)).is_empty());
    // A dispute holds the candidate from before the tranche starts until after every
    // tranche and no-show period is over.
    assert!(checks_in(&engine.dispute(&candidate, true, 10)).is_empty());
    let end = u64::from(config().n_delay_tranches) * config().tranche_ms + config().no_show_ms;
    for now in (100..end).step_by(100) {
        assert!(
            checks_in(&engine.tick(now)).is_empty(),
            "checked while disputed"
        );
    }
    // Released (concluded valid): the tranche that started meanwhile is due at once. It was
    // left out of the next recheck, and the block was never approved by anyone.
    let mut outputs = engine.dispute(&candidate, false, end + 100);
    outputs.extend(engine.tick(end + 200));
    assert_eq!(checks_in(&outputs), vec![candidate]);
    assert!(sends(&outputs)
        .iter()
        .any(|m| matches!(m, Message::Assignment(_))));
}

fn checks_in(outputs: &[Output]) -> Vec<Hash> {
    outputs
        .iter()
        .filter_map(|o| match o {
            Output::Check { hash, .. } => Some(*hash),
            _ => None,
        })
        .collect()
}

/// Every message validators sent while judging a block with an invalid candidate:
/// assignments, approvals, and the dispute's votes.
fn recorded() -> &'static Settled {
    static RECORDED: OnceLock<Settled> = OnceLock::new();
    RECORDED.get_or_init(|| {
        let mut validators = validators();
        let first = block(1, hash(0));
        let pending = import(&mut validators, &first);
        let invalid = first.candidates[1].hash;
        let settled = settle(&mut validators, pending, |h| *h != invalid, 20);
        assert!(!settled.sent.is_empty() && !settled.dispute_sent.is_empty());
        settled
    })
}

/// `bytes` with each `(position, mask)` of `edits` xored in, cut to `keep` of its length.
fn mutate(
    bytes: &[u8],
    edits: &[(prop::sample::Index, u8)],
    keep: Option<prop::sample::Index>,
) -> Vec<u8> {
    let mut bytes = bytes.to_vec();
    for (at, mask) in edits {
        let at = at.index(bytes.len());
        bytes[at] ^= mask;
    }
    if let Some(keep) = keep {
        bytes.truncate(keep.index(bytes.len()));
    }
    bytes
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// A peer's bytes, whether a real message altered or noise, arriving after some of the
    /// real messages: whatever decodes is judged without panicking, and one refused leaves the
    /// receiver's view of the block and of its disputes as it was.
    #[test]
    fn altered_messages_never_panic_and_a_refused_one_changes_nothing(
        heard in any::<prop::sample::Index>(),
        which in any::<prop::sample::Index>(),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..4),
        keep in proptest::option::of(any::<prop::sample::Index>()),
        noise in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let recorded = recorded();
        let (mut engine, mut disputes) = validators().pop().unwrap();
        let first = block(1, hash(0));
        let _ = engine.new_block(first.clone(), 10);
        // Some of what really went around first (assignments before the approvals that need
        // them, the opening before the votes).
        let count = |all: &[Vec<u8>]| heard.index(all.len() + 1);
        for bytes in &recorded.sent[..count(&recorded.sent)] {
            let _ = engine.message(Message::decode_all(&mut &bytes[..]).unwrap(), 15);
        }
        for bytes in &recorded.dispute_sent[..count(&recorded.dispute_sent)] {
            let _ = disputes.message(DisputeMessage::decode_all(&mut &bytes[..]).unwrap());
        }
        let held = |disputes: &Disputes<ValidatorKeys>| {
            let mut held: Vec<Vec<u8>> = disputes
                .known_messages(usize::MAX)
                .iter()
                .map(Encode::encode)
                .collect();
            held.sort();
            held
        };
        let approval = mutate(which.get::<Vec<u8>>(&recorded.sent), &edits, keep);
        let dispute = mutate(which.get::<Vec<u8>>(&recorded.dispute_sent), &edits, keep);
        for bytes in [&approval, &dispute, &noise] {
            if let Ok(message) = Message::decode_all(&mut &bytes[..]) {
                let before = engine.block_approval(&first.hash);
                if engine.message(message, 20).is_err() {
                    prop_assert_eq!(engine.block_approval(&first.hash), before);
                }
            }
            if let Ok(message) = DisputeMessage::decode_all(&mut &bytes[..]) {
                let before = held(&disputes);
                if disputes.message(message).is_err() {
                    prop_assert_eq!(held(&disputes), before);
                }
            }
        }
    }
}

#[test]
fn each_block_is_checked_against_the_validators_of_its_own_session() {
    // Session B: six other validators.
    let key_b = |i: u32| AuthorityKey::from_index(u64::from(VALIDATORS + i));
    let publics_b: Arc<[AccountId]> = (0..VALIDATORS).map(|i| key_b(i).public()).collect();
    let in_b = |me: Option<u32>| {
        Arc::new(SessionValidators {
            crypto: ValidatorKeys::new(me.map(key_b), publics_b.clone()),
            me: me.map(ValidatorIndex),
            n_validators: VALIDATORS,
        })
    };
    let (first, second) = (block(1, hash(0)), block(2, hash(1)));
    // A follower of session A's first block and session B's second.
    let mut follower = ApprovalEngine::new(
        config(),
        ValidatorKeys::new(None, publics()),
        None,
        VALIDATORS,
    );
    let _ = follower.new_block(first, 10);
    let _ = follower.new_block_in(second.clone(), in_b(None), 10);
    let (mut accepted, mut refused) = (0, 0);
    for i in 0..VALIDATORS {
        // Session B's validator `i` draws its assignments in the second block: they hold.
        let mut of_b = ApprovalEngine::new(config(), keys(i), Some(ValidatorIndex(i)), VALIDATORS);
        for message in sends(&of_b.new_block_in(second.clone(), in_b(Some(i)), 10)) {
            follower.message(message, 10).unwrap();
            accepted += 1;
        }
        // Session A's validator `i`, drawing as if the block were A's: its certificates do
        // not verify under B's key at index `i`.
        let mut of_a = ApprovalEngine::new(config(), keys(i), Some(ValidatorIndex(i)), VALIDATORS);
        for message in sends(&of_a.new_block(second.clone(), 10)) {
            assert!(matches!(
                follower.message(message, 10),
                Err(MessageError::Assignment(_))
            ));
            refused += 1;
        }
    }
    assert!(accepted > 0 && refused > 0, "{accepted} {refused}");
}

#[test]
fn a_candidate_needs_no_more_approvals_than_it_has_validators_who_did_not_back_it() {
    let all: Vec<ValidatorIndex> = (0..VALIDATORS).map(ValidatorIndex).collect();
    let one_block = |backers: Vec<ValidatorIndex>| NewBlock {
        n_cores: 1,
        candidates: vec![IncludedCandidate {
            hash: hash(101),
            core: CoreIndex(0),
            backers,
        }],
        ..block(1, hash(0))
    };
    // Backed by every validator: all of them checked it, and no one is left to assign.
    let mut engine = ApprovalEngine::new(config(), keys(0), Some(ValidatorIndex(0)), VALIDATORS);
    let outputs = engine.new_block(one_block(all.clone()), 10);
    assert!(outputs.contains(&Output::Approved(hash(1))), "{outputs:?}");

    // Backed by all but validator 5, with two approvals needed: 5's alone approves it.
    let mut validators = validators();
    let block = one_block(all[..5].to_vec());
    let pending: Vec<Pending> = validators
        .iter_mut()
        .enumerate()
        .flat_map(|(i, (engine, _))| {
            engine
                .new_block(block.clone(), 10)
                .into_iter()
                .map(move |o| Pending::Approval(i, o))
        })
        .collect();
    // Late enough that 5's tranche has started, however far its assignment drew it.
    let settled = settle(&mut validators, pending, |_| true, 1_000_000);
    assert!(settled
        .approved
        .iter()
        .all(|approved| approved.contains(&hash(1))));
    // Each validator tallies that approval as 5's usage, once.
    for approved_by in &settled.approved_by {
        assert_eq!(approved_by, &[(hash(1), vec![ValidatorIndex(5)])]);
    }
}
