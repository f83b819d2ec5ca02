//! Block sync and gossip handling: the part of a running node between the network and the
//! client. Imports announced blocks, catches up from peers that are ahead (blocks with their
//! justifications), serves peers that are behind, and reports peers that send invalid data.

use crate::client::{Client, ImportError, ImportOutcome};
use crate::network::{
    decode_exact, BlockAnnounce, Misbehaviour, NetworkEvent, NetworkHandle, SyncBlock, SyncRequest,
    SyncResponse, Topic, Verdict, MAX_BLOCKS_PER_REQUEST, MAX_STATE_NODES_PER_REQUEST,
};
use crate::service::{ChainEvent, Shared};
use libp2p::request_response::OutboundRequestId;
use libp2p::PeerId;
use parity_scale_codec::Encode;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_consensus::authorship;
use tessera_consensus::finality::Target;
use tessera_runtime::{Block, BlockNumber, Hash, Header};

/// Blocks below our best asked for again with each download, so a peer's chain that forked
/// from ours a little below our best still connects; doubled after a response that did not.
const INITIAL_OVERLAP: u32 = 4;

/// Blocks wanted by hash at once; a new want beyond it replaces the oldest.
const MAX_WANTED_BLOCKS: usize = 64;
/// Requests by hash in flight at once (a peer takes 10 sync requests a second).
const MAX_FETCHES_IN_FLIGHT: usize = 4;
/// Peers kept per wanted block to ask in turn.
const MAX_HOLDERS: usize = 4;
/// How long a named block may be on its way by gossip before it is asked for.
const FETCH_AFTER: Duration = Duration::from_millis(200);
/// The least time between two requests for one block (unless the first showed how to ask).
const FETCH_RETRY: Duration = Duration::from_secs(1);
/// How long a request by hash may go unanswered before another peer is asked.
const FETCH_STALE: Duration = Duration::from_secs(5);
/// How long a block no peer served stays wanted.
const WANTED_FOR: Duration = Duration::from_secs(30);

/// How a gossiped block that did not import is judged: one not importable here yet (this
/// node is behind, or its slot has not begun here) or that the store or this node's runtime
/// host failed on blames nobody
/// and is not forwarded; anything else failed its checks on its own parent.
pub fn import_failure_verdict(err: &ImportError) -> Verdict {
    match err {
        err if err.is_not_yet() => Verdict::Ignore,
        ImportError::Store(_) => Verdict::Ignore,
        ImportError::Execution(err) if err.is_local() => Verdict::Ignore,
        _ => Verdict::Reject(Misbehaviour::Invalid),
    }
}

/// How a peer's claimed best header is judged ([`crate::client::Client::check_claim`]):
/// believed if it checks, ignored if its slot has not begun here (clocks differ a little),
/// rejected if no honest node could have sent it.
pub fn claim_verdict(checked: &Result<(), authorship::ImportError>) -> Verdict {
    match checked {
        Ok(()) => Verdict::Accept,
        Err(authorship::ImportError::FutureSlot { .. }) => Verdict::Ignore,
        Err(_) => Verdict::Reject(Misbehaviour::Invalid),
    }
}

/// What sync did that the rest of the node must hear about.
#[derive(Debug, Default)]
pub struct SyncOutcome {
    /// Blocks imported, parents first, each with whether it became the best block.
    pub imported: Vec<(Header, bool)>,
    /// Justifications received from peers (SCALE), for the finality engine to check.
    pub justifications: Vec<(PeerId, Vec<u8>)>,
}

/// What we know of a peer's chain. `best` is only ever a height we verified: a block it sent
/// that we imported, or a sealed header it claimed that passed [`Client::check_claim`].
/// `heard` is a height a verified vote it forwarded names: worth fetching, but not a reason to
/// stop authoring.
///
/// [`Client::check_claim`]: crate::client::Client::check_claim
#[derive(Clone, Copy, Debug, Default)]
struct PeerChain {
    best: BlockNumber,
    finalized: BlockNumber,
    heard: BlockNumber,
}

impl PeerChain {
    fn fetchable(&self) -> BlockNumber {
        self.best.max(self.heard)
    }
}

/// A block peers named (they forwarded verified votes for it) that this node lacks, fetched by
/// hash with as many ancestors as it turns out to lack: it may be on a fork this node never
/// saw (its gossip lost, or dropped as not importable yet), which sync by number never asks
/// for.
#[derive(Debug)]
struct WantedBlock {
    number: BlockNumber,
    /// Who named it, asked in turn.
    holders: Vec<PeerId>,
    next_holder: usize,
    /// Asked next, before the turn (it served part of the fork).
    prefer: Option<PeerId>,
    /// How many blocks the next request asks for (more once a response did not connect).
    count: u32,
    first_named: Instant,
    asked_at: Option<Instant>,
    in_flight: bool,
}

/// Follows the chain through the network for one node.
pub struct ChainSync {
    shared: Arc<Shared>,
    network: NetworkHandle,
    peers: BTreeMap<PeerId, PeerChain>,
    /// The peer we are waiting on for blocks or a justification, if any.
    downloading: Option<PeerId>,
    /// The client's revert count when peers' claims were last checked against it.
    reverts_seen: u64,
    overlap: u32,
    /// The highest peer-finalized number we asked a justification for (asked once each).
    justification_asked: BlockNumber,
    /// Blocks named by peers that we lack, by hash.
    wanted: HashMap<Hash, WantedBlock>,
    /// Requests by hash in flight: the block each is for, and when it was sent.
    fetching: HashMap<OutboundRequestId, (Hash, Instant)>,
    /// Warp proofs served for the finalized block, by the set asked from.
    warp_proofs: std::sync::Mutex<Option<WarpProofs>>,
}

/// Warp proofs of one finalized block, by the set they start from.
type WarpProofs = (Hash, HashMap<u64, crate::warp::WarpResponse>);

impl ChainSync {
    /// Sync for the node whose state is `shared`.
    pub fn new(shared: Arc<Shared>, network: NetworkHandle) -> Self {
        ChainSync {
            shared,
            network,
            peers: BTreeMap::new(),
            downloading: None,
            reverts_seen: 0,
            overlap: INITIAL_OVERLAP,
            justification_asked: 0,
            wanted: HashMap::new(),
            fetching: HashMap::new(),
            warp_proofs: std::sync::Mutex::new(None),
        }
    }

    /// Whether a download is under way.
    pub fn is_syncing(&self) -> bool {
        self.downloading.is_some()
    }

    /// Whether some peer's best block is more than `blocks` ahead of ours.
    pub fn is_behind(&mut self, blocks: BlockNumber) -> bool {
        let (ours, reverts) = {
            let client = self.shared.client();
            (client.info().map_or(0, |m| m.best_number), client.reverts())
        };
        if reverts != self.reverts_seen {
            // Blocks peers claimed may be the reverted ones, which we hold and left: believe
            // their next status instead.
            self.reverts_seen = reverts;
            for chain in self.peers.values_mut() {
                chain.best = chain.best.min(ours);
                chain.heard = chain.heard.min(ours);
            }
        }
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

    /// Notes that `peer` has block `target` (it forwarded a verified vote for it) and fetches it
    /// if we lack it: far above our best, by number along `peer`'s chain; otherwise by hash
    /// (with the ancestors we lack) from the peers that named it, unless gossip brings it
    /// first. Never beyond what the slot clock allows.
    pub async fn want_block(&mut self, peer: PeerId, target: Target) {
        let (best, finalized, known) = {
            let mut client = self.shared.client();
            if target.number > client.highest_possible_number() {
                return;
            }
            let Ok(meta) = client.info() else {
                return;
            };
            let known = client.header(&target.hash).ok().flatten().is_some();
            (meta.best_number, meta.finalized_number, known)
        };
        if known || target.number <= finalized {
            return;
        }
        if target.number > best.saturating_add(MAX_BLOCKS_PER_REQUEST / 2) {
            let chain = self.peers.entry(peer).or_default();
            chain.heard = chain.heard.max(target.number);
            self.maybe_download().await;
            return;
        }
        if !self.wanted.contains_key(&target.hash) && self.wanted.len() >= MAX_WANTED_BLOCKS {
            let oldest = self
                .wanted
                .iter()
                .filter(|(_, want)| !want.in_flight)
                .min_by_key(|(_, want)| want.first_named)
                .map(|(hash, _)| *hash);
            match oldest {
                Some(hash) => drop(self.wanted.remove(&hash)),
                None => return,
            }
        }
        let want = self
            .wanted
            .entry(target.hash)
            .or_insert_with(|| WantedBlock {
                number: target.number,
                holders: Vec::new(),
                next_holder: 0,
                prefer: None,
                count: target
                    .number
                    .saturating_sub(best)
                    .saturating_add(1)
                    .min(MAX_BLOCKS_PER_REQUEST),
                first_named: Instant::now(),
                asked_at: None,
                in_flight: false,
            });
        if want.number == target.number
            && want.holders.len() < MAX_HOLDERS
            && !want.holders.contains(&peer)
        {
            want.holders.push(peer);
        }
    }

    /// Asks for the wanted blocks that are due (called on each tick), and forgets those that
    /// arrived, were finalized past, or that no peer served in time.
    pub async fn fetch_wanted(&mut self) {
        if self.wanted.is_empty() {
            return;
        }
        let now = Instant::now();
        {
            let client = self.shared.client();
            let finalized = client.info().map_or(0, |m| m.finalized_number);
            self.wanted.retain(|hash, want| {
                want.in_flight
                    || (want.number > finalized
                        && now.duration_since(want.first_named) < WANTED_FOR
                        && !want.holders.is_empty()
                        && client.header(hash).ok().flatten().is_none())
            });
        }
        // A request unanswered for long no longer holds its block back, nor a place: its
        // peer may be silent on purpose (its answer, if it comes, is still taken).
        let fresh = |at: &Instant| now.duration_since(*at) < FETCH_STALE;
        for want in self.wanted.values_mut() {
            if want.in_flight && !want.asked_at.as_ref().is_some_and(fresh) {
                want.in_flight = false;
            }
        }
        let in_flight = self.fetching.values().filter(|(_, at)| fresh(at)).count();
        let mut due: Vec<(Hash, PeerId, u32)> = Vec::new();
        for (hash, want) in &mut self.wanted {
            if in_flight.saturating_add(due.len()) >= MAX_FETCHES_IN_FLIGHT {
                break;
            }
            let waited = now.duration_since(want.first_named) >= FETCH_AFTER
                && want
                    .asked_at
                    .is_none_or(|at| now.duration_since(at) >= FETCH_RETRY);
            if want.in_flight || !waited {
                continue;
            }
            let holder = match want.prefer.take() {
                Some(peer) if want.holders.contains(&peer) => peer,
                _ => {
                    let holder = want.holders[want.next_holder % want.holders.len()];
                    want.next_holder = want.next_holder.wrapping_add(1);
                    holder
                }
            };
            due.push((*hash, holder, want.count));
        }
        for (hash, peer, count) in due {
            let request = SyncRequest::Ancestry { hash, count };
            if let Ok(id) = self.network.request(peer, request).await {
                self.fetching.insert(id, (hash, now));
                if let Some(want) = self.wanted.get_mut(&hash) {
                    want.in_flight = true;
                    want.asked_at = Some(now);
                }
            }
        }
    }

    /// Imports the answer to a request by hash; on blocks that do not reach down to ours, asks
    /// for more of them next, from the same peer.
    fn on_fetched(
        &mut self,
        peer: PeerId,
        hash: Hash,
        response: Result<SyncResponse, String>,
        out: &mut SyncOutcome,
    ) {
        let Some(want) = self.wanted.get_mut(&hash) else {
            return;
        };
        want.in_flight = false;
        let blocks = match response {
            Ok(SyncResponse::Blocks(blocks)) if !blocks.is_empty() => blocks,
            // It may have pruned the block since, or be gone: the next holder is asked.
            _ => return,
        };
        let chained = blocks.last().is_some_and(|b| b.block.hash() == hash)
            && blocks
                .windows(2)
                .all(|w| w[1].block.header.parent_hash == w[0].block.hash());
        if !chained {
            tracing::debug!(%peer, %hash, "peer served other blocks than the ancestry asked");
            let _stopped = self.network.report(peer, Misbehaviour::Invalid);
            want.holders.retain(|holder| *holder != peer);
            return;
        }
        let mut deeper = false;
        for SyncBlock {
            block,
            justification,
        } in blocks
        {
            match self.import(&block, out) {
                Ok(_) => {
                    if let Some(justification) = justification {
                        out.justifications.push((peer, justification));
                    }
                }
                Err(
                    ImportError::UnknownParent(_)
                    | ImportError::Authorship(authorship::ImportError::UnknownParent(_)),
                ) => {
                    deeper = true;
                    break;
                }
                Err(ImportError::Authorship(authorship::ImportError::BelowFinalized(_))) => {
                    // On a fork finality has left: nothing needs it any more.
                    self.wanted.remove(&hash);
                    return;
                }
                // Its slot has not begun here, or our store failed: not the peer's doing.
                Err(err) if import_failure_verdict(&err) == Verdict::Ignore => return,
                Err(err) => {
                    tracing::debug!(%peer, %err, "invalid block in an ancestry response");
                    let _stopped = self.network.report(peer, Misbehaviour::Invalid);
                    if let Some(want) = self.wanted.get_mut(&hash) {
                        want.holders.retain(|holder| *holder != peer);
                    }
                    return;
                }
            }
        }
        if !deeper {
            self.wanted.remove(&hash);
            return;
        }
        let Some(want) = self.wanted.get_mut(&hash) else {
            return;
        };
        if want.count < MAX_BLOCKS_PER_REQUEST {
            // The fork starts further down than asked: ask this peer for more, now.
            want.count = want.count.saturating_mul(4).min(MAX_BLOCKS_PER_REQUEST);
            want.asked_at = None;
            want.prefer = Some(peer);
        } else {
            // Deeper than one request reaches: sync by number and catch-ups are for that.
            self.wanted.remove(&hash);
        }
    }

    /// Announces our best and finalized blocks to peers.
    pub async fn announce_status(&self) {
        let read = {
            let client = self.shared.client();
            client.info().map_err(|e| e.to_string()).and_then(|meta| {
                match client.header(&meta.best_hash) {
                    Ok(Some(best)) => Ok((best, meta.finalized_number)),
                    Ok(None) => Err(format!("best header {} missing", meta.best_hash)),
                    Err(err) => Err(err.to_string()),
                }
            })
        };
        let status = match read {
            Ok((best, finalized)) => BlockAnnounce::Status { best, finalized },
            Err(err) => return tracing::error!(%err, "cannot read the best block"),
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
                source,
                topic: Topic::Blocks,
                id,
                data,
            } => {
                self.shared.metrics.gossip_in.inc();
                let verdict = self
                    .on_block_gossip(peer, source, &data, &mut outcome)
                    .await;
                let _stopped = self.network.validated(id, peer, source, verdict);
            }
            NetworkEvent::SyncRequest {
                peer,
                request,
                channel,
            } => {
                let response = self.serve(peer, request);
                let _stopped = self.network.respond(channel, response);
            }
            NetworkEvent::SyncResponse {
                peer,
                request,
                response,
            } => {
                if let Some((hash, _)) = self.fetching.remove(&request) {
                    self.on_fetched(peer, hash, response, &mut outcome);
                    return outcome;
                }
                if self.downloading == Some(peer) {
                    self.downloading = None;
                }
                match response {
                    Ok(SyncResponse::Blocks(blocks)) if blocks.is_empty() => {
                        // It claimed blocks above ours, then served none: stop believing it.
                        tracing::info!(%peer, "peer served none of the blocks it claimed");
                        self.peers.remove(&peer);
                        let _stopped = self.network.report(peer, Misbehaviour::Unfulfilled);
                    }
                    Ok(SyncResponse::Blocks(blocks)) => {
                        self.import_downloaded(peer, blocks, &mut outcome)
                    }
                    Ok(SyncResponse::Justification(Some((_, justification)))) => {
                        outcome.justifications.push((peer, justification));
                    }
                    Ok(SyncResponse::Justification(None) | SyncResponse::Refused) => {
                        self.peers.remove(&peer);
                    }
                    Ok(SyncResponse::WarpProof(_) | SyncResponse::StateNodes(_)) => {
                        // Sync never asks for these: an answer of another kind.
                        let _stopped = self.network.report(peer, Misbehaviour::Invalid);
                        self.peers.remove(&peer);
                    }
                    Err(err) => {
                        tracing::debug!(%peer, %err, "sync request failed");
                        self.peers.remove(&peer);
                    }
                }
                self.maybe_download().await;
            }
            NetworkEvent::PeerConnected(_) => self.announce_status().await,
            NetworkEvent::PeerDisconnected(peer) | NetworkEvent::Banned(peer) => {
                self.peers.remove(&peer);
                for want in self.wanted.values_mut() {
                    want.holders.retain(|holder| *holder != peer);
                }
                if self.downloading == Some(peer) {
                    self.downloading = None;
                }
            }
            NetworkEvent::Gossip { .. }
            | NetworkEvent::Direct { .. }
            | NetworkEvent::ChunkRequest { .. }
            | NetworkEvent::ChunkResponse { .. }
            | NetworkEvent::ParaBlocksRequest { .. }
            | NetworkEvent::AvailableDataRequest { .. }
            | NetworkEvent::AvailableDataResponse { .. }
            | NetworkEvent::ParaBlocksResponse { .. }
            | NetworkEvent::Collation { .. }
            | NetworkEvent::CollationResponse { .. } => {}
            NetworkEvent::Listening(_) => {}
        }
        outcome
    }

    /// What a block announcement is worth: blocks are forwarded once imported, statuses never
    /// (each node announces its own to the peers it is connected to).
    async fn on_block_gossip(
        &mut self,
        peer: PeerId,
        source: Option<PeerId>,
        data: &[u8],
        outcome: &mut SyncOutcome,
    ) -> Verdict {
        match decode_exact::<BlockAnnounce>(data) {
            Err(reason) => {
                tracing::debug!(%peer, %reason, "malformed block gossip");
                Verdict::Reject(Misbehaviour::Malformed)
            }
            Ok(BlockAnnounce::Status { best, finalized }) => {
                // Only a status its maker sent us itself says what that peer can serve.
                if source != Some(peer) {
                    return Verdict::Ignore;
                }
                let verdict = self.verify_claim(peer, &best);
                if verdict == Verdict::Accept {
                    let chain = self.peers.entry(peer).or_default();
                    chain.best = best.number;
                    chain.finalized = finalized.min(best.number);
                    self.maybe_download().await;
                }
                match verdict {
                    Verdict::Accept => Verdict::Ignore,
                    other => other,
                }
            }
            Ok(BlockAnnounce::Block(block)) => match self.import(&block, outcome) {
                Ok(_) => {
                    if source == Some(peer) {
                        let chain = self.peers.entry(peer).or_default();
                        chain.best = chain.best.max(block.header.number);
                    }
                    Verdict::Accept
                }
                Err(err) => {
                    if err.is_not_yet() {
                        tracing::debug!(%peer, %err, "block gossip not importable yet");
                        if source == Some(peer)
                            && self.verify_claim(peer, &block.header) == Verdict::Accept
                        {
                            let chain = self.peers.entry(peer).or_default();
                            chain.best = chain.best.max(block.header.number);
                            self.maybe_download().await;
                        }
                    } else if let ImportError::Store(err) = &err {
                        tracing::error!(%err, "store failed importing a gossiped block");
                    } else {
                        tracing::debug!(%peer, %err, "invalid block gossip");
                    }
                    import_failure_verdict(&err)
                }
            },
        }
    }

    /// Whether a header a peer claims is believable: [`Verdict::Accept`] if it is, `Ignore`
    /// if its slot has not begun here (clocks differ a little), `Reject` if no honest node
    /// could have sent it.
    fn verify_claim(&self, peer: PeerId, header: &Header) -> Verdict {
        let checked = self.shared.client().check_claim(header);
        if let Err(err) = &checked {
            tracing::debug!(%peer, %err, number = header.number, "chain claim not believed");
        }
        claim_verdict(&checked)
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
                    // This node's own failure (its store, its runtime host) blames nobody:
                    // the rest waits for the next request.
                    if let Verdict::Reject(misbehaviour) = import_failure_verdict(&err) {
                        tracing::debug!(%peer, %err, "invalid block in sync response");
                        let _stopped = self.network.report(peer, misbehaviour);
                        self.peers.remove(&peer);
                    } else {
                        tracing::warn!(%peer, %err, "a synced block could not be imported here");
                    }
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
            .max_by_key(|(_, chain)| chain.fetchable())
            .filter(|(_, chain)| chain.fetchable() > meta.best_number);
        let request = if let Some((&peer, chain)) = ahead {
            // Start a little below our best, never at or below our finalized block.
            let from = meta
                .best_number
                .saturating_sub(self.overlap)
                .max(meta.finalized_number)
                .saturating_add(1);
            let count = chain
                .fetchable()
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

    /// Canonical blocks, with their justifications, for a peer that is behind; a block by
    /// hash with its ancestors, for a peer that heard of it; the latest justification; and for
    /// a warp sync, the warp proof and state nodes (read from a clone of the store, not
    /// holding up import).
    fn serve(&self, peer: PeerId, request: SyncRequest) -> SyncResponse {
        let bad_request = || {
            let _stopped = self.network.report(peer, Misbehaviour::BadRequest);
            SyncResponse::Refused
        };
        let (from, count) = match request {
            SyncRequest::Blocks { from, count } => (from, count),
            SyncRequest::LatestJustification => {
                let client = self.shared.client();
                let latest = client.info().ok().and_then(|meta| {
                    let justification = client.justification(&meta.finalized_hash).ok()??;
                    Some((meta.finalized_number, justification))
                });
                return SyncResponse::Justification(latest);
            }
            SyncRequest::Ancestry { count, .. } if count == 0 || count > MAX_BLOCKS_PER_REQUEST => {
                return bad_request();
            }
            SyncRequest::Ancestry { hash, count } => {
                return SyncResponse::Blocks(ancestry(&self.shared.client(), hash, count));
            }
            SyncRequest::WarpProof { from_set } => return self.warp_proof(peer, from_set),
            SyncRequest::StateNodes(hashes) => {
                let mut distinct = hashes.clone();
                distinct.sort_unstable();
                distinct.dedup();
                // The honest downloader never asks twice for one node in a request.
                if hashes.is_empty()
                    || hashes.len() > MAX_STATE_NODES_PER_REQUEST
                    || distinct.len() != hashes.len()
                {
                    return bad_request();
                }
                let store = self.shared.client().store().clone();
                return SyncResponse::StateNodes(state_nodes(&store, &hashes));
            }
        };
        if count == 0 || count > MAX_BLOCKS_PER_REQUEST {
            return bad_request();
        }
        let client = self.shared.client();
        let canonical = (from..from.saturating_add(count)).map_while(|number| {
            let hash = client.store().canonical_hash(number).ok()??;
            sync_block(&client, &hash)
        });
        let blocks = within_budget(canonical, SyncBlock::encoded_size, RESPONSE_BUDGET);
        let below_best = client.info().is_ok_and(|meta| from <= meta.best_number);
        if blocks.is_empty() && below_best {
            // Blocks below a warp sync's start are not held: a refusal, which blames nobody,
            // rather than an empty answer to a claim of blocks above the asker's.
            return SyncResponse::Refused;
        }
        SyncResponse::Blocks(blocks)
    }

    /// The warp proof from set `from_set`, built once per finalized block and set asked from
    /// (every warping peer asks for the same few).
    fn warp_proof(&self, peer: PeerId, from_set: u64) -> SyncResponse {
        let store = self.shared.client().store().clone();
        let Ok(finalized) = store.meta().map(|meta| meta.finalized_hash) else {
            return SyncResponse::Refused;
        };
        let mut cache = self.warp_proofs.lock().unwrap_or_else(|p| p.into_inner());
        if cache.as_ref().is_some_and(|(at, _)| *at != finalized) {
            cache.take();
        }
        let (_, proofs) = cache.get_or_insert_with(|| (finalized, HashMap::new()));
        if let Some(response) = proofs.get(&from_set) {
            return SyncResponse::WarpProof(response.clone());
        }
        match crate::warp::warp_proof(&store, from_set) {
            Ok(response) => {
                if proofs.len() >= MAX_CACHED_WARP_PROOFS {
                    proofs.clear();
                }
                proofs.insert(from_set, response.clone());
                SyncResponse::WarpProof(response)
            }
            Err(err) => {
                tracing::debug!(%peer, from_set, %err, "no warp proof to serve");
                SyncResponse::Refused
            }
        }
    }
}

/// Warp proofs kept for the finalized block (one per set asked from).
const MAX_CACHED_WARP_PROOFS: usize = 4;

/// What a state nodes response carries at most (at least one node, however large).
const STATE_RESPONSE_BUDGET: usize = 2 * 1024 * 1024;

/// What a response carries at most; the peer asks again for the rest.
const RESPONSE_BUDGET: usize = crate::network::MAX_RESPONSE_SIZE / 2;

/// The state nodes `hashes` from `store`, in order, up to the first it lacks or the response
/// budget (at least one).
fn state_nodes(store: &crate::store::ChainStore, hashes: &[Hash]) -> Vec<Vec<u8>> {
    use tessera_runtime::state::NodeStore;
    let nodes = hashes.iter().map_while(|hash| store.node(hash));
    within_budget(nodes, Vec::len, STATE_RESPONSE_BUDGET)
}

/// The first of `items` whose `size`s add up to at most `budget`, and at least the first.
fn within_budget<T>(
    items: impl Iterator<Item = T>,
    size: impl Fn(&T) -> usize,
    budget: usize,
) -> Vec<T> {
    let mut taken = Vec::new();
    let mut total = 0usize;
    for item in items {
        total = total.saturating_add(size(&item));
        if total > budget && !taken.is_empty() {
            break;
        }
        taken.push(item);
    }
    taken
}

/// A stored block with its justification, if it has one.
fn sync_block(client: &Client, hash: &Hash) -> Option<SyncBlock> {
    let block = client.block(hash).ok()??;
    let justification = client.justification(hash).ok().flatten();
    Some(SyncBlock {
        block,
        justification,
    })
}

/// Block `hash` (on any fork `client` holds) and up to `count - 1` of its ancestors, parents
/// first, within one response's budget (the highest kept when they do not all fit): none if
/// `client` lacks the block.
pub fn ancestry(client: &Client, hash: Hash, count: u32) -> Vec<SyncBlock> {
    let mut next = Some(hash);
    let down = std::iter::from_fn(|| {
        let entry = sync_block(client, &next.take()?)?;
        let header = &entry.block.header;
        next = (header.number > 0).then_some(header.parent_hash);
        Some(entry)
    })
    .take(count as usize);
    let mut blocks = within_budget(down, SyncBlock::encoded_size, RESPONSE_BUDGET);
    blocks.reverse();
    blocks
}
