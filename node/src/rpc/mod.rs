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
//! | `state_getStorage(key, hash?)` | value hex, or null |
//! | `state_getReadProof(keys, hash?)` | `{at, proof}` |
//! | `author_submitExtrinsic(hex)` | extrinsic hash |
//! | `author_submitAndWatchExtrinsic(hex)` | `"ready"`, `{inBlock}`, `{finalized}` |
//!
//! Bad parameters get JSON-RPC errors (`-32602`, or Substrate's pool codes 1010–1016).

mod json;
mod methods;

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

/// Starts the server on `addr` (port 0 picks one): its bound address and a handle that
/// stops it when dropped or stopped.
pub async fn start(
    addr: SocketAddr,
    shared: Arc<Shared>,
) -> Result<(SocketAddr, ServerHandle), RpcError> {
    let fail = |reason: String| RpcError::Start { addr, reason };
    let server = Server::builder()
        .build(addr)
        .await
        .map_err(|e| fail(e.to_string()))?;
    let bound = server.local_addr().map_err(|e| fail(e.to_string()))?;
    let module = module(shared).map_err(|e| fail(e.to_string()))?;
    Ok((bound, server.start(module)))
}
