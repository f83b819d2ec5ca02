//! Arbitrary bytes as every parachain message a peer can send: gossiped collations (with their
//! collator's declaration), statements, bitfields and validator identities, chunk requests and responses, para transactions and para blocks
//! responses. Decoding never panics, what decodes re-encodes to the same bytes, a validator
//! (in the backing group of the dev para) takes whatever decodes without panicking (a
//! collation runs the para's Wasm), and a para node takes gossiped transactions and imports
//! fetched blocks, or refuses them and keeps its head.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parachain_template_runtime::TemplateRuntime;
use parity_scale_codec::Encode;
use std::sync::{Arc, Mutex, OnceLock};
use tessera_consensus::AuthorityKey;
use tessera_node::client::Client;
use tessera_node::network::{
    decode_exact, ChunkRequest, ChunkResponse, CollationResponse, ParaBlocksResponse,
};
use tessera_node::parachains::collator::{Collate, ParaTransactions};
use tessera_node::parachains::{Collator, ParaChain};
use tessera_node::parachains::{ParachainHost, ParachainMessage};
use tessera_node::store::MemoryDb;
use tessera_node::validation::{ValidationHost, ValidationLimits};
use tessera_relay_chain::{ChainSpec, GenesisPara, HexBytes};
use tessera_runtime::crypto::Pair;
use tessera_runtime::parachain::{ParaGenesis, ParaId};
use tessera_runtime::{Hash, Header};

struct Validator {
    client: Client,
    host: ParachainHost,
}

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
        Mutex::new(Validator {
            client,
            host: ParachainHost::new(Some(key), validation),
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
    Box::new(Collator::full_node(ParaChain::<TemplateRuntime>::new(
        ParaId(1000),
        header,
        nodes,
    )))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(message) = decode_exact::<ParachainMessage>(data) {
        assert_eq!(message.encode(), data);
        let mut guard = validator().lock().unwrap_or_else(|p| p.into_inner());
        let Validator { client, host } = &mut *guard;
        let _ = match message {
            ParachainMessage::Collation(declared) => {
                // Whatever its declaration says, the candidate's own checks must hold.
                let _ = declared.check(&libp2p::PeerId::random());
                host.on_collation(client, &declared.collation).map(drop)
            }
            ParachainMessage::Identity(identity) => identity.verified_peer().map(drop).or(Ok(())),
            ParachainMessage::Statement(statement) => host.on_statement(client, statement),
            ParachainMessage::Bitfield {
                relay_parent,
                bitfield,
            } => host.on_bitfield(client, relay_parent, bitfield),
            // Approval and dispute messages go to the approval engine, whose own tests and
            // simulator cover them; this target covers the host.
            ParachainMessage::Approval(_) | ParachainMessage::Dispute(_) => Ok(()),
        };
        let genesis = client.info().expect("meta").genesis;
        let parent = client.header(&genesis).expect("store").expect("genesis");
        host.inherent(client, &parent).expect("the inherent builds");
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
            ParaChain::<TemplateRuntime>::new(ParaId(1000), header, nodes)
        };
        let included = tessera_runtime::parachain::HeadData(last.header.encode());
        let _missing = chain.follow(&included);
        let genesis = chain.head().clone();
        if chain.import_synced(blocks).is_err() || chain.follow(&included).is_err() {
            assert_eq!(chain.head(), &genesis, "a refused block leaves the head");
        }
    }
});
