//! Arbitrary bytes as every message a peer can send: block gossip, sync requests and
//! responses (with justifications), finality gossip and direct messages. Decoding never
//! panics, and what decodes re-encodes to the same bytes; announced blocks go through full
//! import, and finality messages and justifications through a finality voter.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parity_scale_codec::Encode;
use std::sync::OnceLock;
use tessera_consensus::codec::decode_bounded;
use tessera_consensus::finality::{
    AuthoritySet, FinalityConfig, FinalityEngine, FinalityMessage, Input, Justification,
    MAX_MESSAGE_BYTES,
};
use tessera_consensus::{AuthorityKey, PeerId};
use tessera_runtime::crypto::Pair;
use tessera_node::client::Client;
use tessera_node::network::{decode_exact, BlockAnnounce, SyncRequest, SyncResponse};
use tessera_node::store::MemoryDb;
use tessera_relay_chain::{ChainSpec, Genesis};

fn genesis() -> &'static Genesis {
    static GENESIS: OnceLock<Genesis> = OnceLock::new();
    GENESIS.get_or_init(|| ChainSpec::dev().build_genesis().expect("dev genesis"))
}

fuzz_target!(|data: &[u8]| {
    if let Ok(announce) = decode_exact::<BlockAnnounce>(data) {
        assert_eq!(announce.encode(), data);
        if let BlockAnnounce::Block(block) = announce {
            let mut client = Client::open(Box::new(MemoryDb::default()), genesis()).expect("store");
            let before = client.info().expect("meta");
            if client.import_block(&block).is_err() {
                assert_eq!(client.info().expect("meta"), before);
            }
        }
    }
    if let Ok(request) = decode_exact::<SyncRequest>(data) {
        assert_eq!(request.encode(), data);
    }
    if let Ok(response) = decode_exact::<SyncResponse>(data) {
        assert_eq!(response.encode(), data);
        if let SyncResponse::Blocks(blocks) = response {
            for justification in blocks.into_iter().filter_map(|b| b.justification) {
                if let Ok(justification) =
                    decode_bounded::<Justification>(&justification, MAX_MESSAGE_BYTES)
                {
                    voter().handle(Input::Messages(vec![(
                        PeerId(1),
                        FinalityMessage::Commit {
                            set_id: 0,
                            justification,
                        },
                    )]));
                }
            }
        }
    }
    if let Ok(message) = FinalityMessage::decode_bounded(data) {
        voter().handle(Input::Messages(vec![(PeerId(1), message)]));
    }
});

/// A voter of the dev chain's authority set (Alice) at genesis.
fn voter() -> FinalityEngine {
    let alice = Pair::dev("Alice");
    let set = AuthoritySet::equal(0, [alice.public()]).expect("set");
    FinalityEngine::new(
        FinalityConfig::default(),
        set,
        genesis().header.clone(),
        Some(AuthorityKey::from_pair(&alice)),
    )
}
