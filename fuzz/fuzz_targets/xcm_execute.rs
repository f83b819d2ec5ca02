//! Arbitrary bytes as a message arriving at a simulated chain (a para or the relay chain, from
//! its parent, a sibling or a child, picked from the input's length so that decodable seeds
//! stay decodable): decoding and execution never panic or loop without bound, and no message
//! creates native tokens out of nothing on any chain.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use tessera_runtime::crypto::Pair;
use tessera_xcm::simulator::{ChainId, Network, UNIT};
use tessera_xcm::v5::Location;

const CHAINS: [ChainId; 3] = [ChainId::Relay, ChainId::Para(1000), ChainId::Para(1001)];

fn network() -> &'static Network {
    static NETWORK: OnceLock<Network> = OnceLock::new();
    NETWORK.get_or_init(|| {
        let accounts = [Pair::dev("Alice").public(), Pair::dev("Bob").public()];
        Network::new(&[1000, 1001], &accounts, 1_000 * UNIT)
    })
}

fuzz_target!(|data: &[u8]| {
    let mut net = network().clone();
    let (on, origin) = match data.len() % 4 {
        0 => (ChainId::Para(1001), Location::parent()),
        1 => (ChainId::Para(1001), Location::sibling_para(1000)),
        2 => (ChainId::Relay, Location::child_para(1000)),
        _ => (ChainId::Para(1000), Location::sibling_para(1001)),
    };
    let before: Vec<u128> = CHAINS.iter().map(|id| net.chain(*id).total_issuance()).collect();
    net.receive(on, origin, data);
    for (id, before) in CHAINS.iter().zip(before) {
        let after = net.chain(*id).total_issuance();
        assert!(after <= before, "{id:?}: native issuance grew from {before} to {after}");
    }
});
