//! Warp sync (`tessera run --sync warp`): a new node learns the finalized chain from a peer's
//! warp proof, checked from the genesis validators alone, downloads the state of the block it
//! warps to, and starts above that block without the blocks below it, as Substrate's warp
//! sync does.
//!
//! Nothing a peer sends is believed unchecked:
//! - the proof's justifications lead from the genesis set through every set change
//!   ([`verify_warp_proof`]); a proof that fails is the sender's fault;
//! - the block's body must match its header's extrinsics root;
//! - the state comes as trie nodes by hash, from the header's state root down, each checked
//!   against the hash that named it (so every node is its own proof: no range proofs). Nodes
//!   this store holds already (genesis state shares many) are read here instead.
//!
//! Nodes are written to the store as they arrive; the block, its justification, the set in
//! force and the engines' data are committed in one write at the end
//! ([`crate::store::ChainStore::commit_warp`]). A crash before that leaves a store at genesis
//! with some state nodes, which the next attempt reuses.

use crate::client::Client;
use crate::network::{
    Misbehaviour, NetworkHandle, SyncRequest, SyncResponse, MAX_STATE_NODES_PER_REQUEST,
};
use crate::store::{ChainStore, StoreError, WarpCommit};
use libp2p::request_response::OutboundRequestId;
use libp2p::PeerId;
use parity_scale_codec::Encode;
use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};
use tessera_consensus::authorship::{BlockData, EpochAuthorities, EpochData, PreDigest};
use tessera_consensus::finality::{verify_warp_proof, AuthoritySet, WarpFragment, WarpProofError};
use tessera_relay_chain::babe;
use tessera_runtime::consensus::ScheduledChange;
use tessera_runtime::state::{NodeStore, State};
use tessera_runtime::trie::{node_refs, NodeRef};
use tessera_runtime::{Block, Hash, Header};

/// State requests in flight at once.
const MAX_STATE_REQUESTS: usize = 4;
/// How long to wait before asking a peer again after none could help.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Why a warp sync stopped.
#[derive(Debug, thiserror::Error)]
pub enum WarpSyncError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The state that the finalized header commits to holds something that is no trie node.
    #[error("the state at #{number} has a node that does not decode: {reason}")]
    BadState {
        /// The block warped to.
        number: u32,
        /// The codec's message.
        reason: String,
    },
    /// The state read back does not hold what the engines need.
    #[error("the state at #{number} lacks {what}")]
    MissingState {
        /// The block warped to.
        number: u32,
        /// What.
        what: String,
    },
}

/// The finalized block a peer's proof leads to, and how the proof got there.
#[derive(Clone, Debug)]
struct Target {
    fragment: WarpFragment,
    /// The set in force from it on.
    set: AuthoritySet,
    /// Each set change the proofs went through: the set it enacted, and its block.
    changes: Vec<(u64, WarpFragment)>,
}

#[derive(Debug)]
enum Phase {
    /// Asking for the proof from `set` on (continued from each set an unfinished one reached).
    Proof {
        set: AuthoritySet,
        changes: Vec<(u64, WarpFragment)>,
    },
    /// Asking for the target block's body.
    Body(Box<Target>),
    /// Downloading the target block's state.
    State(Box<StateDownload>),
    /// Committed.
    Finished,
}

#[derive(Debug)]
struct StateDownload {
    target: Target,
    block: Block,
    /// References still to read, depth first.
    pending: Vec<NodeRef>,
    /// Asked for and not answered yet, by request.
    asked: HashMap<OutboundRequestId, Vec<NodeRef>>,
    /// Asked for, so not asked twice at once.
    in_flight: HashSet<Hash>,
    fetched: u64,
    fetched_bytes: u64,
    reused: u64,
}

/// What a finished warp sync reached.
#[derive(Clone, Debug)]
pub struct Warped {
    /// The block the node now starts above.
    pub header: Header,
    /// The finality set in force there.
    pub set_id: u64,
    /// State nodes downloaded, and their bytes.
    pub fetched: (u64, u64),
    /// State nodes the store held already.
    pub reused: u64,
}

/// A warp sync under way: fed network events by the node until it finishes.
#[derive(Debug)]
pub struct WarpSync {
    phase: Phase,
    peers: Vec<PeerId>,
    next_peer: usize,
    /// The request of the proof and body phases in flight.
    in_flight: Option<OutboundRequestId>,
    /// Peers that could not help in this phase (no proof, no such block), asked again later.
    unhelpful: HashMap<PeerId, Instant>,
}

impl WarpSync {
    /// A warp sync from the genesis validators' set `genesis_set`.
    pub fn new(genesis_set: AuthoritySet) -> Self {
        WarpSync {
            phase: Phase::Proof {
                set: genesis_set,
                changes: Vec::new(),
            },
            peers: Vec::new(),
            next_peer: 0,
            in_flight: None,
            unhelpful: HashMap::new(),
        }
    }

    /// A peer connected (`true`) or left.
    pub fn on_peer(&mut self, peer: PeerId, connected: bool) {
        if connected {
            if !self.peers.contains(&peer) {
                self.peers.push(peer);
            }
        } else {
            self.peers.retain(|p| *p != peer);
        }
    }

    /// Whether `request` is one of this sync's.
    pub fn owns(&self, request: &OutboundRequestId) -> bool {
        self.in_flight.as_ref() == Some(request)
            || matches!(&self.phase, Phase::State(download) if download.asked.contains_key(request))
    }

    /// The next peer to ask, skipping those that could not help lately.
    fn pick_peer(&mut self) -> Option<PeerId> {
        let now = Instant::now();
        self.unhelpful
            .retain(|_, at| now.duration_since(*at) < RETRY_AFTER);
        for _ in 0..self.peers.len() {
            let peer = self.peers[self.next_peer % self.peers.len()];
            self.next_peer = self.next_peer.wrapping_add(1);
            if !self.unhelpful.contains_key(&peer) {
                return Some(peer);
            }
        }
        None
    }

    /// Sends the requests that are due (called on each tick).
    pub async fn tick(
        &mut self,
        network: &NetworkHandle,
        store: &ChainStore,
    ) -> Result<(), WarpSyncError> {
        if let Phase::State(_) = self.phase {
            return self.request_state(network, store).await;
        }
        if self.in_flight.is_some() {
            return Ok(());
        }
        let request = match &self.phase {
            Phase::Proof { set, .. } => SyncRequest::WarpProof {
                from_set: set.set_id(),
            },
            Phase::Body(target) => SyncRequest::Ancestry {
                hash: target.fragment.header.hash(),
                count: 1,
            },
            Phase::State(_) | Phase::Finished => return Ok(()),
        };
        let Some(peer) = self.pick_peer() else {
            return Ok(());
        };
        if let Ok(id) = network.request(peer, request).await {
            self.in_flight = Some(id);
        }
        Ok(())
    }

    /// Takes the answer to one of this sync's requests (the state nodes it carries go to
    /// `store`).
    pub fn on_response(
        &mut self,
        peer: PeerId,
        request: OutboundRequestId,
        response: Result<SyncResponse, String>,
        network: &NetworkHandle,
        store: &ChainStore,
    ) -> Result<(), WarpSyncError> {
        if self.in_flight == Some(request) {
            self.in_flight = None;
        }
        let blame = |misbehaviour: Misbehaviour, why: &str| {
            tracing::info!(%peer, why, "warp sync: a peer's answer refused");
            let _stopped = network.report(peer, misbehaviour);
        };
        let phase = std::mem::replace(&mut self.phase, Phase::Finished);
        self.phase = match (phase, response) {
            (Phase::Proof { set, mut changes }, Ok(SyncResponse::WarpProof(answer))) => {
                match verify_warp_proof(set.clone(), &answer.proof) {
                    Ok(warped) => {
                        let mut set_id = set.set_id();
                        for fragment in &answer.proof.fragments {
                            if let Ok(Some(_)) = ScheduledChange::from_header(&fragment.header) {
                                set_id = set_id.saturating_add(1);
                                changes.push((set_id, fragment.clone()));
                            }
                        }
                        match (answer.is_finished, answer.proof.fragments.last()) {
                            (true, Some(last)) => {
                                tracing::info!(
                                    number = last.header.number,
                                    set_id = warped.set.set_id(),
                                    changes = changes.len(),
                                    "warp sync: proof checked"
                                );
                                Phase::Body(Box::new(Target {
                                    fragment: last.clone(),
                                    set: warped.set,
                                    changes,
                                }))
                            }
                            // Continued from the set it reached, which must be a later one.
                            _ if warped.set.set_id() > set.set_id() => Phase::Proof {
                                set: warped.set,
                                changes,
                            },
                            _ => {
                                blame(
                                    Misbehaviour::Invalid,
                                    "an unfinished proof that changes no set",
                                );
                                Phase::Proof { set, changes }
                            }
                        }
                    }
                    Err(WarpProofError::Empty) => {
                        // It has finalized nothing past what we know: not a fault.
                        self.unhelpful.insert(peer, Instant::now());
                        Phase::Proof { set, changes }
                    }
                    Err(err) => {
                        blame(Misbehaviour::Invalid, &err.to_string());
                        Phase::Proof { set, changes }
                    }
                }
            }
            (Phase::Body(target), Ok(SyncResponse::Blocks(blocks))) => {
                let hash = target.fragment.header.hash();
                match blocks.into_iter().find(|b| b.block.hash() == hash) {
                    Some(found)
                        if tessera_runtime::block::extrinsics_root(&found.block.extrinsics)
                            == found.block.header.extrinsics_root =>
                    {
                        let root = found.block.header.state_root;
                        Phase::State(Box::new(StateDownload {
                            target: *target,
                            block: found.block,
                            pending: vec![NodeRef::Node(root)],
                            asked: HashMap::new(),
                            in_flight: HashSet::new(),
                            fetched: 0,
                            fetched_bytes: 0,
                            reused: 0,
                        }))
                    }
                    Some(_) => {
                        blame(
                            Misbehaviour::Invalid,
                            "a body that does not match its header",
                        );
                        Phase::Body(target)
                    }
                    None => {
                        self.unhelpful.insert(peer, Instant::now());
                        Phase::Body(target)
                    }
                }
            }
            (Phase::State(mut download), response) => {
                let asked = download.asked.remove(&request).unwrap_or_default();
                for at in &asked {
                    download.in_flight.remove(&ref_hash(at));
                }
                let nodes = match response {
                    Ok(SyncResponse::StateNodes(nodes)) if nodes.len() <= asked.len() => nodes,
                    Ok(SyncResponse::Refused) | Err(_) => Vec::new(),
                    Ok(_) => {
                        blame(Misbehaviour::Invalid, "not the state nodes asked for");
                        Vec::new()
                    }
                };
                if nodes.is_empty() {
                    self.unhelpful.insert(peer, Instant::now());
                }
                let mut verified = Vec::with_capacity(nodes.len());
                let mut bad = false;
                for (at, node) in asked.iter().zip(nodes) {
                    if tessera_runtime::hashing::blake2_256(&node) != ref_hash(at) {
                        bad = true;
                        break;
                    }
                    verified.push((*at, node));
                }
                if bad {
                    blame(
                        Misbehaviour::Invalid,
                        "a state node that is not the one asked for",
                    );
                }
                // What was not answered (or not rightly) is asked again, of another peer.
                download
                    .pending
                    .extend(asked.iter().skip(verified.len()).copied());
                let number = download.target.fragment.header.number;
                for (at, node) in &verified {
                    if let NodeRef::Node(_) = at {
                        let refs = node_refs(node).map_err(|e| WarpSyncError::BadState {
                            number,
                            reason: e.to_string(),
                        })?;
                        download.pending.extend(refs);
                    }
                    download.fetched = download.fetched.saturating_add(1);
                    download.fetched_bytes =
                        download.fetched_bytes.saturating_add(node.len() as u64);
                }
                store.put_nodes(
                    verified
                        .into_iter()
                        .map(|(at, node)| (ref_hash(&at), node))
                        .collect(),
                )?;
                Phase::State(download)
            }
            (Phase::Finished, _) => Phase::Finished,
            (phase, Ok(SyncResponse::Refused) | Err(_)) => {
                self.unhelpful.insert(peer, Instant::now());
                phase
            }
            (phase, Ok(_)) => {
                blame(Misbehaviour::Invalid, "an answer of another kind");
                phase
            }
        };
        Ok(())
    }

    /// Once the whole state is stored (nothing left to read or asked): commits the block warped
    /// to and starts `client` above it.
    pub fn finish_if_complete(
        &mut self,
        client: &mut Client,
    ) -> Result<Option<Warped>, WarpSyncError> {
        let complete = matches!(
            &self.phase,
            Phase::State(download) if download.pending.is_empty() && download.asked.is_empty()
        );
        if !complete {
            return Ok(None);
        }
        match std::mem::replace(&mut self.phase, Phase::Finished) {
            Phase::State(download) => finish(*download, client).map(Some),
            _ => Ok(None),
        }
    }

    /// Asks for the next state nodes this store lacks, reading those it holds.
    async fn request_state(
        &mut self,
        network: &NetworkHandle,
        store: &ChainStore,
    ) -> Result<(), WarpSyncError> {
        loop {
            let Phase::State(download) = &mut self.phase else {
                return Ok(());
            };
            if download.asked.len() >= MAX_STATE_REQUESTS || download.pending.is_empty() {
                return Ok(());
            }
            let number = download.target.fragment.header.number;
            let mut batch = Vec::new();
            while batch.len() < MAX_STATE_NODES_PER_REQUEST {
                let Some(at) = download.pending.pop() else {
                    break;
                };
                let hash = ref_hash(&at);
                if download.in_flight.contains(&hash) {
                    continue;
                }
                match store.node(&hash) {
                    // Held already (a node of another state, or of an earlier attempt): what
                    // it refers to may not be, so it is read here.
                    Some(node) => {
                        download.reused = download.reused.saturating_add(1);
                        if let NodeRef::Node(_) = at {
                            let refs = node_refs(&node).map_err(|e| WarpSyncError::BadState {
                                number,
                                reason: e.to_string(),
                            })?;
                            download.pending.extend(refs);
                        }
                    }
                    None => {
                        download.in_flight.insert(hash);
                        batch.push(at);
                    }
                }
            }
            if batch.is_empty() {
                return Ok(());
            }
            let hashes: Vec<Hash> = batch.iter().map(ref_hash).collect();
            let peer = self.pick_peer();
            let Phase::State(download) = &mut self.phase else {
                return Ok(());
            };
            let sent = match peer {
                Some(peer) => network
                    .request(peer, SyncRequest::StateNodes(hashes))
                    .await
                    .ok(),
                None => None,
            };
            match sent {
                Some(id) => {
                    download.asked.insert(id, batch);
                }
                None => {
                    for at in &batch {
                        download.in_flight.remove(&ref_hash(at));
                    }
                    download.pending.extend(batch);
                    return Ok(());
                }
            }
        }
    }

    /// Where it is, for the log.
    pub fn progress(&self) -> String {
        match &self.phase {
            Phase::Proof { set, .. } => {
                format!("asking for a warp proof from set {}", set.set_id())
            }
            Phase::Body(target) => format!("asking for block #{}", target.fragment.header.number),
            Phase::State(download) => format!(
                "state of #{}: {} nodes ({} bytes) fetched, {} held already, {} to go",
                download.target.fragment.header.number,
                download.fetched,
                download.fetched_bytes,
                download.reused,
                download.pending.len() + download.in_flight.len()
            ),
            Phase::Finished => "finished".to_string(),
        }
    }
}

fn ref_hash(at: &NodeRef) -> Hash {
    match at {
        NodeRef::Node(hash) | NodeRef::Value(hash) => *hash,
    }
}

/// Commits the block warped to with its state's engines' data, and starts `client` above it.
fn finish(download: StateDownload, client: &mut Client) -> Result<Warped, WarpSyncError> {
    let StateDownload {
        target,
        block,
        fetched,
        fetched_bytes,
        reused,
        ..
    } = download;
    let header = block.header.clone();
    let consensus = block_data(client.store(), &header)?;
    let changes: Vec<(Header, Vec<u8>)> = target
        .changes
        .iter()
        .map(|(_, fragment)| (fragment.header.clone(), fragment.justification.encode()))
        .collect();
    let change_blocks: Vec<(u64, Hash)> = target
        .changes
        .iter()
        .map(|(set_id, fragment)| (*set_id, fragment.header.hash()))
        .collect();
    client.store().commit_warp(WarpCommit {
        block: &block,
        justification: &target.fragment.justification.encode(),
        consensus: &consensus.encode(),
        changes: &changes,
        aux: crate::finality::warp_aux(&target.set, &change_blocks),
    })?;
    client.rebase_on_finalized()?;
    Ok(Warped {
        header,
        set_id: target.set.set_id(),
        fetched: (fetched, fetched_bytes),
        reused,
    })
}

/// The authorship engine's data for `header`, from its state (the relay runtime's `babe`
/// module keeps the epochs as the engine counts them). Its count of primary blocks starts at
/// 0: fork choice compares only blocks above it.
fn block_data(store: &ChainStore, header: &Header) -> Result<BlockData, WarpSyncError> {
    let number = header.number;
    let missing = |what: &str| WarpSyncError::MissingState {
        number,
        what: what.to_string(),
    };
    let read = |e: tessera_runtime::Error| missing(&e.to_string());
    let mut state = State::new(store, header.state_root);
    let slot = PreDigest::from_header(header)
        .ok_or_else(|| missing("a slot pre-digest"))?
        .slot();
    let origin_slot = babe::GENESIS_SLOT.get(&mut state).map_err(read)?;
    let index = babe::EPOCH_INDEX.get_or_default(&mut state).map_err(read)?;
    let current = EpochAuthorities::new(
        babe::AUTHORITIES.get_or_default(&mut state).map_err(read)?,
        babe::RANDOMNESS.get_or_default(&mut state).map_err(read)?,
    );
    let next = EpochAuthorities::new(
        babe::NEXT_AUTHORITIES
            .get_or_default(&mut state)
            .map_err(read)?,
        babe::NEXT_RANDOMNESS
            .get_or_default(&mut state)
            .map_err(read)?,
    );
    if current.is_empty() || next.is_empty() {
        return Err(missing("the epoch's authorities"));
    }
    Ok(BlockData {
        slot,
        primaries: 0,
        epoch: EpochData {
            index,
            current,
            next,
        },
        origin_slot,
    })
}
