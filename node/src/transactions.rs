//! Relay transaction gossip ([`Topic::Transactions`]): a transaction a client submits to any
//! node, validator or not, reaches the block authors.
//!
//! A node gossips the transactions clients submitted to it once its pool took them, in
//! batches ([`MAX_PER_MESSAGE`], [`MAX_MESSAGE_BYTES`]). A node receiving a batch submits each
//! transaction to its pool through the same bounded, batched check as a client's; the
//! network forwards the batch only if the pool took one of them (nothing unchecked travels
//! on), and blames its source only for a batch that does not decode. A transaction refused
//! here (a stale nonce, a full pool) may be good elsewhere: that is no offence. At most
//! [`MAX_BATCHES_IN_CHECK`] received batches are checked at once; more are left unforwarded.

use crate::network::{decode_exact, Misbehaviour, NetworkError, NetworkHandle, Topic, Verdict};
use crate::service::Shared;
use libp2p::gossipsub::MessageId;
use libp2p::PeerId;
use parity_scale_codec::Encode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use tessera_runtime::OpaqueExtrinsic;

/// Most transactions in one gossiped batch.
pub const MAX_PER_MESSAGE: usize = 1_024;
/// Most bytes of transactions in one gossiped batch (well within the gossip limit).
pub const MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Received batches checked at once, at most.
pub const MAX_BATCHES_IN_CHECK: usize = 16;

/// A node's relay transaction gossip.
pub struct TransactionGossip {
    shared: Arc<Shared>,
    network: NetworkHandle,
    in_check: Arc<AtomicUsize>,
}

impl TransactionGossip {
    /// The gossip of the node whose state is `shared`.
    pub fn new(shared: Arc<Shared>, network: NetworkHandle) -> Self {
        TransactionGossip {
            shared,
            network,
            in_check: Arc::default(),
        }
    }

    /// Gossips the transactions clients submitted here that the pool took since last time.
    pub async fn announce(&self) {
        loop {
            let batch = self
                .shared
                .take_announced(MAX_PER_MESSAGE, MAX_MESSAGE_BYTES);
            if batch.is_empty() {
                return;
            }
            match self
                .network
                .publish(Topic::Transactions, batch.encode())
                .await
            {
                Ok(()) => {}
                Err(NetworkError::NoPeers) => {
                    // A node alone, or not yet in the mesh: later.
                    self.shared.announce_again(batch);
                    return;
                }
                Err(err) => {
                    tracing::debug!(%err, "transactions not gossiped");
                    return;
                }
            }
        }
    }

    /// Checks a gossiped batch against this node's pool, and tells the network whether to
    /// forward it once checked (off the node loop: the check waits for the pool's turn).
    pub fn on_gossip(&self, peer: PeerId, source: Option<PeerId>, id: MessageId, data: &[u8]) {
        let batch = match decode_exact::<Vec<OpaqueExtrinsic>>(data) {
            Ok(batch) if batch.len() <= MAX_PER_MESSAGE => batch,
            _ => {
                let verdict = Verdict::Reject(Misbehaviour::Malformed);
                let _stopped = self.network.validated(id, peer, source, verdict);
                return;
            }
        };
        if self.in_check.fetch_add(1, Ordering::AcqRel) >= MAX_BATCHES_IN_CHECK {
            self.in_check.fetch_sub(1, Ordering::AcqRel);
            let _stopped = self.network.validated(id, peer, source, Verdict::Ignore);
            return;
        }
        let (shared, network, in_check) = (
            self.shared.clone(),
            self.network.clone(),
            self.in_check.clone(),
        );
        tokio::spawn(async move {
            let checks = batch.into_iter().map(|xt| shared.submit_gossiped(xt));
            let outcomes = futures::future::join_all(checks).await;
            in_check.fetch_sub(1, Ordering::AcqRel);
            let verdict = if outcomes.iter().any(Result::is_ok) {
                Verdict::Accept
            } else {
                Verdict::Ignore
            };
            let _stopped = network.validated(id, peer, source, verdict);
        });
    }
}
