//! The para nodes (collators and full nodes) a relay node runs, on the network: transactions
//! submitted to a para's RPC are gossiped to its collators, blocks seen in collations are
//! kept for import, and a para node behind its included head fetches the blocks it lacks
//! from peers over the para blocks protocol (first from the peer that last sent some).

use super::collator::{Collate, ParaTransactions};
use crate::collation::{Collation, DeclaredCollation};
use crate::metrics::DroppedLabels;
use crate::network::{
    decode_exact, Misbehaviour, NetworkError, NetworkHandle, ParaBlocksRequest, ParaBlocksResponse,
    Topic, Verdict, MAX_PARA_BLOCKS_PER_REQUEST, MAX_PARA_BLOCKS_RESPONSE_SIZE,
};
use crate::service::Shared;
use libp2p::request_response::ResponseChannel;
use libp2p::PeerId;
use parity_scale_codec::Encode;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tessera_relay_chain::paras::ParaId;

/// A para blocks request not answered in this long is made again, to another peer.
const BLOCKS_RETRY: Duration = Duration::from_secs(5);

/// Room left in a para blocks response for its framing.
const RESPONSE_MARGIN: usize = 64 * 1024;

/// The para nodes of one relay node.
pub struct ParaNodes {
    network: NetworkHandle,
    nodes: Vec<Box<dyn Collate>>,
    /// Para blocks requests in flight, by para: when, and to whom.
    fetching: HashMap<ParaId, (Instant, PeerId)>,
    /// Turns through the connected peers when choosing whom to ask for para blocks.
    turn: usize,
    /// The peer that last sent blocks of each para: asked first next time.
    served_by: HashMap<ParaId, PeerId>,
}

impl ParaNodes {
    /// No para nodes yet, on `network`.
    pub fn new(network: NetworkHandle) -> Self {
        ParaNodes {
            network,
            nodes: Vec::new(),
            fetching: HashMap::new(),
            turn: 0,
            served_by: HashMap::new(),
        }
    }

    /// Runs `node` too.
    pub fn add(&mut self, node: Box<dyn Collate>) {
        self.nodes.push(node);
    }

    /// The para nodes.
    pub fn nodes(&self) -> &[Box<dyn Collate>] {
        &self.nodes
    }

    fn of(&mut self, para: ParaId) -> impl Iterator<Item = &mut Box<dyn Collate>> {
        self.nodes
            .iter_mut()
            .filter(move |node| node.para() == para)
    }

    /// Keeps the block of a collation gossip passed on, for the para's nodes here.
    pub fn on_collation(&mut self, collation: &Collation) {
        for node in self.of(collation.candidate.descriptor.para_id) {
            node.offer(&collation.pov);
        }
    }

    /// Queues gossiped para transactions; the gossip verdict: accepted if one was taken,
    /// rejected if the message is malformed, ignored (not forwarded, nobody blamed) if this
    /// node runs no node of the para or took none (stale nonces, already known, pool full).
    pub fn on_transactions(&mut self, data: &[u8]) -> Verdict {
        let Ok(message) = decode_exact::<ParaTransactions>(data) else {
            return Verdict::Reject(Misbehaviour::Malformed);
        };
        let mut taken = false;
        for node in self.of(message.para) {
            // Checked through the para's Wasm: off the async workers.
            let results = blocking(|| node.submit_many(message.transactions.clone()));
            taken |= results.iter().any(Result::is_ok);
        }
        if taken {
            Verdict::Accept
        } else {
            Verdict::Ignore
        }
    }

    /// Answers a peer's request for blocks of a para (none if this node runs no node of it).
    pub fn on_blocks_request(
        &self,
        request: ParaBlocksRequest,
        channel: ResponseChannel<ParaBlocksResponse>,
    ) {
        let count = request.count.min(MAX_PARA_BLOCKS_PER_REQUEST);
        let budget = MAX_PARA_BLOCKS_RESPONSE_SIZE - RESPONSE_MARGIN;
        // Read from the para's store: off the async workers' hands.
        let blocks = self
            .nodes
            .iter()
            .find(|node| node.para() == request.para)
            .map(|node| blocking(|| node.blocks_from(request.from, count, budget)))
            .unwrap_or_default();
        let _stopped = self
            .network
            .respond_para_blocks(channel, ParaBlocksResponse(blocks));
    }

    /// Imports the blocks a peer sent for one of our requests.
    pub fn on_blocks_response(
        &mut self,
        peer: PeerId,
        request: ParaBlocksRequest,
        response: Result<ParaBlocksResponse, String>,
    ) {
        if self.fetching.get(&request.para).map(|(_, asked)| *asked) == Some(peer) {
            self.fetching.remove(&request.para);
        }
        let blocks = match response {
            Ok(ParaBlocksResponse(blocks)) if !blocks.is_empty() => blocks,
            // It has none (it runs no node of the para) or did not answer: ask another.
            Ok(_) | Err(_) => {
                if self.served_by.get(&request.para) == Some(&peer) {
                    self.served_by.remove(&request.para);
                }
                return;
            }
        };
        self.served_by.insert(request.para, peer);
        for node in self.of(request.para) {
            // Executes up to a request's worth of blocks.
            match blocking(|| node.import_synced(blocks.clone())) {
                Ok(imported) => {
                    tracing::debug!(para = request.para.0, %peer, imported, "para blocks fetched")
                }
                Err(err) => {
                    tracing::info!(para = request.para.0, %peer, %err, "para blocks refused")
                }
            }
        }
    }

    /// Periodic work: gossips the transactions submitted to para RPC, asks a peer for the
    /// blocks a para node lacks, and lets each node follow its para and collate; the
    /// candidates made, for the node to publish.
    pub async fn tick(&mut self, shared: &Shared) -> Vec<DeclaredCollation> {
        let mut collations = Vec::new();
        let me = self.network.local_peer_id();
        for index in 0..self.nodes.len() {
            self.announce(index).await;
            self.fetch(index).await;
            let Some(node) = self.nodes.get_mut(index) else {
                continue;
            };
            // The relay client's lock only while reading what the collation needs.
            let job = node.prepare(&shared.client());
            let collation = job.and_then(|job| blocking(|| node.build(job)));
            if node.take_sync_discarded() {
                // What it served reached the included height without the included head.
                if let Some(peer) = self.served_by.remove(&node.para()) {
                    tracing::debug!(para = node.para().0, %peer, "served a chain not included");
                    let _stopped = self.network.report(peer, Misbehaviour::Unfulfilled);
                }
            }
            // Signed only for a collation made: a tick without one signs nothing.
            let declared = collation.and_then(|collation| {
                Some(DeclaredCollation {
                    declaration: node.declaration(&me)?,
                    collation,
                })
            });
            collations.extend(declared);
            for reason in node.take_dropped() {
                let labels = DroppedLabels {
                    para: node.para().0,
                    reason: reason.label(),
                };
                shared
                    .metrics
                    .candidates_dropped
                    .get_or_create(&labels)
                    .inc();
            }
        }
        collations
    }

    async fn announce(&mut self, index: usize) {
        let Some(node) = self.nodes.get_mut(index) else {
            return;
        };
        let (para, transactions) = (node.para(), node.take_announced());
        if transactions.is_empty() {
            return;
        }
        let message = ParaTransactions { para, transactions };
        if let Err(err) = self
            .network
            .publish(Topic::ParaTransactions, message.encode())
            .await
        {
            tracing::debug!(%err, para = para.0, "para transactions not gossiped");
            if let (NetworkError::NoPeers, Some(node)) = (err, self.nodes.get_mut(index)) {
                node.announce_again(message.transactions);
            }
        }
    }

    async fn fetch(&mut self, index: usize) {
        let Some((para, from)) = self
            .nodes
            .get(index)
            .and_then(|node| Some((node.para(), node.wants_blocks()?)))
        else {
            return;
        };
        if self
            .fetching
            .get(&para)
            .is_some_and(|(at, _)| at.elapsed() < BLOCKS_RETRY)
        {
            return;
        }
        let peers = self.network.peers().await.unwrap_or_default();
        let sticky = self
            .served_by
            .get(&para)
            .copied()
            .filter(|peer| peers.contains(peer));
        let Some(peer) = sticky.or_else(|| {
            self.turn = self.turn.wrapping_add(1);
            peers.get(self.turn % peers.len().max(1)).copied()
        }) else {
            return;
        };
        let request = ParaBlocksRequest {
            para,
            from,
            count: MAX_PARA_BLOCKS_PER_REQUEST,
        };
        if self.network.request_para_blocks(peer, request).is_ok() {
            self.fetching.insert(para, (Instant::now(), peer));
        }
    }
}

/// Runs `work` (CPU-bound for up to a fraction of a slot: following and building a para
/// block) so that the runtime's other tasks (this process's other nodes in `tessera dev`)
/// move to another worker meanwhile, on a multi-threaded runtime.
fn blocking<T>(work: impl FnOnce() -> T) -> T {
    let multi_thread = tokio::runtime::Handle::try_current().is_ok_and(|runtime| {
        runtime.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread
    });
    if multi_thread {
        tokio::task::block_in_place(work)
    } else {
        work()
    }
}
