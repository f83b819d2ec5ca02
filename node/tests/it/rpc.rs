//! The JSON-RPC server over WebSocket and HTTP: Substrate shapes, subscriptions, errors.

use crate::support::dev_client;
use jsonrpsee_core::client::{ClientT, Subscription, SubscriptionClientT};
use jsonrpsee_core::rpc_params;
use jsonrpsee_ws_client::{WsClient, WsClientBuilder};
use parity_scale_codec::Encode;
use serde_json::Value;
use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;
use tessera_node::rpc;
use tessera_node::service::{ChainEvent, Shared};
use tessera_node::workload::sign;
use tessera_relay_chain::{Call, UNIT};
use tessera_runtime::crypto::Pair;
use tessera_runtime::modules::{balances, system};

const STEP: Duration = Duration::from_secs(10);

async fn node() -> (
    Arc<Shared>,
    WsClient,
    std::net::SocketAddr,
    jsonrpsee::server::ServerHandle,
) {
    let shared = Arc::new(Shared::new(dev_client(), "Development".into()));
    let (addr, handle) = rpc::start("127.0.0.1:0".parse().unwrap(), shared.clone())
        .await
        .unwrap();
    let client = WsClientBuilder::default()
        .build(format!("ws://{addr}"))
        .await
        .unwrap();
    (shared, client, addr, handle)
}

/// Authors one block as the dev validator, finalizes it (as the lone voter of the dev chain
/// does) and announces both, as a running node does.
fn author(shared: &Shared) -> tessera_runtime::Block {
    let block = {
        let mut client = shared.client();
        let mut pool = shared.pool();
        let block = client.author_next(&mut pool).unwrap().block;
        client.finalize(&block.hash(), None).unwrap();
        block
    };
    shared.publish(ChainEvent::Imported {
        header: block.header.clone(),
        extrinsics: block.extrinsics.iter().map(|xt| xt.hash()).collect(),
        best: true,
    });
    shared.publish(ChainEvent::Finalized(block.header.clone()));
    block
}

fn transfer_hex(shared: &Shared, nonce: tessera_runtime::Nonce) -> String {
    transfer_hex_from(shared, "Alice", "Bob", nonce)
}

/// A transfer of one unit from dev account `from` to `to`, as hex.
fn transfer_hex_from(
    shared: &Shared,
    from: &str,
    to: &str,
    nonce: tessera_runtime::Nonce,
) -> String {
    let client = shared.client();
    let best = client.best_header().unwrap();
    let call = Call::Balances(balances::Call::Transfer {
        dest: Pair::dev(to).public().into(),
        value: UNIT,
    });
    let xt = sign(
        &Pair::dev(from),
        call,
        nonce,
        client.info().unwrap().genesis,
        &best,
    );
    format!("0x{}", hex::encode(xt.encode()))
}

async fn next(subscription: &mut Subscription<Value>) -> Value {
    tokio::time::timeout(STEP, subscription.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap()
}

#[tokio::test]
async fn submit_and_watch_sees_the_transfer_finalized() {
    let (shared, client, _, _handle) = node().await;
    let mut heads: Subscription<Value> = client
        .subscribe(
            "chain_subscribeNewHeads",
            rpc_params![],
            "chain_unsubscribeNewHeads",
        )
        .await
        .unwrap();
    let mut watch: Subscription<Value> = client
        .subscribe(
            "author_submitAndWatchExtrinsic",
            rpc_params![transfer_hex(&shared, 0)],
            "author_unwatchExtrinsic",
        )
        .await
        .unwrap();
    assert_eq!(next(&mut watch).await, "ready");
    let block = author(&shared);
    let hash = block.hash().to_string();
    assert_eq!(
        next(&mut watch).await,
        serde_json::json!({ "inBlock": hash })
    );
    assert_eq!(
        next(&mut watch).await,
        serde_json::json!({ "finalized": hash })
    );
    // The best header first (genesis), as Substrate sends it, then the new block.
    assert_eq!(next(&mut heads).await["number"], "0x0");
    assert_eq!(next(&mut heads).await["number"], "0x1");

    // The block as Substrate shapes it, and Bob's new balance through raw storage.
    let got: Value = client
        .request("chain_getBlock", rpc_params![hash.clone()])
        .await
        .unwrap();
    assert_eq!(got["block"]["extrinsics"].as_array().unwrap().len(), 1);
    assert_eq!(got["block"]["header"]["number"], "0x1");
    let finalized: String = client
        .request("chain_getFinalizedHead", rpc_params![])
        .await
        .unwrap();
    assert_eq!(finalized, hash);
    let key = system::ACCOUNT.key(&Pair::dev("Bob").public());
    let value: String = client
        .request(
            "state_getStorage",
            rpc_params![format!("0x{}", hex::encode(&key))],
        )
        .await
        .unwrap();
    let info: system::AccountInfo =
        parity_scale_codec::Decode::decode(&mut &hex::decode(&value[2..]).unwrap()[..]).unwrap();
    assert_eq!(info.data.free, 1_000_001 * UNIT);

    let proof: Value = client
        .request(
            "state_getReadProof",
            rpc_params![vec![format!("0x{}", hex::encode(&key))]],
        )
        .await
        .unwrap();
    assert_eq!(proof["at"], hash);
    assert!(!proof["proof"].as_array().unwrap().is_empty());
}

/// A wallet quotes a transfer's fee before sending it (`payment_queryInfo`, and
/// `TransactionPaymentApi_query_info` through `state_call`) and watches balances with
/// `state_subscribeStorage`: the fee charged is the fee quoted, and the subscription sends
/// the values, then each change.
#[tokio::test]
async fn fees_are_quoted_and_balances_watched() {
    let (shared, client, _, _handle) = node().await;
    // Bob pays Charlie: neither authors, so the fee leaves Bob's account for good.
    let bob = system::ACCOUNT.key(&Pair::dev("Bob").public());
    let charlie = system::ACCOUNT.key(&Pair::dev("Charlie").public());
    let hex_key = |key: &[u8]| format!("0x{}", hex::encode(key));
    let mut storage: Subscription<Value> = client
        .subscribe(
            "state_subscribeStorage",
            // Bob twice: a key listed again is read and sent once.
            rpc_params![vec![hex_key(&bob), hex_key(&charlie), hex_key(&bob)]],
            "state_unsubscribeStorage",
        )
        .await
        .unwrap();
    let account = |value: &Value| -> system::AccountInfo {
        let bytes = hex::decode(&value.as_str().unwrap()[2..]).unwrap();
        parity_scale_codec::Decode::decode(&mut &bytes[..]).unwrap()
    };
    let first = next(&mut storage).await;
    assert_eq!(first["changes"].as_array().unwrap().len(), 2, "{first}");
    let bob_before = account(&first["changes"][0][1]).data.free;
    let charlie_before = account(&first["changes"][1][1]).data.free;

    let transfer = transfer_hex_from(&shared, "Bob", "Charlie", 0);
    let quoted: Value = client
        .request("payment_queryInfo", rpc_params![transfer.clone()])
        .await
        .unwrap();
    assert_eq!(quoted["class"], "normal");
    let fee: u128 = quoted["partialFee"].as_str().unwrap().parse().unwrap();
    assert!(fee > 0, "{quoted}");
    // The runtime API answers the same in SCALE.
    let bytes = hex::decode(&transfer[2..]).unwrap();
    let input = [bytes.clone(), (bytes.len() as u32).encode()].concat();
    let answer: String = client
        .request(
            "state_call",
            rpc_params!["TransactionPaymentApi_query_info", hex_key(&input)],
        )
        .await
        .unwrap();
    let info: tessera_runtime::payment::RuntimeDispatchInfo =
        parity_scale_codec::Decode::decode(&mut &hex::decode(&answer[2..]).unwrap()[..]).unwrap();
    assert_eq!(info.partial_fee, fee);
    let details: Value = client
        .request("payment_queryFeeDetails", rpc_params![transfer.clone()])
        .await
        .unwrap();
    let part = |name: &str| -> u128 {
        details["inclusionFee"][name]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    };
    assert_eq!(
        part("baseFee") + part("lenFee") + part("adjustedWeightFee"),
        fee
    );

    let _: String = client
        .request("author_submitExtrinsic", rpc_params![transfer])
        .await
        .unwrap();
    let block = author(&shared);
    let changed = next(&mut storage).await;
    assert_eq!(changed["block"], block.hash().to_string());
    let changes = changed["changes"].as_array().unwrap();
    assert_eq!(changes.len(), 2, "both accounts changed: {changed}");
    assert_eq!(
        account(&changes[0][1]).data.free,
        bob_before - UNIT - fee,
        "Bob paid the value and the fee quoted"
    );
    assert_eq!(account(&changes[1][1]).data.free, charlie_before + UNIT);

    // A block that leaves both accounts alone sends nothing; a subscription must list keys.
    author(&shared);
    assert!(
        tokio::time::timeout(Duration::from_millis(300), storage.next())
            .await
            .is_err(),
        "no change, no notification"
    );
    let err = client
        .subscribe::<Value, _>(
            "state_subscribeStorage",
            rpc_params![],
            "state_unsubscribeStorage",
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("list the keys"), "{err}");
    for (bytes, says) in [
        ("0x0c0102", "not a length-prefixed extrinsic"),
        ("0x0c010203", "not an extrinsic"),
    ] {
        let err = client
            .request::<Value, _>("payment_queryInfo", rpc_params![bytes])
            .await
            .unwrap_err();
        assert!(err.to_string().contains(says), "{err}");
    }
}

/// The new JSON-RPC spec's chain spec group names the chain, and `transaction_v1_broadcast`
/// pools (and so gossips) a transaction under an operation id that `transaction_v1_stop` ends.
#[tokio::test]
async fn the_new_spec_names_the_chain_and_broadcasts() {
    let (shared, client, _, _handle) = node().await;
    let genesis: String = client
        .request("chain_getBlockHash", rpc_params![0])
        .await
        .unwrap();
    let named: String = client
        .request("chainSpec_v1_genesisHash", rpc_params![])
        .await
        .unwrap();
    assert_eq!(named, genesis);
    let name: String = client
        .request("chainSpec_v1_chainName", rpc_params![])
        .await
        .unwrap();
    let chain: String = client.request("system_chain", rpc_params![]).await.unwrap();
    assert_eq!(name, chain);
    let properties: Value = client
        .request("chainSpec_v1_properties", rpc_params![])
        .await
        .unwrap();
    assert_eq!(properties["tokenSymbol"], "UNIT");

    let id: String = client
        .request(
            "transaction_v1_broadcast",
            rpc_params![transfer_hex(&shared, 0)],
        )
        .await
        .unwrap();
    let block = author(&shared);
    assert_eq!(
        block.extrinsics.len(),
        1,
        "the broadcast transfer is in the block"
    );
    let () = client
        .request("transaction_v1_stop", rpc_params![id.clone()])
        .await
        .unwrap();
    let err = client
        .request::<(), _>("transaction_v1_stop", rpc_params![id])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no broadcast operation"), "{err}");
}

/// `state_getMetadata` answers from the runtime's Wasm what the native build describes: V14,
/// as Substrate's does (py-substrate-interface reads no other); V15 comes by version.
#[tokio::test]
async fn metadata_comes_from_the_runtime_wasm() {
    let (_shared, client, _, _handle) = node().await;
    let hex_metadata: String = client
        .request("state_getMetadata", rpc_params![])
        .await
        .unwrap();
    let bytes = hex::decode(hex_metadata.strip_prefix("0x").unwrap()).unwrap();
    assert_eq!(
        Some(bytes.clone()),
        tessera_runtime::metadata::metadata::<tessera_relay_chain::RelayRuntime>(14)
    );
    let decoded = <frame_metadata::RuntimeMetadataPrefixed as parity_scale_codec::Decode>::decode(
        &mut &bytes[..],
    )
    .unwrap();
    let frame_metadata::RuntimeMetadata::V14(metadata) = decoded.1 else {
        panic!("not V14")
    };
    assert_eq!(metadata.pallets[1].name, "Balances");
    let v15 = tessera_runtime::metadata::metadata::<tessera_relay_chain::RelayRuntime>(15);

    // What polkadot.js asks at connect: the methods, the chain's properties, the runtime
    // version with its APIs (Substrate's id of `Metadata`, version 2: metadata by version)...
    let methods: Value = client.request("rpc_methods", rpc_params![]).await.unwrap();
    for method in [
        "rpc_methods",
        "state_call",
        "state_getMetadata",
        "system_properties",
    ] {
        assert!(
            methods["methods"]
                .as_array()
                .unwrap()
                .contains(&Value::from(method)),
            "{method}"
        );
    }
    let properties: Value = client
        .request("system_properties", rpc_params![])
        .await
        .unwrap();
    assert_eq!(properties["ss58Format"], 42);
    assert_eq!(properties["tokenDecimals"], 12);
    let version: Value = client
        .request("state_getRuntimeVersion", rpc_params![])
        .await
        .unwrap();
    assert_eq!(
        version["apis"],
        // Substrate's ids of `Metadata`, `TaggedTransactionQueue`, `AccountNonceApi` and
        // `TransactionPaymentApi`, as Polkadot lists them.
        serde_json::json!([
            ["0x37e397fc7c91f5e4", 2],
            ["0xd2bc9897eed08f15", 3],
            ["0xbc9d89904f5b923f", 1],
            ["0x37c8bb1350a9a2a8", 4]
        ])
    );
    assert_eq!(version["implName"], "tessera");
    // ...then the versions it may ask for, and the newest, through `state_call`.
    let call = |method: &'static str, data: &'static str| {
        let client = &client;
        async move {
            client
                .request::<String, _>("state_call", rpc_params![method, data])
                .await
        }
    };
    assert_eq!(
        call("Metadata_metadata_versions", "0x").await.unwrap(),
        "0x080e0000000f000000"
    );
    let at_version = call("Metadata_metadata_at_version", "0x0f000000")
        .await
        .unwrap();
    let at_version = hex::decode(at_version.strip_prefix("0x").unwrap()).unwrap();
    let decoded: Option<Vec<u8>> =
        parity_scale_codec::Decode::decode(&mut &at_version[..]).unwrap();
    assert_eq!(decoded, v15);
    assert_eq!(
        call("Metadata_metadata_at_version", "0x10000000")
            .await
            .unwrap(),
        "0x00",
        "no V16"
    );
    // An account's nonce as Substrate's `AccountNonceApi` answers it: a `u32`.
    let alice = format!("0x{}", hex::encode(Pair::dev("Alice").public().0));
    let nonce: String = client
        .request(
            "state_call",
            rpc_params!["AccountNonceApi_account_nonce", alice],
        )
        .await
        .unwrap();
    assert_eq!(nonce, "0x00000000");
    // Block execution is not for callers of state_call.
    let err = call("Core_execute_block", "0x").await.unwrap_err();
    assert!(err.to_string().contains("not a runtime function"), "{err}");
    let err = call("Metadata_metadata_at_version", "0x0f")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("does not decode"), "{err}");
    let err = client
        .request::<Value, _>(
            "state_getMetadata",
            rpc_params![format!("0x{}", "11".repeat(32))],
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("unknown block"), "{err}");
}

/// `state_getKeysPaged` lists a map's keys page by page, in order, each page after the last
/// key of the one before; `state_queryStorageAt` reads several keys at a block at once.
#[tokio::test]
async fn keys_are_listed_by_page_and_read_together() {
    let (_shared, client, _, _handle) = node().await;
    let prefix = format!(
        "0x{}",
        hex::encode(tessera_runtime::storage::item_prefix("System", "Account"))
    );
    let all: Vec<String> = client
        .request("state_getKeysPaged", rpc_params![prefix.clone(), 1000])
        .await
        .unwrap();
    assert!(all.len() >= 4, "the dev accounts: {all:?}");
    assert!(all.iter().all(|key| key.starts_with(&prefix)));
    assert!(all.windows(2).all(|pair| pair[0] < pair[1]), "in order");
    let mut paged: Vec<String> = Vec::new();
    loop {
        let start = paged.last().cloned();
        let page: Vec<String> = client
            .request("state_getKeysPaged", rpc_params![prefix.clone(), 3, start])
            .await
            .unwrap();
        assert!(page.len() <= 3);
        if page.is_empty() {
            break;
        }
        paged.extend(page);
    }
    assert_eq!(paged, all);
    let err = client
        .request::<Value, _>("state_getKeysPaged", rpc_params![prefix, 1001])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("over the limit"), "{err}");

    let alice = format!(
        "0x{}",
        hex::encode(system::ACCOUNT.key(&Pair::dev("Alice").public()))
    );
    let stored: Value = client
        .request("state_getStorage", rpc_params![alice.clone()])
        .await
        .unwrap();
    let missing = format!("0x{}", "00".repeat(40));
    let queried: Value = client
        .request(
            "state_queryStorageAt",
            rpc_params![vec![alice.clone(), missing.clone()]],
        )
        .await
        .unwrap();
    assert_eq!(
        queried[0]["changes"],
        serde_json::json!([[alice, stored], [missing, null]])
    );
}

#[tokio::test]
async fn bad_parameters_get_errors_not_crashes() {
    let (shared, client, _, _handle) = node().await;
    let err = client
        .request::<Value, _>("chain_getHeader", rpc_params!["0x12"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a 32-byte 0x hash"), "{err}");
    let err = client
        .request::<Value, _>("author_submitExtrinsic", rpc_params!["0xzz"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("invalid hex"), "{err}");
    let err = client
        .request::<Value, _>("author_submitExtrinsic", rpc_params!["0x0400"])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("Invalid Transaction"), "{err}");
    let err = client
        .request::<Value, _>("chain_getBlockHash", rpc_params![[1]])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not a block number"), "{err}");
    let err = client
        .request::<Value, _>("state_getStorage", rpc_params![])
        .await
        .unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("invalid params"),
        "{err}"
    );
    // Replaying a submitted transfer is refused with the pool's code.
    let hex = transfer_hex(&shared, 0);
    let _: String = client
        .request("author_submitExtrinsic", rpc_params![hex.clone()])
        .await
        .unwrap();
    let err = client
        .request::<Value, _>("author_submitExtrinsic", rpc_params![hex])
        .await
        .unwrap_err();
    assert!(err.to_string().contains("already in the pool"), "{err}");
    // The server still answers.
    let name: String = client.request("system_name", rpc_params![]).await.unwrap();
    assert_eq!(name, "tessera");
    let unknown: Value = client
        .request("chain_getBlockHash", rpc_params![99])
        .await
        .unwrap();
    assert_eq!(unknown, Value::Null);
}

#[tokio::test]
async fn plain_http_works_too() {
    let (_shared, _client, addr, _handle) = node().await;
    let response = tokio::task::spawn_blocking(move || {
        let body = r#"{"jsonrpc":"2.0","id":7,"method":"system_chain","params":[]}"#;
        let mut stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_read_timeout(Some(STEP)).unwrap();
        write!(
            stream,
            "POST / HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        response
    })
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains(r#""result":"Development""#), "{response}");
}
