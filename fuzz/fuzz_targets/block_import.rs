//! Arbitrary bytes as a block: import never panics, and a refused block changes nothing.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tessera_node::client::Client;
use tessera_node::store::MemoryDb;
use tessera_relay_chain::{ChainSpec, Genesis};

fn genesis() -> &'static Genesis {
    static GENESIS: OnceLock<Genesis> = OnceLock::new();
    GENESIS.get_or_init(|| ChainSpec::dev().build_genesis().expect("dev genesis"))
}

fuzz_target!(|data: &[u8]| {
    let mut client = Client::open(Box::new(MemoryDb::default()), genesis()).expect("memory store");
    let before = client.info().expect("meta");
    if client.import_encoded(data).is_err() {
        assert_eq!(client.info().expect("meta"), before);
    }
});
