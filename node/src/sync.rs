//! Block sync and gossip handling: the part of a running node between the network and the
//! client. Imports announced blocks, catches up from peers that are ahead (blocks with their
//! justifications), serves peers that are behind, and reports peers that send invalid data.

use crate::client::{ImportError, ImportOutcome};
use crate::network::{
    decode_exact, BlockAnnounce, Misbehaviour, NetworkEvent, NetworkHandle, SyncBlock, SyncRequest,
    SyncResponse, Topic, MAX_BLOCKS_PER_REQUEST,
};
use crate::service::{ChainEvent, Shared};
use libp2p::PeerId;
use parity_scale_codec::Encode;
use std::collections::BTreeMap;
use std::sync::Arc;
use tessera_runtime::{Block, BlockNumber, Header};

/// Blocks below our best asked for again with each download, so a peer's chain that forked
/// from ours a little below our best still connects; doubled after a response that did not.
const INITIAL_OVERLAP: u32 = 4;

/// What sync did that the rest of the node must hear about.
#[derive(Debug, Default)]
pub struct SyncOutcome {
    /// Blocks imported, parents first, each with whether it became the best block.
    pub imported: Vec<(Header, bool)>,
    /// Justifications received from peers (SCALE), for the finality engine to check.
    pub justifications: Vec<(PeerId, Vec<u8>)>,
}

/// What a peer told us of its chain.
#[derive(Clone, Copy, Debug, Default)]
struct PeerChain {
    best: BlockNumber,
    finalized: BlockNumber,
}

/// Follows the chain through the network for one node.
pub struct ChainSync {
    shared: Arc<Shared>,
    network: NetworkHandle,
    peers: BTreeMap<PeerId, PeerChain>,
    /// The peer we are waiting on for blocks or a justification, if any.
    downloading: Option<PeerId>,
    overlap: u32,
    /// The highest peer-finalized number we asked a justification for (asked once each).
    justification_asked: BlockNumber,
}

impl ChainSync {
    /// Sync for the node whose state is `shared`.
    pub fn new(shared: Arc<Shared>, network: NetworkHandle) -> Self {
        ChainSync {
            shared,
            network,
            peers: BTreeMap::new(),
            downloading: None,
            overlap: INITIAL_OVERLAP,
            justification_asked: 0,
        }
    }

    /// Whether a download is under way.
    pub fn is_syncing(&self) -> bool {
        self.downloading.is_some()
    }

    /// Whether some peer's best block is more than `blocks` ahead of ours.
    pub fn is_behind(&self, blocks: BlockNumber) -> bool {
        let ours = self.shared.client().info().map_or(0, |m| m.best_number);
        self.peers
            .values()
            .any(|p| p.best > ours.saturating_add(blocks))
    }

    /// Peers that announced a best block, with that block's number.
    pub fn peer_bests(&self) -> Vec<(PeerId, BlockNumber)> {
        self.peers
            .iter()
            .map(|(peer, chain)| (*peer, chain.best))
            .collect()
    }

    /// Notes that `peer` has block `number` (it voted for it), and fetches it if we lack it.
    pub async fn note_peer_block(&mut self, peer: PeerId, number: BlockNumber) {
        let chain = self.peers.entry(peer).or_default();
        chain.best = chain.best.max(number);
        self.maybe_download().await;
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
        if self
            .network
            .publish(Topic::Blocks, status.encode())
            .await
            .is_ok()
        {
            self.shared.metrics.gossip_out.inc();
        }
    }

    /// Announces a block we authored.
    pub async fn announce_block(&self, block: &Block) {
        match self
            .network
            .publish(Topic::Blocks, BlockAnnounce::Block(block.clone()).encode())
            .await
        {
            Ok(()) => {
                self.shared.metrics.gossip_out.inc();
            }
            Err(err) => tracing::debug!(%err, "block not gossiped"),
        }
    }

    /// Handles one network event (block gossip, sync requests and responses, peers).
    pub async fn on_event(&mut self, event: NetworkEvent) -> SyncOutcome {
        let mut outcome = SyncOutcome::default();
        match event {
            NetworkEvent::Gossip {
                peer,
                topic: Topic::Blocks,
                id,
                data,
                ..
            } => {
                self.shared.metrics.gossip_in.inc();
                let valid = self.on_block_gossip(peer, &data, &mut outcome).await;
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
                    Ok(SyncResponse::Blocks(blocks)) => {
                        self.import_downloaded(peer, blocks, &mut outcome)
                    }
                    Ok(SyncResponse::Justification(Some((_, justification)))) => {
                        outcome.justifications.push((peer, justification));
                    }
                    Ok(SyncResponse::Justification(None) | SyncResponse::Refused) => {}
                    Err(err) => tracing::debug!(%peer, %err, "sync request failed"),
                }
                self.maybe_download().await;
            }
            NetworkEvent::PeerConnected(_) => self.announce_status().await,
            NetworkEvent::PeerDisconnected(peer) | NetworkEvent::Banned(peer) => {
                self.peers.remove(&peer);
                if self.downloading == Some(peer) {
                    self.downloading = None;
                }
            }
            NetworkEvent::Gossip { .. }
            | NetworkEvent::Direct { .. }
            | NetworkEvent::ChunkRequest { .. }
            | NetworkEvent::ChunkResponse { .. }
            | NetworkEvent::ParaBlocksRequest { .. }
            | NetworkEvent::ParaBlocksResponse { .. }
            | NetworkEvent::Collation { .. }
            | NetworkEvent::CollationResponse { .. } => {}
            NetworkEvent::Listening(_) => {}
        }
        outcome
    }

    /// `true` if the gossip was valid (and should be forwarded).
    async fn on_block_gossip(
        &mut self,
        peer: PeerId,
        data: &[u8],
        outcome: &mut SyncOutcome,
    ) -> bool {
        match decode_exact::<BlockAnnounce>(data) {
            Err(reason) => {
                tracing::debug!(%peer, %reason, "malformed block gossip");
                let _stopped = self.network.report(peer, Misbehaviour::Malformed);
                false
            }
            Ok(BlockAnnounce::Status {
                best, finalized, ..
            }) => {
                self.peers.insert(peer, PeerChain { best, finalized });
                self.maybe_download().await;
                true
            }
            Ok(BlockAnnounce::Block(block)) => {
                let number = block.header.number;
                let chain = self.peers.entry(peer).or_default();
                chain.best = chain.best.max(number);
                match self.import(&block, outcome) {
                    Ok(_) => true,
                    // Not invalid: we are behind, or the block's slot has not begun here yet.
                    Err(err) if err.is_not_yet() => {
                        tracing::debug!(%peer, %err, "block gossip not importable yet");
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

    fn import(
        &self,
        block: &Block,
        outcome: &mut SyncOutcome,
    ) -> Result<ImportOutcome, ImportError> {
        let started = std::time::Instant::now();
        let (result, best_number) = {
            let mut client = self.shared.client();
            let result = client.import_block(block);
            (result, client.info().map_or(0, |m| m.best_number))
        };
        let imported = result?;
        if let ImportOutcome::Imported { best } = imported {
            self.shared.publish(ChainEvent::Imported {
                header: block.header.clone(),
                extrinsics: block.extrinsics.iter().map(|xt| xt.hash()).collect(),
                best,
            });
            self.shared
                .metrics
                .block(best_number, block.extrinsics.len(), started.elapsed());
            outcome.imported.push((block.header.clone(), best));
        }
        Ok(imported)
    }

    fn import_downloaded(&mut self, peer: PeerId, blocks: Vec<SyncBlock>, out: &mut SyncOutcome) {
        for SyncBlock {
            block,
            justification,
        } in blocks
        {
            match self.import(&block, out) {
                Ok(_) => {
                    self.overlap = INITIAL_OVERLAP;
                    if let Some(justification) = justification {
                        out.justifications.push((peer, justification));
                    }
                }
                Err(err) if err.is_not_yet() => {
                    // The peer's chain forked from ours further down: ask from lower next time.
                    self.overlap = self.overlap.saturating_mul(2).min(MAX_BLOCKS_PER_REQUEST);
                    return;
                }
                Err(err) => {
                    tracing::info!(%peer, %err, "invalid block in sync response");
                    let _stopped = self.network.report(peer, Misbehaviour::Invalid);
                    self.peers.remove(&peer);
                    return;
                }
            }
        }
    }

    /// Asks the most advanced peer for the next blocks if one is ahead of us, else for a
    /// justification if one has finalized further than we have.
    async fn maybe_download(&mut self) {
        if self.downloading.is_some() {
            return;
        }
        let Ok(meta) = self.shared.client().info() else {
            return;
        };
        let ahead = self
            .peers
            .iter()
            .max_by_key(|(_, chain)| chain.best)
            .filter(|(_, chain)| chain.best > meta.best_number);
        let request = if let Some((&peer, chain)) = ahead {
            // Start a little below our best, never at or below our finalized block.
            let from = meta
                .best_number
                .saturating_sub(self.overlap)
                .max(meta.finalized_number)
                .saturating_add(1);
            let count = chain
                .best
                .saturating_sub(from)
                .saturating_add(1)
                .min(MAX_BLOCKS_PER_REQUEST);
            (peer, SyncRequest::Blocks { from, count })
        } else {
            let finalizing = self.peers.iter().find(|(_, chain)| {
                chain.finalized > meta.finalized_number.max(self.justification_asked)
                    && chain.finalized <= meta.best_number
            });
            match finalizing {
                Some((&peer, chain)) => {
                    self.justification_asked = chain.finalized;
                    (peer, SyncRequest::LatestJustification)
                }
                None => return,
            }
        };
        let (peer, request) = request;
        if self.network.request(peer, request).await.is_ok() {
            self.downloading = Some(peer);
        }
    }

    /// Canonical blocks, with their justifications, for a peer that is behind.
    fn serve(&self, peer: PeerId, request: SyncRequest) -> SyncResponse {
        let client = self.shared.client();
        let (from, count) = match request {
            SyncRequest::Blocks { from, count } => (from, count),
            SyncRequest::LatestJustification => {
                let latest = client.info().ok().and_then(|meta| {
                    let justification = client.justification(&meta.finalized_hash).ok()??;
                    Some((meta.finalized_number, justification))
                });
                return SyncResponse::Justification(latest);
            }
        };
        if count == 0 || count > MAX_BLOCKS_PER_REQUEST {
            let _stopped = self.network.report(peer, Misbehaviour::BadRequest);
            return SyncResponse::Refused;
        }
        let mut blocks = Vec::new();
        let mut size = 0usize;
        for number in from..from.saturating_add(count) {
            let Ok(Some(hash)) = client.store().canonical_hash(number) else {
                break;
            };
            let Ok(Some(block)) = client.block(&hash) else {
                break;
            };
            let justification = client.justification(&hash).ok().flatten();
            let entry = SyncBlock {
                block,
                justification,
            };
            // Stay well inside the response limit; the peer asks again for the rest.
            size = size.saturating_add(entry.encoded_size());
            if size > crate::network::MAX_RESPONSE_SIZE / 2 && !blocks.is_empty() {
                break;
            }
            blocks.push(entry);
        }
        SyncResponse::Blocks(blocks)
    }
}
