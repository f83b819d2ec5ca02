//! Blocks from arbitrary bytes: import never panics, and a refused block changes nothing.
//!
//! Input starting with 0 is decoded as a block as it is. Any other input mutates a valid
//! block of three transfers (pairs of offset and byte), so the fuzzer also reaches the seal,
//! signature, execution and state-root checks behind the decoder.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parity_scale_codec::Encode;
use std::sync::OnceLock;
use tessera_consensus::AuthorityKey;
use tessera_node::client::Client;
use tessera_node::pool::Pool;
use tessera_node::store::MemoryDb;
use tessera_node::workload::TransferGenerator;
use tessera_relay_chain::{ChainSpec, Genesis};
use tessera_runtime::crypto::Pair;

fn genesis() -> &'static Genesis {
    static GENESIS: OnceLock<Genesis> = OnceLock::new();
    GENESIS.get_or_init(|| ChainSpec::dev().build_genesis().expect("dev genesis"))
}

fn valid_block() -> &'static Vec<u8> {
    static BLOCK: OnceLock<Vec<u8>> = OnceLock::new();
    BLOCK.get_or_init(|| {
        let mut client = Client::open(Box::new(MemoryDb::default()), genesis()).expect("store");
        let mut pool = Pool::default();
        for xt in TransferGenerator::dev(0).next_batch(&client, 3).expect("transfers") {
            client.submit(&mut pool, xt).expect("valid transfer");
        }
        client
            .set_author(AuthorityKey::from_pair(&Pair::dev("Alice")))
            .expect("Alice validates the dev chain");
        let authored = client.author_next(&mut pool).expect("block");
        authored.block.encode()
    })
}

fuzz_target!(|data: &[u8]| {
    let bytes = match data.split_first() {
        Some((0, raw)) => raw.to_vec(),
        Some((_, edits)) => {
            let mut block = valid_block().clone();
            for edit in edits.chunks_exact(3) {
                let offset = usize::from(u16::from_le_bytes([edit[0], edit[1]])) % block.len();
                block[offset] = edit[2];
            }
            block
        }
        None => return,
    };
    let mut client = Client::open(Box::new(MemoryDb::default()), genesis()).expect("memory store");
    let before = client.info().expect("meta");
    if client.import_encoded(&bytes).is_err() {
        assert_eq!(client.info().expect("meta"), before);
    }
});
