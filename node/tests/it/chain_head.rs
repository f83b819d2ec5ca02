//! The new JSON-RPC spec's `chainHead_v1_*` on the relay chain, as PAPI uses it: follow with
//! runtime, blocks on two forks, pinned blocks' headers, bodies, storage and runtime calls as
//! operations, finality that prunes the losing fork, unpinning, and the spec's errors.

use crate::support::{client_of, fast_dev_spec};
use jsonrpsee_core::client::{ClientT, Subscription, SubscriptionClientT, SubscriptionKind};
use jsonrpsee_core::rpc_params;
use jsonrpsee_ws_client::{WsClient, WsClientBuilder};
use parity_scale_codec::{Decode, Encode};
use serde_json::{json, Value};
use std::sync::Arc;
use std::time::Duration;
use tessera_node::client::ImportOutcome;
use tessera_node::pool::Pool;
use tessera_node::rpc;
use tessera_node::service::{ChainEvent, Shared};
use tessera_node::workload::sign;
use tessera_relay_chain::{Call, UNIT};
use tessera_runtime::crypto::Pair;
use tessera_runtime::modules::{balances, system};
use tessera_runtime::transaction_validity::{TransactionSource, TransactionValidity};
use tessera_runtime::{Block, Hash, Header, OpaqueExtrinsic};

const STEP: Duration = Duration::from_secs(10);

async fn next(follow: &mut Subscription<Value>) -> Value {
    tokio::time::timeout(STEP, follow.next())
        .await
        .expect("an event in time")
        .expect("the subscription goes on")
        .expect("an event")
}

/// The follow subscription's id, as the other methods take it.
fn id(follow: &Subscription<Value>) -> Value {
    match follow.kind() {
        SubscriptionKind::Subscription(id) => Value::from(id.clone()),
        _ => unreachable!("a subscription has an id"),
    }
}

fn hex(bytes: &[u8]) -> String {
    format!("0x{}", hex::encode(bytes))
}

fn unhex(text: &Value) -> Vec<u8> {
    hex::decode(text.as_str().unwrap().trim_start_matches("0x")).unwrap()
}

/// Announces a block the node stored, as a running node does.
fn announce(shared: &Shared, block: &Block, best: bool) {
    shared.publish(ChainEvent::Imported {
        header: block.header.clone(),
        extrinsics: block.extrinsics.iter().map(|xt| xt.hash()).collect(),
        best,
    });
}

/// A transfer of one unit from Alice to Bob with `nonce`, signed on the node's best block.
fn transfer(shared: &Shared, nonce: u64) -> OpaqueExtrinsic {
    let client = shared.client();
    let best = client.best_header().unwrap();
    let call = Call::Balances(balances::Call::Transfer {
        dest: Pair::dev("Bob").public().into(),
        value: UNIT,
    });
    sign(
        &Pair::dev("Alice"),
        call,
        nonce,
        client.info().unwrap().genesis,
        &best,
    )
}

/// The events of operation `operation` up to its last (done, error or inaccessible).
async fn operation_events(follow: &mut Subscription<Value>, operation: &Value) -> Vec<Value> {
    let mut events = Vec::new();
    loop {
        let event = next(follow).await;
        assert_eq!(&event["operationId"], operation, "{event}");
        let last = matches!(
            event["event"].as_str(),
            Some(
                "operationBodyDone"
                    | "operationCallDone"
                    | "operationStorageDone"
                    | "operationError"
                    | "operationInaccessible"
            )
        );
        events.push(event);
        if last {
            return events;
        }
    }
}

async fn started(
    client: &WsClient,
    method: &str,
    params: jsonrpsee_core::params::ArrayParams,
) -> Value {
    let response: Value = client.request(method, params).await.unwrap();
    assert_eq!(response["result"], "started", "{method}: {response}");
    response["operationId"].clone()
}

#[tokio::test]
async fn a_client_follows_forks_finality_and_reads_pinned_blocks() {
    let spec = fast_dev_spec();
    let shared = Arc::new(Shared::new(client_of(&spec), "Development".into()));
    let (addr, _handle) = rpc::start("127.0.0.1:0".parse().unwrap(), shared.clone())
        .await
        .unwrap();
    let client = WsClientBuilder::default()
        .build(format!("ws://{addr}"))
        .await
        .unwrap();
    let genesis = shared.client().info().unwrap().genesis;

    let methods: Value = client.request("rpc_methods", rpc_params![]).await.unwrap();
    for method in [
        "chainHead_v1_follow",
        "chainHead_v1_storage",
        "chainHead_v1_unpin",
    ] {
        assert!(methods["methods"]
            .as_array()
            .unwrap()
            .contains(&json!(method)));
    }

    let mut follow: Subscription<Value> = client
        .subscribe(
            "chainHead_v1_follow",
            rpc_params![true],
            "chainHead_v1_unfollow",
        )
        .await
        .unwrap();
    let sub = id(&follow);
    let initialized = next(&mut follow).await;
    assert_eq!(initialized["event"], "initialized");
    assert_eq!(
        initialized["finalizedBlockHashes"],
        json!([genesis.to_string()])
    );
    let runtime = &initialized["finalizedBlockRuntime"];
    assert_eq!(runtime["type"], "valid", "{runtime}");
    assert_eq!(runtime["spec"]["specName"], "tessera-relay");
    // The spec's `apis` is an object: TaggedTransactionQueue (0xd2bc9897eed08f15) at 3.
    assert_eq!(
        runtime["spec"]["apis"]["0xd2bc9897eed08f15"], 3,
        "{runtime}"
    );
    assert_eq!(
        next(&mut follow).await,
        json!({ "event": "bestBlockChanged", "bestBlockHash": genesis.to_string() })
    );

    // Block 1 on one fork (with a transfer), and a rival block 1 another node authored.
    let first = transfer(&shared, 0);
    let ours = {
        let mut client = shared.client();
        let mut pool = shared.pool();
        client.submit(&mut pool, first).unwrap();
        client.author_next(&mut pool).unwrap().block
    };
    announce(&shared, &ours, true);
    assert_eq!(
        next(&mut follow).await,
        json!({
            "event": "newBlock",
            "blockHash": ours.hash().to_string(),
            "parentBlockHash": genesis.to_string(),
            "newRuntime": null,
        })
    );
    assert_eq!(
        next(&mut follow).await,
        json!({ "event": "bestBlockChanged", "bestBlockHash": ours.hash().to_string() })
    );
    let rival = {
        let mut other = client_of(&spec);
        // With one validator, one of the next slots of 50 ms is claimable.
        let mut claimed = None;
        for _ in 0..200 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let Some(claim) = other.claim_slot(tessera_node::client::unix_time_ms()) {
                claimed = Some(claim);
                break;
            }
        }
        let claim = claimed.expect("a slot to claim within 4 s");
        other.author_block(&mut Pool::new(8), claim).unwrap().block
    };
    assert_ne!(rival.hash(), ours.hash());
    let outcome = shared.client().import_block(&rival).unwrap();
    let ImportOutcome::Imported { best } = outcome else {
        panic!("the rival is new")
    };
    announce(&shared, &rival, best);
    let event = next(&mut follow).await;
    assert_eq!(event["event"], "newBlock");
    assert_eq!(event["blockHash"], rival.hash().to_string());
    assert_eq!(event["parentBlockHash"], genesis.to_string());
    if best {
        assert_eq!(
            next(&mut follow).await["bestBlockHash"],
            rival.hash().to_string()
        );
    }

    // A pinned block's header, and its body as an operation.
    let header: Value = client
        .request(
            "chainHead_v1_header",
            rpc_params![sub.clone(), ours.hash().to_string()],
        )
        .await
        .unwrap();
    assert_eq!(
        Header::decode(&mut &unhex(&header)[..]).unwrap(),
        ours.header
    );
    let operation = started(
        &client,
        "chainHead_v1_body",
        rpc_params![sub.clone(), ours.hash().to_string()],
    )
    .await;
    let events = operation_events(&mut follow, &operation).await;
    let body: Vec<String> = ours.extrinsics.iter().map(|xt| hex(&xt.encode())).collect();
    assert_eq!(
        events,
        vec![json!({ "event": "operationBodyDone", "operationId": operation, "value": body })]
    );

    // Runtime calls: metadata versions (PAPI sends an empty input as ""), and Substrate's
    // transaction check: a transfer with the nonce block 1 used is stale there, the next is
    // valid.
    let operation = started(
        &client,
        "chainHead_v1_call",
        rpc_params![
            sub.clone(),
            ours.hash().to_string(),
            "Metadata_metadata_versions",
            ""
        ],
    )
    .await;
    let events = operation_events(&mut follow, &operation).await;
    assert_eq!(events[0]["event"], "operationCallDone", "{events:?}");
    let versions = Vec::<u32>::decode(&mut &unhex(&events[0]["output"])[..]).unwrap();
    assert!(versions.contains(&15), "{versions:?}");
    for (nonce, stale) in [(0, true), (1, false)] {
        let input = (
            TransactionSource::External,
            transfer(&shared, nonce),
            ours.hash(),
        )
            .encode();
        let operation = started(
            &client,
            "chainHead_v1_call",
            rpc_params![
                sub.clone(),
                ours.hash().to_string(),
                "TaggedTransactionQueue_validate_transaction",
                hex(&input)
            ],
        )
        .await;
        let events = operation_events(&mut follow, &operation).await;
        let validity = TransactionValidity::decode(&mut &unhex(&events[0]["output"])[..]).unwrap();
        assert_eq!(validity.is_err(), stale, "nonce {nonce}: {validity:?}");
    }
    // Block execution is not for RPC callers: the spec's operation error.
    let operation = started(
        &client,
        "chainHead_v1_call",
        rpc_params![
            sub.clone(),
            ours.hash().to_string(),
            "Core_execute_block",
            "0x"
        ],
    )
    .await;
    let events = operation_events(&mut follow, &operation).await;
    assert_eq!(events[0]["event"], "operationError", "{events:?}");
    let error = events[0]["error"].as_str().unwrap();
    assert!(error.contains("not a runtime function"), "{error}");

    // Storage: a value, a hash, every account's hash, and the root's Merkle value.
    let alice = system::ACCOUNT.key(&Pair::dev("Alice").public());
    let accounts = system::ACCOUNT.prefix().to_vec();
    let code = tessera_runtime::storage::CODE_KEY;
    let items = json!([
        { "key": hex(&alice), "type": "value" },
        { "key": hex(code), "type": "hash" },
        { "key": hex(&accounts), "type": "descendantsHashes" },
        { "key": "0x", "type": "closestDescendantMerkleValue" },
    ]);
    let response: Value = client
        .request(
            "chainHead_v1_storage",
            rpc_params![sub.clone(), ours.hash().to_string(), items, Value::Null],
        )
        .await
        .unwrap();
    assert_eq!(response["discardedItems"], 0, "{response}");
    let events = operation_events(&mut follow, &response["operationId"]).await;
    assert_eq!(events.last().unwrap()["event"], "operationStorageDone");
    let items: Vec<Value> = events
        .iter()
        .flat_map(|event| event["items"].as_array().cloned().unwrap_or_default())
        .collect();
    let state_value = |key: &[u8]| shared.client().storage(&ours.hash(), key).unwrap().unwrap();
    assert!(items.contains(&json!({ "key": hex(&alice), "value": hex(&state_value(&alice)) })));
    let code_hash = tessera_runtime::hashing::blake2_256(&state_value(code));
    assert!(items.contains(&json!({ "key": hex(code), "hash": code_hash.to_string() })));
    let listed = items
        .iter()
        .filter(|item| item["key"].as_str().unwrap().starts_with(&hex(&accounts)))
        .count();
    let stored = shared
        .client()
        .keys_paged(&ours.hash(), &accounts, 1_000, None)
        .unwrap();
    assert_eq!(
        listed,
        stored.len() + 1,
        "every account's hash, and Alice's value"
    );
    assert!(items.contains(&json!({
        "key": "0x",
        "closestDescendantMerkleValue": ours.header.state_root.to_string(),
    })));

    // Finality of our block 1 prunes the rival; the best block moves to ours first if needed.
    shared.client().finalize(&ours.hash(), None).unwrap();
    shared.publish(ChainEvent::Finalized(ours.header.clone()));
    let mut event = next(&mut follow).await;
    if best {
        assert_eq!(
            event,
            json!({ "event": "bestBlockChanged", "bestBlockHash": ours.hash().to_string() })
        );
        event = next(&mut follow).await;
    }
    assert_eq!(
        event,
        json!({
            "event": "finalized",
            "finalizedBlockHashes": [ours.hash().to_string()],
            "prunedBlockHashes": [rival.hash().to_string()],
        })
    );

    // Unpinning is all or nothing, and a block unpinned can no longer be asked about.
    let code_of = |err: jsonrpsee_core::ClientError| match err {
        jsonrpsee_core::ClientError::Call(err) => err.code(),
        other => panic!("{other}"),
    };
    let twice = client
        .request::<Value, _>(
            "chainHead_v1_unpin",
            rpc_params![
                sub.clone(),
                [ours.hash().to_string(), ours.hash().to_string()]
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(code_of(twice), -32804);
    let unknown = client
        .request::<Value, _>(
            "chainHead_v1_unpin",
            rpc_params![
                sub.clone(),
                [ours.hash().to_string(), Hash([7; 32]).to_string()]
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(code_of(unknown), -32801);
    let unpinned: Value = client
        .request(
            "chainHead_v1_unpin",
            rpc_params![
                sub.clone(),
                [
                    genesis.to_string(),
                    ours.hash().to_string(),
                    rival.hash().to_string()
                ]
            ],
        )
        .await
        .unwrap();
    assert_eq!(unpinned, Value::Null);
    let gone = client
        .request::<Value, _>(
            "chainHead_v1_header",
            rpc_params![sub.clone(), ours.hash().to_string()],
        )
        .await
        .unwrap_err();
    assert_eq!(code_of(gone), -32801);
    // An unknown subscription: null, limitReached, ignored, as the spec has it.
    let header: Value = client
        .request(
            "chainHead_v1_header",
            rpc_params!["nope", genesis.to_string()],
        )
        .await
        .unwrap();
    assert_eq!(header, Value::Null);
    let body: Value = client
        .request(
            "chainHead_v1_body",
            rpc_params!["nope", genesis.to_string()],
        )
        .await
        .unwrap();
    assert_eq!(body, json!({ "result": "limitReached" }));

    // Without runtime, no calls; past 4 follows on one connection, the spec's -32800.
    let plain: Subscription<Value> = client
        .subscribe(
            "chainHead_v1_follow",
            rpc_params![false],
            "chainHead_v1_unfollow",
        )
        .await
        .unwrap();
    let finalized = ours.hash();
    let err = client
        .request::<Value, _>(
            "chainHead_v1_call",
            rpc_params![
                id(&plain),
                finalized.to_string(),
                "Metadata_metadata_versions",
                "0x"
            ],
        )
        .await
        .unwrap_err();
    assert_eq!(code_of(err), -32802);
    let mut more = Vec::new();
    for _ in 0..2 {
        more.push(
            client
                .subscribe::<Value, _>(
                    "chainHead_v1_follow",
                    rpc_params![false],
                    "chainHead_v1_unfollow",
                )
                .await
                .unwrap(),
        );
    }
    let err = client
        .subscribe::<Value, _>(
            "chainHead_v1_follow",
            rpc_params![false],
            "chainHead_v1_unfollow",
        )
        .await
        .unwrap_err();
    assert_eq!(code_of(err), -32800);
}
