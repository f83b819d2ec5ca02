//! A chain spec's code substitute (Substrate's `codeSubstitutes`): from the state of its block
//! on, nodes run it in place of the chain's runtime, authoring and importing alike, and say
//! so over the runtime API; the blocks before it execute as they were made, including on a
//! node that syncs them later or restarts.

use tessera_consensus::AuthorityKey;
use tessera_node::client::Client;
use tessera_node::pool::Pool;
use tessera_node::store::RocksDb;
use tessera_node::workload::sign_for;
use tessera_relay_chain::{Call, ChainSpec, HexBytes, UNIT};
use tessera_runtime::crypto::Pair;
use tessera_runtime::hashing::blake2_256;
use tessera_runtime::modules::balances;
use tessera_runtime::{Block, Hash, Nonce};

/// The block from whose state on the substitute runs.
const FROM: u32 = 2;

fn open(spec: &ChainSpec, dir: &std::path::Path) -> Client {
    let db = RocksDb::open(dir).unwrap();
    let mut client = Client::open(Box::new(db), &spec.build_genesis().unwrap()).unwrap();
    client
        .set_author(AuthorityKey::from_pair(&Pair::dev("Alice")))
        .unwrap();
    client
}

/// Authors the next block with one transfer from Eve, signed for the runtime that runs on the
/// best block's state; the block and the fee Eve paid.
fn block_with_a_transfer(client: &mut Client, nonce: Nonce) -> (Block, u128) {
    let best = client.best_header().unwrap();
    let genesis = client.info().unwrap().genesis;
    let version = client.runtime_version(&best.hash()).unwrap();
    let eve = Pair::dev("Eve");
    let call = Call::Balances(balances::Call::Transfer {
        dest: Pair::dev("Ferdie").public().into(),
        value: UNIT,
    });
    let xt = sign_for(&eve, call, nonce, genesis, &best, &version);
    let free = |client: &Client, at: &Hash| client.account(at, &eve.public()).unwrap().data.free;
    let before = free(client, &best.hash());
    let mut pool = Pool::default();
    client.submit(&mut pool, xt).unwrap();
    let block = client.author_next(&mut pool).unwrap().block;
    assert_eq!(
        block.extrinsics.len(),
        1,
        "the transfer is in #{}",
        block.header.number
    );
    let fee = before - free(client, &block.hash()) - UNIT;
    (block, fee)
}

#[test]
fn a_substitute_runs_from_its_block_on_for_authors_importers_and_restarted_nodes() {
    let next = std::fs::read(env!("RELAY_NEXT_WASM")).unwrap();
    let mut spec = ChainSpec::dev();
    spec.code_substitutes.insert(FROM, HexBytes(next.clone()));
    let (author_dir, importer_dir) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut author = open(&spec, author_dir.path());
    let mut importer = open(&spec, importer_dir.path());

    let mut fees = Vec::new();
    for nonce in 0..4 {
        let (block, fee) = block_with_a_transfer(&mut author, nonce);
        importer.import_block(&block).unwrap();
        fees.push(fee);
    }
    // Blocks 1 and 2 run on the states of 0 and 1 (the genesis runtime); 3 and 4 on those of 2
    // and 3 (the substitute, the next version: half the base fee).
    assert_eq!(fees[0], fees[1]);
    assert!(fees[2] < fees[0], "{fees:?}");
    assert_eq!(fees[2], fees[3]);

    let genesis_code = blake2_256(tessera_relay_chain::WASM_BINARY);
    for client in [&author, &importer] {
        let at = |number| client.store().canonical_hash(number).unwrap().unwrap();
        assert_eq!(client.runtime_version(&at(1)).unwrap().spec_version, 1);
        assert_eq!(client.runtime_version(&at(FROM)).unwrap().spec_version, 2);
        assert_eq!(client.code_hash(&at(4)).unwrap(), Some(blake2_256(&next)));
        // The chain's own code is unchanged: the substitute is the node's, not the chain's.
        let on_chain = client
            .storage(&at(4), tessera_runtime::storage::CODE_KEY)
            .unwrap();
        assert_eq!(on_chain.map(|code| blake2_256(&code)), Some(genesis_code));
    }

    // Reopened, a node learns again which code the substitute replaces, from its block #2.
    drop(author);
    let mut reopened = open(&spec, author_dir.path());
    let (block, fee) = block_with_a_transfer(&mut reopened, 4);
    assert_eq!(fee, fees[3]);
    importer.import_block(&block).unwrap();

    // Without the substitute, a node cannot import the blocks made with it.
    let plain_dir = tempfile::tempdir().unwrap();
    let mut plain = open(&ChainSpec::dev(), plain_dir.path());
    let at = |number| reopened.store().canonical_hash(number).unwrap().unwrap();
    for number in 1..=2 {
        plain
            .import_block(&reopened.block(&at(number)).unwrap().unwrap())
            .unwrap();
    }
    let third = reopened.block(&at(3)).unwrap().unwrap();
    assert!(plain.import_block(&third).is_err());
}

#[test]
fn a_substitute_that_is_no_relay_runtime_is_refused_with_the_field() {
    let mut spec = ChainSpec::dev();
    let para = parachain_template_runtime::WASM_BINARY.to_vec();
    spec.code_substitutes.insert(7, HexBytes(para));
    let err = spec.build_genesis().unwrap_err().to_string();
    assert!(err.contains("codeSubstitutes.7"), "{err}");
    let json = serde_json::to_string(&spec).unwrap();
    assert!(
        json.contains("\"codeSubstitutes\":{\"7\":\"0x"),
        "Substrate's shape"
    );
    assert!(ChainSpec::from_json(&json).is_err());
}
