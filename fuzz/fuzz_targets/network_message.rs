//! Arbitrary bytes as every message a peer can send: block gossip, sync requests and
//! responses, finality messages. Decoding never panics, and what decodes re-encodes to the
//! same bytes; announced blocks go through full import.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parity_scale_codec::Encode;
use std::sync::OnceLock;
use tessera_consensus::finality::FinalityMessage;
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
    }
    let _ = FinalityMessage::decode_bounded(data);
});
