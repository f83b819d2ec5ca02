//! Arbitrary bytes as a relay extrinsic: decoding and pool validation never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tessera_node::client::Client;
use tessera_node::pool::Pool;
use tessera_node::store::MemoryDb;
use tessera_relay_chain::{ChainSpec, RelayExtrinsic};
use tessera_runtime::OpaqueExtrinsic;

fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        let genesis = ChainSpec::dev().build_genesis().expect("dev genesis");
        Client::open(Box::new(MemoryDb::default()), &genesis).expect("memory store")
    })
}

fuzz_target!(|data: &[u8]| {
    if let Ok(extrinsic) = RelayExtrinsic::decode_exact(data) {
        // What decodes re-encodes to the same bytes.
        assert_eq!(extrinsic.to_opaque().0, data);
    }
    let _ = client().submit(&mut Pool::default(), OpaqueExtrinsic(data.to_vec()));
});
