//! Approval voting between engines with real VRF assignments and sr25519 signatures: a block is
//! approved once its assigned checkers approve, never while a candidate is disputed, and every
//! message that is forged, misplaced or repeated is refused with the reason.

use std::sync::Arc;
use tessera_consensus::AuthorityKey;
use tessera_runtime::{AccountId, Hash, Signature};
use tessera_validity::assignment::{AssignmentKind, Crypto, RelayVrfStory, ValidatorKeys};
use tessera_validity::engine::{
    Approval, ApprovalEngine, Assignment, IncludedCandidate, InvalidVote, Message, MessageError,
    NewBlock, Output, MAX_OPEN_DISPUTES,
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

fn engines() -> Vec<ApprovalEngine<ValidatorKeys>> {
    (0..VALIDATORS)
        .map(|i| ApprovalEngine::new(config(), keys(i), Some(ValidatorIndex(i)), VALIDATORS))
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
    }
}

/// Runs the engines until quiet from `outputs` (of validator `from`), delivering every
/// message to every other engine and answering checks with `valid`; what each approved.
fn settle(
    engines: &mut [ApprovalEngine<ValidatorKeys>],
    mut pending: Vec<(usize, Output)>,
    valid: impl Fn(&Hash) -> bool,
    now: u64,
) -> Vec<Vec<Hash>> {
    let mut approved = vec![Vec::new(); engines.len()];
    while let Some((from, output)) = pending.pop() {
        match output {
            Output::Send(message) => {
                for (to, engine) in engines.iter_mut().enumerate() {
                    if to != from {
                        let outputs = engine.message(message.clone(), now).unwrap();
                        pending.extend(outputs.into_iter().map(|o| (to, o)));
                    }
                }
            }
            Output::Check {
                block,
                candidate,
                hash,
            } => {
                let outputs = engines[from].checked(block, candidate, valid(&hash), now);
                pending.extend(outputs.into_iter().map(|o| (from, o)));
            }
            Output::Approved(block) => approved[from].push(block),
            Output::Disputed { .. } => {}
        }
        if pending.is_empty() {
            // Coalesced approvals go out on the next tick.
            for (i, engine) in engines.iter_mut().enumerate() {
                pending.extend(engine.tick(now).into_iter().map(|o| (i, o)));
            }
        }
    }
    approved
}

fn import(engines: &mut [ApprovalEngine<ValidatorKeys>], block: &NewBlock) -> Vec<(usize, Output)> {
    engines
        .iter_mut()
        .enumerate()
        .flat_map(|(i, engine)| {
            engine
                .new_block(block.clone(), 10)
                .into_iter()
                .map(move |o| (i, o))
        })
        .collect()
}

#[test]
fn a_block_is_approved_by_everyone_once_its_checkers_approve_and_its_child_follows() {
    let mut engines = engines();
    let first = block(1, hash(0));
    let outputs = import(&mut engines, &first);
    let checks = outputs
        .iter()
        .filter(|(_, o)| matches!(o, Output::Check { .. }))
        .count();
    assert!(checks >= 2, "tranche 0 brings checkers ({checks})");
    assert!(engines
        .iter()
        .all(|e| e.is_approved(&first.hash) == Some(false)));
    let approved = settle(&mut engines, outputs, |_| true, 20);
    assert!(approved.iter().all(|a| a == &[first.hash]), "{approved:?}");

    let second = block(2, first.hash);
    let outputs = import(&mut engines, &second);
    let approved = settle(&mut engines, outputs, |_| true, 30);
    assert!(approved.iter().all(|a| a == &[second.hash]), "{approved:?}");
    let status = engines[5].block_approval(&second.hash).unwrap();
    assert_eq!((status.candidates_approved, status.candidates), (2, 2));

    engines[5].finalized(2);
    assert_eq!(engines[5].tracked(), 0);
}

#[test]
fn a_candidate_a_checker_finds_invalid_is_disputed_and_its_block_never_approved() {
    let mut engines = engines();
    let first = block(1, hash(0));
    let outputs = import(&mut engines, &first);
    let invalid = first.candidates[1].hash;
    let approved = settle(&mut engines, outputs, |h| *h != invalid, 20);
    assert!(approved.iter().all(Vec::is_empty), "{approved:?}");
    for engine in &engines {
        let status = engine.block_approval(&first.hash).unwrap();
        assert_eq!(status.disputed, 1);
        assert!(!status.approved);
    }
    // Its child is not approved either, though its own candidates are.
    let second = block(2, first.hash);
    let outputs = import(&mut engines, &second);
    let approved = settle(&mut engines, outputs, |_| true, 30);
    assert!(approved.iter().all(Vec::is_empty), "{approved:?}");
    assert_eq!(
        engines[0]
            .block_approval(&second.hash)
            .unwrap()
            .candidates_approved,
        2
    );
}

#[test]
fn forged_misplaced_and_repeated_messages_are_refused_with_the_reason() {
    let mut engines = engines();
    let first = block(1, hash(0));
    let outputs = import(&mut engines, &first);
    let assignment = outputs
        .iter()
        .find_map(|(_, o)| match o {
            Output::Send(Message::Assignment(a)) => Some(a.clone()),
            _ => None,
        })
        .expect("someone is assigned in tranche 0");
    let receiver = (assignment.validator.0 as usize + 1) % VALIDATORS as usize;
    let engine = &mut engines[receiver];

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
    let mut engines = engines();
    let first = block(1, hash(0));
    import(&mut engines, &first);
    // Validator 0 backed core 0: its delay assignment there is drawn but refused.
    let drawn = keys(0).assignments(&first.story, &config(), 2, &[CoreIndex(0)]);
    let cert = drawn[&CoreIndex(0)].cert.clone();
    let assignment = Assignment {
        block: first.hash,
        validator: ValidatorIndex(0),
        cert,
    };
    assert_eq!(
        engines[4].message(Message::Assignment(assignment), 20),
        Err(MessageError::Backer(0))
    );
}

#[test]
fn a_validator_can_hold_only_so_many_disputes_open_until_finality_frees_them() {
    let mut engine = ApprovalEngine::new(config(), keys(5), Some(ValidatorIndex(5)), VALIDATORS);
    let accuser = keys(4);
    let mut parent = hash(0);
    let blocks: Vec<NewBlock> = (1..=MAX_OPEN_DISPUTES as u8 + 1)
        .map(|n| {
            let b = block(n, parent);
            parent = b.hash;
            b
        })
        .collect();
    for b in &blocks {
        engine.new_block(b.clone(), 10);
    }
    let vote = |b: &NewBlock| {
        let payload = tessera_validity::assignment::invalid_payload(&b.hash, &b.candidates[0].hash);
        Message::Invalid(InvalidVote {
            block: b.hash,
            candidate: 0,
            validator: ValidatorIndex(4),
            signature: accuser.sign(&payload).unwrap(),
        })
    };
    for b in &blocks[..MAX_OPEN_DISPUTES as usize] {
        let outputs = engine.message(vote(b), 20).unwrap();
        assert!(
            matches!(outputs[..], [Output::Disputed { .. }]),
            "{outputs:?}"
        );
    }
    let last = &blocks[MAX_OPEN_DISPUTES as usize];
    assert_eq!(
        engine.message(vote(last), 20),
        Err(MessageError::TooManyDisputes(4))
    );
    // Finality of the first block closes one of them.
    engine.finalized(1);
    assert!(engine.message(vote(last), 20).is_ok());
}
