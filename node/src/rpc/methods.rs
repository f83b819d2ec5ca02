//! The RPC methods.

use super::json;
use super::watch::{watch_relay, Flavour, Watchers};
use crate::client::Client;
use crate::pool::{Admitted, PoolError};
use crate::service::{ChainEvent, Shared};
use jsonrpsee::core::{RegisterMethodError, SubscriptionResult};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, RpcModule};
use parity_scale_codec::{Decode, DecodeAll, Encode};
use serde_json::{json, Value};
use std::sync::Arc;
use tessera_runtime::executive::InvalidTransaction;
use tessera_runtime::state::State;
use tessera_runtime::AccountId;
use tessera_runtime::{Hash, OpaqueExtrinsic};
use tokio::sync::broadcast::error::RecvError;

type RpcResult<T> = Result<T, ErrorObjectOwned>;

const INVALID_PARAMS: i32 = -32602;
const INTERNAL: i32 = -32603;
/// Substrate's code for a method this node does not serve to this caller.
const UNSAFE: i32 = -32601;
// Substrate's transaction-pool error codes.
pub(super) const POOL_INVALID_TX: i32 = 1010;
const POOL_UNKNOWN_VALIDITY: i32 = 1011;
pub(super) const POOL_ALREADY_IMPORTED: i32 = 1013;
pub(super) const POOL_TOO_LOW_PRIORITY: i32 = 1014;
pub(super) const POOL_IMMEDIATELY_DROPPED: i32 = 1016;
/// Most keys `state_getKeysPaged` lists at once (Substrate's limit).
const MAX_KEYS_PAGED: u32 = 1_000;

/// Most keys `state_queryStorageAt` reads at once.
pub(super) const MAX_QUERY_KEYS: usize = 1_024;

/// Most keys `state_getReadProof` proves at once.
const MAX_PROOF_KEYS: usize = 1_024;

pub(super) fn error(code: i32, message: impl Into<String>) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(code, message.into(), None::<()>)
}

pub(super) fn invalid_params(message: impl Into<String>) -> ErrorObjectOwned {
    error(INVALID_PARAMS, message)
}

pub(super) fn internal(err: impl ToString) -> ErrorObjectOwned {
    error(INTERNAL, err.to_string())
}

pub(super) fn parse_hash(text: &str) -> RpcResult<Hash> {
    text.parse()
        .map_err(|_| invalid_params(format!("`{text}` is not a 32-byte 0x hash")))
}

pub(super) fn parse_hex(text: &str) -> RpcResult<Vec<u8>> {
    let digits = text
        .strip_prefix("0x")
        .ok_or_else(|| invalid_params("hex must start with 0x"))?;
    hex::decode(digits).map_err(|e| invalid_params(format!("invalid hex: {e}")))
}

/// The block `at` names, or the best block.
fn block_or_best(client: &Client, at: Option<String>) -> RpcResult<Hash> {
    match at {
        Some(text) => parse_hash(&text),
        None => Ok(client.info().map_err(internal)?.best_hash),
    }
}

/// The runtime at the block `at` names (or the best), to call with the client unlocked: a
/// caller's runtime calls do not hold up import and authoring.
fn runtime_at(shared: &Shared, at: Option<String>) -> RpcResult<crate::client::RuntimeAt> {
    let client = shared.client();
    let hash = block_or_best(&client, at)?;
    client.runtime_at(&hash).map_err(query_error)
}

/// `state_getMetadata`'s answer from `runtime`: its metadata in the version Substrate's
/// returns ([`tessera_runtime::metadata::DEFAULT`]), hex.
pub(super) fn metadata_json(runtime: &crate::client::RuntimeAt) -> RpcResult<Value> {
    let metadata = runtime
        .query::<Option<Vec<u8>>>(
            tessera_runtime::wasm::api::METADATA_AT_VERSION,
            &tessera_runtime::metadata::DEFAULT,
        )
        .map_err(query_error)?;
    let metadata = metadata.ok_or_else(|| internal("the runtime builds no metadata"))?;
    Ok(Value::String(json::hex(&metadata)))
}

/// The value under `key` at block `at` (the best block if `None`).
fn storage_at(client: &Client, at: Option<String>, key: &[u8]) -> RpcResult<Option<Vec<u8>>> {
    let hash = block_or_best(client, at)?;
    client.storage(&hash, key).map_err(query_error)
}

/// A failed state query as a JSON-RPC error: a block the node lacks is the caller's mistake.
fn query_error(err: crate::client::QueryError) -> ErrorObjectOwned {
    match err {
        crate::client::QueryError::Store(crate::store::StoreError::MissingBlock(hash)) => {
            invalid_params(format!("unknown block {hash}"))
        }
        err => internal(err),
    }
}

/// A runtime version as `state_getRuntimeVersion` and its subscription show it: Substrate's
/// fields, with `apis` listing the runtime APIs `state_call` reaches under Substrate's names
/// and encodings (clients read it to choose how they fetch metadata).
pub(super) fn runtime_version_json(version: &tessera_runtime::wasm::VersionInfo) -> Value {
    let apis: Vec<Value> = substrate_apis()
        .map(|(id, api_version)| serde_json::json!([id, api_version]))
        .collect();
    serde_json::json!({
        "specName": version.spec_name,
        "implName": "tessera",
        "authoringVersion": 0,
        "specVersion": version.spec_version,
        "implVersion": 0,
        "apis": apis,
        "transactionVersion": version.transaction_version,
        "stateVersion": 1,
    })
}

/// The Substrate APIs runtime versions list: each API's id (the hex of the blake2-64 hash of
/// its name) and version.
pub(super) fn substrate_apis() -> impl Iterator<Item = (String, u32)> {
    tessera_runtime::metadata::substrate_api_ids().map(|(id, version)| (json::hex(&id), version))
}

/// The runtime functions `state_call` calls: read-only, cheap, and answering in Substrate's
/// encoding. Others (block execution, the parachain host API) are refused: a caller could
/// make the node run a whole block per request.
const STATE_CALLS: [&str; 9] = [
    tessera_runtime::wasm::api::METADATA,
    tessera_runtime::wasm::api::VALIDATE_TRANSACTION,
    tessera_runtime::wasm::api::METADATA_AT_VERSION,
    tessera_runtime::wasm::api::METADATA_VERSIONS,
    tessera_runtime::wasm::api::ACCOUNT_NONCE,
    tessera_runtime::wasm::api::QUERY_INFO,
    tessera_runtime::wasm::api::QUERY_FEE_DETAILS,
    tessera_runtime::wasm::api::QUERY_WEIGHT_TO_FEE,
    tessera_runtime::wasm::api::QUERY_LENGTH_TO_FEE,
];

/// Checks that `state_call` may call `method`.
pub(super) fn state_call_allowed(method: &str) -> RpcResult<()> {
    if STATE_CALLS.contains(&method) {
        Ok(())
    } else {
        Err(invalid_params(format!(
            "`{method}` is not a runtime function state_call calls (it calls {})",
            STATE_CALLS.join(", ")
        )))
    }
}

/// `system_properties`: the token and address format wallets show.
pub(super) fn system_properties() -> Value {
    serde_json::json!({
        "ss58Format": tessera_runtime::metadata::SS58_PREFIX,
        "tokenDecimals": 12,
        "tokenSymbol": "UNIT",
    })
}

/// `payment_queryInfo` and `payment_queryFeeDetails`: `TransactionPaymentApi`'s answer for
/// `extrinsic` (hex, length-prefixed as submitted) through `call(export, input)` on the chain's
/// runtime, in Substrate's JSON (balances as decimal strings).
pub(super) fn payment_query(
    export: &str,
    extrinsic: &str,
    call: impl FnOnce(&str, &[u8]) -> RpcResult<Vec<u8>>,
) -> RpcResult<Value> {
    use parity_scale_codec::Encode;
    use tessera_runtime::payment::{DispatchClass, FeeDetails, RuntimeDispatchInfo};
    // An `UncheckedExtrinsic` encodes as its length-prefixed bytes: what was submitted.
    let mut input = parse_extrinsic(extrinsic)?.encode();
    let len = u32::try_from(input.len()).map_err(|_| invalid_params("extrinsic too long"))?;
    len.encode_to(&mut input);
    let output = call(export, &input)?;
    let undecodable = |err| internal(format!("the runtime's answer does not decode: {err}"));
    if export == tessera_runtime::wasm::api::QUERY_FEE_DETAILS {
        let details = FeeDetails::decode(&mut &output[..]).map_err(undecodable)?;
        let inclusion_fee = details.inclusion_fee.map(|fee| {
            json!({
                "baseFee": fee.base_fee.to_string(),
                "lenFee": fee.len_fee.to_string(),
                "adjustedWeightFee": fee.adjusted_weight_fee.to_string(),
            })
        });
        return Ok(json!({ "inclusionFee": inclusion_fee }));
    }
    let info = RuntimeDispatchInfo::decode(&mut &output[..]).map_err(undecodable)?;
    let class = match info.class {
        DispatchClass::Normal => "normal",
        DispatchClass::Operational => "operational",
        DispatchClass::Mandatory => "mandatory",
    };
    Ok(json!({
        "weight": { "ref_time": info.weight.ref_time, "proof_size": info.weight.proof_size },
        "class": class,
        "partialFee": info.partial_fee.to_string(),
    }))
}

/// Calls runtime function `export` with `input` at the block named (or the best) on a
/// server's chain.
pub(super) type RuntimeCaller<C> = fn(&C, &str, &[u8], Option<String>) -> RpcResult<Vec<u8>>;

/// Registers `payment_queryInfo` and `payment_queryFeeDetails` on `module`, answered through
/// `call`.
pub(super) fn register_payment<C: Send + Sync + 'static>(
    module: &mut RpcModule<C>,
    call: RuntimeCaller<C>,
) -> Result<(), RegisterMethodError> {
    for (name, export) in [
        ("payment_queryInfo", tessera_runtime::wasm::api::QUERY_INFO),
        (
            "payment_queryFeeDetails",
            tessera_runtime::wasm::api::QUERY_FEE_DETAILS,
        ),
    ] {
        module.register_method(name, move |params: Params, context, _| {
            let mut seq = params.sequence();
            let extrinsic: String = seq.next()?;
            let at: Option<String> = seq.optional_next()?;
            payment_query(export, &extrinsic, |export, input| {
                call(context, export, input, at)
            })
        })?;
    }
    Ok(())
}

/// Registers `rpc_methods`, listing every method of `module` (itself included).
pub(super) fn register_rpc_methods<C: Send + Sync + 'static>(
    module: &mut RpcModule<C>,
) -> Result<(), RegisterMethodError> {
    let mut names: Vec<&'static str> = module.method_names().collect();
    names.push("rpc_methods");
    names.sort_unstable();
    let listing = serde_json::json!({ "methods": names });
    module.register_method("rpc_methods", move |_, _, _| listing.clone())?;
    Ok(())
}

/// `xcm_messageStatus`'s answer from the stored records of a message (none if `None`).
pub(super) fn message_records(stored: Option<Vec<u8>>) -> RpcResult<Value> {
    let records: Vec<tessera_xcm::module::MessageRecord> = match stored {
        Some(bytes) => parity_scale_codec::Decode::decode(&mut &bytes[..]).map_err(internal)?,
        None => Vec::new(),
    };
    serde_json::to_value(records).map_err(internal)
}

fn pool_error(err: PoolError) -> ErrorObjectOwned {
    match err {
        PoolError::Invalid(InvalidTransaction::Malformed(reason)) => error(
            POOL_INVALID_TX,
            format!("Invalid Transaction: does not decode: {reason}"),
        ),
        PoolError::TooLarge { .. } => error(POOL_INVALID_TX, format!("Invalid Transaction: {err}")),
        PoolError::Invalid(reason) => {
            error(POOL_INVALID_TX, format!("Invalid Transaction: {reason}"))
        }
        PoolError::AlreadyImported(_) => error(POOL_ALREADY_IMPORTED, err.to_string()),
        PoolError::TooLowPriority { .. } => error(POOL_TOO_LOW_PRIORITY, err.to_string()),
        PoolError::Full(_) | PoolError::Busy(_) | PoolError::TooManyWaiting { .. } => {
            error(POOL_IMMEDIATELY_DROPPED, err.to_string())
        }
        PoolError::State(_) => error(POOL_UNKNOWN_VALIDITY, err.to_string()),
    }
}

/// An extrinsic given as the hex of its SCALE encoding (length-prefixed), as
/// `author_submitExtrinsic` takes it.
pub(super) fn parse_extrinsic(text: &str) -> RpcResult<OpaqueExtrinsic> {
    let bytes = parse_hex(text)?;
    OpaqueExtrinsic::decode(&mut &bytes[..])
        .ok()
        .filter(|xt| parity_scale_codec::Encode::encoded_size(xt) == bytes.len())
        .ok_or_else(|| {
            error(
                POOL_INVALID_TX,
                "Invalid Transaction: not a length-prefixed extrinsic",
            )
        })
}

/// Most `transaction_v1_broadcast` operations a node keeps open; a new one past it ends the
/// oldest, so no caller can use them all up.
const MAX_BROADCASTS: usize = 1_024;

/// The open operations of `transaction_v1_broadcast`: each a transaction handed to the pool,
/// which gossips it and keeps it until it is included or invalid. `transaction_v1_stop`
/// forgets the operation; it does not take the transaction back from peers it reached.
#[derive(Clone, Default)]
pub(super) struct Broadcasts(Arc<std::sync::Mutex<Broadcasting>>);

#[derive(Default)]
struct Broadcasting {
    next: u64,
    open: std::collections::VecDeque<u64>,
}

impl Broadcasts {
    /// Opens an operation and returns its id.
    pub(super) fn open(&self) -> String {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if state.open.len() >= MAX_BROADCASTS {
            state.open.pop_front();
        }
        state.next = state.next.wrapping_add(1);
        let id = state.next;
        state.open.push_back(id);
        id.to_string()
    }

    /// Registers `transaction_v1_stop`, which ends these operations.
    pub(super) fn register_stop<C: Send + Sync + 'static>(
        self,
        module: &mut RpcModule<C>,
    ) -> Result<(), RegisterMethodError> {
        module.register_method("transaction_v1_stop", move |params, _, _| {
            let id: String = params.one()?;
            self.stop(&id)
        })?;
        Ok(())
    }

    /// Ends operation `id`; an error if no such operation is open.
    fn stop(&self, id: &str) -> RpcResult<()> {
        let mut state = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let position = id
            .parse::<u64>()
            .ok()
            .and_then(|id| state.open.iter().position(|open| *open == id));
        match position {
            Some(position) => {
                state.open.remove(position);
                Ok(())
            }
            None => Err(invalid_params(format!("no broadcast operation {id}"))),
        }
    }
}

/// Checks and pools an extrinsic given as the hex of its SCALE encoding.
async fn submit(shared: &Arc<Shared>, text: &str) -> RpcResult<Hash> {
    let xt = parse_extrinsic(text)?;
    submit_checked(shared, xt)
        .await
        .map(|admitted| admitted.hash)
}

/// Checks and pools an extrinsic; its hash and what the check said. Watchers of one it
/// replaced are told.
pub(super) async fn submit_checked(
    shared: &Arc<Shared>,
    xt: OpaqueExtrinsic,
) -> RpcResult<Admitted> {
    let admitted = shared.submit(xt).await.map_err(pool_error)?;
    if let Some(old) = admitted.replaced {
        shared.publish(ChainEvent::TxReplaced {
            hash: old,
            by: admitted.hash,
        });
    }
    Ok(admitted)
}

/// An account given as an SS58 address or 0x-hex of its 32 bytes.
pub(super) fn parse_account(text: &str) -> RpcResult<AccountId> {
    if let Some(digits) = text.strip_prefix("0x") {
        let bytes = hex::decode(digits).map_err(|e| invalid_params(format!("invalid hex: {e}")))?;
        let bytes: [u8; 32] = bytes
            .try_into()
            .map_err(|_| invalid_params("an account id is 32 bytes"))?;
        return Ok(AccountId(bytes));
    }
    AccountId::from_ss58(text)
        .map(|(account, _)| account)
        .map_err(|e| invalid_params(format!("`{text}` is not an SS58 address: {e}")))
}

/// Number as JSON integer or hex string, as Substrate accepts it.
pub(super) fn parse_number(value: Value) -> RpcResult<u32> {
    let number = match &value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s
            .strip_prefix("0x")
            .and_then(|hex| u64::from_str_radix(hex, 16).ok()),
        _ => None,
    };
    number
        .and_then(|n| u32::try_from(n).ok())
        .ok_or_else(|| invalid_params(format!("`{value}` is not a block number")))
}

/// The RPC methods over `shared`.
pub fn module(shared: Arc<Shared>) -> Result<RpcModule<Arc<Shared>>, RegisterMethodError> {
    let mut module = RpcModule::new(shared);
    // Both watch methods count against one limit.
    let watchers = Watchers::default();
    let v1_watchers = watchers.clone();
    let storage_followers = Watchers::default();
    let broadcasts = Broadcasts::default();
    let stops = broadcasts.clone();
    module.register_async_method("transaction_v1_broadcast", move |params, shared, _| {
        let broadcasts = broadcasts.clone();
        async move {
            let text: String = params.one()?;
            let xt = parse_extrinsic(&text)?;
            let id = broadcasts.open();
            // The spec gives the caller no verdict: a refused transaction is not gossiped, and
            // its operation simply has nothing left to do.
            if let Err(err) = submit_checked(&shared, xt).await {
                tracing::debug!(message = %err.message(), "transaction_v1_broadcast refused a transaction");
            }
            RpcResult::Ok(id)
        }
    })?;
    stops.register_stop(&mut module)?;

    module.register_method("system_name", |_, _, _| "tessera")?;
    module.register_method("system_version", |_, _, _| env!("CARGO_PKG_VERSION"))?;
    module.register_method("system_chain", |_, shared, _| shared.chain_name.clone())?;
    module.register_method("system_health", |_, shared, _| {
        let status = shared.network_status();
        json!({
            "peers": status.peers.len(),
            "isSyncing": status.syncing,
            "shouldHavePeers": status.should_have_peers,
        })
    })?;
    module.register_method("system_peers", |_, shared, _| {
        let peers = shared.network_status().peers;
        peers
            .into_iter()
            .map(|(id, best)| json!({ "peerId": id, "roles": "FULL", "bestNumber": best }))
            .collect::<Vec<_>>()
    })?;

    module.register_method("tessera_paras", |_, shared, _| -> RpcResult<Value> {
        let approved = crate::parachains::approval::best_approved(&shared.approval);
        let statuses =
            crate::parachains::para_statuses(&shared.client(), approved).map_err(internal)?;
        let head = |head: crate::parachains::ParaHead| {
            json!({ "number": head.number, "hash": head.hash.to_string() })
        };
        Ok(statuses
            .into_iter()
            .map(|status| {
                json!({
                    "id": status.id.0,
                    "included": head(status.included),
                    "approved": status.approved.map(head),
                    "finalized": status.finalized.map(head),
                })
            })
            .collect())
    })?;

    module.register_method(
        "chain_getHeader",
        |params: Params, shared, _| -> RpcResult<Value> {
            let at: Option<String> = params.sequence().optional_next()?;
            let client = shared.client();
            let hash = block_or_best(&client, at)?;
            Ok(client
                .header(&hash)
                .map_err(internal)?
                .map_or(Value::Null, |h| json::header(&h)))
        },
    )?;
    module.register_method(
        "chain_getBlock",
        |params: Params, shared, _| -> RpcResult<Value> {
            let at: Option<String> = params.sequence().optional_next()?;
            let client = shared.client();
            let hash = block_or_best(&client, at)?;
            let justification = client.justification(&hash).map_err(internal)?;
            Ok(client
                .block(&hash)
                .map_err(internal)?
                .map_or(Value::Null, |b| json::block(&b, justification.as_deref())))
        },
    )?;
    module.register_method(
        "chain_getBlockHash",
        |params: Params, shared, _| -> RpcResult<Value> {
            let number: Option<Value> = params.sequence().optional_next()?;
            let client = shared.client();
            let hash = match number {
                None | Some(Value::Null) => Some(client.info().map_err(internal)?.best_hash),
                Some(value) => client
                    .store()
                    .canonical_hash(parse_number(value)?)
                    .map_err(internal)?,
            };
            Ok(hash.map_or(Value::Null, |h| Value::String(h.to_string())))
        },
    )?;
    module.register_method(
        "grandpa_proveFinality",
        |params: Params, shared, _| -> RpcResult<Value> {
            let number = parse_number(params.sequence().next()?)?;
            // A clone of the store: the proof is read without the client's lock.
            let store = shared.client().store().clone();
            let proof = crate::warp::prove_finality(&store, number).map_err(internal)?;
            Ok(proof.map_or(Value::Null, |p| Value::String(json::hex(&p.encode()))))
        },
    )?;
    module.register_method(
        "tessera_warpProof",
        |params: Params, shared, _| -> RpcResult<String> {
            let from_set: Option<u64> = params.sequence().optional_next()?;
            let store = shared.client().store().clone();
            let response =
                crate::warp::warp_proof(&store, from_set.unwrap_or(0)).map_err(internal)?;
            Ok(json::hex(&response.encode()))
        },
    )?;
    module.register_method(
        "chain_getFinalizedHead",
        |_, shared, _| -> RpcResult<String> {
            Ok(shared
                .client()
                .info()
                .map_err(internal)?
                .finalized_hash
                .to_string())
        },
    )?;

    module.register_method(
        "state_getStorage",
        |params: Params, shared, _| -> RpcResult<Value> {
            let mut seq = params.sequence();
            let key: String = seq.next()?;
            let at: Option<String> = seq.optional_next()?;
            let key = parse_hex(&key)?;
            let value = storage_at(&shared.client(), at, &key)?;
            Ok(value.map_or(Value::Null, |v| Value::String(json::hex(&v))))
        },
    )?;
    module.register_method(
        "state_getRuntimeVersion",
        |params: Params, shared, _| -> RpcResult<Value> {
            let at: Option<String> = params.sequence().optional_next()?;
            let client = shared.client();
            let hash = block_or_best(&client, at)?;
            let version = client.runtime_version(&hash).map_err(query_error)?;
            Ok(runtime_version_json(&version))
        },
    )?;
    module.register_method(
        "state_getMetadata",
        |params: Params, shared, _| -> RpcResult<Value> {
            let at: Option<String> = params.sequence().optional_next()?;
            metadata_json(&runtime_at(shared, at)?)
        },
    )?;
    module.register_method(
        "xcm_messageStatus",
        |params: Params, shared, _| -> RpcResult<Value> {
            let mut seq = params.sequence();
            let id: String = seq.next()?;
            let at: Option<String> = seq.optional_next()?;
            let key = tessera_xcm::module::MESSAGES.key(&parse_hash(&id)?.0);
            message_records(storage_at(&shared.client(), at, &key)?)
        },
    )?;
    module.register_method(
        "state_getReadProof",
        |params: Params, shared, _| -> RpcResult<Value> {
            let mut seq = params.sequence();
            let keys: Vec<String> = seq.next()?;
            let at: Option<String> = seq.optional_next()?;
            if keys.len() > MAX_PROOF_KEYS {
                return Err(invalid_params(format!(
                    "at most {MAX_PROOF_KEYS} keys per proof"
                )));
            }
            let keys = keys
                .iter()
                .map(|k| parse_hex(k))
                .collect::<RpcResult<Vec<_>>>()?;
            let client = shared.client();
            let hash = block_or_best(&client, at)?;
            let header = client
                .header(&hash)
                .map_err(internal)?
                .ok_or_else(|| invalid_params(format!("unknown block {hash}")))?;
            let mut state = State::new(client.store(), header.state_root).record_proof();
            for key in &keys {
                state.get(key).map_err(internal)?;
            }
            let proof = state.commit().map_err(internal)?.proof.unwrap_or_default();
            let nodes: Vec<String> = proof.nodes.iter().map(|n| json::hex(n)).collect();
            Ok(json!({ "at": hash.to_string(), "proof": nodes }))
        },
    )?;

    module.register_method("author_rotateKeys", |_, shared, _| {
        if !shared.unsafe_rpc_allowed() {
            return Err(error(
                UNSAFE,
                "author_rotateKeys is served only on an RPC address of this machine",
            ));
        }
        let keystore = shared
            .keystore()
            .ok_or_else(|| error(UNSAFE, "this node has no keystore (run with --validator)"))?;
        let make = || {
            let pair = keystore.generate().map_err(internal)?;
            shared
                .client()
                .add_session_key(tessera_consensus::AuthorityKey::from_pair(&pair));
            RpcResult::Ok(pair.public())
        };
        let keys = tessera_relay_chain::session::SessionKeys {
            grandpa: make()?,
            babe: make()?,
            para_validator: make()?,
            para_assignment: make()?,
        };
        RpcResult::Ok(json::hex(&keys.encode()))
    })?;

    module.register_method("author_hasSessionKeys", |params, shared, _| {
        let text: String = params.one()?;
        let bytes = parse_hex(&text)?;
        let keys = tessera_relay_chain::session::SessionKeys::decode_all(&mut &bytes[..])
            .map_err(|e| invalid_params(format!("not session keys: {e}")))?;
        let held = shared.keystore().is_some_and(|keystore| {
            keys.typed()
                .iter()
                .all(|(_, public)| keystore.contains(public))
        });
        RpcResult::Ok(held)
    })?;

    module.register_method("author_hasKey", |params, shared, _| {
        let (public, _key_type): (String, String) = params.parse()?;
        let bytes = parse_hex(&public)?;
        let public = <[u8; 32]>::try_from(bytes.as_slice())
            .map(AccountId)
            .map_err(|_| invalid_params("a public key is 32 bytes"))?;
        RpcResult::Ok(
            shared
                .keystore()
                .is_some_and(|keystore| keystore.contains(&public)),
        )
    })?;

    module.register_async_method("author_submitExtrinsic", |params, shared, _| async move {
        let text: String = params.one()?;
        RpcResult::Ok(submit(&shared, &text).await?.to_string())
    })?;

    module.register_subscription(
        "chain_subscribeNewHeads",
        "chain_newHead",
        "chain_unsubscribeNewHeads",
        |_, pending, shared, _| async move {
            // The best header first, as Substrate sends it.
            forward(pending, &shared, best_header, |event| match event {
                ChainEvent::Imported {
                    header, best: true, ..
                } => Some(json::header(header)),
                _ => None,
            })
            .await
        },
    )?;
    module.register_subscription(
        "chain_subscribeAllHeads",
        "chain_allHead",
        "chain_unsubscribeAllHeads",
        |_, pending, shared, _| async move {
            forward(
                pending,
                &shared,
                |_| None,
                |event| match event {
                    ChainEvent::Imported { header, .. } => Some(json::header(header)),
                    _ => None,
                },
            )
            .await
        },
    )?;
    module.register_subscription(
        "state_subscribeRuntimeVersion",
        "state_runtimeVersion",
        "state_unsubscribeRuntimeVersion",
        |_, pending, shared, _| async move { watch_runtime_version(pending, &shared).await },
    )?;
    module.register_subscription(
        "state_subscribeStorage",
        "state_storage",
        "state_unsubscribeStorage",
        move |params, pending, shared, _| {
            let followers = storage_followers.clone();
            async move { watch_storage(params, pending, &shared, &followers).await }
        },
    )?;
    module.register_subscription(
        "chain_subscribeFinalizedHeads",
        "chain_finalizedHead",
        "chain_unsubscribeFinalizedHeads",
        |_, pending, shared, _| async move {
            forward(pending, &shared, finalized_header, |event| match event {
                ChainEvent::Finalized(header) => Some(json::header(header)),
                _ => None,
            })
            .await
        },
    )?;
    module.register_subscription(
        "author_submitAndWatchExtrinsic",
        "author_extrinsicUpdate",
        "author_unwatchExtrinsic",
        move |params, pending, shared, _| {
            let watchers = watchers.clone();
            async move { watch_relay(params, pending, &shared, &watchers, Flavour::Author).await }
        },
    )?;
    module.register_subscription(
        "transactionWatch_v1_submitAndWatch",
        "transactionWatch_v1_watchEvent",
        "transactionWatch_v1_unwatch",
        move |params, pending, shared, _| {
            let watchers = v1_watchers.clone();
            async move { watch_relay(params, pending, &shared, &watchers, Flavour::V1).await }
        },
    )?;
    module.register_method(
        "system_accountNextIndex",
        |params: Params, shared, _| -> RpcResult<u64> {
            let text: String = params.one()?;
            let who = parse_account(&text)?;
            let client = shared.client();
            let best = client.info().map_err(internal)?.best_hash;
            let from = client.account(&best, &who).map_err(internal)?.nonce;
            Ok(shared.pool().next_nonce(&who, from))
        },
    )?;
    module.register_method("system_properties", |_, _, _| system_properties())?;
    // The new JSON-RPC spec's chain spec group (PAPI and light clients start with it).
    module.register_method("chainSpec_v1_chainName", |_, shared, _| {
        shared.chain_name.clone()
    })?;
    module.register_method("chainSpec_v1_genesisHash", |_, shared, _| {
        shared
            .client()
            .info()
            .map(|info| info.genesis.to_string())
            .map_err(internal)
    })?;
    module.register_method("chainSpec_v1_properties", |_, _, _| system_properties())?;
    module.register_method(
        "state_getKeysPaged",
        |params: Params, shared, _| -> RpcResult<Value> {
            let mut seq = params.sequence();
            let prefix: String = seq.next()?;
            let count: u32 = seq.next()?;
            let start: Option<String> = seq.optional_next()?;
            let at: Option<String> = seq.optional_next()?;
            if count > MAX_KEYS_PAGED {
                return Err(invalid_params(format!(
                    "count {count} is over the limit of {MAX_KEYS_PAGED}"
                )));
            }
            let prefix = parse_hex(&prefix)?;
            let start = start.map(|start| parse_hex(&start)).transpose()?;
            let client = shared.client();
            let hash = block_or_best(&client, at)?;
            let keys = client
                .keys_paged(&hash, &prefix, count as usize, start.as_deref())
                .map_err(query_error)?;
            Ok(Value::from(
                keys.iter().map(|key| json::hex(key)).collect::<Vec<_>>(),
            ))
        },
    )?;
    module.register_method(
        "state_queryStorageAt",
        |params: Params, shared, _| -> RpcResult<Value> {
            let client = shared.client();
            query_storage_at(
                &params,
                |at| block_or_best(&client, at),
                |hash, key| client.storage(hash, key).map_err(query_error),
            )
        },
    )?;
    module.register_method(
        "state_call",
        |params: Params, shared, _| -> RpcResult<Value> {
            let mut seq = params.sequence();
            let method: String = seq.next()?;
            let data: String = seq.next()?;
            let at: Option<String> = seq.optional_next()?;
            state_call_allowed(&method)?;
            let input = parse_hex(&data)?;
            let output = runtime_at(shared, at)?
                .call(&method, &input)
                .map_err(query_error)?;
            Ok(Value::String(json::hex(&output)))
        },
    )?;
    register_payment(&mut module, |shared: &Arc<Shared>, export, input, at| {
        runtime_at(shared, at)?
            .call(export, input)
            .map_err(query_error)
    })?;
    super::chain_head::register(&mut module)?;
    register_rpc_methods(&mut module)?;
    Ok(module)
}

/// The relay chain as `chainHead_v1_*` follows it.
impl super::chain_head::HeadChain for Arc<Shared> {
    type Wakes = RelayWakes;

    fn wakes(&self) -> RelayWakes {
        RelayWakes(self.subscribe())
    }

    fn heads(&self) -> Result<(Hash, Hash), String> {
        let info = self.client().info().map_err(|e| e.to_string())?;
        Ok((info.finalized_hash, info.best_hash))
    }

    fn header(&self, hash: &Hash) -> Result<Option<tessera_runtime::Header>, String> {
        self.client().header(hash).map_err(|e| e.to_string())
    }

    fn body(&self, hash: &Hash) -> Result<Option<Vec<OpaqueExtrinsic>>, String> {
        self.client().store().body(hash).map_err(|e| e.to_string())
    }

    fn unfinalized(&self) -> Vec<Hash> {
        let client = self.client();
        let tree = client.authorship().tree();
        let mut blocks: Vec<(u32, Hash)> = tree
            .hashes()
            .filter_map(|hash| Some((tree.number(hash)?, *hash)))
            .collect();
        blocks.sort_unstable();
        blocks.into_iter().map(|(_, hash)| hash).collect()
    }

    fn state(&self, at: &Hash) -> Result<State<'static>, String> {
        self.client().state_handle(at).map_err(|e| e.to_string())
    }

    fn code_hash(&self, at: &Hash) -> Result<Option<Hash>, String> {
        self.client().code_hash(at).map_err(|e| e.to_string())
    }

    fn runtime_version(&self, at: &Hash) -> Result<tessera_runtime::wasm::VersionInfo, String> {
        self.client().runtime_version(at).map_err(|e| e.to_string())
    }

    fn call(&self, at: &Hash, function: &str, input: &[u8]) -> Result<Vec<u8>, String> {
        let runtime = self.client().runtime_at(at).map_err(|e| e.to_string())?;
        runtime.call(function, input).map_err(|e| e.to_string())
    }
}

/// The relay chain's events, as `chainHead_v1_follow` wakes on them.
pub(super) struct RelayWakes(tokio::sync::broadcast::Receiver<ChainEvent>);

impl super::chain_head::Wakes for RelayWakes {
    async fn next(&mut self) -> super::chain_head::Wake {
        use super::chain_head::Wake;
        loop {
            return match self.0.recv().await {
                Ok(ChainEvent::Imported { header, .. }) => Wake::Imported(header.hash()),
                Ok(ChainEvent::Finalized(_)) => Wake::Moved,
                Ok(_) => continue,
                Err(RecvError::Lagged(_)) => Wake::Lagged,
                Err(RecvError::Closed) => Wake::Closed,
            };
        }
    }
}

/// Sends the best block's runtime version, then the new one each time a new best block runs
/// another runtime (its `:code` changed), until the client unsubscribes.
async fn watch_runtime_version(
    pending: PendingSubscriptionSink,
    shared: &Shared,
) -> SubscriptionResult {
    let mut sent: Option<Option<Hash>> = None;
    follow_best(pending, shared, move |hash| {
        let client = shared.client();
        // Only a changed `:code` can change the version: its hash is one trie read.
        let code_hash = client.code_hash(hash)?;
        if sent == Some(code_hash) {
            return Ok(None);
        }
        sent = Some(code_hash);
        let version = match code_hash {
            Some(code_hash) => client.runtime_version_of(hash, code_hash)?,
            None => client.runtime_version(hash)?,
        };
        Ok(Some(runtime_version_json(&version)))
    })
    .await
}

/// Sends `notify(best)` for the best block now, then for each new best block, whenever it has
/// something to say, until the client unsubscribes. Each call reads the block it is given, so
/// a notification missed by a lagging receiver costs nothing.
async fn follow_best(
    pending: PendingSubscriptionSink,
    shared: &Shared,
    mut notify: impl FnMut(&Hash) -> Result<Option<Value>, crate::client::QueryError>,
) -> SubscriptionResult {
    let mut events = shared.subscribe();
    let best = shared.client().info()?.best_hash;
    let first = notify(&best)?;
    let sink = pending.accept().await?;
    if let Some(first) = first {
        sink.send(serde_json::value::to_raw_value(&first)?).await?;
    }
    loop {
        tokio::select! {
            () = sink.closed() => return Ok(()),
            event = events.recv() => match event {
                Ok(ChainEvent::Imported { header, best: true, .. }) => {
                    if let Some(value) = notify(&header.hash())? {
                        sink.send(serde_json::value::to_raw_value(&value)?).await?;
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return Ok(()),
            },
        }
    }
}

/// The keys of a `state_subscribeStorage` request: a list of at most [`MAX_QUERY_KEYS`].
pub(super) fn storage_subscription_keys(params: &Params<'_>) -> RpcResult<Vec<Vec<u8>>> {
    let keys: Option<Vec<String>> = params.sequence().optional_next()?;
    let keys = keys.unwrap_or_default();
    if keys.is_empty() {
        // Every change of every block would be a feed as large as the chain's writes.
        return Err(invalid_params(
            "subscribing to every key is not served: list the keys",
        ));
    }
    if keys.len() > MAX_QUERY_KEYS {
        return Err(invalid_params(format!(
            "at most {MAX_QUERY_KEYS} keys per subscription"
        )));
    }
    let mut parsed: Vec<Vec<u8>> = Vec::with_capacity(keys.len());
    for key in &keys {
        let key = parse_hex(key)?;
        // A key listed twice is read and sent once.
        if !parsed.contains(&key) {
            parsed.push(key);
        }
    }
    Ok(parsed)
}

/// `state_queryStorageAt(keys, hash?)`: the values of at most [`MAX_QUERY_KEYS`] keys at the
/// block `block` names, each read with `read`, in Substrate's change-set shape.
pub(super) fn query_storage_at(
    params: &Params<'_>,
    block: impl FnOnce(Option<String>) -> RpcResult<Hash>,
    mut read: impl FnMut(&Hash, &[u8]) -> RpcResult<Option<Vec<u8>>>,
) -> RpcResult<Value> {
    let mut seq = params.sequence();
    let keys: Vec<String> = seq.next()?;
    let at: Option<String> = seq.optional_next()?;
    if keys.len() > MAX_QUERY_KEYS {
        return Err(invalid_params(format!(
            "{} keys: at most {MAX_QUERY_KEYS} at once",
            keys.len()
        )));
    }
    let hash = block(at)?;
    let mut changes = Vec::with_capacity(keys.len());
    for key in &keys {
        let value = read(&hash, &parse_hex(key)?)?;
        changes.push(json!([key, value.map(|v| json::hex(&v))]));
    }
    Ok(json!([{ "block": hash.to_string(), "changes": changes }]))
}

/// Tracks the values a storage subscription has sent (by hash: a watched value may be large),
/// and tells what changed.
#[derive(Default)]
pub(super) struct StorageWatch {
    sent: Option<Vec<Option<Hash>>>,
}

impl StorageWatch {
    /// The `state_storage` notification for block `hash` whose values of the watched keys
    /// are `values` (the keys in the same order each time): all of them the first time, then
    /// only those that changed (`None` when none did).
    pub(super) fn update(
        &mut self,
        hash: &Hash,
        values: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    ) -> Option<Value> {
        let hashes: Vec<Option<Hash>> = values
            .iter()
            .map(|(_, value)| value.as_deref().map(tessera_runtime::hashing::blake2_256))
            .collect();
        let changes: Vec<Value> = values
            .iter()
            .enumerate()
            .filter(|(i, _)| {
                self.sent
                    .as_ref()
                    .is_none_or(|sent| sent.get(*i) != hashes.get(*i))
            })
            .map(|(_, (key, value))| json!([json::hex(key), value.as_deref().map(json::hex)]))
            .collect();
        self.sent = Some(hashes);
        (!changes.is_empty()).then(|| json!({ "block": hash.to_string(), "changes": changes }))
    }
}

/// `state_subscribeStorage`: the values of the listed keys at the best block, then those
/// that change at each new best block, until the client unsubscribes.
async fn watch_storage(
    params: Params<'static>,
    pending: PendingSubscriptionSink,
    shared: &Shared,
    followers: &Watchers,
) -> SubscriptionResult {
    let started = storage_subscription_keys(&params)
        .and_then(|keys| Ok((keys, followers.enter_for("storage subscriptions")?)));
    let (keys, _slot) = match started {
        Ok(started) => started,
        Err(err) => {
            pending.reject(err).await;
            return Ok(());
        }
    };
    let mut watch = StorageWatch::default();
    follow_best(pending, shared, move |hash| {
        let client = shared.client();
        let values = keys
            .iter()
            .map(|key| Ok((key.clone(), client.storage(hash, key)?)))
            .collect::<Result<_, crate::client::QueryError>>()?;
        Ok(watch.update(hash, values))
    })
    .await
}

/// The best block's header, as header subscriptions send it first.
fn best_header(shared: &Shared) -> Option<Value> {
    let client = shared.client();
    let hash = client.info().ok()?.best_hash;
    client.header(&hash).ok()?.map(|h| json::header(&h))
}

/// The finalized block's header.
fn finalized_header(shared: &Shared) -> Option<Value> {
    let client = shared.client();
    let hash = client.info().ok()?.finalized_hash;
    client.header(&hash).ok()?.map(|h| json::header(&h))
}

/// Sends `initial()`, then `map(event)` for each chain event, until the client unsubscribes.
/// `initial` runs after the subscription to events starts, so no block falls between.
async fn forward(
    pending: PendingSubscriptionSink,
    shared: &Shared,
    initial: impl FnOnce(&Shared) -> Option<Value>,
    map: impl Fn(&ChainEvent) -> Option<Value>,
) -> SubscriptionResult {
    let mut events = shared.subscribe();
    let initial = initial(shared);
    let sink = pending.accept().await?;
    if let Some(initial) = initial {
        sink.send(serde_json::value::to_raw_value(&initial)?)
            .await?;
    }
    loop {
        tokio::select! {
            () = sink.closed() => return Ok(()),
            event = events.recv() => match event {
                Ok(event) => {
                    if let Some(value) = map(&event) {
                        sink.send(serde_json::value::to_raw_value(&value)?).await?;
                    }
                }
                Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return Ok(()),
            },
        }
    }
}
