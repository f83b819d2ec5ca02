//! Real `tessera` processes on loopback: four validators author and finalize; finality goes on
//! without one, stops without two while authoring goes on, and resumes when a SIGKILLed
//! validator restarts from its RocksDB; a fresh full node syncs from genesis and follows
//! finality; a transfer submitted over RPC is seen finalized; root replaces the relay runtime
//! by `system.set_code` and every node runs the new one from the next block, without a
//! restart; a peer sending garbage is disconnected while the network goes on.

use crate::process::{best_number, finalized_number, header_of, print_logs, request, Member};
use jsonrpsee_core::client::{ClientT, Subscription, SubscriptionClientT};
use jsonrpsee_core::rpc_params;
use jsonrpsee_ws_client::WsClientBuilder;
use libp2p::identity;
use parity_scale_codec::{Decode, Encode};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tessera_node::network::{self, BlockAnnounce, NetworkConfig, NetworkEvent, Topic};
use tessera_node::workload::{sign, sign_for};
use tessera_relay_chain::{Call, ChainSpec, Event, RelayRuntime, UNIT};
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::EventRecord;
use tessera_runtime::executive::Runtime;
use tessera_runtime::modules::{balances, sudo, system};
use tessera_runtime::wasm::VersionInfo;
use tessera_runtime::{Block, Hash, Header};

const WAIT: Duration = Duration::from_secs(60);

async fn wait_best(port: u16, at_least: u32) -> u32 {
    tokio::time::timeout(WAIT, async {
        loop {
            let best = best_number(port).await;
            if best >= at_least {
                return best;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("port {port} did not reach #{at_least}"))
}

async fn hash_at(port: u16, number: u32) -> Value {
    request(port, "chain_getBlockHash", rpc_params![number]).await
}

async fn free_balance(port: u16, who: &Pair) -> u128 {
    let key = system::ACCOUNT.key(&who.public());
    let value: Value = request(
        port,
        "state_getStorage",
        rpc_params![format!("0x{}", hex::encode(key))],
    )
    .await;
    let bytes = hex::decode(value.as_str().unwrap().trim_start_matches("0x")).unwrap();
    system::AccountInfo::decode(&mut &bytes[..])
        .unwrap()
        .data
        .free
}

pub(crate) async fn wait_finalized(port: u16, at_least: u32, logs: &Path) -> u32 {
    let finalized = tokio::time::timeout(WAIT, async {
        loop {
            let finalized = finalized_number(port).await;
            if finalized >= at_least {
                return finalized;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    finalized.unwrap_or_else(|_| {
        print_logs(logs);
        panic!("port {port} did not finalize #{at_least}")
    })
}

/// The best header of the node at `port`, rebuilt from its JSON.
async fn best_header(port: u16) -> Header {
    let header: Value = request(port, "chain_getHeader", rpc_params![]).await;
    header_of(&header)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_finalize_survive_failures_and_serve_newcomers() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ChainSpec::dev_with_validators(4);
    spec.genesis.slot_duration_ms = 300;
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, spec.to_json()).unwrap();
    let genesis = spec.build_genesis().unwrap().header.hash();

    let names = ["Alice", "Bob", "Charlie", "Dave"];
    let mut validators = Member::start_validators(dir.path(), &spec_path, &names);
    let alice = validators[0].rpc;

    // All four author and finalize.
    wait_finalized(alice, 3, dir.path()).await;

    // Without Dave (a quarter of the weight), finality goes on.
    validators[3].kill();
    let finalized = finalized_number(alice).await;
    wait_finalized(alice, finalized + 3, dir.path()).await;

    // Without Charlie too, authoring goes on but finality stops.
    let charlie_best = best_number(validators[2].rpc).await;
    validators[2].kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stalled = finalized_number(alice).await;
    let best = best_number(alice).await;
    wait_best(alice, best + 6).await;
    assert_eq!(
        finalized_number(alice).await,
        stalled,
        "finality went on with half the voters"
    );

    // Charlie, SIGKILLed while importing, restarts from its RocksDB with nothing lost and
    // finality resumes.
    validators[2].restart();
    assert!(best_number(validators[2].rpc).await >= charlie_best);
    wait_finalized(alice, stalled + 3, dir.path()).await;

    // A fresh full node syncs from genesis and follows finality.
    let bootnodes: Vec<String> = validators[..3].iter().map(|v| v.address.clone()).collect();
    let observer = Member::start(
        dir.path(),
        "observer",
        &spec_path,
        None,
        &bootnodes,
        &[],
        None,
    );
    let target = finalized_number(alice).await + 2;
    wait_finalized(observer.rpc, target, dir.path()).await;
    for number in [1, target / 2, target] {
        assert_eq!(
            hash_at(observer.rpc, number).await,
            hash_at(alice, number).await,
            "block #{number}"
        );
    }

    // A transfer submitted over RPC is seen in a block and then finalized.
    let (eve, ferdie) = (Pair::dev("Eve"), Pair::dev("Ferdie"));
    let before = free_balance(observer.rpc, &ferdie).await;
    let call = Call::Balances(balances::Call::Transfer {
        dest: ferdie.public().into(),
        value: 7 * UNIT,
    });
    let xt = sign(&eve, call, 0, genesis, &finalized_header(alice).await);
    let finalized_in = Value::String(watched(alice, &xt, "finalized").await);
    let finalized_at: Value = request(alice, "chain_getFinalizedHead", rpc_params![]).await;
    assert!(finalized_in.is_string(), "{finalized_at}");
    tokio::time::timeout(WAIT, async {
        while free_balance(observer.rpc, &ferdie).await != before + 7 * UNIT {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the transfer did not reach the observer");

    upgrades_the_relay_runtime(&validators[..3], &observer, genesis, dir.path()).await;

    // Restarts, a newcomer and forks: honest nodes never banned one another.
    let bans: Vec<String> = validators
        .iter()
        .chain([&observer])
        .flat_map(|member| {
            let log = member.log();
            log.lines()
                .filter(|line| line.contains("banning peer"))
                .map(String::from)
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(bans.is_empty(), "honest nodes banned each other: {bans:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_garbage_is_disconnected_while_the_chain_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ChainSpec::dev();
    spec.genesis.slot_duration_ms = 200;
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, spec.to_json()).unwrap();
    let genesis = spec.build_genesis().unwrap().header.hash();
    let validators = [Member::start(
        dir.path(),
        "Alice",
        &spec_path,
        Some("//Alice"),
        &[],
        &[],
        None,
    )];
    let alice = validators[0].rpc;
    wait_finalized(alice, 2, dir.path()).await;

    // A peer that claims a far higher chain (a status and a block numbered beyond any slot,
    // sealed by no authority) and sends garbage is disconnected and banned; the validator
    // goes on authoring (it used to believe the claim and stop, waiting to catch up).
    let (handle, mut events) = network::start(NetworkConfig {
        keypair: identity::Keypair::generate_ed25519(),
        listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
        bootnodes: vec![validators[0].address.parse().unwrap()],
        chain: genesis.to_string(),
        limits: network::NetworkLimits::default(),
    })
    .unwrap();
    let alice_peer = validators[0]
        .address
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // One forged status (a costly offence, but not yet a ban) while the peer stays: Alice
    // must not believe it and stop authoring.
    let best = best_header(alice).await;
    let forged = Header {
        number: 4_000_000_000,
        ..best.clone()
    };
    let status = BlockAnnounce::Status {
        best: forged.clone(),
        finalized: forged.number,
    };
    tokio::time::timeout(WAIT, async {
        while handle
            .publish(Topic::Blocks, status.encode())
            .await
            .is_err()
        {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the forged status was never published");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let during = best_number(alice).await;
    // Five of the next fifteen slots (3 s), well before a sync request to the liar (20 s)
    // could time out and clear its claim.
    tokio::time::timeout(Duration::from_secs(3), async {
        while best_number(alice).await < during + 5 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("alice stopped authoring while a peer claimed a far higher chain");
    let disconnected = tokio::time::timeout(WAIT, async {
        let mut oversized_sent = false;
        let mut resend = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(NetworkEvent::PeerDisconnected(peer)) if peer == alice_peer => return,
                    Some(_) => {}
                    None => panic!("test network stopped"),
                },
                _ = resend.tick() => {
                    let junk = Block {
                        header: forged.clone(),
                        extrinsics: Vec::new(),
                    };
                    let _ = handle
                        .publish(Topic::Blocks, BlockAnnounce::Block(junk).encode())
                        .await;
                    // Garbage on both topics; an over-long sync request once.
                    let _ = handle.publish(Topic::Finality, vec![0xff; 64]).await;
                    let _ = handle.publish(Topic::Blocks, vec![0x07; 300]).await;
                    if !oversized_sent {
                        oversized_sent = handle
                            .send_direct(alice_peer, Topic::Finality, vec![0u8; 5 * 1024 * 1024])
                            .is_ok();
                    }
                }
            }
        }
    })
    .await;
    assert!(disconnected.is_ok(), "alice kept the garbage peer");
    let finalized = finalized_number(alice).await;
    wait_finalized(alice, finalized + 2, dir.path()).await;
}

/// The runtime version `state_getRuntimeVersion` gives at the node's best block.
async fn spec_version(port: u16) -> u64 {
    let version: Value = request(port, "state_getRuntimeVersion", rpc_params![]).await;
    assert_eq!(version["specName"], "tessera-relay", "{version}");
    version["specVersion"].as_u64().unwrap()
}

/// The relay events of block `hash`, read over RPC.
async fn events_at(port: u16, hash: &str) -> Vec<Event> {
    let key = format!("0x{}", hex::encode(system::events_key()));
    let value: Value = request(port, "state_getStorage", rpc_params![key, hash]).await;
    let bytes = hex::decode(value.as_str().unwrap().trim_start_matches("0x")).unwrap();
    let records = Vec::<EventRecord<Event>>::decode(&mut &bytes[..]).unwrap();
    records.into_iter().map(|record| record.event).collect()
}

/// Submits `xt` to the node at `port` and waits until its watch reports `status`
/// (`inBlock`, `finalized`): the hash of the block that status names.
pub(crate) async fn watched(
    port: u16,
    xt: &tessera_runtime::OpaqueExtrinsic,
    status: &str,
) -> String {
    let client = WsClientBuilder::default()
        .build(format!("ws://127.0.0.1:{port}"))
        .await
        .unwrap();
    let mut watch: Subscription<Value> = client
        .subscribe(
            "author_submitAndWatchExtrinsic",
            rpc_params![format!("0x{}", hex::encode(xt.encode()))],
            "author_unwatchExtrinsic",
        )
        .await
        .unwrap();
    tokio::time::timeout(WAIT, async {
        loop {
            let update = watch.next().await.unwrap().unwrap();
            if let Some(hash) = update.get(status) {
                return hash.as_str().unwrap().to_string();
            }
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the transaction was not {status}"))
}

/// Submits `xt` to the node at `port` and waits until a block of its best chain holds it:
/// that block's hash.
async fn included(port: u16, xt: &tessera_runtime::OpaqueExtrinsic) -> String {
    watched(port, xt, "inBlock").await
}

/// Alice (sudo) replaces the relay runtime with its next version (`spec_version` 2, half the
/// base fee) by `system.set_code`, after a blob that is no relay runtime was refused: every
/// node, validator or not, runs it from the next block on, says so over RPC and to
/// subscribers, finality goes on, and a transfer pays the new fee.
async fn upgrades_the_relay_runtime(
    validators: &[Member],
    observer: &Member,
    genesis: Hash,
    logs: &Path,
) {
    let alice = validators[0].rpc;
    let subscriber = WsClientBuilder::default()
        .build(format!("ws://127.0.0.1:{}", observer.rpc))
        .await
        .unwrap();
    let mut versions: Subscription<Value> = subscriber
        .subscribe(
            "state_subscribeRuntimeVersion",
            rpc_params![],
            "state_unsubscribeRuntimeVersion",
        )
        .await
        .unwrap();
    let first = tokio::time::timeout(WAIT, versions.next()).await.unwrap();
    assert_eq!(first.unwrap().unwrap()["specVersion"], 1);

    let sudo_set_code = |code: Vec<u8>| {
        Call::Sudo(sudo::Call::Sudo {
            call: Box::new(Call::System(system::Call::SetCode { code })),
        })
    };
    let sudo_result = |events: &[Event]| {
        events.iter().find_map(|event| match event {
            Event::Sudo(sudo::Event::Sudid { result }) => Some(*result),
            _ => None,
        })
    };
    let alice_pair = Pair::dev("Alice");
    let (eve, ferdie) = (Pair::dev("Eve"), Pair::dev("Ferdie"));
    let transfer = || {
        Call::Balances(balances::Call::Transfer {
            dest: ferdie.public().into(),
            value: UNIT,
        })
    };
    // What a transfer pays under the genesis runtime.
    let before = free_balance(alice, &eve).await;
    let xt = sign(
        &eve,
        transfer(),
        next_nonce(alice, &eve).await,
        genesis,
        &finalized_header(alice).await,
    );
    let old_len = xt.encode().len();
    let block = included(alice, &xt).await;
    let old_fee = before - free_balance_at(alice, &eve, &block).await - UNIT;

    // A para's runtime is no relay runtime (it lacks the parachain host API every node asks
    // of the relay's): refused with the reason, and nothing changes.
    let para_blob = parachain_template_runtime::WASM_BINARY.to_vec();
    let xt = sign(
        &alice_pair,
        sudo_set_code(para_blob),
        next_nonce(alice, &alice_pair).await,
        genesis,
        &finalized_header(alice).await,
    );
    let block = included(alice, &xt).await;
    assert_eq!(
        sudo_result(&events_at(alice, &block).await),
        Some(Err(tessera_relay_chain::dispatch_error(
            tessera_runtime::modules::system::Error::CodeLacksExports
        )))
    );
    assert_eq!(spec_version(alice).await, 1);

    let next = std::fs::read(env!("RELAY_NEXT_WASM")).unwrap();
    let xt = sign(
        &alice_pair,
        sudo_set_code(next.clone()),
        next_nonce(alice, &alice_pair).await,
        genesis,
        &finalized_header(alice).await,
    );
    let block = included(alice, &xt).await;
    let events = events_at(alice, &block).await;
    assert_eq!(
        sudo_result(&events),
        Some(Ok(())),
        "block {block}: {events:?}"
    );
    let code_hash = tessera_runtime::hashing::blake2_256(&next);
    assert!(events.contains(&Event::System(system::Event::CodeUpdated { code_hash })));
    // The observer's subscription says so once its best block holds the new code.
    let update = tokio::time::timeout(WAIT, versions.next()).await.unwrap();
    assert_eq!(update.unwrap().unwrap()["specVersion"], 2);

    // Every node builds on it and finality goes on: the validators all run the new code.
    let header: Value = request(alice, "chain_getHeader", rpc_params![block]).await;
    wait_finalized(alice, header_of(&header).number + 3, logs).await;
    for member in validators.iter().chain([observer]) {
        // One of four validators and the observer need not be among those that finalized:
        // each is given until it reaches that block too (it compiles the new code first).
        wait_best(member.rpc, header_of(&header).number + 3).await;
        assert_eq!(spec_version(member.rpc).await, 2);
        // The runtime said so in each node's log, through the `log` host function.
        let said = format!("code updated to tessera-relay version 2 ({code_hash})");
        assert!(member.log().contains(&said), "no `{said}` in a node's log");
    }

    // Its visible change: half the base fee. A transfer signed for the old version is refused
    // (every signature covers the version); signed for the new one, it pays less.
    let nonce = next_nonce(alice, &eve).await;
    // Mortal from a block the observer, which checks it, has: it may be behind Alice.
    let best = finalized_header(observer.rpc).await;
    let stale = sign(&eve, transfer(), nonce, genesis, &best);
    let refused: Result<Value, _> = subscriber
        .request(
            "author_submitExtrinsic",
            rpc_params![format!("0x{}", hex::encode(stale.encode()))],
        )
        .await;
    let refused = refused.unwrap_err().to_string();
    assert!(refused.contains("bad signature"), "{refused}");
    let before = free_balance(alice, &eve).await;
    let next = VersionInfo {
        spec_name: "tessera-relay".into(),
        spec_version: 2,
        transaction_version: 1,
    };
    let xt = sign_for(&eve, transfer(), nonce, genesis, &best, &next);
    let block = included(alice, &xt).await;
    let new_fee = before - free_balance_at(alice, &eve, &block).await - UNIT;
    // Each byte is paid for (both transfers are mortal, of the same length today).
    let per_byte = <RelayRuntime as Runtime>::CONFIG.fee_per_byte;
    let longer_by = (xt.encode().len() - old_len) as u128;
    assert_eq!(old_fee + longer_by * per_byte - new_fee, UNIT / 2_000);
}

/// The finalized header of the node at `port`: what a transaction's era starts from here, so
/// that no reorg can take its birth block away.
pub(crate) async fn finalized_header(port: u16) -> Header {
    let hash: Value = request(port, "chain_getFinalizedHead", rpc_params![]).await;
    let header: Value = request(port, "chain_getHeader", rpc_params![hash]).await;
    header_of(&header)
}

/// The nonce of `who`'s next transaction at the node at `port`.
async fn next_nonce(port: u16, who: &Pair) -> u64 {
    let address = who.public().to_string();
    request(port, "system_accountNextIndex", rpc_params![address]).await
}

/// `who`'s free balance at block `hash`.
async fn free_balance_at(port: u16, who: &Pair, hash: &str) -> u128 {
    let key = format!("0x{}", hex::encode(system::ACCOUNT.key(&who.public())));
    let value: Value = request(port, "state_getStorage", rpc_params![key, hash]).await;
    let bytes = hex::decode(value.as_str().unwrap().trim_start_matches("0x")).unwrap();
    system::AccountInfo::decode(&mut &bytes[..])
        .unwrap()
        .data
        .free
}
