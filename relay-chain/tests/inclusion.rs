//! The parachains inherent on real relay blocks: backing, availability, inclusion, timeouts,
//! and everything an author must not be able to slip in.

use parity_scale_codec::Decode;
use std::collections::BTreeMap;
use tessera_relay_chain::disputes::{
    self, dispute_payload, DisputeStatementSet, DisputeVote, Offence, OffenceCount, VoteKind,
};
use tessera_relay_chain::inclusion::{
    self, bitfield_payload, statement_payload, BackedCandidate, SignedBitfield, ValidityVote,
    AVAILABILITY_TIMEOUT,
};
use tessera_relay_chain::paras::{self, HeadData, ParaId, ValidationCode};
use tessera_relay_chain::pvf_check::{self, PvfCheckStatement, PRECHECK_TTL};
use tessera_relay_chain::{Call, ChainSpec, Event, GenesisPara, HexBytes, RelayRuntime};
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::EventRecord;
use tessera_runtime::executive::{execute_block, BlockError, InvalidTransaction};
use tessera_runtime::extrinsic::Extrinsic;
use tessera_runtime::modules::{sudo, system};
use tessera_runtime::parachain::{
    build_block, sign, CandidateCommitments, CandidateDescriptor, CommittedCandidateReceipt,
};
use tessera_runtime::state::State;
use tessera_runtime::{Hash, Header, OpaqueExtrinsic};

const VALIDATORS: [&str; 4] = ["Alice", "Bob", "Charlie", "Dave"];
const PARA: ParaId = ParaId(1000);
const OTHER: ParaId = ParaId(1001);

struct Relay {
    nodes: BTreeMap<Hash, Vec<u8>>,
    head: Header,
    genesis_hash: Hash,
    validators: Vec<Pair>,
}

fn code(byte: u8) -> ValidationCode {
    ValidationCode(vec![byte; 64])
}

impl Relay {
    fn new() -> Self {
        let mut spec = ChainSpec::dev_with_validators(VALIDATORS.len());
        for (id, byte) in [(PARA, 1u8), (OTHER, 2)] {
            spec.genesis.paras.push(GenesisPara {
                id: id.0,
                head: HexBytes(vec![byte, 0]),
                code: HexBytes(code(byte).0),
            });
        }
        let genesis = spec.build_genesis().unwrap();
        Relay {
            nodes: genesis.state.new_nodes.into_iter().collect(),
            genesis_hash: genesis.header.hash(),
            head: genesis.header,
            validators: VALIDATORS.iter().map(|n| Pair::dev(n)).collect(),
        }
    }

    fn state(&self) -> State<'_> {
        State::new(&self.nodes, self.head.state_root)
    }

    fn head_of(&self, para: ParaId) -> HeadData {
        inclusion::included_head(&mut self.state(), para)
            .unwrap()
            .unwrap()
    }

    fn pending(&self, para: ParaId) -> Option<inclusion::PendingCandidate> {
        inclusion::PENDING.get(&mut self.state(), &para).unwrap()
    }

    /// A candidate of `para` on the current head with `head` as its new head, signed by Ferdie.
    fn candidate(&self, para: ParaId, head: Vec<u8>) -> CommittedCandidateReceipt {
        let mut state = self.state();
        let pvd = inclusion::persisted_validation_data(&mut state, para, &self.head)
            .unwrap()
            .unwrap();
        let code_hash = paras::code_for_candidate(&mut state, para, self.head.number + 1)
            .unwrap()
            .unwrap();
        let commitments = CandidateCommitments {
            head_data: HeadData(head),
            hrmp_watermark: self.head.number,
            ..CandidateCommitments::default()
        };
        signed(
            CandidateDescriptor {
                para_id: para,
                relay_parent: self.head.hash(),
                collator: Pair::dev("Ferdie").public(),
                persisted_validation_data_hash: pvd.hash(),
                pov_hash: Hash([9; 32]),
                erasure_root: Hash([8; 32]),
                signature: tessera_runtime::Signature([0; 64]),
                para_head: commitments.head_data.hash(),
                validation_code_hash: code_hash,
            },
            commitments,
        )
    }

    /// The backing group of `para` for the next block.
    fn group(&self, para: ParaId) -> Vec<u32> {
        inclusion::backing_group(
            self.validators.len() as u32,
            &[PARA, OTHER],
            para,
            self.head.number + 1,
        )
        .unwrap()
    }

    fn backed(&self, candidate: CommittedCandidateReceipt, by: &[u32]) -> BackedCandidate {
        let payload = statement_payload(&candidate.hash());
        BackedCandidate {
            votes: by
                .iter()
                .map(|v| ValidityVote {
                    validator: *v,
                    signature: self.validators[*v as usize].sign(&payload),
                })
                .collect(),
            candidate,
        }
    }

    /// Every validator's bitfield holding `PARA`'s chunk.
    fn all_hold_para(&self) -> Vec<SignedBitfield> {
        (0..self.validators.len() as u32)
            .map(|v| self.bitfield(v, bits(true, false)))
            .collect()
    }

    /// Backs and includes `PARA`'s candidate with head `head` carrying `code`, which the
    /// validators then accept.
    fn include_with_code(&mut self, head: Vec<u8>, code: ValidationCode) {
        let mut candidate = self.candidate(PARA, head);
        candidate.commitments.new_validation_code = Some(code.clone());
        let candidate = signed(candidate.descriptor, candidate.commitments);
        let backed = self.backed(candidate, &self.group(PARA));
        self.block(vec![self.enter(vec![], vec![backed])]).unwrap();
        self.block(vec![self.enter(self.all_hold_para(), vec![])])
            .unwrap();
        self.accept(&code);
    }

    /// A block in which root (Alice, by `sudo`) schedules `code` for `PARA`.
    fn root_schedules_upgrade(&mut self, code: ValidationCode) {
        let upgrade = Call::Sudo(sudo::Call::Sudo {
            call: Box::new(Call::Paras(paras::Call::ScheduleCodeUpgrade {
                id: PARA,
                code,
            })),
        });
        let by_root = sign::<RelayRuntime>(&Pair::dev("Alice"), upgrade, 0, self.genesis_hash);
        self.block(vec![self.enter(vec![], vec![]), by_root])
            .unwrap();
    }

    /// Includes `PARA`'s candidate with head `head` built on the relay parent at or after its
    /// pending upgrade's block (the para's block that switched to `code`).
    fn switch_para_to(&mut self, code: ValidationCode, head: Vec<u8>) {
        let at = paras::PARA_UPGRADES
            .get(&mut self.state(), &PARA)
            .unwrap()
            .expect("a para upgrade is pending")
            .at;
        // Time alone does not enact it.
        while self.head.number < at {
            self.block(vec![self.enter(vec![], vec![])]).unwrap();
        }
        let info = paras::para_at(&mut self.state(), PARA, self.head.number + 1)
            .unwrap()
            .unwrap();
        assert_ne!(info.code_hash, code.hash());
        let switching = self.candidate(PARA, head.clone());
        let backed = self.backed(switching, &self.group(PARA));
        self.block(vec![self.enter(vec![], vec![backed])]).unwrap();
        self.block(vec![self.enter(self.all_hold_para(), vec![])])
            .unwrap();
        assert_eq!(self.head_of(PARA), HeadData(head));
    }

    fn bitfield(&self, validator: u32, bits: Vec<bool>) -> SignedBitfield {
        let payload = bitfield_payload(&self.head.hash(), &bits);
        SignedBitfield {
            validator,
            signature: self.validators[validator as usize].sign(&payload),
            bits,
        }
    }

    fn enter(
        &self,
        bitfields: Vec<SignedBitfield>,
        backed: Vec<BackedCandidate>,
    ) -> OpaqueExtrinsic {
        self.enter_with(bitfields, backed, vec![])
    }

    fn enter_with(
        &self,
        bitfields: Vec<SignedBitfield>,
        backed: Vec<BackedCandidate>,
        disputes: Vec<DisputeStatementSet>,
    ) -> OpaqueExtrinsic {
        self.enter_all(bitfields, backed, disputes, vec![])
    }

    fn enter_all(
        &self,
        bitfields: Vec<SignedBitfield>,
        backed: Vec<BackedCandidate>,
        disputes: Vec<DisputeStatementSet>,
        pvf_checks: Vec<PvfCheckStatement>,
    ) -> OpaqueExtrinsic {
        let call = Call::ParaInclusion(inclusion::Call::Enter {
            parent_header: self.head.clone(),
            bitfields,
            backed,
            disputes,
            pvf_checks,
        });
        Extrinsic::<Call> {
            signature: None,
            call,
        }
        .to_opaque()
    }

    /// Validator `validator`'s verdict on `code`.
    /// (Signed for the check of `code` under way, if any.)
    fn verdict(&self, validator: u32, code: &ValidationCode, accept: bool) -> PvfCheckStatement {
        let started_at = pvf_check::PRECHECKS
            .get(&mut self.state(), &code.hash())
            .unwrap()
            .map_or(0, |check| check.started_at);
        let session = disputes::GENESIS_SESSION;
        let payload = pvf_check::statement_payload(&code.hash(), session, started_at, accept);
        PvfCheckStatement {
            accept,
            code_hash: code.hash(),
            session: disputes::GENESIS_SESSION,
            validator,
            signature: self.validators[validator as usize].sign(&payload),
        }
    }

    /// A block whose inherent carries only `statements`; its `paras` events.
    fn votes(&mut self, statements: Vec<PvfCheckStatement>) -> Vec<paras::Event> {
        self.block(vec![self.enter_all(vec![], vec![], vec![], statements)])
            .unwrap();
        self.paras_events()
    }

    /// The `paras` events of the head block.
    fn paras_events(&self) -> Vec<paras::Event> {
        let events = self.state().get(&system::events_key()).unwrap().unwrap();
        Vec::<EventRecord<Event>>::decode(&mut &events[..])
            .unwrap()
            .into_iter()
            .filter_map(|record| match record.event {
                Event::Paras(event) => Some(event),
                _ => None,
            })
            .collect()
    }

    /// Three of the four validators accept `code`, which is under check: it is scheduled.
    fn accept(&mut self, code: &ValidationCode) {
        let statements = (0..3).map(|v| self.verdict(v, code, true)).collect();
        let events = self.votes(statements);
        assert!(
            events.iter().any(|event| matches!(
                event,
                paras::Event::PvfCheckAccepted { code_hash, .. } if *code_hash == code.hash()
            )),
            "{events:?}"
        );
    }

    /// Builds and applies the next block; its inclusion events, or why the inherent failed.
    fn block(
        &mut self,
        extrinsics: Vec<OpaqueExtrinsic>,
    ) -> Result<Vec<inclusion::Event>, InvalidTransaction> {
        let built =
            build_block::<RelayRuntime>(&self.nodes, &self.head, &extrinsics, None).unwrap();
        if let Some((_, reason)) = built.rejected.into_iter().next() {
            return Err(reason);
        }
        self.nodes.extend(built.changes.new_nodes);
        self.head = built.block.header;
        let events = self.state().get(&system::events_key()).unwrap().unwrap();
        let events = Vec::<EventRecord<Event>>::decode(&mut &events[..]).unwrap();
        Ok(events
            .into_iter()
            .filter_map(|record| match record.event {
                Event::ParaInclusion(event) => Some(event),
                _ => None,
            })
            .collect())
    }
}

fn signed(
    mut descriptor: CandidateDescriptor,
    commitments: CandidateCommitments,
) -> CommittedCandidateReceipt {
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

fn failed(error: inclusion::Error) -> InvalidTransaction {
    InvalidTransaction::InherentFailed(tessera_relay_chain::dispatch_error(error))
}

/// Bits for cores [PARA, OTHER].
fn bits(para: bool, other: bool) -> Vec<bool> {
    vec![para, other]
}

#[test]
fn a_backed_candidate_is_included_once_more_than_two_thirds_hold_it() {
    let mut relay = Relay::new();
    let candidate = relay.candidate(PARA, vec![1, 1]);
    let hash = candidate.hash();
    let group = relay.group(PARA);
    let backed = relay.backed(candidate, &group);
    let events = relay
        .block(vec![relay.enter(vec![], vec![backed])])
        .unwrap();
    assert_eq!(
        events,
        vec![inclusion::Event::CandidateBacked {
            para: PARA,
            candidate_hash: hash,
            head_hash: HeadData(vec![1, 1]).hash()
        }]
    );
    assert_eq!(
        relay.head_of(PARA),
        HeadData(vec![1, 0]),
        "not before availability"
    );

    // Two of four is not more than 2/3; votes add up across blocks.
    let two = vec![
        relay.bitfield(0, bits(true, false)),
        relay.bitfield(1, bits(true, true)),
    ];
    assert_eq!(relay.block(vec![relay.enter(two, vec![])]).unwrap(), vec![]);
    assert!(relay.pending(PARA).is_some());
    let third = vec![relay.bitfield(3, bits(true, false))];
    let events = relay.block(vec![relay.enter(third, vec![])]).unwrap();
    assert_eq!(
        events,
        vec![inclusion::Event::CandidateIncluded {
            para: PARA,
            candidate_hash: hash,
            head_hash: HeadData(vec![1, 1]).hash()
        }]
    );
    assert_eq!(relay.head_of(PARA), HeadData(vec![1, 1]));
    assert_eq!(relay.pending(PARA), None);
    assert_eq!(
        relay.head_of(OTHER),
        HeadData(vec![2, 0]),
        "the other para is untouched"
    );
    // Its backers earned their era points when it was included (these blocks have no author).
    let points = tessera_relay_chain::staking::rewards::ERAS_REWARD_POINTS
        .get(&mut relay.state(), &0)
        .unwrap()
        .unwrap();
    let per_backer = tessera_relay_chain::staking::rewards::BACKING_POINTS;
    assert_eq!(points.total, per_backer * group.len() as u32);
    for backer in &group {
        let account = relay.validators[*backer as usize].public();
        assert_eq!(points.individual[&account], per_backer);
    }

    // The next candidate builds on the new head.
    let next = relay.candidate(PARA, vec![1, 2]);
    let group = relay.group(PARA);
    let backed = relay.backed(next, &group);
    assert!(relay.block(vec![relay.enter(vec![], vec![backed])]).is_ok());
}

#[test]
fn a_candidate_on_the_pending_one_is_backed_in_the_block_that_includes_it() {
    let mut relay = Relay::new();
    let group = relay.group(PARA);
    let first = relay.candidate(PARA, vec![1, 1]);
    let first_backed = relay.backed(first.clone(), &group);
    relay
        .block(vec![relay.enter(vec![], vec![first_backed])])
        .unwrap();

    // Made while the first is pending: on its head.
    let second = relay.candidate(PARA, vec![1, 2]);
    let group = relay.group(PARA);
    let second_backed = relay.backed(second.clone(), &group);
    assert_eq!(
        relay.block(vec![relay.enter(vec![], vec![second_backed.clone()])]),
        Err(failed(inclusion::Error::CoreOccupied)),
        "not while the first holds the core"
    );
    let available = (0..3)
        .map(|v| relay.bitfield(v, bits(true, false)))
        .collect();
    let events = relay
        .block(vec![relay.enter(available, vec![second_backed])])
        .unwrap();
    assert_eq!(
        events,
        vec![
            inclusion::Event::CandidateIncluded {
                para: PARA,
                candidate_hash: first.hash(),
                head_hash: HeadData(vec![1, 1]).hash()
            },
            inclusion::Event::CandidateBacked {
                para: PARA,
                candidate_hash: second.hash(),
                head_hash: HeadData(vec![1, 2]).hash()
            }
        ]
    );
    assert_eq!(relay.head_of(PARA), HeadData(vec![1, 1]));
    assert_eq!(relay.pending(PARA).map(|p| p.hash), Some(second.hash()));
}

#[test]
fn an_author_cannot_include_what_was_not_backed_or_signed() {
    let mut relay = Relay::new();
    let group = relay.group(PARA);
    let outsider = (0..4).find(|v| !group.contains(v)).unwrap();
    let good = relay.candidate(PARA, vec![1, 1]);

    let cases: Vec<(BackedCandidate, inclusion::Error)> = vec![
        (
            relay.backed(good.clone(), &group[..1]),
            inclusion::Error::InsufficientBacking,
        ),
        (
            relay.backed(good.clone(), &[group[0], outsider]),
            inclusion::Error::NotInBackingGroup,
        ),
        (
            relay.backed(good.clone(), &[group[0], group[0]]),
            inclusion::Error::DuplicateStatement,
        ),
        (
            {
                let mut forged = relay.backed(good.clone(), &group);
                forged.votes[1].signature = forged.votes[0].signature;
                forged
            },
            inclusion::Error::BadStatementSignature,
        ),
        (
            {
                let mut c = good.clone();
                c.descriptor.validation_code_hash = code(7).hash();
                relay.backed(signed(c.descriptor, c.commitments), &group)
            },
            inclusion::Error::WrongValidationCode,
        ),
        (
            {
                let mut c = good.clone();
                c.descriptor.relay_parent = Hash([3; 32]);
                relay.backed(signed(c.descriptor, c.commitments), &group)
            },
            inclusion::Error::WrongRelayParent,
        ),
        (
            {
                let mut c = good.clone();
                c.descriptor.persisted_validation_data_hash = Hash([4; 32]);
                relay.backed(signed(c.descriptor, c.commitments), &group)
            },
            inclusion::Error::ValidationDataMismatch,
        ),
        (
            {
                let mut c = good.clone();
                c.commitments.head_data = HeadData(vec![6]);
                relay.backed(c, &group)
            },
            inclusion::Error::ParaHeadMismatch,
        ),
        (
            {
                let mut c = good.clone();
                c.descriptor.pov_hash = Hash([5; 32]);
                relay.backed(c, &group)
            },
            inclusion::Error::BadCollatorSignature,
        ),
    ];
    for (backed, reason) in cases {
        let before = relay.head.clone();
        assert_eq!(
            relay.block(vec![relay.enter(vec![], vec![backed])]),
            Err(failed(reason)),
            "{reason:?}"
        );
        assert_eq!(relay.head, before);
    }

    let backed = relay.backed(good, &group);
    relay
        .block(vec![relay.enter(vec![], vec![backed.clone()])])
        .unwrap();
    // The core is taken until the candidate is included or times out.
    let again = relay.backed(relay.candidate(PARA, vec![1, 9]), &relay.group(PARA));
    assert_eq!(
        relay.block(vec![relay.enter(vec![], vec![again])]),
        Err(failed(inclusion::Error::CoreOccupied))
    );

    let forged = {
        let mut b = relay.bitfield(0, bits(true, false));
        b.validator = 1;
        b
    };
    let stale = {
        let payload = bitfield_payload(&Hash([1; 32]), &bits(true, false));
        SignedBitfield {
            validator: 2,
            bits: bits(true, false),
            signature: relay.validators[2].sign(&payload),
        }
    };
    for (bitfields, reason) in [
        (vec![forged], inclusion::Error::BadBitfieldSignature),
        (vec![stale], inclusion::Error::BadBitfieldSignature),
        (
            vec![relay.bitfield(0, vec![true])],
            inclusion::Error::BitfieldWrongLength,
        ),
        (
            vec![
                relay.bitfield(0, bits(true, false)),
                relay.bitfield(0, bits(true, false)),
            ],
            inclusion::Error::DuplicateBitfield,
        ),
        (
            vec![{
                let mut b = relay.bitfield(0, bits(true, false));
                b.validator = 9;
                b
            }],
            inclusion::Error::UnknownValidator,
        ),
    ] {
        assert_eq!(
            relay.block(vec![relay.enter(bitfields, vec![])]),
            Err(failed(reason)),
            "{reason:?}"
        );
    }

    // One inherent per block, and only unsigned from the author.
    let once = relay.enter(vec![], vec![]);
    assert_eq!(
        relay.block(vec![once.clone(), once]),
        Err(failed(inclusion::Error::AlreadyEntered))
    );
    let not_inherent = Extrinsic::<Call> {
        signature: None,
        call: Call::Paras(paras::Call::Deregister { id: PARA }),
    }
    .to_opaque();
    assert_eq!(
        relay.block(vec![not_inherent]),
        Err(InvalidTransaction::Unsigned)
    );
}

#[test]
fn importers_reject_a_block_whose_inherent_fails() {
    let relay = Relay::new();
    let group = relay.group(PARA);
    let candidate = relay.candidate(PARA, vec![1, 1]);
    let ok = relay.enter(vec![], vec![relay.backed(candidate.clone(), &group)]);
    let built = build_block::<RelayRuntime>(&relay.nodes, &relay.head, &[ok], None).unwrap();
    let mut block = built.block;
    // Swap in an under-backed inherent, keeping the roots of the honest block.
    block.extrinsics = vec![relay.enter(vec![], vec![relay.backed(candidate, &group[..1])])];
    block.header.extrinsics_root = tessera_runtime::block::extrinsics_root(&block.extrinsics);
    let err = execute_block::<RelayRuntime>(&relay.nodes, relay.head.state_root, &block, false)
        .unwrap_err();
    assert_eq!(
        err,
        BlockError::InvalidExtrinsic {
            index: 0,
            error: failed(inclusion::Error::InsufficientBacking)
        }
    );
}

#[test]
fn an_unavailable_candidate_times_out_and_frees_its_core() {
    let mut relay = Relay::new();
    let group = relay.group(PARA);
    let candidate = relay.candidate(PARA, vec![1, 1]);
    let hash = candidate.hash();
    relay
        .block(vec![
            relay.enter(vec![], vec![relay.backed(candidate, &group)])
        ])
        .unwrap();
    for _ in 0..AVAILABILITY_TIMEOUT - 1 {
        let only_one = vec![relay.bitfield(0, bits(true, false))];
        assert_eq!(
            relay.block(vec![relay.enter(only_one, vec![])]).unwrap(),
            vec![]
        );
    }
    // A candidate made on the one about to time out never becomes valid.
    let orphan = relay.candidate(PARA, vec![1, 9]);
    let orphan = relay.backed(orphan, &relay.group(PARA));
    assert_eq!(
        relay.block(vec![relay.enter(vec![], vec![orphan])]),
        Err(failed(inclusion::Error::ValidationDataMismatch))
    );
    let events = relay.block(vec![relay.enter(vec![], vec![])]).unwrap();
    assert_eq!(
        events,
        vec![inclusion::Event::CandidateTimedOut {
            para: PARA,
            candidate_hash: hash
        }]
    );
    assert_eq!(relay.head_of(PARA), HeadData(vec![1, 0]));
    let fresh = relay.candidate(PARA, vec![1, 5]);
    let group = relay.group(PARA);
    assert!(relay
        .block(vec![relay.enter(vec![], vec![relay.backed(fresh, &group)])])
        .is_ok());
}

#[test]
fn new_code_in_a_candidate_is_checked_by_validators_then_scheduled() {
    let mut relay = Relay::new();
    let mut candidate = relay.candidate(PARA, vec![1, 1]);
    candidate.commitments.new_validation_code = Some(code(9));
    let candidate = signed(candidate.descriptor, candidate.commitments);
    let group = relay.group(PARA);
    relay
        .block(vec![
            relay.enter(vec![], vec![relay.backed(candidate, &group)])
        ])
        .unwrap();
    relay
        .block(vec![relay.enter(relay.all_hold_para(), vec![])])
        .unwrap();
    assert!(relay
        .paras_events()
        .contains(&paras::Event::PvfCheckStarted {
            id: PARA,
            code_hash: code(9).hash()
        }));
    let mut state = relay.state();
    let info = paras::PARAS.get(&mut state, &PARA).unwrap().unwrap();
    assert_eq!(
        info.pending, None,
        "not scheduled before the validators say"
    );
    assert_eq!(
        paras::PARA_UPGRADE_CHECKS.get(&mut state, &PARA).unwrap(),
        Some(code(9).hash()),
        "listed under check for the para to read"
    );
    assert_eq!(paras::PARA_UPGRADES.get(&mut state, &PARA).unwrap(), None);
    assert_eq!(
        paras::code(&mut state, &code(9).hash()).unwrap(),
        Some(code(9))
    );

    // Two accepting of four is not enough; the third decides.
    relay.votes(vec![
        relay.verdict(0, &code(9), true),
        relay.verdict(2, &code(9), true),
    ]);
    assert_eq!(
        paras::PARAS
            .get(&mut relay.state(), &PARA)
            .unwrap()
            .unwrap()
            .pending,
        None
    );
    let events = relay.votes(vec![relay.verdict(3, &code(9), true)]);
    assert!(events.contains(&paras::Event::PvfCheckAccepted {
        code_hash: code(9).hash(),
        paras: vec![PARA],
    }));
    let mut state = relay.state();
    let info = paras::PARAS.get(&mut state, &PARA).unwrap().unwrap();
    let pending = info.pending.expect("upgrade scheduled");
    assert_eq!(pending.code_hash, code(9).hash());
    assert_eq!(pending.at, relay.head.number + paras::UPGRADE_DELAY);
    assert_eq!(
        info.code_hash,
        code(1).hash(),
        "old code until the delay passes"
    );
    assert_eq!(
        paras::PARA_UPGRADE_CHECKS.get(&mut state, &PARA).unwrap(),
        None
    );
    assert_eq!(
        paras::PARA_UPGRADES.get(&mut state, &PARA).unwrap(),
        Some(pending)
    );
    assert_eq!(pvf_check::active(&mut state).unwrap(), vec![]);
}

/// Includes `PARA`'s candidate with head `head` carrying `code`, putting it under check.
fn include_code_for_check(relay: &mut Relay, head: Vec<u8>, code: ValidationCode) {
    let mut candidate = relay.candidate(PARA, head);
    candidate.commitments.new_validation_code = Some(code);
    let candidate = signed(candidate.descriptor, candidate.commitments);
    let backed = relay.backed(candidate, &relay.group(PARA));
    relay
        .block(vec![relay.enter(vec![], vec![backed])])
        .unwrap();
    relay
        .block(vec![relay.enter(relay.all_hold_para(), vec![])])
        .unwrap();
}

#[test]
fn code_too_many_reject_is_dropped_and_a_verdict_on_it_cannot_be_replayed_on_a_new_check() {
    let mut relay = Relay::new();
    include_code_for_check(&mut relay, vec![1, 1], code(9));
    // One rejection of four leaves the check open; a second makes a supermajority impossible.
    relay.votes(vec![
        relay.verdict(1, &code(9), false),
        relay.verdict(0, &code(9), true),
    ]);
    assert_eq!(
        pvf_check::active(&mut relay.state()).unwrap(),
        vec![code(9).hash()]
    );
    let from_this_check = relay.verdict(2, &code(9), false);
    let events = relay.votes(vec![relay.verdict(3, &code(9), false)]);
    assert!(events.contains(&paras::Event::PvfCheckRejected {
        code_hash: code(9).hash(),
        paras: vec![PARA],
    }));
    let mut state = relay.state();
    let info = paras::PARAS.get(&mut state, &PARA).unwrap().unwrap();
    assert_eq!((info.code_hash, info.pending), (code(1).hash(), None));
    assert_eq!(
        paras::PARA_UPGRADE_CHECKS.get(&mut state, &PARA).unwrap(),
        None
    );
    assert_eq!(
        paras::code(&mut state, &code(9).hash()).unwrap(),
        None,
        "its code released"
    );
    assert_eq!(pvf_check::active(&mut state).unwrap(), vec![]);

    // The para may send the same code again: a new check, where a verdict signed for the
    // last one does not count.
    include_code_for_check(&mut relay, vec![1, 2], code(9));
    assert_eq!(
        paras::PARA_UPGRADE_CHECKS
            .get(&mut relay.state(), &PARA)
            .unwrap(),
        Some(code(9).hash())
    );
    assert_eq!(
        relay.block(vec![relay.enter_all(
            vec![],
            vec![],
            vec![],
            vec![from_this_check]
        )]),
        Err(pvf_refused(pvf_check::Error::BadSignature))
    );
}

#[test]
fn a_check_undecided_for_its_time_to_live_is_rejected() {
    let mut relay = Relay::new();
    include_code_for_check(&mut relay, vec![1, 1], code(9));
    let started = relay.head.number;
    relay.votes(vec![relay.verdict(0, &code(9), true)]);
    while relay.head.number + 1 < started + PRECHECK_TTL {
        assert!(relay.votes(vec![]).is_empty());
    }
    let events = relay.votes(vec![]);
    assert_eq!(
        events,
        vec![paras::Event::PvfCheckRejected {
            code_hash: code(9).hash(),
            paras: vec![PARA],
        }]
    );
    assert_eq!(relay.head.number, started + PRECHECK_TTL);
}

#[test]
fn code_the_chain_stores_already_is_checked_like_any_other() {
    let mut relay = Relay::new();
    // OTHER's code, registered in genesis: no validator voted on it.
    include_code_for_check(&mut relay, vec![1, 1], code(2));
    let mut state = relay.state();
    assert_eq!(pvf_check::active(&mut state).unwrap(), vec![code(2).hash()]);
    let info = paras::PARAS.get(&mut state, &PARA).unwrap().unwrap();
    assert_eq!(info.pending, None);
    relay.accept(&code(2));
    assert_eq!(
        paras::CODE_REFS
            .get(&mut relay.state(), &code(2).hash())
            .unwrap(),
        Some(2),
        "one for OTHER, one for PARA's upgrade"
    );
}

#[test]
fn root_replaces_an_upgrade_under_check() {
    let mut relay = Relay::new();
    include_code_for_check(&mut relay, vec![1, 1], code(9));
    relay.root_schedules_upgrade(code(12));
    let mut state = relay.state();
    let info = paras::PARAS.get(&mut state, &PARA).unwrap().unwrap();
    assert_eq!(info.pending.unwrap().code_hash, code(12).hash());
    assert_eq!(
        paras::PARA_UPGRADE_CHECKS.get(&mut state, &PARA).unwrap(),
        None
    );
    assert_eq!(
        pvf_check::active(&mut state).unwrap(),
        vec![],
        "its only para withdrew"
    );
    assert_eq!(paras::code(&mut state, &code(9).hash()).unwrap(), None);
    // A late verdict on it is refused.
    assert_eq!(
        relay.block(vec![relay.enter_all(
            vec![],
            vec![],
            vec![],
            vec![relay.verdict(0, &code(9), true)]
        )]),
        Err(pvf_refused(pvf_check::Error::NotUnderCheck))
    );
}

fn pvf_refused(error: pvf_check::Error) -> InvalidTransaction {
    InvalidTransaction::InherentFailed(tessera_relay_chain::dispatch_error(error))
}

#[test]
fn an_author_cannot_slip_in_bad_verdicts() {
    let mut relay = Relay::new();
    include_code_for_check(&mut relay, vec![1, 1], code(9));
    relay.votes(vec![relay.verdict(0, &code(9), true)]);
    let mut bad_signature = relay.verdict(1, &code(9), true);
    bad_signature.accept = false;
    let mut other_session = relay.verdict(1, &code(9), true);
    other_session.session += 1;
    let mut unknown = relay.verdict(1, &code(9), true);
    unknown.validator = 4;
    let cases = [
        (
            pvf_check::Error::DoubleVote,
            vec![relay.verdict(0, &code(9), false)],
        ),
        (
            pvf_check::Error::DoubleVote,
            vec![
                relay.verdict(2, &code(9), true),
                relay.verdict(2, &code(9), true),
            ],
        ),
        (pvf_check::Error::BadSignature, vec![bad_signature]),
        (pvf_check::Error::WrongSession, vec![other_session]),
        (pvf_check::Error::UnknownValidator, vec![unknown]),
        (
            pvf_check::Error::NotUnderCheck,
            vec![relay.verdict(1, &code(10), true)],
        ),
        (
            pvf_check::Error::TooManyStatements,
            vec![relay.verdict(1, &code(9), true); pvf_check::MAX_STATEMENTS_PER_BLOCK + 1],
        ),
    ];
    for (name, statements) in cases {
        assert_eq!(
            relay.block(vec![relay.enter_all(vec![], vec![], vec![], statements)]),
            Err(pvf_refused(name)),
            "{name:?}"
        );
    }
    // None of them counted.
    let check = pvf_check::PRECHECKS
        .get(&mut relay.state(), &code(9).hash())
        .unwrap()
        .unwrap();
    assert_eq!(check.votes, vec![Some(true), None, None, None]);
}

#[test]
fn new_code_that_cannot_be_scheduled_is_refused_and_its_candidate_included() {
    let mut relay = Relay::new();
    let with_code = |relay: &Relay, head: Vec<u8>, byte: u8| {
        let mut candidate = relay.candidate(PARA, head);
        candidate.commitments.new_validation_code = Some(code(byte));
        let candidate = signed(candidate.descriptor, candidate.commitments);
        relay.backed(candidate, &relay.group(PARA))
    };
    let all = |relay: &Relay| -> Vec<SignedBitfield> {
        (0..4)
            .map(|v| relay.bitfield(v, bits(true, false)))
            .collect()
    };
    let first = with_code(&relay, vec![1, 1], 9);
    relay.block(vec![relay.enter(vec![], vec![first])]).unwrap();

    // Made on the pending candidate before its upgrade was scheduled: backed when the first is
    // included and schedules its own, then included with its code refused (dropping it would
    // have its collator build the same block again).
    let second = with_code(&relay, vec![1, 2], 10);
    let second_hash = second.candidate.hash();
    relay
        .block(vec![relay.enter(all(&relay), vec![second])])
        .unwrap();
    assert_eq!(relay.pending(PARA).map(|p| p.hash), Some(second_hash));
    let events = relay.block(vec![relay.enter(all(&relay), vec![])]).unwrap();
    assert!(events.contains(&inclusion::Event::CodeUpgradeRefused {
        para: PARA,
        candidate_hash: second_hash,
        reason: "an upgrade is already pending".into(),
    }));
    assert_eq!(relay.head_of(PARA), HeadData(vec![1, 2]));
    relay.accept(&code(9));
    let info = paras::PARAS
        .get(&mut relay.state(), &PARA)
        .unwrap()
        .unwrap();
    assert_eq!(info.pending.unwrap().code_hash, code(9).hash());

    // Once the upgrade is done (the para's block built on a relay parent at or after its block
    // is included), a candidate with new code is backed; root schedules another upgrade
    // before it is included: the candidate is included, its code refused.
    relay.switch_para_to(code(9), vec![1, 21]);
    let third = with_code(&relay, vec![1, 3], 11);
    assert_eq!(
        third.candidate.descriptor.validation_code_hash,
        code(9).hash()
    );
    let third_hash = third.candidate.hash();
    relay.block(vec![relay.enter(vec![], vec![third])]).unwrap();
    relay.root_schedules_upgrade(code(12));
    let events = relay.block(vec![relay.enter(all(&relay), vec![])]).unwrap();
    assert_eq!(relay.head_of(PARA), HeadData(vec![1, 3]));
    assert!(events.contains(&inclusion::Event::CodeUpgradeRefused {
        para: PARA,
        candidate_hash: third_hash,
        reason: "an upgrade is already pending".into(),
    }));
    let info = paras::PARAS
        .get(&mut relay.state(), &PARA)
        .unwrap()
        .unwrap();
    assert_eq!(info.pending.unwrap().code_hash, code(12).hash());
}

#[test]
fn the_paras_own_upgrade_is_enacted_with_its_first_block_built_on_or_after_the_upgrade_block() {
    let mut relay = Relay::new();
    relay.include_with_code(vec![1, 1], code(9));
    let upgrade = paras::PARA_UPGRADES
        .get(&mut relay.state(), &PARA)
        .unwrap()
        .expect("listed for the para to read");
    assert_eq!(upgrade.code_hash, code(9).hash());
    while relay.head.number < upgrade.at {
        relay.block(vec![relay.enter(vec![], vec![])]).unwrap();
    }
    // Past its block, the code stays until the para's block that switched is included: that
    // block is validated with the old code, and the next one, built on it while it is
    // pending, with the new.
    let switching = relay.candidate(PARA, vec![1, 2]);
    assert_eq!(switching.descriptor.validation_code_hash, code(1).hash());
    let backed = relay.backed(switching, &relay.group(PARA));
    relay
        .block(vec![relay.enter(vec![], vec![backed])])
        .unwrap();
    let on_pending = relay.candidate(PARA, vec![1, 3]);
    assert_eq!(on_pending.descriptor.validation_code_hash, code(9).hash());
    let backed = relay.backed(on_pending, &relay.group(PARA));
    relay
        .block(vec![relay.enter(relay.all_hold_para(), vec![backed])])
        .unwrap();
    assert_eq!(relay.head_of(PARA), HeadData(vec![1, 2]));
    assert!(relay.pending(PARA).is_some(), "backed with the new code");
    let mut state = relay.state();
    let info = paras::PARAS.get(&mut state, &PARA).unwrap().unwrap();
    assert_eq!((info.code_hash, info.pending), (code(9).hash(), None));
    assert_eq!(paras::PARA_UPGRADES.get(&mut state, &PARA).unwrap(), None);
    assert_eq!(
        paras::CODE_REFS.get(&mut state, &code(1).hash()).unwrap(),
        None
    );
}

#[test]
fn root_replaces_an_upgrade_a_stalled_para_never_switched_to() {
    let mut relay = Relay::new();
    relay.include_with_code(vec![1, 1], code(9));
    relay.root_schedules_upgrade(code(12));
    let mut state = relay.state();
    let info = paras::PARAS.get(&mut state, &PARA).unwrap().unwrap();
    assert_eq!(info.pending.unwrap().code_hash, code(12).hash());
    assert_eq!(paras::PARA_UPGRADES.get(&mut state, &PARA).unwrap(), None);
    assert_eq!(
        paras::CODE_REFS.get(&mut state, &code(9).hash()).unwrap(),
        None
    );
}

/// A concluded dispute about `candidate` with the votes of `valid` (valid) and `invalid`.
fn dispute(
    relay: &Relay,
    candidate: Hash,
    outcome: bool,
    valid: &[u32],
    invalid: &[u32],
) -> DisputeStatementSet {
    let mut votes: Vec<DisputeVote> = valid
        .iter()
        .map(|v| (*v, true))
        .chain(invalid.iter().map(|v| (*v, false)))
        .map(|(validator, valid)| DisputeVote {
            candidate,
            session: disputes::GENESIS_SESSION,
            valid,
            validator,
            kind: VoteKind::Explicit,
            signature: relay.validators[validator as usize].sign(&dispute_payload(
                &candidate,
                disputes::GENESIS_SESSION,
                valid,
            )),
        })
        .collect();
    votes.sort_by_key(|vote| (vote.validator, vote.kind));
    DisputeStatementSet {
        candidate,
        session: disputes::GENESIS_SESSION,
        valid: outcome,
        votes,
    }
}

#[test]
fn no_more_than_the_byzantine_threshold_is_disabled_and_every_offence_is_recorded() {
    let mut relay = Relay::new();
    // Four validators tolerate one fault: the first offender is disabled, the second only
    // recorded.
    let first = dispute(&relay, Hash([1; 32]), false, &[0], &[1, 2, 3]);
    let second = dispute(&relay, Hash([2; 32]), false, &[1], &[0, 2, 3]);
    relay
        .block(vec![relay.enter_with(vec![], vec![], vec![first, second])])
        .unwrap();
    let mut state = relay.state();
    assert_eq!(disputes::max_disabled(4), 1);
    assert_eq!(disputes::disabled(&mut state).unwrap(), vec![0]);
    for validator in [0, 1] {
        assert_eq!(
            disputes::OFFENCES
                .get(&mut state, &relay.validators[validator].public())
                .unwrap(),
            Some(OffenceCount {
                backed_invalid: 1,
                disputed_valid: 0
            })
        );
    }
}

#[test]
fn a_candidate_concluded_invalid_is_never_backed_again() {
    let mut relay = Relay::new();
    let candidate = relay.candidate(PARA, vec![1, 1]);
    // Every vote says invalid, so nobody is disabled: the refusal is about the candidate.
    // Disputes are recorded first, so one in the same inherent refuses the candidate too.
    let set = dispute(&relay, candidate.hash(), false, &[], &[0, 1, 2, 3]);
    let group = relay.group(PARA);
    let backed = relay.backed(candidate, &group);
    assert_eq!(
        relay.block(vec![relay.enter_with(vec![], vec![backed], vec![set])]),
        Err(failed(inclusion::Error::ConcludedInvalid))
    );
}

#[test]
fn a_pending_candidate_concluded_invalid_is_dropped_and_its_core_freed() {
    let mut relay = Relay::new();
    let group = relay.group(PARA);
    let candidate = relay.candidate(PARA, vec![1, 1]);
    let hash = candidate.hash();
    relay
        .block(vec![
            relay.enter(vec![], vec![relay.backed(candidate, &group)])
        ])
        .unwrap();
    let set = dispute(&relay, hash, false, &[], &[0, 1, 2, 3]);
    let events = relay
        .block(vec![relay.enter_with(vec![], vec![], vec![set])])
        .unwrap();
    assert!(events.contains(&inclusion::Event::CandidateInvalidated {
        para: PARA,
        candidate_hash: hash
    }));
    // The core is free. Its backers answer for what they backed, though they voted invalid in
    // the end (as on Polkadot, where backing an invalid candidate is slashed whatever follows).
    assert!(relay.pending(PARA).is_none());
    assert!(events.contains(&inclusion::Event::ValidatorOffence {
        validator: group[0],
        candidate_hash: hash,
        offence: Offence::BackedInvalid
    }));
}

#[test]
fn a_concluded_dispute_is_recorded_its_losing_side_disabled_and_their_statements_and_bitfields_ignored(
) {
    let mut relay = Relay::new();
    let candidate = Hash([7; 32]);
    // Validator 0 said valid; 1, 2 and 3 say invalid: three of four are more than two thirds.
    let set = dispute(&relay, candidate, false, &[0], &[1, 2, 3]);
    let events = relay
        .block(vec![relay.enter_with(vec![], vec![], vec![set.clone()])])
        .unwrap();
    assert_eq!(
        events,
        vec![
            inclusion::Event::DisputeConcluded {
                candidate_hash: candidate,
                valid: false
            },
            inclusion::Event::ValidatorOffence {
                validator: 0,
                candidate_hash: candidate,
                offence: Offence::BackedInvalid
            },
        ]
    );
    let mut state = relay.state();
    assert_eq!(disputes::disabled(&mut state).unwrap(), vec![0]);
    assert_eq!(
        disputes::OFFENCES
            .get(&mut state, &relay.validators[0].public())
            .unwrap(),
        Some(OffenceCount {
            backed_invalid: 1,
            disputed_valid: 0
        })
    );
    drop(state);
    // The same dispute again is refused.
    assert_eq!(
        relay.block(vec![relay.enter_with(vec![], vec![], vec![set])]),
        Err(InvalidTransaction::InherentFailed(
            tessera_relay_chain::dispatch_error(disputes::Error::DisputeAlreadyRecorded)
        ))
    );

    // Validator 0's statements no longer back anything, and its bitfield no longer counts.
    let para = if relay.group(PARA).contains(&0) {
        PARA
    } else {
        OTHER
    };
    let group = relay.group(para);
    let backed = relay.backed(relay.candidate(para, vec![9, 9]), &group);
    assert_eq!(
        relay.block(vec![relay.enter(vec![], vec![backed])]),
        Err(failed(inclusion::Error::DisabledBacker))
    );
    let other = if para == PARA { OTHER } else { PARA };
    let group = relay.group(other);
    let head = if other == PARA {
        vec![1, 1]
    } else {
        vec![2, 1]
    };
    let backed = relay.backed(relay.candidate(other, head), &group);
    relay
        .block(vec![relay.enter(vec![], vec![backed])])
        .unwrap();
    let core = if other == PARA {
        bits(true, false)
    } else {
        bits(false, true)
    };
    // Validators 0, 1 and 2 sign: without 0, two of four is not more than two thirds.
    let signed: Vec<_> = (0..3).map(|v| relay.bitfield(v, core.clone())).collect();
    relay.block(vec![relay.enter(signed, vec![])]).unwrap();
    assert!(
        relay.pending(other).is_some(),
        "the disabled bitfield did not count"
    );
}

/// `backed`'s statements as dispute votes.
fn backing_votes(backed: &BackedCandidate) -> Vec<DisputeVote> {
    backed
        .votes
        .iter()
        .map(|vote| DisputeVote {
            candidate: backed.candidate.hash(),
            session: disputes::GENESIS_SESSION,
            valid: true,
            validator: vote.validator,
            kind: VoteKind::Backing,
            signature: vote.signature,
        })
        .collect()
}

#[test]
fn a_backer_answers_for_its_backing_statement_whether_it_votes_or_the_set_carries_it() {
    for with_statements in [true, false] {
        let mut relay = Relay::new();
        let group = relay.group(PARA);
        let backed = relay.backed(relay.candidate(PARA, vec![1, 1]), &group);
        let hash = backed.candidate.hash();
        relay
            .block(vec![relay.enter(vec![], vec![backed.clone()])])
            .unwrap();
        // The first backer stays silent; the second votes invalid with the other two, as if
        // to change sides. The set carries their backing statements, or (an author sparing
        // them) not: the chain kept who backed.
        let others: Vec<u32> = (0..4).filter(|v| !group.contains(v)).collect();
        let mut set = dispute(&relay, hash, false, &[], &[group[1], others[0], others[1]]);
        if with_statements {
            set.votes.extend(backing_votes(&backed));
            set.votes.sort_by_key(|vote| (vote.validator, vote.kind));
        }
        let events = relay
            .block(vec![relay.enter_with(vec![], vec![], vec![set])])
            .unwrap();
        for backer in &group {
            assert!(events.contains(&inclusion::Event::ValidatorOffence {
                validator: *backer,
                candidate_hash: hash,
                offence: Offence::BackedInvalid
            }));
            let stash = relay.validators[*backer as usize].public();
            let count = disputes::OFFENCES.get(&mut relay.state(), &stash).unwrap();
            assert_eq!(
                count.map(|c| c.backed_invalid),
                Some(1),
                "{with_statements}"
            );
        }
        assert!(events.contains(&inclusion::Event::CandidateInvalidated {
            para: PARA,
            candidate_hash: hash
        }));
    }
}

#[test]
fn a_dispute_that_concluded_valid_names_those_who_said_invalid() {
    let mut relay = Relay::new();
    let candidate = Hash([8; 32]);
    let set = dispute(&relay, candidate, true, &[0, 1, 3], &[2]);
    let events = relay
        .block(vec![relay.enter_with(vec![], vec![], vec![set])])
        .unwrap();
    assert!(events.contains(&inclusion::Event::ValidatorOffence {
        validator: 2,
        candidate_hash: candidate,
        offence: Offence::DisputedValid
    }));
    assert_eq!(disputes::disabled(&mut relay.state()).unwrap(), vec![2]);
}

#[test]
fn a_dispute_set_that_is_forged_unfinished_or_out_of_order_fails_the_inherent() {
    let mut relay = Relay::new();
    let candidate = Hash([9; 32]);
    let refused = |error: disputes::Error| {
        Err(InvalidTransaction::InherentFailed(
            tessera_relay_chain::dispatch_error(error),
        ))
    };
    let cases: Vec<(DisputeStatementSet, disputes::Error)> = vec![
        // Two of four is not more than two thirds.
        (
            dispute(&relay, candidate, true, &[0, 1], &[2]),
            disputes::Error::DisputeNotConcluded,
        ),
        (
            {
                let mut set = dispute(&relay, candidate, true, &[0, 1, 2], &[]);
                set.votes[2].signature = set.votes[1].signature;
                set
            },
            disputes::Error::DisputeBadSignature,
        ),
        (
            {
                let mut set = dispute(&relay, candidate, true, &[0, 1, 2], &[]);
                set.votes.swap(0, 1);
                set
            },
            disputes::Error::DisputeVotesNotAscending,
        ),
        (
            {
                let mut set = dispute(&relay, candidate, true, &[0, 1, 2], &[]);
                set.votes[2].validator = 7;
                set
            },
            disputes::Error::DisputeUnknownValidator,
        ),
        (
            {
                let mut set = dispute(&relay, candidate, true, &[0, 1, 2], &[]);
                set.session = 5;
                set
            },
            disputes::Error::DisputeWrongSession,
        ),
        (
            {
                let mut set = dispute(&relay, candidate, true, &[0, 1, 2], &[]);
                set.votes[1].candidate = Hash([1; 32]);
                set
            },
            disputes::Error::DisputeVoteForAnotherDispute,
        ),
        (
            {
                // A backing statement says valid, never invalid.
                let mut set = dispute(&relay, candidate, false, &[], &[0, 1, 2]);
                set.votes[0].kind = VoteKind::Backing;
                set
            },
            disputes::Error::DisputeInvalidBacking,
        ),
        (
            {
                // One statement per validator and kind.
                let mut set = dispute(&relay, candidate, true, &[0, 1, 2], &[]);
                let again = set.votes[0].clone();
                set.votes.insert(1, again);
                set
            },
            disputes::Error::DisputeVotesNotAscending,
        ),
        (
            // Nobody's own vote says invalid: no dispute.
            dispute(&relay, candidate, true, &[0, 1, 2], &[]),
            disputes::Error::DisputeWithoutInvalidVote,
        ),
        (
            {
                // Backing statements of 0, 1 and 2 and invalid votes of 1, 2 and 3: more than
                // two thirds each way.
                let mut set = dispute(&relay, candidate, false, &[], &[1, 2, 3]);
                set.votes.extend((0..3).map(|validator| DisputeVote {
                    candidate,
                    session: disputes::GENESIS_SESSION,
                    valid: true,
                    validator,
                    kind: VoteKind::Backing,
                    signature:
                        relay.validators[validator as usize].sign(&statement_payload(&candidate)),
                }));
                set.votes.sort_by_key(|vote| (vote.validator, vote.kind));
                set
            },
            disputes::Error::DisputeBothWays,
        ),
        (
            {
                // An explicit vote relabelled as a backing statement.
                let mut set = dispute(&relay, candidate, true, &[0, 1, 2], &[3]);
                set.votes[0].kind = VoteKind::Backing;
                set
            },
            disputes::Error::DisputeBadSignature,
        ),
    ];
    for (set, name) in cases {
        assert_eq!(
            relay.block(vec![relay.enter_with(vec![], vec![], vec![set])]),
            refused(name),
            "{name:?}"
        );
    }
    assert!(disputes::disabled(&mut relay.state()).unwrap().is_empty());
}

#[test]
fn the_runtime_makes_the_inherent_from_what_the_author_offers_leaving_out_what_it_would_refuse() {
    use tessera_relay_chain::runtime_api::{create_inherent, InherentOffer};
    let mut relay = Relay::new();
    let group = relay.group(PARA);
    let outsider = (0..4).find(|v| !group.contains(v)).unwrap();
    let good = relay.candidate(PARA, vec![1, 1]);
    let forged = relay.backed(good.clone(), &[group[0], outsider]);
    let other = relay.backed(relay.candidate(OTHER, vec![2, 1]), &relay.group(OTHER));
    let offer = InherentOffer {
        parent_header: relay.head.clone(),
        bitfields: vec![],
        // The forged backing first: the runtime takes the next candidate of the para.
        backable: vec![
            forged.clone(),
            relay.backed(good.clone(), &group),
            other.clone(),
        ],
        disputes: vec![],
        // A verdict on code under no check fails the inherent: the verdicts are dropped.
        pvf_checks: vec![relay.verdict(0, &code(9), true)],
        max_commitment_bytes: u32::MAX,
    };
    let created = create_inherent(
        State::new(&relay.nodes, relay.head.state_root),
        offer.clone(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(
        created.left_out,
        vec![(
            forged.candidate.hash(),
            failed_call(inclusion::Error::NotInBackingGroup).to_string()
        )]
    );
    assert_eq!(created.dropped.len(), 1);
    assert!(
        created.dropped[0].contains("NotUnderCheck"),
        "{:?}",
        created.dropped
    );
    let inclusion::Call::Enter {
        backed, pvf_checks, ..
    } = created.call.clone();
    assert_eq!(
        backed
            .iter()
            .map(|b| b.candidate.hash())
            .collect::<Vec<_>>(),
        vec![good.hash(), other.candidate.hash()]
    );
    assert!(pvf_checks.is_empty());
    // What it made is a valid inherent.
    let inherent = Extrinsic::<Call> {
        signature: None,
        call: Call::ParaInclusion(created.call),
    };
    let events = relay.block(vec![inherent.to_opaque()]).unwrap();
    assert_eq!(
        events
            .iter()
            .filter(|e| matches!(e, inclusion::Event::CandidateBacked { .. }))
            .count(),
        2
    );

    // A budget for one candidate's commitments takes the first.
    let tight = InherentOffer {
        parent_header: relay.head.clone(),
        backable: vec![],
        ..offer
    };
    let size = parity_scale_codec::Encode::encoded_size(&good.commitments) as u32;
    let with_budget = |relay: &Relay, backable| {
        let offer = InherentOffer {
            parent_header: relay.head.clone(),
            backable,
            pvf_checks: vec![],
            max_commitment_bytes: size,
            ..tight.clone()
        };
        create_inherent(State::new(&relay.nodes, relay.head.state_root), offer)
            .unwrap()
            .unwrap()
    };
    let fresh = Relay::new();
    let created = with_budget(
        &fresh,
        vec![
            fresh.backed(fresh.candidate(PARA, vec![1, 1]), &fresh.group(PARA)),
            fresh.backed(fresh.candidate(OTHER, vec![2, 1]), &fresh.group(OTHER)),
        ],
    );
    let inclusion::Call::Enter { backed, .. } = created.call;
    assert_eq!(backed.len(), 1);
    assert_eq!(created.left_out.len(), 1);
    assert_eq!(created.left_out[0].1, "over the block's commitment budget");
}

fn failed_call(error: inclusion::Error) -> tessera_runtime::dispatch::CallError {
    tessera_relay_chain::dispatch_error(error).into()
}
