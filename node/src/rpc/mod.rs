//! JSON-RPC over HTTP and WebSocket (jsonrpsee), with Substrate's method names and result
//! shapes where a twin exists.
//!
//! | method | result |
//! |---|---|
//! | `system_name`, `system_version`, `system_chain` | strings |
//! | `system_health` | `{peers, isSyncing, shouldHavePeers}` |
//! | `system_peers` | `[{peerId, roles, bestNumber}]` |
//! | `chain_getHeader(hash?)`, `chain_getBlock(hash?)` | header / signed block, or null |
//! | `chain_getBlockHash(number?)`, `chain_getFinalizedHead` | hash, or null |
//! | `chain_subscribeNewHeads`, `chain_subscribeFinalizedHeads` | header notifications |
//! | `chain_subscribeAllHeads` | the header of every block imported, on any fork |
//! | `state_getStorage(key, hash?)` | value hex, or null |
//! | `state_getReadProof(keys, hash?)` | `{at, proof}` |
//! | `author_submitExtrinsic(hex)` | extrinsic hash |
//! | `author_rotateKeys()` | a validator's new session keys (grandpa, babe, para validator, approval assignment: four sr25519 keys made in its keystore on disk), SCALE-encoded for `session.setKeys`; served only when the RPC listens on a loopback address |
//! | `author_hasSessionKeys(hex)`, `author_hasKey(public, type)` | whether this node's keystore holds every key of the encoded session keys, or this public key |
//! | `author_submitAndWatchExtrinsic(hex)` | `"ready"` (or `"future"`), `{inBlock}`, `{retracted}` (its block lost to the finalized chain), `{finalized}`; `{usurped}` (replaced by a higher tip), `"invalid"` if it never can be |
//! | `transactionWatch_v1_submitAndWatch(hex)` | the same as `{event: validated / bestChainBlockIncluded (`block: null` when retracted) / finalized / invalid}`, `invalid` with its `error` |
//! | `system_accountNextIndex(address)` | the nonce of the account's next transaction, after those in the pool |
//! | `tessera_paras` | `[{id, included: {number, hash}, finalized: {number, hash}}]` |
//! | `state_getRuntimeVersion(hash?)` | Substrate's `{specName, implName, authoringVersion, specVersion, implVersion, apis, transactionVersion, stateVersion}` of the runtime under `:code` at the block (the one the next block runs); `apis` lists those `state_call` reaches (`Metadata` 2, `TaggedTransactionQueue` 3, `AccountNonceApi` 1, `TransactionPaymentApi` 4) by their blake2-64 ids |
//! | `state_call(method, data, hash?)` | the answer of runtime function `method` to `data` (hex, SCALE), as Substrate encodes it; only the `Metadata_*`, `TaggedTransactionQueue_validate_transaction`, `AccountNonceApi_account_nonce` and `TransactionPaymentApi_*` functions (no block execution through RPC) |
//! | `payment_queryInfo(hex, hash?)` | `{weight: {ref_time, proof_size}, class, partialFee}`: what the extrinsic would weigh and pay without its tip |
//! | `payment_queryFeeDetails(hex, hash?)` | `{inclusionFee: {baseFee, lenFee, adjustedWeightFee}}` (null for an inherent) |
//! | `state_getKeysPaged(prefix, count, startKey?, hash?)` | up to `count` (at most 1,000) keys under `prefix` at the block, in order, after `startKey` |
//! | `state_queryStorageAt(keys, hash?)` | `[{block, changes: [[key, value or null], ...]}]` for up to 1,024 keys |
//! | `system_properties` | `{ss58Format: 42, tokenDecimals: 12, tokenSymbol: "UNIT"}` |
//! | `rpc_methods` | `{methods: [...]}`, every method served |
//! | `state_getMetadata(hash?)` | the runtime's metadata at the block (frame-metadata V14, as Substrate's; V15 through `state_call` of `Metadata_metadata_at_version`; `meta`-prefixed SCALE), hex: what Substrate clients decode calls, events, errors and storage with |
//! | `chainSpec_v1_chainName`, `chainSpec_v1_genesisHash`, `chainSpec_v1_properties` | the new JSON-RPC spec's chain spec group: `system_chain`, the genesis hash, `system_properties` |
//! | `transaction_v1_broadcast(hex)`, `transaction_v1_stop(id)` | the new spec's broadcast: an operation id (past 1,024 open, the oldest is ended), the transaction checked and gossiped as `author_submitExtrinsic` does (a refused one is dropped without a verdict, as the spec has it; bytes that are no extrinsic are an error); stopping forgets the operation (the pool keeps the transaction until included or invalid); stopping an unknown id is an error |
//! | `state_subscribeStorage([key, …])` | `{block, changes: [[key, value or null], …]}`: every listed key's value at the best block, then the keys whose values a new best block changes (at most 1,024 keys, each read once however often listed; a subscription to every key is refused; at most 1,024 such subscriptions per server) |
//! | `state_subscribeRuntimeVersion` | the best block's version, then each new one when a new best block runs another runtime |
//! | `chainHead_v1_follow`, `_header`, `_body`, `_call`, `_storage`, `_continue`, `_stopOperation`, `_unpin`, `_unfollow` | the new spec's chain head group (`rpc/chain_head.rs`) |
//! | `xcm_messageStatus(id, hash?)` | what happened to XCM message `id` here: `[{sent: {dest, at}}, {executed: {origin, outcome, at}}]` |
//! | `grandpa_proveFinality(number)` | SCALE `FinalityProof` (Substrate's shape): the justification of the block that ended `number`'s finality set (or the latest justified one), with the headers linking them |
//! | `tessera_warpProof(fromSetId?)` | SCALE `WarpResponse`: each finality set change after set `fromSetId` (default 0, genesis's) with the previous set's justification, then the latest justified block; `isFinished` false when cut at 4 MiB |
//!
//! Each para a node collates gets its own server with the same method names ([`para`]).
//!
//! Runtime calls run with the chain unlocked ([`crate::client::RuntimeAt`]): a caller cannot
//! hold up import and authoring for as long as its calls take. Subscription ids are strings,
//! as Substrate's are. Bad parameters get JSON-RPC errors (`-32602`, or Substrate's pool codes 1010–1016).

mod chain_head;
mod json;
mod methods;
pub mod para;
mod watch;

pub use methods::module;

use crate::service::Shared;
use jsonrpsee::server::{Server, ServerHandle};
use std::net::SocketAddr;
use std::sync::Arc;

/// Why the RPC server did not start.
#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    /// Binding or serving failed.
    #[error("cannot start the RPC server on {addr}: {reason}")]
    Start {
        /// The address asked for.
        addr: SocketAddr,
        /// What went wrong.
        reason: String,
    },
}

/// Starts the relay's server on `addr` (port 0 picks one): its bound address and a handle that
/// stops it when dropped or stopped.
pub async fn start(
    addr: SocketAddr,
    shared: Arc<Shared>,
) -> Result<(SocketAddr, ServerHandle), RpcError> {
    let module = module(shared).map_err(|e| RpcError::Start {
        addr,
        reason: e.to_string(),
    })?;
    serve(addr, module).await
}

/// Starts a para's server on `addr` (see [`para`]).
pub async fn start_para(
    addr: SocketAddr,
    context: para::ParaRpc,
) -> Result<(SocketAddr, ServerHandle), RpcError> {
    let module = para::module(context).map_err(|e| RpcError::Start {
        addr,
        reason: e.to_string(),
    })?;
    serve(addr, module).await
}

async fn serve<T: Send + Sync + 'static>(
    addr: SocketAddr,
    module: jsonrpsee::RpcModule<T>,
) -> Result<(SocketAddr, ServerHandle), RpcError> {
    let fail = |reason: String| RpcError::Start { addr, reason };
    // Subscription ids are strings, as Substrate's are (PAPI takes no other).
    let server = Server::builder()
        .set_config(
            jsonrpsee::server::ServerConfig::builder()
                .set_id_provider(jsonrpsee::server::RandomStringIdProvider::new(16))
                .build(),
        )
        .build(addr)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let bound = server.local_addr().map_err(|e| fail(e.to_string()))?;
    Ok((bound, server.start(module)))
}
