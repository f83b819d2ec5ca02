//! Four validators in one process run the parachain protocol by hand-carried messages: a
//! collator's candidates are backed, made available chunk by chunk, included by block authors,
//! and the para's head advances on the relay chain; a dishonest collator gets nothing backed;
//! two collators take turns and a para full node follows both.

use crate::validation::Para;
use parachain_template_runtime::{self as template, GenesisConfig, WASM_BINARY};
use parity_scale_codec::{Decode, Encode};
use std::sync::Arc;
use tessera_consensus::AuthorityKey;
use tessera_node::client::Client;
use tessera_node::collation::{collate, Collation, CollationInput};
use tessera_node::parachains::chain::{FollowError, ParaView, TxEvent};
use tessera_node::parachains::collator::Collate;
use tessera_node::parachains::pvf_check::{self, PvfChecks};
use tessera_node::parachains::{
    relay_api, BackingError, CollationOutcome, Collator, ParaChain, ParachainError, ParachainHost,
};
use tessera_node::pool::Pool;
use tessera_node::store::{MemoryDb, RocksDb};
use tessera_node::validation::{InvalidCandidate, ValidationHost, ValidationLimits};
use tessera_relay_chain::paras::{self, HeadData, ParaId};
use tessera_relay_chain::runtime_api::CandidateEvent;
use tessera_relay_chain::{inclusion, messaging};
use tessera_relay_chain::{ChainSpec, GenesisPara, HexBytes};
use tessera_runtime::crypto::Pair;
use tessera_runtime::parachain::{BlockData, ParachainBlockData, ValidationParams};
use tessera_runtime::state::State;
use tessera_runtime::{Header, OpaqueExtrinsic};

const PARA: ParaId = ParaId(1000);
const NAMES: [&str; 4] = ["Alice", "Bob", "Charlie", "Dave"];

struct Network {
    clients: Vec<Client>,
    hosts: Vec<ParachainHost>,
    validation: Arc<ValidationHost>,
}

impl Network {
    fn new() -> Self {
        let mut spec = ChainSpec::dev_with_validators(NAMES.len());
        let head = GenesisConfig::dev(PARA)
            .head::<template::TemplateRuntime>()
            .unwrap();
        spec.genesis.paras.push(GenesisPara {
            id: PARA.0,
            head: HexBytes(head.0),
            code: HexBytes(WASM_BINARY.to_vec()),
        });
        let genesis = spec.build_genesis().unwrap();
        let validation = Arc::new(ValidationHost::new(ValidationLimits::default()).unwrap());
        let mut clients = Vec::new();
        let mut hosts = Vec::new();
        for name in NAMES {
            let key = AuthorityKey::from_pair(&Pair::dev(name));
            let mut client = Client::open(Box::new(MemoryDb::default()), &genesis).unwrap();
            client.set_author(key.clone()).unwrap();
            clients.push(client);
            hosts.push(ParachainHost::new(Some(key), validation.clone()));
        }
        Network {
            clients,
            hosts,
            validation,
        }
    }

    fn best(&self) -> Header {
        self.clients[0].best_header().unwrap()
    }

    fn read<T>(&self, read: impl FnOnce(&mut State<'_>) -> T) -> T {
        let best = self.best();
        read(&mut State::new(self.clients[0].store(), best.state_root))
    }

    fn included_head(&self) -> HeadData {
        self.read(|state| inclusion::included_head(state, PARA).unwrap().unwrap())
    }

    fn core_free(&self) -> bool {
        self.read(|state| inclusion::PENDING.get(state, &PARA).unwrap().is_none())
    }

    /// Gives `collation` to every validator and their statements to every validator; how many
    /// seconded it, or the first refusal.
    fn collate(&mut self, collation: &Collation) -> Result<usize, ParachainError> {
        self.collate_by(collation, NAMES.len())
    }

    /// [`Self::collate`], with only the first `checkers` validators checking the collation
    /// (the others never hold its chunks unless they fetch them).
    fn collate_by(
        &mut self,
        collation: &Collation,
        checkers: usize,
    ) -> Result<usize, ParachainError> {
        let mut statements = Vec::new();
        let checking = self.hosts.iter_mut().zip(&self.clients).take(checkers);
        for (host, client) in checking {
            if let CollationOutcome::Seconded(statement) = host.on_collation(client, collation)? {
                statements.push(*statement);
            }
        }
        for (host, client) in self.hosts.iter_mut().zip(&self.clients) {
            for statement in &statements {
                host.on_statement(client, statement.clone()).unwrap();
            }
        }
        Ok(statements.len())
    }

    /// Each validator fetches its missing chunks from whoever holds them, then everyone
    /// signs a bitfield on the best block and hears everyone else's.
    fn availability(&mut self) {
        let best = self.best().hash();
        for me in 0..self.hosts.len() {
            let missing = self.hosts[me]
                .missing_chunks(&self.clients[me], &best)
                .unwrap();
            for wanted in missing {
                let found = self.clients.iter().find_map(|client| {
                    ParachainHost::chunk(client, &wanted.candidate_hash, wanted.index)
                });
                if let Some(chunk) = found {
                    self.hosts[me]
                        .on_chunk(&self.clients[me], &wanted, chunk)
                        .unwrap();
                }
            }
        }
        let bitfields: Vec<_> = self
            .hosts
            .iter()
            .zip(&self.clients)
            .filter_map(|(host, client)| host.bitfield(client, &best).unwrap())
            .collect();
        for (host, client) in self.hosts.iter_mut().zip(&self.clients) {
            for bitfield in &bitfields {
                host.on_bitfield(client, best, bitfield.clone()).unwrap();
            }
        }
    }

    /// The validator that may claim the next slot authors with its inherent; all import.
    fn author(&mut self) -> Header {
        self.author_with(vec![])
    }

    /// [`Self::author`], with `extrinsics` after the inherent.
    fn author_with(&mut self, extrinsics: Vec<OpaqueExtrinsic>) -> Header {
        let parent = self.best();
        for author in 0..self.clients.len() {
            let inherent = self.hosts[author]
                .inherent(&self.clients[author], &parent)
                .unwrap();
            let mut pool = Pool::default();
            for xt in &extrinsics {
                self.clients[author].submit(&mut pool, xt.clone()).unwrap();
            }
            let Ok(authored) = self.clients[author].author_next_with(&mut pool, vec![inherent])
            else {
                continue;
            };
            assert_eq!(
                authored.block.extrinsics.len(),
                1 + extrinsics.len(),
                "the inherent and the extrinsics are in"
            );
            for (other, client) in self.clients.iter_mut().enumerate() {
                if other != author {
                    client.import_block(&authored.block).unwrap();
                }
            }
            return authored.block.header;
        }
        panic!("nobody could author after #{}", parent.number);
    }
}

/// What an honest collator signs for `data` on the relay's best block.
fn input_for(network: &Network, data: &ParachainBlockData) -> CollationInput {
    let best = network.best();
    let (validation_data, code_hash) = network.read(|state| {
        let pvd = inclusion::persisted_validation_data(state, PARA, &best)
            .unwrap()
            .unwrap();
        let code = paras::para_at(state, PARA, best.number + 1)
            .unwrap()
            .unwrap();
        (pvd, code.code_hash)
    });
    let commitments = template::validate(ValidationParams {
        parent_head: validation_data.parent_head.clone(),
        block_data: BlockData(data.encode()),
        relay_parent_number: validation_data.relay_parent_number,
        relay_parent_storage_root: validation_data.relay_parent_storage_root,
    })
    .unwrap();
    CollationInput {
        para: PARA,
        relay_parent: best.hash(),
        validation_data,
        block_data: BlockData(data.encode()),
        code_hash,
        commitments,
        validators: NAMES.len(),
    }
}

/// The honest collator's candidate of its next block on the relay's best block.
fn honest(network: &Network, para: &mut Para, transfers: usize) -> (Collation, Header) {
    let best = network.best();
    // As a collator reads them: the messages through the relay runtime.
    let inputs = relay_api::relay_inputs(&network.clients[0], &best, PARA).unwrap();
    let (data, _) = para.next_on(inputs, transfers);
    let input = input_for(network, &data);
    assert_eq!(
        input.validation_data.parent_head,
        HeadData(para.head.encode())
    );
    let collation = collate(&Pair::dev("Ferdie"), input).unwrap();
    (collation, data.block.header)
}

#[test]
fn candidates_are_backed_made_available_and_included_so_the_para_advances() {
    let mut network = Network::new();
    let mut para = Para::new();
    let genesis_head = network.included_head();
    let mut included = Vec::new();
    let mut waiting: Option<(Header, tessera_runtime::parachain::ParachainBlockData)> = None;
    for _ in 0..12 {
        if network.core_free() && waiting.is_none() {
            let (collation, header) = honest(&network, &mut para, 5);
            let seconded = network.collate(&collation).unwrap();
            assert!(seconded >= 2, "the backing group seconds it: {seconded}");
            let data =
                parity_scale_codec::Decode::decode(&mut &collation.pov.block_data.0[..]).unwrap();
            waiting = Some((header, data));
        }
        network.availability();
        network.author();
        let head = network.included_head();
        if let Some((header, data)) = waiting.take_if(|(h, _)| HeadData(h.encode()) == head) {
            para.apply(&data);
            included.push(header.number);
            // The relay block that included it says so through its runtime.
            let best = network.best().hash();
            let events = network.clients[0].candidate_events(&best).unwrap();
            assert!(
                events
                    .iter()
                    .any(|event| matches!(event, CandidateEvent::Included { para: PARA, .. })),
                "{events:?}"
            );
        }
    }
    assert_ne!(network.included_head(), genesis_head);
    assert!(included.len() >= 3, "para blocks included: {included:?}");
    assert_eq!(included, (1..=included.len() as u32).collect::<Vec<_>>());
    // Every validator agrees on the head.
    let heads: Vec<_> = network
        .clients
        .iter()
        .map(|c| c.best_header().unwrap().hash())
        .collect();
    assert!(heads.windows(2).all(|w| w[0] == w[1]));
}

#[test]
fn a_dishonest_collator_gets_nothing_backed_while_an_honest_one_goes_on() {
    let mut network = Network::new();
    let mut para = Para::new();
    let inputs =
        messaging::relay_inputs(network.clients[0].store(), &network.best(), PARA).unwrap();
    let (data, _) = Para::new().next_on(inputs, 3);
    // Claims the head of `block` for `block`, as a collator that lies about validity would.
    let claiming = |mut input: CollationInput, block: &ParachainBlockData| {
        input.block_data = BlockData(block.encode());
        input.commitments.head_data = HeadData(block.block.header.encode());
        input
    };
    let mut bad_root = data.clone();
    bad_root.block.header.state_root = tessera_runtime::Hash([1; 32]);
    let mut forged = data.clone();
    let xt = &mut forged.block.extrinsics[0].0;
    let at = xt.len() - 10;
    xt[at] ^= 0xff;
    forged.block.header.extrinsics_root =
        tessera_runtime::block::extrinsics_root(&forged.block.extrinsics);
    let honest_input = input_for(&network, &data);
    let dishonest: Vec<(&str, CollationInput)> = vec![
        ("bad state root", claiming(honest_input.clone(), &bad_root)),
        (
            "bad signature inside",
            claiming(honest_input.clone(), &forged),
        ),
        (
            "PoV over the size limit",
            CollationInput {
                block_data: BlockData(vec![0; 5 * 1024 * 1024 + 1]),
                ..honest_input.clone()
            },
        ),
        (
            "wrong code hash",
            CollationInput {
                code_hash: paras::ValidationCode(b"other code".to_vec()).hash(),
                ..honest_input.clone()
            },
        ),
    ];
    for (what, input) in dishonest {
        let collation = collate(&Pair::dev("Mallory"), input).unwrap();
        match network.collate(&collation) {
            Err(ParachainError::Invalid(
                InvalidCandidate::InvalidBlock(_)
                | InvalidCandidate::PoVTooLarge { .. }
                | InvalidCandidate::HashMismatch { .. },
            )) => {}
            other => panic!("{what}: expected a refusal, got {other:?}"),
        }
        network.author();
        assert!(network.core_free(), "{what}: nothing was backed");
    }

    let (good, header) = honest(&network, &mut para, 3);
    assert!(network.collate(&good).unwrap() >= 2);
    let backed_in = network.author();
    assert!(!network.core_free(), "backed, pending availability");
    // Finality must not pass the backing block while the candidate is unavailable.
    let since = tessera_node::parachains::unavailable_since(&network.clients[0], &backed_in);
    assert_eq!(since, Some(backed_in.number));
    network.availability();
    let included_in = network.author();
    assert_eq!(network.included_head(), HeadData(header.encode()));
    let since = tessera_node::parachains::unavailable_since(&network.clients[0], &included_in);
    assert_eq!(since, None);
}

#[test]
fn a_candidate_the_runtime_would_refuse_is_left_out_so_the_inherent_and_other_candidates_go_in() {
    let mut network = Network::new();
    let mut para = Para::new();
    // A backing group that signs what the runtime refuses: a head that is not its data's hash.
    let (first, _) = honest(&network, &mut Para::new(), 2);
    let mut bad = first.candidate.clone();
    bad.descriptor.para_head = tessera_runtime::Hash([9; 32]);
    let payload = inclusion::statement_payload(&bad.hash());
    let mut signed = 0;
    for (index, name) in NAMES.iter().enumerate() {
        let statement = tessera_node::parachains::Statement {
            candidate: bad.clone(),
            vote: inclusion::ValidityVote {
                validator: index as u32,
                signature: Pair::dev(name).sign(&payload),
            },
        };
        let mut taken = false;
        for (host, client) in network.hosts.iter_mut().zip(&network.clients) {
            taken |= host.on_statement(client, statement.clone()).is_ok();
        }
        signed += usize::from(taken);
    }
    assert!(signed >= 2, "the group signed it: {signed}");
    // The author leaves it out; its inherent still goes in (`author` asserts it).
    network.author();
    assert!(network.core_free(), "the refused candidate was not backed");
    // The honest candidate on the next block is backed and included as usual.
    let (good, header) = honest(&network, &mut para, 2);
    assert!(network.collate(&good).unwrap() >= 2);
    network.author();
    network.availability();
    network.author();
    assert_eq!(network.included_head(), HeadData(header.encode()));
}

#[test]
fn a_validator_keeps_few_statements_per_signer_and_refuses_bitfields_of_the_wrong_length() {
    let mut network = Network::new();
    let (collation, _) = honest(&network, &mut Para::new(), 1);
    let best = network.best().hash();
    // A group member signing many fake candidates on one relay parent: 16 are kept.
    let statement = |index: usize, salt: u8| {
        let mut candidate = collation.candidate.clone();
        candidate.commitments.head_data = HeadData(vec![salt; 8]);
        let payload = inclusion::statement_payload(&candidate.hash());
        tessera_node::parachains::Statement {
            candidate,
            vote: inclusion::ValidityVote {
                validator: index as u32,
                signature: Pair::dev(NAMES[index]).sign(&payload),
            },
        }
    };
    let member = (0..NAMES.len())
        .find(|&i| {
            network.hosts[0]
                .on_statement(&network.clients[0], statement(i, 0))
                .is_ok()
        })
        .expect("a member of the para's group");
    // A statement naming a para with no group: its signature is checked first, so junk costs
    // no runtime call; only a validator's signed one gets as far as asking for the group.
    let mut made_up = |signer: usize| {
        let mut made_up = statement(member, 0);
        made_up.candidate.descriptor.para_id = ParaId(4242);
        let payload = inclusion::statement_payload(&made_up.candidate.hash());
        made_up.vote.signature = Pair::dev(NAMES[signer]).sign(&payload);
        network.hosts[0].on_statement(&network.clients[0], made_up)
    };
    let other = (member + 1) % NAMES.len();
    assert!(matches!(
        made_up(other),
        Err(ParachainError::Backing(BackingError::BadSignature(_)))
    ));
    assert!(matches!(
        made_up(member),
        Err(ParachainError::UnknownPara(ParaId(4242)))
    ));
    let limit = tessera_node::parachains::MAX_STATEMENTS_PER_VALIDATOR;
    let results: Vec<_> = (1..limit as u8 + 4)
        .map(|salt| network.hosts[0].on_statement(&network.clients[0], statement(member, salt)))
        .collect();
    let kept = results.iter().filter(|r| r.is_ok()).count();
    assert_eq!(
        kept + 1,
        tessera_node::parachains::MAX_STATEMENTS_PER_VALIDATOR
    );
    assert!(matches!(
        results.last(),
        Some(Err(ParachainError::Backing(
            BackingError::TooManyStatements(_)
        )))
    ));
    // One para, one core: a bitfield of 1,000 bits is refused before its signature is checked.
    let bits = vec![true; 1000];
    let bitfield = inclusion::SignedBitfield {
        validator: 1,
        signature: Pair::dev(NAMES[1]).sign(&inclusion::bitfield_payload(&best, &bits)),
        bits,
    };
    let err = network.hosts[0]
        .on_bitfield(&network.clients[0], best, bitfield)
        .unwrap_err();
    assert!(
        matches!(
            err,
            ParachainError::Backing(BackingError::BadBitfield {
                got: 1000,
                expected: 1
            })
        ),
        "{err}"
    );
}

/// The template's blob with a custom section added: other bytes (another code hash), the same
/// behaviour, as a para's next version would be.
fn upgraded_code() -> Vec<u8> {
    let name = b"tessera-upgrade";
    let payload = b"v2";
    let mut code = WASM_BINARY.to_vec();
    code.push(0); // custom section
    code.push((1 + name.len() + payload.len()) as u8);
    code.push(name.len() as u8);
    code.extend_from_slice(name);
    code.extend_from_slice(payload);
    code
}

#[test]
fn a_code_upgrade_takes_effect_after_its_delay_and_validates_the_following_blocks() {
    use tessera_relay_chain::Call;
    use tessera_runtime::modules::sudo;
    let mut network = Network::new();
    let mut para = Para::new();
    let new_code = paras::ValidationCode(upgraded_code());
    let new_hash = new_code.hash();
    let old_hash = network.read(|state| paras::PARAS.get(state, &PARA).unwrap().unwrap().code_hash);

    // Root schedules the upgrade through sudo.
    let best = network.best();
    let genesis = network.clients[0].info().unwrap().genesis;
    let upgrade = Call::Sudo(sudo::Call::Sudo {
        call: Box::new(Call::Paras(paras::Call::ScheduleCodeUpgrade {
            id: PARA,
            code: new_code.clone(),
        })),
    });
    let xt = tessera_node::workload::sign(&Pair::dev("Alice"), upgrade, 0, genesis, &best);
    let scheduled_in = network.author_with(vec![xt]);
    let at = scheduled_in.number + paras::UPGRADE_DELAY;

    // The para goes on under the old code until the upgrade's block, then under the new.
    let mut included_under = Vec::new();
    while network.best().number < at + 6 {
        if network.core_free() {
            let (collation, header) = honest(&network, &mut para, 2);
            let code_hash = collation.candidate.descriptor.validation_code_hash;
            assert!(network.collate(&collation).unwrap() >= 2);
            network.author();
            network.availability();
            network.author();
            if network.included_head() == HeadData(header.encode()) {
                let data = parity_scale_codec::Decode::decode(&mut &collation.pov.block_data.0[..])
                    .unwrap();
                para.apply(&data);
                included_under.push(code_hash);
            }
        } else {
            network.availability();
            network.author();
        }
    }
    assert!(included_under.contains(&old_hash), "{included_under:?}");
    assert_eq!(
        included_under.last(),
        Some(&new_hash),
        "blocks after the upgrade use the new code"
    );
    let info = network.read(|state| paras::PARAS.get(state, &PARA).unwrap().unwrap());
    assert_eq!(
        (info.code_hash, info.pending),
        (new_hash, None),
        "enacted by the inherent"
    );
    let in_force = network.read(|state| {
        paras::para_at(state, PARA, network.best().number + 1)
            .unwrap()
            .unwrap()
            .code_hash
    });
    assert_eq!(in_force, new_hash);

    // A candidate still naming the old code is refused now.
    let (mut stale, _) = honest(&network, &mut para, 1);
    stale.candidate.descriptor.validation_code_hash = old_hash;
    match network.collate(&stale) {
        Err(ParachainError::Invalid(InvalidCandidate::HashMismatch { .. })) => {}
        other => panic!("expected the stale code to be refused, got {other:?}"),
    }
}

/// Each validator reads the code checks at the best block, compiles what it has not judged
/// (validators in `liars` say it failed, whatever they find), and gossips its verdict to the
/// others; each author then carries those the chain lacks.
fn check_new_code(network: &mut Network, checks: &mut [PvfChecks], liars: &[usize]) {
    let best = network.best();
    let mut verdicts = Vec::new();
    for (me, checks) in checks.iter_mut().enumerate() {
        let client = &network.clients[me];
        for job in checks.on_best(client, &best, 1) {
            let honest = pvf_check::judge(&network.validation, job.code_hash, &job.code);
            let verdict = if liars.contains(&me) {
                Some(false)
            } else {
                honest
            };
            verdicts.extend(checks.sign(&job, verdict, best.number));
        }
    }
    for (me, checks) in checks.iter_mut().enumerate() {
        for verdict in &verdicts {
            let news = checks.on_statement(verdict.clone());
            assert_eq!(news.unwrap(), verdict.validator as usize != me);
        }
        let chosen = checks.for_inherent(&network.clients[me], &best);
        network.hosts[me].record_pvf_checks(chosen);
    }
}

#[test]
fn validators_vote_on_code_a_para_sends_and_the_para_upgrades_only_once_they_accept_it() {
    use parachain_template_runtime::Event as ParaEvent;
    use tessera_runtime::modules::{parachain_system, sudo, system};
    let mut network = Network::new();
    let mut collator = template_node(Some("Ferdie"));
    let mut checks: Vec<PvfChecks> = NAMES
        .iter()
        .map(|name| PvfChecks::new(Some(AuthorityKey::from_pair(&Pair::dev(name)))))
        .collect();
    let next = std::fs::read(env!("TEMPLATE_NEXT_WASM")).unwrap();
    let next_hash = paras::ValidationCode(next.clone()).hash();
    let para_genesis = collator.chain().lock().unwrap().genesis_hash();
    let set_code = |nonce| {
        let call = template::Call::Sudo(sudo::Call::Sudo {
            call: Box::new(template::Call::System(system::Call::SetCode {
                code: next.clone(),
            })),
        });
        template::sign(&Pair::dev("Alice"), call, nonce, para_genesis)
    };
    let para_events = |collator: &Collator| -> Vec<ParaEvent> {
        let view = collator.view();
        let view = view.lock().unwrap();
        let head = view.head().hash();
        let bytes = view.storage(&head, &system::events_key()).unwrap();
        let records: Vec<tessera_runtime::dispatch::EventRecord<ParaEvent>> = bytes
            .map(|b| Decode::decode(&mut &b[..]).unwrap())
            .unwrap_or_default();
        records.into_iter().map(|record| record.event).collect()
    };
    let under_check = |network: &Network| {
        network.read(|state| paras::PARA_UPGRADE_CHECKS.get(state, &PARA).unwrap())
    };
    // One relay block: a candidate on the best block, its backing, availability, the votes.
    let mut step = |network: &mut Network, collator: &mut Collator, liars: &[usize]| {
        if let Some(candidate) = collator.collate(&network.clients[0]) {
            assert!(network.collate(&candidate).unwrap() >= 2);
        }
        network.availability();
        check_new_code(network, &mut checks, liars);
        network.author();
        para_events(collator)
    };

    // Two of four say the code does not compile: more than a third, so it is rejected; the
    // para keeps its code, and drops the pending one once the relay chain stops listing it.
    collator.view().lock().unwrap().submit(set_code(0)).unwrap();
    let mut seen_under_check = false;
    let mut discarded = false;
    for _ in 0..60 {
        let events = step(&mut network, &mut collator, &[0, 1]);
        seen_under_check |= under_check(&network) == Some(next_hash);
        if events.contains(&ParaEvent::ParachainSystem(
            parachain_system::Event::ValidationFunctionDiscarded {
                code_hash: next_hash,
            },
        )) {
            discarded = true;
            break;
        }
    }
    assert!(
        seen_under_check && discarded,
        "checked, then dropped by the para"
    );
    assert_eq!(under_check(&network), None);
    let info = network.read(|state| paras::PARAS.get(state, &PARA).unwrap().unwrap());
    assert_eq!(
        (info.code_hash, info.pending),
        (paras::ValidationCode(WASM_BINARY.to_vec()).hash(), None)
    );
    assert_eq!(spec_version(&collator), 1);

    // Sent again, every validator compiles it and accepts: scheduled, then switched to.
    collator.view().lock().unwrap().submit(set_code(1)).unwrap();
    let mut applied = false;
    for _ in 0..40 {
        let events = step(&mut network, &mut collator, &[]);
        if events.iter().any(|event| matches!(event, ParaEvent::ParachainSystem(
            parachain_system::Event::ValidationFunctionApplied { code_hash, .. }) if *code_hash == next_hash))
        {
            applied = true;
            break;
        }
    }
    assert!(applied, "the para switched to the accepted code");
    step(&mut network, &mut collator, &[]);
    assert_eq!(spec_version(&collator), 2);
}

/// A para node answers `state_getMetadata` from its runtime's Wasm, describing the para's own
/// modules.
#[test]
fn a_para_describes_its_runtime_in_metadata() {
    let node = template_node(None);
    // The RPC's path: the runtime at the head, called with the view unlocked.
    let head = node.view().lock().unwrap().head().hash();
    let runtime = node.view().lock().unwrap().runtime_at(&head).unwrap();
    let metadata: Option<Vec<u8>> = runtime
        .query(
            tessera_runtime::wasm::api::METADATA_AT_VERSION,
            &tessera_runtime::metadata::DEFAULT,
        )
        .unwrap();
    let metadata = metadata.unwrap();
    // `state_call`'s path: a runtime function's answer, as Substrate encodes it.
    let versions = runtime.call(tessera_runtime::wasm::api::METADATA_VERSIONS, &[]);
    assert_eq!(versions.unwrap(), vec![14u32, 15].encode());
    assert_eq!(
        Some(metadata.clone()),
        tessera_runtime::metadata::metadata::<template::TemplateRuntime>(14)
    );
    let decoded = frame_metadata::RuntimeMetadataPrefixed::decode(&mut &metadata[..]).unwrap();
    let frame_metadata::RuntimeMetadata::V14(metadata) = decoded.1 else {
        panic!("not V14, as Substrate's state_getMetadata")
    };
    let modules: Vec<&str> = metadata.pallets.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        modules,
        [
            "System",
            "Balances",
            "Sudo",
            "ParachainSystem",
            "PolkadotXcm",
            "ParachainInfo",
            "TransactionPayment"
        ]
    );
}

/// The version of the runtime `collator` runs its next block with.
fn spec_version(collator: &Collator) -> u32 {
    crate::support::para_version(&collator.view()).spec_version
}

/// A para node of the template on its dev genesis: a collator with `key`, else a full node.
fn template_node(key: Option<&str>) -> Collator {
    let (header, state) = GenesisConfig::dev(PARA)
        .build::<template::TemplateRuntime>()
        .unwrap();
    let chain = ParaChain::in_memory(PARA, header, state.new_nodes).unwrap();
    match key {
        Some(name) => Collator::new(chain, Pair::dev(name)),
        None => Collator::full_node(chain),
    }
}

#[test]
fn a_collator_builds_on_its_pending_candidate_so_a_block_is_included_every_relay_block() {
    let mut network = Network::new();
    let mut collator = template_node(Some("Ferdie"));
    collator.set_dev_transfers(3);
    let mut included = Vec::new();
    for _ in 0..8 {
        // The candidate made on each relay block is backed in the next one, which includes
        // the candidate before it.
        let candidate = collator
            .collate(&network.clients[0])
            .expect("a candidate on every relay block");
        assert!(network.collate(&candidate).unwrap() >= 2);
        network.availability();
        network.author();
        let head = network.included_head();
        included.push(Header::decode(&mut &head.0[..]).unwrap().number);
    }
    assert_eq!(included, [0, 1, 2, 3, 4, 5, 6, 7]);
    // Each block holds the inherent and the three transfers queued for it: none is left out
    // or taken twice, though each was built before its parent was included.
    let _ = collator.collate(&network.clients[0]);
    let view = collator.view();
    let view = view.lock().unwrap();
    for number in 1..=7 {
        let hash = view.canonical_hash(number).unwrap();
        assert_eq!(
            view.block(&hash).unwrap().extrinsics.len(),
            4,
            "block #{number}"
        );
    }
}

#[test]
fn a_para_chain_goes_back_to_its_competing_candidate_when_a_relay_fork_includes_that_one() {
    let mut network = Network::new();
    let mut ferdie = template_node(Some("Ferdie"));
    let chain = ferdie.chain();
    // Two candidates for #1 on two relay parents, neither included yet.
    let first = ferdie.collate(&network.clients[0]).unwrap();
    network.author();
    let second = ferdie.collate(&network.clients[0]).unwrap();
    let head_of = |collation: &tessera_node::collation::Collation| {
        collation.candidate.commitments.head_data.clone()
    };
    assert_ne!(head_of(&first), head_of(&second));
    // One relay fork includes the first; the chain follows it.
    assert!(chain.lock().unwrap().follow(&head_of(&first)).unwrap());
    // The relay chain switches to a fork that included the second (a revert after a dispute
    // does this): the chain goes over to it, though nobody else has that block.
    assert!(chain.lock().unwrap().follow(&head_of(&second)).unwrap());
    let view = chain.lock().unwrap();
    assert_eq!(view.head().number, 1);
    assert_eq!(HeadData(view.head().encode()), head_of(&second));
}

#[test]
fn a_transaction_in_a_block_a_relay_reorg_takes_back_returns_to_the_pool_and_goes_in_again() {
    let mut network = Network::new();
    let mut ferdie = template_node(Some("Ferdie"));
    let chain = ferdie.chain();
    let genesis_head = network.included_head();
    let genesis_hash = chain.lock().unwrap().genesis_hash();
    let bob = Pair::dev("Bob").public();
    let call = template::Call::Balances(tessera_runtime::modules::balances::Call::Transfer {
        dest: bob.into(),
        value: template::UNIT,
    });
    let transfer = template::sign(&Pair::dev("Alice"), call, 0, genesis_hash);
    ferdie.submit(transfer.clone()).unwrap();
    // Backed on one relay block, included by the next.
    for _ in 0..2 {
        let candidate = ferdie.collate(&network.clients[0]).unwrap();
        network.collate(&candidate).unwrap();
        network.availability();
        network.author();
    }
    let included = network.included_head();
    chain.lock().unwrap().follow(&included).unwrap();
    assert_eq!(chain.lock().unwrap().head().number, 1);
    assert_eq!(
        chain.lock().unwrap().pool_len(),
        0,
        "included, so out of the pool"
    );

    // The relay chain goes back to a block where the para's head is its genesis: the transfer
    // is in no block of the para's chain, and waits in the pool again.
    let mut events = chain.lock().unwrap().tx_events();
    assert!(chain.lock().unwrap().follow(&genesis_head).unwrap());
    let view = chain.lock().unwrap();
    assert_eq!(view.head().number, 0);
    assert_eq!(view.canonical_hash(1), None);
    assert_eq!(
        view.pool_len(),
        1,
        "the retracted block's transfer is pooled again"
    );
    drop(view);
    assert!(events.try_recv().is_err(), "nothing was dropped");

    // The relay chain returns to the block that included it: the transfer is in block #1
    // again, which watchers hear, and out of the pool.
    let mut view = chain.lock().unwrap();
    assert!(view.follow(&included).unwrap());
    assert_eq!(view.pool_len(), 0);
    let block = view.block(&view.canonical_hash(1).unwrap()).unwrap();
    assert!(block.extrinsics.contains(&transfer));
    drop(view);
    match events.try_recv() {
        Ok(TxEvent::Included {
            number: 1,
            extrinsics,
            ..
        }) => {
            assert!(extrinsics.contains(&transfer.hash()))
        }
        other => panic!("expected block #1's inclusion, got {other:?}"),
    }
}

#[test]
fn a_transaction_conflicting_with_a_pending_block_waits_and_goes_in_if_that_block_times_out() {
    let mut network = Network::new();
    let (mut ferdie, mut eve) = (template_node(Some("Ferdie")), template_node(Some("Eve")));
    let genesis_hash = eve.view().lock().unwrap().canonical_hash(0).unwrap();
    let genesis_head = network.included_head();
    let alice = Pair::dev("Alice");
    let transfer = |to: &str| {
        let dest = Pair::dev(to).public();
        let call = template::Call::Balances(tessera_runtime::modules::balances::Call::Transfer {
            dest: dest.into(),
            value: template::UNIT,
        });
        template::sign(&alice, call, 0, genesis_hash)
    };
    // Alice's nonce 0 twice: to Bob at Ferdie, to Charlie at Eve.
    ferdie.submit(transfer("Bob")).unwrap();
    eve.submit(transfer("Charlie")).unwrap();
    let charlie = Pair::dev("Charlie").public();
    let before = eve.free_balance(&charlie).unwrap();

    // Ferdie's block with the transfer to Bob is backed by two, who alone hold its chunks: it
    // never becomes available.
    let pending = ferdie.collate(&network.clients[0]).unwrap();
    eve.offer(&pending.pov);
    let _ = eve.collate(&network.clients[0]);
    assert_eq!(network.collate_by(&pending, 2).unwrap(), 2);
    network.author();
    for _ in 0..inclusion::AVAILABILITY_TIMEOUT {
        // Eve builds on the pending block, where her transfer's nonce is taken; she keeps it.
        let _ = eve.collate(&network.clients[0]);
        network.author();
    }
    assert!(network.core_free(), "the pending block timed out");
    assert_eq!(network.included_head(), genesis_head);

    // On the included head again, her transfer goes in.
    for _ in 0..3 {
        let candidate = eve.collate(&network.clients[0]).unwrap();
        network.collate(&candidate).unwrap();
        network.availability();
        network.author();
    }
    let _ = eve.collate(&network.clients[0]);
    assert_eq!(eve.free_balance(&charlie).unwrap(), before + template::UNIT);
}

#[test]
fn two_collators_take_turns_and_a_full_node_follows_both() {
    let mut network = Network::new();
    let mut collators = [template_node(Some("Ferdie")), template_node(Some("Eve"))];
    for collator in &mut collators {
        collator.set_dev_transfers(3);
    }
    let mut full_node = template_node(None);
    let mut authors = Vec::new();
    for round in 0..16 {
        // Each collator follows the included head, then makes a candidate on the pending one
        // (whoever made it) or the head; the gossip of candidates reaches every para node.
        let candidates: Vec<Option<Collation>> = collators
            .iter_mut()
            .map(|collator| collator.collate(&network.clients[0]))
            .collect();
        assert_eq!(
            full_node.collate(&network.clients[0]),
            None,
            "it never collates"
        );
        for candidate in candidates.iter().flatten() {
            for node in collators.iter_mut() {
                node.offer(&candidate.pov);
            }
            full_node.offer(&candidate.pov);
        }
        // The validators hear the collators' candidates in turn: only one gets backed.
        if let Some(candidate) = candidates[round / 2 % 2].as_ref() {
            network.collate(candidate).unwrap();
            authors.push(candidate.candidate.descriptor.collator);
        }
        network.availability();
        network.author();
    }
    let included = network.included_head();
    let head = tessera_runtime::Header::decode(&mut &included.0[..]).unwrap();
    assert!(head.number >= 5, "the para advanced: #{}", head.number);
    let ferdie = Pair::dev("Ferdie").public();
    let eve = Pair::dev("Eve").public();
    assert!(authors.contains(&ferdie) && authors.contains(&eve));
    // Everyone follows the head, whoever built each block: one more round to catch up.
    for collator in &mut collators {
        let _ = collator.collate(&network.clients[0]);
        assert_eq!(collator.head(), (head.number, head.hash()));
    }
    let _ = full_node.collate(&network.clients[0]);
    assert_eq!(full_node.head(), (head.number, head.hash()));
    // The full node's state is the para's: the dev transfers moved balances.
    let balances: Vec<_> = ["Alice", "Bob", "Ferdie"]
        .iter()
        .map(|name| full_node.free_balance(&Pair::dev(name).public()).unwrap())
        .collect();
    assert!(balances.windows(2).any(|w| w[0] != w[1]), "{balances:?}");
}

/// A collator `name` that sent `transfers` dev transfers a block over 8 relay blocks of a
/// network of its own, and followed its para's head.
fn collated_for_a_while(name: &str, transfers: usize) -> (Network, Collator) {
    let mut network = Network::new();
    let mut collator = template_node(Some(name));
    collator.set_dev_transfers(transfers);
    for _ in 0..8 {
        if let Some(candidate) = collator.collate(&network.clients[0]) {
            network.collate(&candidate).unwrap();
        }
        network.availability();
        network.author();
    }
    let _ = collator.collate(&network.clients[0]);
    (network, collator)
}

/// The template's chain of [`PARA`] kept in the RocksDB at `path`.
fn template_chain_on_disk(
    path: &std::path::Path,
) -> Result<ParaChain, tessera_node::store::StoreError> {
    let (header, state) = GenesisConfig::dev(PARA)
        .build::<template::TemplateRuntime>()
        .unwrap();
    let db = RocksDb::open(path).unwrap();
    ParaChain::open(PARA, Box::new(db), header, state.new_nodes)
}

#[test]
fn a_para_node_restarts_from_its_database_at_its_head_with_its_pending_candidate_and_serves_every_block(
) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let mut network = Network::new();
    let mut collator = Collator::new(template_chain_on_disk(&path).unwrap(), Pair::dev("Ferdie"));
    collator.set_dev_transfers(2);
    for _ in 0..6 {
        if let Some(candidate) = collator.collate(&network.clients[0]) {
            network.collate(&candidate).unwrap();
        }
        network.availability();
        network.author();
    }
    // The last candidate it made is sent, and the node stops before the relay chain includes
    // it (and the one pending before it).
    let last_sent = collator
        .collate(&network.clients[0])
        .expect("a candidate on the last relay block");
    let (head_number, head_hash) = collator.head();
    assert!(head_number >= 3, "the para advanced: #{head_number}");
    let served = collator.blocks_from(0, 64, usize::MAX);
    let alice = Pair::dev("Alice").public();
    let balance = |view: &dyn ParaView, number: u32| {
        let at = view.canonical_hash(number).unwrap();
        let key = tessera_runtime::modules::system::ACCOUNT.key(&alice);
        view.storage(&at, &key).unwrap().expect("Alice's account")
    };
    let (first, last) = {
        let view = collator.view();
        let view = view.lock().unwrap();
        (balance(&*view, 1), balance(&*view, head_number))
    };
    assert_ne!(first, last, "the dev transfers moved Alice's balance");
    drop(collator);
    network.collate(&last_sent).unwrap();
    for _ in 0..2 {
        network.availability();
        network.author();
    }
    let included = network.included_head();
    let included_number = Header::decode(&mut &included.0[..]).unwrap().number;
    assert_eq!(included_number, head_number + 2, "both candidates included");

    // Reopened, it is at the head it followed and answers for every block it had, states
    // included; the blocks included meanwhile are its own candidates, stored before they were
    // sent: it follows them with nothing to fetch.
    let mut reopened = template_chain_on_disk(&path).unwrap();
    assert_eq!(
        (reopened.head().number, reopened.head().hash()),
        (head_number, head_hash)
    );
    assert_eq!(reopened.blocks_from(0, 64, usize::MAX), served);
    assert_eq!(balance(&reopened, 1), first);
    assert_eq!(balance(&reopened, head_number), last);
    assert!(reopened.follow(&included).unwrap(), "the head moved");
    assert_eq!(reopened.head().number, included_number);
    assert_eq!(reopened.wants_blocks(), None);

    // And collates on from there: the next blocks are included on top of it.
    let mut collator = Collator::new(reopened, Pair::dev("Ferdie"));
    for _ in 0..3 {
        if let Some(candidate) = collator.collate(&network.clients[0]) {
            network.collate(&candidate).unwrap();
        }
        network.availability();
        network.author();
    }
    let _ = collator.collate(&network.clients[0]);
    assert!(
        collator.head().0 > head_number,
        "it went on after the restart"
    );
    drop(collator);

    // The database of one para is refused for another.
    let (header, state) = GenesisConfig::dev(ParaId(PARA.0 + 1))
        .build::<template::TemplateRuntime>()
        .unwrap();
    let db = RocksDb::open(&path).unwrap();
    match ParaChain::open(PARA, Box::new(db), header, state.new_nodes) {
        Err(tessera_node::store::StoreError::GenesisMismatch { .. }) => {}
        Err(other) => panic!("expected a genesis mismatch, got {other}"),
        Ok(_) => panic!("another para's database was taken"),
    }
}

#[test]
fn a_para_node_that_missed_blocks_fetches_them_and_follows() {
    let (network, collator) = collated_for_a_while("Ferdie", 2);
    let (head_number, head_hash) = collator.head();
    assert!(head_number >= 3, "the para advanced: #{head_number}");

    // A node that saw none of it says which block it misses, and changes nothing.
    let (header, state) = GenesisConfig::dev(PARA)
        .build::<template::TemplateRuntime>()
        .unwrap();
    let mut late = ParaChain::in_memory(PARA, header, state.new_nodes).unwrap();
    // It saw a rival block at the head's height, never included: it must still fetch.
    let mut rival = collator.blocks_from(head_number, 1, usize::MAX).remove(0);
    rival.header.state_root = tessera_runtime::Hash([7; 32]);
    late.offer(rival);
    let included = network.included_head();
    match late.follow(&included) {
        Err(FollowError::Missing { number, .. }) => assert_eq!(number, head_number),
        other => panic!("expected the head block to be missing, got {other:?}"),
    }
    assert_eq!(late.head().number, 0);
    assert_eq!(late.wants_blocks(), Some(1));

    // A peer serving a chain that executes but is not the one the relay chain included (here
    // another collator's, made on another relay chain) gets none of it kept: once it reaches
    // the included height without the included head, it is dropped whole.
    let (_, eve) = collated_for_a_while("Eve", 1);
    let fake = eve.blocks_from(1, head_number, usize::MAX);
    assert_eq!(fake.len() as u32, head_number);
    let fake_tip = fake.last().unwrap().header.hash();
    assert_ne!(fake_tip, head_hash);
    assert_eq!(late.import_synced(fake).unwrap(), head_number as usize);
    assert!(matches!(
        late.follow(&included),
        Err(FollowError::Missing { .. })
    ));
    assert!(late.take_sync_discarded(), "its server is to blame");
    assert!(!late.take_sync_discarded());
    assert_eq!(late.head().number, 0);
    assert!(ParaView::block(&late, &fake_tip).is_none());
    assert_eq!(
        late.wants_blocks(),
        Some(1),
        "it fetches again from its head"
    );

    // A peer's blocks that do not build on its chain are refused.
    let mut fetched = collator.blocks_from(1, 64, usize::MAX);
    assert_eq!(fetched.len() as u32, head_number);
    assert!(late.import_synced(fetched[1..].to_vec()).is_err());
    // With a byte budget, a peer sends fewer blocks, and at least one.
    assert_eq!(collator.blocks_from(1, 64, 1).len(), 1);

    // Fetched from a peer in batches, they are executed, and the head follows.
    let rest = fetched.split_off(2);
    assert_eq!(late.import_synced(fetched).unwrap(), 2);
    assert_eq!(late.wants_blocks(), Some(3));
    late.import_synced(rest).unwrap();
    assert_eq!(late.wants_blocks(), None);
    assert!(late.follow(&included).unwrap());
    assert_eq!(
        (late.head().number, late.head().hash()),
        (head_number, head_hash)
    );
}
