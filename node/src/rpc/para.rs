//! A para's JSON-RPC, served by the node that collates it, with the relay's method names:
//!
//! | method | result |
//! |---|---|
//! | `system_name`, `system_version`, `system_chain` | strings (`system_chain` is `para <id>`) |
//! | `chain_getHeader(hash?)`, `chain_getBlock(hash?)` | header / block of an included para block, or null |
//! | `chain_getBlockHash(number?)` | hash of the included block, or null |
//! | `chain_getFinalizedHead` | the para block that is the para's head as of the relay's finalized block |
//! | `state_getStorage(key, hash?)` | value hex, or null |
//! | `author_submitExtrinsic(hex)` | extrinsic hash (queued for the collator's next block) |
//! | `author_submitAndWatchExtrinsic(hex)`, `transactionWatch_v1_submitAndWatch(hex)` | as the relay's: ready, in a block once included, finalized, or invalid with why |
//! | `system_accountNextIndex(address)` | the nonce of the account's next transaction, after those pooled here |
//! | `state_getRuntimeVersion(hash?)` | as the relay's, for the para runtime at the block (the head if none) |
//! | `state_call(method, data, hash?)`, `system_properties`, `rpc_methods` | as the relay's |
//! | `payment_queryInfo(hex, hash?)`, `payment_queryFeeDetails(hex, hash?)` | as the relay's, for the para's runtime |
//! | `chainSpec_v1_chainName`, `chainSpec_v1_genesisHash`, `chainSpec_v1_properties` | `para <id>`, the para's genesis hash, as `system_properties` |
//! | `transaction_v1_broadcast(hex)`, `transaction_v1_stop(id)` | as the relay's |
//! | `system_health` | the relay node's peers and sync state (the para's blocks come through it) |
//! | `state_queryStorageAt([key, …], hash?)` | as the relay's |
//! | `chain_subscribeNewHeads`, `chain_subscribeAllHeads` | each block that becomes the para's head (a para node keeps only the included chain) |
//! | `chain_subscribeFinalizedHeads` | the para's head as of each new finalized relay block |
//! | `state_subscribeRuntimeVersion`, `state_subscribeStorage([key, …])` | as the relay's, at each block that becomes the head (not yet when a relay reorg moves the head back to an ancestor); at most 1,024 of the two together per server |
//! | `state_getMetadata(hash?)` | the para runtime's metadata (V14 as the relay's, `meta`-prefixed SCALE) at the block (the head if none), hex |
//! | `chainHead_v1_*` | as the relay's: the included chain above the para's finalized block, the head as best |
//! | `xcm_messageStatus(id, hash?)` | what happened to XCM message `id` here: `[{sent: {dest, at}}, {executed: {origin, outcome, at}}]` |
//!
//! A para block is "best" once included on the relay chain and "finalized" once the relay
//! block that included it is finalized. Runtime calls (`state_call`, fees, metadata,
//! versions, `chainHead_v1_call`) run with the para's chain unlocked: a caller cannot hold up
//! the collator for as long as its calls take.

use super::json;
use super::methods::{
    error, internal, invalid_params, message_records, parse_account, parse_extrinsic, parse_hash,
    parse_hex, parse_number, storage_subscription_keys, StorageWatch, POOL_ALREADY_IMPORTED,
    POOL_IMMEDIATELY_DROPPED, POOL_INVALID_TX, POOL_TOO_LOW_PRIORITY,
};
use super::watch::{watch_para, Finality, Flavour, Watchers};
use crate::parachains::chain::{
    check_para_transactions, ParaTxError, ParaView, Submitted, TxEvent,
};
use crate::service::{ChainEvent, Shared};
use jsonrpsee::core::{RegisterMethodError, SubscriptionResult};
use jsonrpsee::types::{ErrorObjectOwned, Params};
use jsonrpsee::{PendingSubscriptionSink, RpcModule};
use parity_scale_codec::Decode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex, MutexGuard};
use tessera_relay_chain::paras;
use tessera_runtime::state::State;
use tessera_runtime::{Hash, Header, OpaqueExtrinsic};
use tokio::sync::broadcast::error::RecvError;

type RpcResult<T> = Result<T, ErrorObjectOwned>;

/// What a para's RPC serves: the para's chain and the relay node that follows its inclusion.
pub struct ParaRpc {
    /// The para's chain.
    view: Arc<Mutex<dyn ParaView>>,
    /// The relay node.
    pub(super) relay: Arc<Shared>,
    /// The transactions watched through this server.
    pub(super) watchers: Watchers,
    /// The subscriptions that read the para's state at each new head (storage, runtime
    /// version), counted so that callers cannot make every head cost without bound.
    followers: Watchers,
}

impl ParaRpc {
    /// The RPC of the para chain `view`, whose inclusion the relay node `relay` follows.
    pub fn new(view: Arc<Mutex<dyn ParaView>>, relay: Arc<Shared>) -> Self {
        ParaRpc {
            view,
            relay,
            watchers: Watchers::default(),
            followers: Watchers::default(),
        }
    }

    pub(super) fn view(&self) -> MutexGuard<'_, dyn ParaView + 'static> {
        self.view
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn block_or_head(&self, at: Option<String>) -> RpcResult<Hash> {
        match at {
            Some(text) => parse_hash(&text),
            None => Ok(self.view().head().hash()),
        }
    }

    /// Checks and queues a para transaction, with the pool's error codes. The check runs
    /// with the para's chain unlocked: submissions do not queue behind each other or behind
    /// the collator building a block.
    pub(super) fn submit(&self, xt: OpaqueExtrinsic) -> RpcResult<Submitted> {
        // Its own statement: the view's lock ends with it, before the check.
        let checker = self.view().tx_checker();
        let checked = checker.and_then(|checker| {
            let verdict = check_para_transactions(&checker, std::slice::from_ref(&xt))?.pop();
            verdict.ok_or_else(|| ParaTxError::State("the runtime answered nothing".into()))
        });
        checked
            .and_then(|verdict| self.view().admit(xt, verdict))
            .map_err(|err| {
                let code = match err {
                    ParaTxError::Pool(crate::pool::PoolError::AlreadyImported(_)) => {
                        POOL_ALREADY_IMPORTED
                    }
                    ParaTxError::Pool(_) => POOL_TOO_LOW_PRIORITY,
                    ParaTxError::PoolFull => POOL_IMMEDIATELY_DROPPED,
                    ParaTxError::Invalid(_) | ParaTxError::State(_) => POOL_INVALID_TX,
                };
                error(code, format!("Invalid Transaction: {err}"))
            })
    }

    /// Whether the para block `block` (number `number`) is final: in the para's chain as of
    /// the relay's finalized block.
    pub(super) fn finality_of(&self, block: &Hash, number: u32) -> RpcResult<Finality> {
        let finalized = self.finalized()?;
        let view = self.view();
        let finalized_number = view.block(&finalized).map(|b| b.header.number);
        if finalized_number.is_none_or(|n| n < number) {
            return Ok(Finality::Pending);
        }
        Ok(if view.canonical_hash(number) == Some(*block) {
            Finality::Final
        } else {
            Finality::Lost
        })
    }

    /// The para block that is the para's head as of the relay's finalized block.
    fn finalized(&self) -> RpcResult<Hash> {
        let para = self.view().para();
        let client = self.relay.client();
        let finalized = client.info().map_err(internal)?.finalized_hash;
        let header = client
            .header(&finalized)
            .map_err(internal)?
            .ok_or_else(|| internal("the relay's finalized block is missing"))?;
        let mut state = State::new(client.store(), header.state_root);
        let info = paras::PARAS
            .get(&mut state, &para)
            .map_err(internal)?
            .ok_or_else(|| internal(format!("para {} is not registered", para.0)))?;
        Header::decode(&mut &info.head.0[..])
            .map(|head| head.hash())
            .map_err(|e| internal(format!("the para head does not decode: {e}")))
    }
}

/// The para's RPC methods.
pub fn module(context: ParaRpc) -> Result<RpcModule<ParaRpc>, RegisterMethodError> {
    let mut module = RpcModule::new(context);
    module.register_method("system_name", |_, _, _| "tessera")?;
    module.register_method("system_version", |_, _, _| env!("CARGO_PKG_VERSION"))?;
    module.register_method("system_chain", |_, rpc, _| {
        format!("para {}", rpc.view().para().0)
    })?;
    module.register_method(
        "chain_getHeader",
        |params: Params, rpc, _| -> RpcResult<Value> {
            let at: Option<String> = params.sequence().optional_next()?;
            let hash = rpc.block_or_head(at)?;
            Ok(rpc
                .view()
                .block(&hash)
                .map_or(Value::Null, |b| json::header(&b.header)))
        },
    )?;
    module.register_method(
        "chain_getBlock",
        |params: Params, rpc, _| -> RpcResult<Value> {
            let at: Option<String> = params.sequence().optional_next()?;
            let hash = rpc.block_or_head(at)?;
            Ok(rpc
                .view()
                .block(&hash)
                .map_or(Value::Null, |b| json::block(&b, None)))
        },
    )?;
    module.register_method(
        "chain_getBlockHash",
        |params: Params, rpc, _| -> RpcResult<Value> {
            let number: Option<Value> = params.sequence().optional_next()?;
            let hash = match number {
                None | Some(Value::Null) => Some(rpc.view().head().hash()),
                Some(value) => rpc.view().canonical_hash(parse_number(value)?),
            };
            Ok(hash.map_or(Value::Null, |h| Value::String(h.to_string())))
        },
    )?;
    module.register_method("chain_getFinalizedHead", |_, rpc, _| -> RpcResult<String> {
        Ok(rpc.finalized()?.to_string())
    })?;
    module.register_method(
        "state_getStorage",
        |params: Params, rpc, _| -> RpcResult<Value> {
            let mut seq = params.sequence();
            let key: String = seq.next()?;
            let at: Option<String> = seq.optional_next()?;
            let key = parse_hex(&key)?;
            let hash = rpc.block_or_head(at)?;
            match rpc.view().storage(&hash, &key) {
                Ok(value) => Ok(value.map_or(Value::Null, |v| Value::String(json::hex(&v)))),
                Err(ParaTxError::State(reason)) => Err(invalid_params(reason)),
                Err(err) => Err(internal(err)),
            }
        },
    )?;
    module.register_method(
        "state_getRuntimeVersion",
        |params: Params, rpc, _| -> RpcResult<Value> {
            let at: Option<String> = params.sequence().optional_next()?;
            let version = rpc.version_of(&rpc.block_or_head(at)?)?;
            Ok(super::methods::runtime_version_json(&version))
        },
    )?;
    module.register_method(
        "state_getMetadata",
        |params: Params, rpc, _| -> RpcResult<Value> {
            let at: Option<String> = params.sequence().optional_next()?;
            super::methods::metadata_json(&rpc.runtime_at(at)?)
        },
    )?;
    module.register_method(
        "xcm_messageStatus",
        |params: Params, rpc, _| -> RpcResult<Value> {
            let mut seq = params.sequence();
            let id: String = seq.next()?;
            let at: Option<String> = seq.optional_next()?;
            let key = tessera_xcm::module::MESSAGES.key(&parse_hash(&id)?.0);
            let hash = rpc.block_or_head(at)?;
            match rpc.view().storage(&hash, &key) {
                Ok(stored) => message_records(stored),
                Err(ParaTxError::State(reason)) => Err(invalid_params(reason)),
                Err(err) => Err(internal(err)),
            }
        },
    )?;
    module.register_method(
        "author_submitExtrinsic",
        |params: Params, rpc, _| -> RpcResult<String> {
            let text: String = params.one()?;
            let xt = parse_extrinsic(&text)?;
            rpc.submit(xt).map(|submitted| submitted.hash.to_string())
        },
    )?;
    module.register_subscription(
        "author_submitAndWatchExtrinsic",
        "author_extrinsicUpdate",
        "author_unwatchExtrinsic",
        |params, pending, rpc, _| async move {
            watch_para(params, pending, rpc, Flavour::Author).await
        },
    )?;
    module.register_subscription(
        "transactionWatch_v1_submitAndWatch",
        "transactionWatch_v1_watchEvent",
        "transactionWatch_v1_unwatch",
        |params, pending, rpc, _| async move {
            watch_para(params, pending, rpc, Flavour::V1).await
        },
    )?;
    module.register_method(
        "system_accountNextIndex",
        |params: Params, rpc, _| -> RpcResult<u64> {
            let text: String = params.one()?;
            let who = parse_account(&text)?;
            rpc.view().next_nonce(&who).map_err(internal)
        },
    )?;
    module.register_method("system_properties", |_, _, _| {
        super::methods::system_properties()
    })?;
    let broadcasts = super::methods::Broadcasts::default();
    let stops = broadcasts.clone();
    module.register_method("transaction_v1_broadcast", move |params, rpc, _| {
        let text: String = params.one()?;
        let xt = parse_extrinsic(&text)?;
        let id = broadcasts.open();
        // As the relay's: a refused transaction is not passed on, and no verdict is given.
        if let Err(err) = rpc.submit(xt) {
            tracing::debug!(message = %err.message(), "transaction_v1_broadcast refused a para transaction");
        }
        RpcResult::Ok(id)
    })?;
    stops.register_stop(&mut module)?;
    module.register_method("chainSpec_v1_chainName", |_, rpc, _| {
        format!("para {}", rpc.view().para().0)
    })?;
    module.register_method(
        "chainSpec_v1_genesisHash",
        |_, rpc, _| -> RpcResult<String> {
            rpc.view()
                .canonical_hash(0)
                .map(|hash| hash.to_string())
                .ok_or_else(|| internal("the para's genesis is missing"))
        },
    )?;
    module.register_method("chainSpec_v1_properties", |_, _, _| {
        super::methods::system_properties()
    })?;
    module.register_method("state_call", |params: Params, rpc, _| -> RpcResult<Value> {
        let mut seq = params.sequence();
        let method: String = seq.next()?;
        let data: String = seq.next()?;
        let at: Option<String> = seq.optional_next()?;
        super::methods::state_call_allowed(&method)?;
        let input = parse_hex(&data)?;
        let output = rpc.runtime_at(at)?.call(&method, &input);
        Ok(Value::String(json::hex(&output.map_err(internal)?)))
    })?;
    module.register_method("system_health", |_, rpc, _| {
        // The para's blocks come through the relay node: its peers are the para node's.
        let status = rpc.relay.network_status();
        json!({
            "peers": status.peers.len(),
            "isSyncing": status.syncing,
            "shouldHavePeers": status.should_have_peers,
        })
    })?;
    module.register_method(
        "state_queryStorageAt",
        |params: Params, rpc, _| -> RpcResult<Value> {
            super::methods::query_storage_at(
                &params,
                |at| rpc.block_or_head(at),
                |hash, key| rpc.storage(hash, key),
            )
        },
    )?;
    module.register_subscription(
        "chain_subscribeNewHeads",
        "chain_newHead",
        "chain_unsubscribeNewHeads",
        |_, pending, rpc, _| async move { follow_heads(pending, &rpc, true).await },
    )?;
    module.register_subscription(
        "chain_subscribeAllHeads",
        "chain_allHead",
        "chain_unsubscribeAllHeads",
        |_, pending, rpc, _| async move { follow_heads(pending, &rpc, false).await },
    )?;
    module.register_subscription(
        "chain_subscribeFinalizedHeads",
        "chain_finalizedHead",
        "chain_unsubscribeFinalizedHeads",
        |_, pending, rpc, _| async move { follow_finalized(pending, &rpc).await },
    )?;
    module.register_subscription(
        "state_subscribeRuntimeVersion",
        "state_runtimeVersion",
        "state_unsubscribeRuntimeVersion",
        |_, pending, rpc, _| async move {
            let _slot = match rpc.followers.enter_for("runtime version subscriptions") {
                Ok(slot) => slot,
                Err(err) => {
                    pending.reject(err).await;
                    return Ok(());
                }
            };
            let mut sent: Option<Option<Hash>> = None;
            follow(pending, &rpc, move |rpc, hash| {
                // Only a changed `:code` can change the version: its hash is one trie read.
                let code = rpc.view().code_hash(hash).map_err(internal)?;
                if sent == Some(code) {
                    return Ok(None);
                }
                sent = Some(code);
                let version = rpc.version_of(hash)?;
                Ok(Some(super::methods::runtime_version_json(&version)))
            })
            .await
        },
    )?;
    module.register_subscription(
        "state_subscribeStorage",
        "state_storage",
        "state_unsubscribeStorage",
        |params, pending, rpc, _| async move {
            let started = storage_subscription_keys(&params)
                .and_then(|keys| Ok((keys, rpc.followers.enter_for("storage subscriptions")?)));
            let (keys, _slot) = match started {
                Ok(started) => started,
                Err(err) => {
                    pending.reject(err).await;
                    return Ok(());
                }
            };
            let mut watch = StorageWatch::default();
            follow(pending, &rpc, move |rpc, hash| {
                let values = keys
                    .iter()
                    .map(|key| Ok((key.clone(), rpc.storage(hash, key)?)))
                    .collect::<RpcResult<_>>()?;
                Ok(watch.update(hash, values))
            })
            .await
        },
    )?;
    super::methods::register_payment(&mut module, |rpc, export, input, at| {
        rpc.runtime_at(at)?.call(export, input).map_err(internal)
    })?;
    super::chain_head::register(&mut module)?;
    super::methods::register_rpc_methods(&mut module)?;
    Ok(module)
}

/// A para as `chainHead_v1_*` follows it: the included chain, best at the head, final as of
/// the relay's finalized block.
impl super::chain_head::HeadChain for ParaRpc {
    type Wakes = ParaWakes;

    fn wakes(&self) -> ParaWakes {
        ParaWakes {
            para: self.view().tx_events(),
            relay: self.relay.subscribe(),
        }
    }

    fn heads(&self) -> Result<(Hash, Hash), String> {
        let finalized = self.finalized().map_err(|e| e.message().to_string())?;
        Ok((finalized, self.view().head().hash()))
    }

    fn header(&self, hash: &Hash) -> Result<Option<Header>, String> {
        Ok(self.view().block(hash).map(|block| block.header))
    }

    fn body(&self, hash: &Hash) -> Result<Option<Vec<OpaqueExtrinsic>>, String> {
        Ok(self.view().block(hash).map(|block| block.extrinsics))
    }

    fn unfinalized(&self) -> Vec<Hash> {
        // A para node keeps the included chain only: the head's ancestors are reported with it.
        Vec::new()
    }

    fn state(&self, at: &Hash) -> Result<State<'static>, String> {
        self.view().state(at).map_err(|e| e.to_string())
    }

    fn code_hash(&self, at: &Hash) -> Result<Option<Hash>, String> {
        self.view().code_hash(at).map_err(|e| e.to_string())
    }

    fn runtime_version(&self, at: &Hash) -> Result<tessera_runtime::wasm::VersionInfo, String> {
        self.version_of(at).map_err(|e| e.message().to_string())
    }

    fn call(&self, at: &Hash, function: &str, input: &[u8]) -> Result<Vec<u8>, String> {
        let runtime = self.runtime_of(at).map_err(|e| e.message().to_string())?;
        runtime.call(function, input).map_err(|e| e.to_string())
    }
}

/// A para's wake-ups for `chainHead_v1_follow`: each block that becomes its head, and each
/// relay finalization (which moves the para's finalized block).
pub(super) struct ParaWakes {
    para: tokio::sync::broadcast::Receiver<TxEvent>,
    relay: tokio::sync::broadcast::Receiver<ChainEvent>,
}

impl super::chain_head::Wakes for ParaWakes {
    async fn next(&mut self) -> super::chain_head::Wake {
        use super::chain_head::Wake;
        loop {
            tokio::select! {
                event = self.para.recv() => match event {
                    Ok(TxEvent::Included { hash, .. }) => return Wake::Imported(hash),
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => return Wake::Lagged,
                    Err(RecvError::Closed) => return Wake::Closed,
                },
                event = self.relay.recv() => match event {
                    Ok(ChainEvent::Finalized(_)) => return Wake::Moved,
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => return Wake::Lagged,
                    Err(RecvError::Closed) => return Wake::Closed,
                },
            }
        }
    }
}

impl ParaRpc {
    /// The runtime at the block `at` names (or the head), to call with the view unlocked.
    fn runtime_at(&self, at: Option<String>) -> RpcResult<crate::client::RuntimeAt> {
        self.runtime_of(&self.block_or_head(at)?)
    }

    /// The runtime at para block `hash`.
    fn runtime_of(&self, hash: &Hash) -> RpcResult<crate::client::RuntimeAt> {
        let runtime = self.view().runtime_at(hash);
        match runtime {
            Ok(runtime) => Ok(runtime),
            Err(ParaTxError::State(reason)) => Err(invalid_params(reason)),
            Err(err) => Err(internal(err)),
        }
    }

    /// The version of the runtime at para block `hash`.
    fn version_of(&self, hash: &Hash) -> RpcResult<tessera_runtime::wasm::VersionInfo> {
        self.runtime_of(hash)?.version().map_err(internal)
    }

    /// The value under `key` at para block `at`.
    fn storage(&self, at: &Hash, key: &[u8]) -> RpcResult<Option<Vec<u8>>> {
        match self.view().storage(at, key) {
            Ok(value) => Ok(value),
            Err(ParaTxError::State(reason)) => Err(invalid_params(reason)),
            Err(err) => Err(internal(err)),
        }
    }
}

/// Sends `notify(head)` for the para's head now, then for each block that becomes the head
/// (included by the relay chain), while it has something to say, until the client
/// unsubscribes.
async fn follow(
    pending: PendingSubscriptionSink,
    rpc: &ParaRpc,
    mut notify: impl FnMut(&ParaRpc, &Hash) -> RpcResult<Option<Value>>,
) -> SubscriptionResult {
    let (mut events, head) = {
        let view = rpc.view();
        (view.tx_events(), view.head().hash())
    };
    let first = match notify(rpc, &head) {
        Ok(first) => first,
        Err(err) => {
            pending.reject(err).await;
            return Ok(());
        }
    };
    let sink = pending.accept().await?;
    if let Some(first) = first {
        sink.send(serde_json::value::to_raw_value(&first)?).await?;
    }
    loop {
        tokio::select! {
            () = sink.closed() => return Ok(()),
            event = events.recv() => match event {
                Ok(TxEvent::Included { hash, .. }) => {
                    if let Some(value) = notify(rpc, &hash)? {
                        sink.send(serde_json::value::to_raw_value(&value)?).await?;
                    }
                }
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return Ok(()),
            },
        }
    }
}

/// `chain_subscribeNewHeads` (starting with the head, as Substrate's does) and
/// `chain_subscribeAllHeads` (starting with the next): each block that becomes the para's
/// head. A para node keeps only the included chain, so all heads are new heads.
async fn follow_heads(
    pending: PendingSubscriptionSink,
    rpc: &ParaRpc,
    with_head: bool,
) -> SubscriptionResult {
    let mut skip = !with_head;
    follow(pending, rpc, move |rpc, hash| {
        if std::mem::take(&mut skip) {
            return Ok(None);
        }
        Ok(rpc
            .view()
            .block(hash)
            .map(|block| json::header(&block.header)))
    })
    .await
}

/// `chain_subscribeFinalizedHeads`: the para's head as of each new finalized relay block,
/// when it moved.
async fn follow_finalized(pending: PendingSubscriptionSink, rpc: &ParaRpc) -> SubscriptionResult {
    let mut relay_events = rpc.relay.subscribe();
    let mut sent = rpc.finalized()?;
    let sink = pending.accept().await?;
    // The finalized head first, as Substrate sends it.
    let first = rpc.view().block(&sent);
    if let Some(block) = first {
        let header = json::header(&block.header);
        sink.send(serde_json::value::to_raw_value(&header)?).await?;
    }
    loop {
        tokio::select! {
            () = sink.closed() => return Ok(()),
            event = relay_events.recv() => match event {
                Ok(ChainEvent::Finalized(_)) | Err(RecvError::Lagged(_)) => {
                    let finalized = rpc.finalized()?;
                    if finalized == sent {
                        continue;
                    }
                    sent = finalized;
                    let block = rpc.view().block(&finalized);
                    if let Some(block) = block {
                        let header = json::header(&block.header);
                        sink.send(serde_json::value::to_raw_value(&header)?).await?;
                    }
                }
                Ok(_) => {}
                Err(RecvError::Closed) => return Ok(()),
            },
        }
    }
}
