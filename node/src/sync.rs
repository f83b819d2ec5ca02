//! Block sync and gossip handling: the part of a running node between the network and the
//! client. Imports announced blocks, catches up from peers that are ahead, serves peers that
//! are behind, and reports peers that send invalid data.

use crate::client::{ImportError, ImportOutcome};
use crate::network::{
    decode_exact, BlockAnnounce, Misbehaviour, NetworkEvent, NetworkHandle, SyncRequest,
    SyncResponse, Topic, MAX_BLOCKS_PER_REQUEST,
};
use crate::service::{ChainEvent, Shared};
use libp2p::PeerId;
use parity_scale_codec::Encode;
use std::collections::BTreeMap;
use std::sync::Arc;
use tessera_runtime::{Block, BlockNumber};

/// Follows the chain through the network for one node.
pub struct ChainSync {
    shared: Arc<Shared>,
    network: NetworkHandle,
    /// Best block number each peer announced.
    peer_best: BTreeMap<PeerId, BlockNumber>,
    /// The peer we are downloading from, if any.
    downloading: Option<PeerId>,
}

impl ChainSync {
    /// Sync for the node whose state is `shared`.
    pub fn new(shared: Arc<Shared>, network: NetworkHandle) -> Self {
        ChainSync {
            shared,
            network,
            peer_best: BTreeMap::new(),
            downloading: None,
        }
    }

    /// Whether a download is under way.
    pub fn is_syncing(&self) -> bool {
        self.downloading.is_some()
    }

    /// Peers that announced a best block, with that block's number.
    pub fn peer_bests(&self) -> Vec<(PeerId, BlockNumber)> {
        self.peer_best
            .iter()
            .map(|(peer, best)| (*peer, *best))
            .collect()
    }

    /// Announces our best and finalized blocks to peers.
    pub async fn announce_status(&self) {
        let status = match self.shared.client().info() {
            Ok(meta) => BlockAnnounce::Status {
                best: meta.best_number,
                best_hash: meta.best_hash,
                finalized: meta.finalized_number,
            },
            Err(err) => return tracing::error!(%err, "cannot read chain metadata"),
        };
        // Fails only while no peer is subscribed yet.
        let _no_peers = self.network.publish(Topic::Blocks, status.encode()).await;
    }

    /// Announces a block we authored.
    pub async fn announce_block(&self, block: &Block) {
        if let Err(err) = self
            .network
            .publish(Topic::Blocks, BlockAnnounce::Block(block.clone()).encode())
            .await
        {
            tracing::debug!(%err, "block not gossiped");
        }
    }

    /// Handles one network event.
    pub async fn on_event(&mut self, event: NetworkEvent) {
        match event {
            NetworkEvent::Gossip {
                peer,
                topic: Topic::Blocks,
                id,
                data,
            } => {
                let valid = self.on_block_gossip(peer, &data).await;
                let _stopped = self.network.validated(id, peer, valid);
            }
            NetworkEvent::SyncRequest {
                peer,
                request,
                channel,
            } => {
                let response = self.serve(peer, request);
                let _stopped = self.network.respond(channel, response);
            }
            NetworkEvent::SyncResponse { peer, response, .. } => {
                if self.downloading == Some(peer) {
                    self.downloading = None;
                }
                match response {
                    Ok(SyncResponse::Blocks(blocks)) => self.import_downloaded(peer, blocks),
                    Ok(SyncResponse::Refused) => {}
                    Err(err) => tracing::debug!(%peer, %err, "sync request failed"),
                }
                self.maybe_download().await;
            }
            NetworkEvent::PeerConnected(_) => self.announce_status().await,
            NetworkEvent::PeerDisconnected(peer) | NetworkEvent::Banned(peer) => {
                self.peer_best.remove(&peer);
                if self.downloading == Some(peer) {
                    self.downloading = None;
                }
            }
            NetworkEvent::Gossip { .. } | NetworkEvent::Listening(_) => {}
        }
    }

    /// `true` if the gossip was valid (and should be forwarded).
    async fn on_block_gossip(&mut self, peer: PeerId, data: &[u8]) -> bool {
        match decode_exact::<BlockAnnounce>(data) {
            Err(reason) => {
                tracing::debug!(%peer, %reason, "malformed block gossip");
                let _stopped = self.network.report(peer, Misbehaviour::Malformed);
                false
            }
            Ok(BlockAnnounce::Status { best, .. }) => {
                self.peer_best.insert(peer, best);
                self.maybe_download().await;
                true
            }
            Ok(BlockAnnounce::Block(block)) => {
                let number = block.header.number;
                let best = self.peer_best.entry(peer).or_default();
                *best = (*best).max(number);
                match self.import(&block) {
                    Ok(_) => true,
                    // Not invalid: we are behind. Catch up, and let the gossip go on.
                    Err(ImportError::UnknownParent(_)) => {
                        self.maybe_download().await;
                        true
                    }
                    Err(err) => {
                        tracing::info!(%peer, %err, "invalid block gossip");
                        let _stopped = self.network.report(peer, Misbehaviour::Invalid);
                        false
                    }
                }
            }
        }
    }

    fn import(&self, block: &Block) -> Result<ImportOutcome, ImportError> {
        let started = std::time::Instant::now();
        let outcome = self.shared.client().import_block(block)?;
        if let ImportOutcome::Imported { best } = outcome {
            self.shared.publish(ChainEvent::Imported {
                header: block.header.clone(),
                extrinsics: block.extrinsics.iter().map(|xt| xt.hash()).collect(),
                best,
            });
            self.shared.metrics.block(
                block.header.number,
                block.extrinsics.len(),
                started.elapsed(),
                None,
            );
        }
        Ok(outcome)
    }

    fn import_downloaded(&mut self, peer: PeerId, blocks: Vec<Block>) {
        for block in blocks {
            match self.import(&block) {
                Ok(_) => {}
                Err(err) => {
                    tracing::info!(%peer, %err, "invalid block in sync response");
                    let _stopped = self.network.report(peer, Misbehaviour::Invalid);
                    self.peer_best.remove(&peer);
                    return;
                }
            }
        }
    }

    /// Asks the most advanced peer for the next blocks, if one is ahead of us.
    async fn maybe_download(&mut self) {
        if self.downloading.is_some() {
            return;
        }
        let Ok(ours) = self.shared.client().info().map(|meta| meta.best_number) else {
            return;
        };
        let Some((&peer, &theirs)) = self.peer_best.iter().max_by_key(|(_, best)| **best) else {
            return;
        };
        if theirs <= ours {
            return;
        }
        let count = theirs.saturating_sub(ours).min(MAX_BLOCKS_PER_REQUEST);
        let request = SyncRequest::Blocks {
            from: ours.saturating_add(1),
            count,
        };
        if self.network.request(peer, request).await.is_ok() {
            self.downloading = Some(peer);
        }
    }

    /// Canonical blocks for a peer that is behind.
    fn serve(&self, peer: PeerId, request: SyncRequest) -> SyncResponse {
        let SyncRequest::Blocks { from, count } = request;
        if count == 0 || count > MAX_BLOCKS_PER_REQUEST {
            let _stopped = self.network.report(peer, Misbehaviour::BadRequest);
            return SyncResponse::Refused;
        }
        let client = self.shared.client();
        let mut blocks = Vec::new();
        let mut size = 0usize;
        for number in from..from.saturating_add(count) {
            let Ok(Some(hash)) = client.store().canonical_hash(number) else {
                break;
            };
            let Ok(Some(block)) = client.block(&hash) else {
                break;
            };
            // Stay well inside the response limit; the peer asks again for the rest.
            size = size.saturating_add(block.encoded_size());
            if size > crate::network::MAX_RESPONSE_SIZE / 2 && !blocks.is_empty() {
                break;
            }
            blocks.push(block);
        }
        SyncResponse::Blocks(blocks)
    }
}
