//! Shared test setup.

use tessera_consensus::AuthorityKey;
use tessera_node::client::Client;
use tessera_node::store::MemoryDb;
use tessera_relay_chain::ChainSpec;
use tessera_runtime::crypto::Pair;

/// A dev-chain client on memory that authors as Alice (the dev chain's one validator).
pub(crate) fn dev_client() -> Client {
    client_of(&ChainSpec::dev())
}

/// The dev chain with 50 ms slots, for nodes that author in real time.
pub(crate) fn fast_dev_spec() -> ChainSpec {
    let mut spec = ChainSpec::dev();
    spec.genesis.slot_duration_ms = 50;
    spec
}

/// A client of `spec` on memory that authors as Alice.
pub(crate) fn client_of(spec: &ChainSpec) -> Client {
    let genesis = spec.build_genesis().unwrap();
    let mut client = Client::open(Box::new(MemoryDb::default()), &genesis).unwrap();
    client
        .set_author(AuthorityKey::from_pair(&Pair::dev("Alice")))
        .unwrap();
    client
}

/// The version of the runtime at a para chain's head (what its next block runs).
pub(crate) fn para_version(
    view: &std::sync::Arc<std::sync::Mutex<dyn tessera_node::parachains::chain::ParaView>>,
) -> tessera_runtime::wasm::VersionInfo {
    let runtime = {
        let view = view.lock().unwrap();
        view.runtime_at(&view.head().hash()).unwrap()
    };
    runtime.version().unwrap()
}
