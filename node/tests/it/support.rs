//! Shared test setup.

use tessera_node::client::Client;
use tessera_node::store::MemoryDb;
use tessera_relay_chain::ChainSpec;

/// A dev-chain client on memory.
pub(crate) fn dev_client() -> Client {
    let genesis = ChainSpec::dev().build_genesis().unwrap();
    Client::open(Box::new(MemoryDb::default()), &genesis).unwrap()
}
