//! Arbitrary bytes as every parachain message a peer can send: gossiped collations (with their
//! collator's declaration), statements, bitfields, validator identities, approval assignments
//! and approvals, dispute votes, direct messages (approval catch-up), chunk and available-data
//! requests and responses, para transactions and para blocks responses. Decoding never panics,
//! what decodes re-encodes to the same bytes, a validator (in the backing group of the dev
//! para) takes whatever decodes without panicking (a collation runs the para's Wasm; approval
//! and dispute messages go to its approval engine, which knows one relay block, and its
//! disputes), and a para node takes gossiped transactions and imports fetched blocks, or
//! refuses them and keeps its head.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parachain_template_runtime::TemplateRuntime;
use parity_scale_codec::Encode;
use std::sync::{Arc, Mutex, OnceLock};
use tessera_consensus::AuthorityKey;
use tessera_node::client::Client;
use tessera_node::network::{
    decode_exact, AvailableDataRequest, AvailableDataResponse, ChunkRequest, ChunkResponse,
    CollationResponse, DirectMessage, ParaBlocksResponse, Topic,
};
use tessera_node::parachains::collator::{Collate, ParaTransactions};
use tessera_node::parachains::{Collator, ParaChain};
use tessera_node::parachains::{ParachainHost, ParachainMessage};
use tessera_node::store::MemoryDb;
use tessera_node::validation::{ValidationHost, ValidationLimits};
use tessera_relay_chain::{ChainSpec, GenesisPara, HexBytes};
use tessera_runtime::crypto::Pair;
use tessera_runtime::parachain::{ParaGenesis, ParaId};
use tessera_runtime::{AccountId, Hash, Header};
use tessera_validity::assignment::{RelayVrfStory, ValidatorKeys};
use tessera_validity::disputes::Disputes;
use tessera_validity::engine::{ApprovalEngine, IncludedCandidate, NewBlock};
use tessera_validity::{ApprovalConfig, CoreIndex, ValidatorIndex};

struct Validator {
    client: Client,
    host: ParachainHost,
    approval: ApprovalEngine<ValidatorKeys>,
    disputes: Disputes<ValidatorKeys>,
}

/// The relay block the approval engine knows, with one candidate on each of two cores.
const BLOCK: Hash = Hash([1; 32]);

fn validator() -> &'static Mutex<Validator> {
    static VALIDATOR: OnceLock<Mutex<Validator>> = OnceLock::new();
    VALIDATOR.get_or_init(|| {
        let mut spec = ChainSpec::dev();
        let head = ParaGenesis::dev(ParaId(1000))
            .head::<parachain_template_runtime::TemplateRuntime>()
            .expect("para genesis");
        spec.genesis.paras.push(GenesisPara {
            id: 1000,
            head: HexBytes(head.0),
            code: HexBytes(parachain_template_runtime::WASM_BINARY.to_vec()),
        });
        let genesis = spec.build_genesis().expect("dev genesis");
        let client = Client::open(Box::new(MemoryDb::default()), &genesis).expect("store");
        let limits = ValidationLimits::default();
        let validation = Arc::new(ValidationHost::new(limits).expect("wasmtime"));
        let key = AuthorityKey::from_pair(&Pair::dev("Alice"));
        let publics: Arc<[AccountId]> = client.authorities().iter().copied().collect();
        let n = publics.len() as u32;
        let keys = ValidatorKeys::new(Some(key.clone()), publics);
        let me = Some(ValidatorIndex(0));
        let mut approval = ApprovalEngine::new(ApprovalConfig::dev(), keys.clone(), me, n);
        let candidate = |byte: u8, core: u32| IncludedCandidate {
            hash: Hash([byte; 32]),
            core: CoreIndex(core),
            backers: vec![ValidatorIndex(core)],
        };
        let _ = approval.new_block(
            NewBlock {
                hash: BLOCK,
                parent: Hash([0; 32]),
                number: 1,
                slot_ms: 0,
                story: RelayVrfStory([1; 32]),
                n_cores: 2,
                candidates: vec![candidate(2, 0), candidate(3, 1)],
                sent: Vec::new(),
            },
            0,
        );
        let disputes = Disputes::new(keys, me, tessera_relay_chain::disputes::GENESIS_SESSION, n);
        Mutex::new(Validator {
            client,
            host: ParachainHost::new(Some(key), validation),
            approval,
            disputes,
        })
    })
}

/// The template para's dev genesis: header and state.
fn para_genesis() -> &'static (Header, Vec<(Hash, Vec<u8>)>) {
    static GENESIS: OnceLock<(Header, Vec<(Hash, Vec<u8>)>)> = OnceLock::new();
    GENESIS.get_or_init(|| {
        let (header, state) = ParaGenesis::dev(ParaId(1000))
            .build::<TemplateRuntime>()
            .expect("para genesis");
        (header, state.new_nodes)
    })
}

fn para_node() -> Box<dyn Collate> {
    let (header, nodes) = para_genesis().clone();
    let chain = ParaChain::in_memory(ParaId(1000), header, nodes)
        .expect("an in-memory para chain");
    Box::new(Collator::full_node(chain))
}

/// A gossiped (or directly sent) parachain message, taken as a validator takes it.
fn take(message: ParachainMessage) {
    let mut guard = validator().lock().unwrap_or_else(|p| p.into_inner());
    let Validator {
        client,
        host,
        approval,
        disputes,
    } = &mut *guard;
    let _ = match message {
        ParachainMessage::Collation(declared) => {
            // Whatever its declaration says, the candidate's own checks must hold.
            let _ = declared.check(&libp2p::PeerId::random());
            host.on_collation(client, &declared.collation).map(drop)
        }
        ParachainMessage::Identity(identity) => identity.verified_peer().map(drop).or(Ok(())),
        ParachainMessage::Statement(statement) => host.on_statement(client, statement).map(drop),
        ParachainMessage::Bitfield {
            relay_parent,
            bitfield,
        } => host.on_bitfield(client, relay_parent, bitfield).map(drop),
        ParachainMessage::Approval(message) => {
            let _ = approval.message(message, 1_000);
            let _ = approval.tick(2_000);
            Ok(())
        }
        ParachainMessage::Dispute(message) => {
            let _ = disputes.message(message);
            Ok(())
        }
    };
    let genesis = client.info().expect("meta").genesis;
    let parent = client.header(&genesis).expect("store").expect("genesis");
    host.inherent(client, &parent).expect("the inherent builds");
}

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = decode_exact::<ParachainMessage>(data) {
        assert_eq!(message.encode(), data);
        take(message);
    }
    if let Ok(direct) = decode_exact::<DirectMessage>(data) {
        assert_eq!(direct.encode(), data);
        // An approval catch-up: approval and dispute messages (a node refuses the batch at
        // the first message of another kind).
        if direct.topic == Topic::Parachains {
            if let Ok(messages) = decode_exact::<Vec<ParachainMessage>>(&direct.data) {
                assert_eq!(messages.encode(), direct.data);
                messages
                    .into_iter()
                    .take_while(|m| {
                        matches!(
                            m,
                            ParachainMessage::Approval(_) | ParachainMessage::Dispute(_)
                        )
                    })
                    .for_each(take);
            }
        }
    }
    if let Ok(request) = decode_exact::<AvailableDataRequest>(data) {
        assert_eq!(request.encode(), data);
    }
    if let Ok(response) = decode_exact::<AvailableDataResponse>(data) {
        assert_eq!(response.encode(), data);
    }
    if let Ok(request) = decode_exact::<ChunkRequest>(data) {
        assert_eq!(request.encode(), data);
    }
    if let Ok(response) = decode_exact::<ChunkResponse>(data) {
        assert_eq!(response.encode(), data);
    }
    if let Ok(response) = decode_exact::<CollationResponse>(data) {
        assert_eq!(response.encode(), data);
    }
    if let Ok(message) = decode_exact::<ParaTransactions>(data) {
        assert_eq!(message.encode(), data);
        let _ = para_node().submit_many(message.transactions);
    }
    if let Ok(ParaBlocksResponse(blocks)) = decode_exact::<ParaBlocksResponse>(data) {
        // As if the relay chain had included the last block: fetched blocks up to it import.
        let Some(last) = blocks.last() else { return };
        let mut chain = {
            let (header, nodes) = para_genesis().clone();
            ParaChain::in_memory(ParaId(1000), header, nodes)
                .expect("an in-memory para chain")
        };
        let included = tessera_runtime::parachain::HeadData(last.header.encode());
        let _missing = chain.follow(&included);
        let genesis = chain.head().clone();
        if chain.import_synced(blocks).is_err() || chain.follow(&included).is_err() {
            assert_eq!(chain.head(), &genesis, "a refused block leaves the head");
        }
    }
});
