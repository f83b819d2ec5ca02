//! Warp sync (`tessera run --sync warp`): a new node learns the finalized chain from a peer's
//! warp proof, checked from the genesis validators alone, downloads the state of the block it
//! warps to, and starts above that block without the blocks below it, as Substrate's warp
//! sync does.
//!
//! Nothing a peer sends is believed unchecked:
//! - the proof's justifications lead from the genesis set through every set change
//!   ([`verify_warp_proof`]); a proof that fails is the sender's fault, and each part of a
//!   continued proof must start above the change its last part ended on (a justification
//!   also covers ancestors of what it finalized, which must not take the node back into an
//!   earlier set, nor to genesis);
//! - the block's body must match its header's extrinsics root;
//! - the state comes as trie nodes by hash, from the header's state root down, each checked
//!   against the hash that named it (so every node is its own proof: no range proofs). Nodes
//!   this store holds already (genesis state shares many) are read here instead.
//!
//! Nodes are written to the store as they arrive; the block, its justification, the set in
//! force and the engines' data are committed in one write at the end
//! ([`crate::store::ChainStore::commit_warp`]), once a walk from the state root finds every
//! node. A crash before that leaves a store at genesis with some state nodes, which the next
//! attempt reuses. As in Substrate, the proof trusts retired sets: two thirds of an old set's
//! keys could sign another history from their set on.

use crate::client::Client;
use crate::network::{
    Misbehaviour, NetworkHandle, SyncRequest, SyncResponse, MAX_STATE_NODES_PER_REQUEST,
};
use crate::store::{ChainStore, StoreError, WarpCommit};
use crate::warp::WarpResponse;
use libp2p::request_response::OutboundRequestId;
use libp2p::PeerId;
use parity_scale_codec::Encode;
use std::collections::HashMap;
use std::time::{Duration, Instant};
use tessera_consensus::authorship::{BlockData, EpochAuthorities, EpochData, PreDigest};
use tessera_consensus::finality::{verify_warp_proof, AuthoritySet, WarpFragment, WarpProofError};
use tessera_relay_chain::babe;
use tessera_runtime::consensus::ScheduledChange;
use tessera_runtime::state::{NodeStore, State};
use tessera_runtime::trie::{node_refs, NodeRef};
use tessera_runtime::{Block, BlockNumber, Hash, Header};

/// State requests in flight at once.
const MAX_STATE_REQUESTS: usize = 4;
/// Nodes read from the store in one tick (a restarted warp reads back what it holds).
const MAX_LOCAL_READS: usize = 10_000;
/// How long a peer that could not help is passed over.
const RETRY_AFTER: Duration = Duration::from_secs(2);

/// Why a warp sync stopped the node: only its own store's failure does.
#[derive(Debug, thiserror::Error)]
pub enum WarpSyncError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a block a proof led to cannot be started above (the warp begins again from the
/// genesis set).
#[derive(Debug, thiserror::Error)]
enum TargetError {
    /// Its state holds something that is no trie node.
    #[error("the state at #{number} has a node that does not decode: {reason}")]
    BadState {
        /// The block.
        number: BlockNumber,
        /// The codec's message.
        reason: String,
    },
    /// Its state does not hold what the engines need.
    #[error("the state at #{number} lacks {what}")]
    MissingState {
        /// The block.
        number: BlockNumber,
        /// What.
        what: String,
    },
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The finalized block a peer's proof leads to, and how the proof got there.
#[derive(Clone, Debug)]
struct WarpTarget {
    fragment: WarpFragment,
    /// The set in force from it on.
    set: AuthoritySet,
    /// Each set change the proofs went through: the set it enacted, and its block.
    changes: Vec<(u64, WarpFragment)>,
}

#[derive(Debug)]
enum Phase {
    /// Asking for the proof from `set` on (continued from each set an unfinished one reached,
    /// whose change block is `floor`: what follows must be above it).
    Proof {
        set: AuthoritySet,
        changes: Vec<(u64, WarpFragment)>,
        floor: BlockNumber,
    },
    /// Asking for the target block's body.
    Body(Box<WarpTarget>),
    /// Downloading the target block's state.
    State(Box<StateDownload>),
    /// Committed.
    Finished,
}

#[derive(Debug)]
struct StateDownload {
    target: WarpTarget,
    block: Block,
    /// References still to read, depth first.
    pending: Vec<NodeRef>,
    /// Asked for and not answered yet, by request.
    asked: HashMap<OutboundRequestId, Vec<NodeRef>>,
    /// The hashes asked for, each with whether it is wanted as a trie node (one hash may be
    /// both a value and a node; then its references are followed).
    asked_hashes: HashMap<Hash, bool>,
    fetched_nodes: u64,
    fetched_bytes: u64,
    reused: u64,
}

/// What a finished warp sync reached.
#[derive(Clone, Debug)]
pub struct WarpOutcome {
    /// The block the node now starts above.
    pub header: Header,
    /// The finality set in force there.
    pub set_id: u64,
    /// State nodes downloaded.
    pub fetched_nodes: u64,
    /// Their bytes.
    pub fetched_bytes: u64,
    /// State nodes the store held already.
    pub reused: u64,
}

/// A warp sync under way: fed network events by the node until it finishes.
#[derive(Debug)]
pub struct WarpSync {
    genesis_set: AuthoritySet,
    phase: Phase,
    peers: Vec<PeerId>,
    next_peer: usize,
    /// The proof or body request in flight.
    request: Option<OutboundRequestId>,
    /// Peers that could not help lately (no newer proof, no such block or node).
    unhelpful: HashMap<PeerId, Instant>,
    /// The last block warped to that could not be started above: a proof leading there again
    /// is passed over until one leads further.
    failed: Option<Hash>,
}

impl WarpSync {
    /// A warp sync from the genesis validators' set `genesis_set`.
    pub fn new(genesis_set: AuthoritySet) -> Self {
        WarpSync {
            phase: Self::from_genesis(&genesis_set),
            genesis_set,
            peers: Vec::new(),
            next_peer: 0,
            request: None,
            unhelpful: HashMap::new(),
            failed: None,
        }
    }

    fn from_genesis(genesis_set: &AuthoritySet) -> Phase {
        Phase::Proof {
            set: genesis_set.clone(),
            changes: Vec::new(),
            floor: 0,
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
        self.request.as_ref() == Some(request)
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
        let request = match &self.phase {
            Phase::State(_) => return self.request_state(network, store).await,
            Phase::Finished => return Ok(()),
            _ if self.request.is_some() => return Ok(()),
            Phase::Proof { set, .. } => SyncRequest::WarpProof {
                from_set: set.set_id(),
            },
            Phase::Body(target) => SyncRequest::Ancestry {
                hash: target.fragment.header.hash(),
                count: 1,
            },
        };
        let Some(peer) = self.pick_peer() else {
            return Ok(());
        };
        if let Ok(id) = network.request(peer, request).await {
            self.request = Some(id);
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
        if self.request == Some(request) {
            self.request = None;
        }
        let blame = |why: &str| {
            tracing::info!(%peer, why, "warp sync: a peer's answer refused");
            let _stopped = network.report(peer, Misbehaviour::Invalid);
        };
        let phase = std::mem::replace(&mut self.phase, Phase::Finished);
        self.phase = match (phase, response) {
            (
                Phase::Proof {
                    set,
                    changes,
                    floor,
                },
                Ok(SyncResponse::WarpProof(answer)),
            ) => {
                match proof_step(&set, floor, &changes, &answer) {
                    Ok(ProofStep::Nothing) => {
                        // It has finalized nothing past what we know: not a fault.
                        self.unhelpful.insert(peer, Instant::now());
                        Phase::Proof {
                            set,
                            changes,
                            floor,
                        }
                    }
                    Ok(ProofStep::Continue {
                        set,
                        changes,
                        floor,
                    }) => Phase::Proof {
                        set,
                        changes,
                        floor,
                    },
                    Ok(ProofStep::Target(target))
                        if self.failed == Some(target.fragment.header.hash()) =>
                    {
                        self.unhelpful.insert(peer, Instant::now());
                        Phase::Proof {
                            set,
                            changes,
                            floor,
                        }
                    }
                    Ok(ProofStep::Target(target)) => {
                        tracing::info!(
                            number = target.fragment.header.number,
                            set_id = target.set.set_id(),
                            changes = target.changes.len(),
                            "warp sync: proof checked"
                        );
                        Phase::Body(target)
                    }
                    Err(why) => {
                        blame(&why);
                        Phase::Proof {
                            set,
                            changes,
                            floor,
                        }
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
                            asked_hashes: HashMap::new(),
                            fetched_nodes: 0,
                            fetched_bytes: 0,
                            reused: 0,
                        }))
                    }
                    Some(_) => {
                        blame("a body that does not match its header");
                        Phase::Body(target)
                    }
                    None => {
                        self.unhelpful.insert(peer, Instant::now());
                        Phase::Body(target)
                    }
                }
            }
            (Phase::State(mut download), response) => {
                let nodes = match response {
                    Ok(SyncResponse::StateNodes(nodes)) => Some(nodes),
                    Ok(SyncResponse::Refused) | Err(_) => None,
                    Ok(_) => {
                        blame("not state nodes");
                        None
                    }
                };
                self.take_nodes(&mut download, peer, request, nodes, store, &blame)?;
                Phase::State(download)
            }
            (Phase::Finished, _) => Phase::Finished,
            (phase, Ok(SyncResponse::Refused) | Err(_)) => {
                self.unhelpful.insert(peer, Instant::now());
                phase
            }
            (phase, Ok(_)) => {
                blame("an answer of another kind");
                phase
            }
        };
        Ok(())
    }

    /// Checks and stores the state nodes `peer` answered `request` with (none: it could not);
    /// what was not rightly answered is asked again, of another peer.
    fn take_nodes(
        &mut self,
        download: &mut StateDownload,
        peer: PeerId,
        request: OutboundRequestId,
        nodes: Option<Vec<Vec<u8>>>,
        store: &ChainStore,
        blame: &dyn Fn(&str),
    ) -> Result<(), WarpSyncError> {
        let asked = download.asked.remove(&request).unwrap_or_default();
        // Each asked hash, and whether it is to be followed as a trie node.
        let asked: Vec<(Hash, bool)> = asked
            .iter()
            .map(|at| {
                let as_node = download.asked_hashes.remove(&at.hash()).unwrap_or(false);
                (at.hash(), as_node || at.is_node())
            })
            .collect();
        let nodes = nodes.unwrap_or_default();
        if nodes.len() > asked.len() {
            blame("more state nodes than asked for");
        }
        if nodes.is_empty() {
            self.unhelpful.insert(peer, Instant::now());
        }
        let mut verified = Vec::with_capacity(nodes.len());
        for ((hash, as_node), node) in asked.iter().zip(nodes) {
            if tessera_runtime::hashing::blake2_256(&node) != *hash {
                blame("a state node that is not the one asked for");
                break;
            }
            if *as_node {
                match node_refs(&node) {
                    Ok(refs) => download.pending.extend(refs),
                    Err(err) => {
                        // It hashes right, so the state holds it: nothing a peer did.
                        tracing::error!(%hash, %err, "warp sync: a state node does not decode");
                    }
                }
            }
            download.fetched_nodes = download.fetched_nodes.saturating_add(1);
            download.fetched_bytes = download.fetched_bytes.saturating_add(node.len() as u64);
            verified.push((*hash, node));
        }
        let unanswered = asked.iter().skip(verified.len());
        download
            .pending
            .extend(unanswered.map(|(hash, as_node)| match as_node {
                true => NodeRef::Node(*hash),
                false => NodeRef::Value(*hash),
            }));
        store.put_nodes(verified)?;
        Ok(())
    }

    /// Whether the whole state is stored: nothing left to read or asked, and a walk from the
    /// root over `store` (a clone: the client is not held meanwhile) finds every node; what
    /// it finds missing is asked for next.
    pub fn state_complete(&mut self, store: &ChainStore) -> bool {
        let Phase::State(download) = &mut self.phase else {
            return false;
        };
        if !download.pending.is_empty() || !download.asked.is_empty() {
            return false;
        }
        let missing = missing_nodes(store, download.block.header.state_root);
        if missing.is_empty() {
            return true;
        }
        tracing::warn!(
            missing = missing.len(),
            "warp sync: the state walk found nodes missing; asking for them"
        );
        download.pending.extend(missing);
        false
    }

    /// Once [`Self::state_complete`]: commits the block warped to and starts `client` above
    /// it. A block whose state cannot be started above sends the warp back to the genesis
    /// set, to wait for a proof of another block.
    pub fn finish(&mut self, client: &mut Client) -> Result<Option<WarpOutcome>, WarpSyncError> {
        let Phase::State(download) = std::mem::replace(&mut self.phase, Phase::Finished) else {
            return Ok(None);
        };
        let target = download.block.hash();
        match finish(*download, client) {
            Ok(outcome) => Ok(Some(outcome)),
            Err(TargetError::Store(err)) => Err(err.into()),
            Err(err) => {
                tracing::error!(%err, "warp sync: cannot start there; asking for a proof again");
                self.failed = Some(target);
                self.phase = Self::from_genesis(&self.genesis_set);
                Ok(None)
            }
        }
    }

    /// Asks for the next state nodes this store lacks, reading those it holds (a bounded
    /// number a tick).
    async fn request_state(
        &mut self,
        network: &NetworkHandle,
        store: &ChainStore,
    ) -> Result<(), WarpSyncError> {
        let mut local_reads = 0usize;
        loop {
            let Phase::State(download) = &mut self.phase else {
                return Ok(());
            };
            if download.asked.len() >= MAX_STATE_REQUESTS || download.pending.is_empty() {
                return Ok(());
            }
            let mut batch = Vec::new();
            while batch.len() < MAX_STATE_NODES_PER_REQUEST && local_reads < MAX_LOCAL_READS {
                let Some(at) = download.pending.pop() else {
                    break;
                };
                let hash = at.hash();
                if let Some(as_node) = download.asked_hashes.get_mut(&hash) {
                    // Asked already: followed as a node too if this reference wants it.
                    *as_node |= at.is_node();
                    continue;
                }
                local_reads = local_reads.saturating_add(1);
                match store.node(&hash) {
                    // Held already (a node of another state, or of an earlier attempt): what
                    // it refers to may not be, so it is followed here.
                    Some(node) => {
                        download.reused = download.reused.saturating_add(1);
                        if at.is_node() {
                            match node_refs(&node) {
                                Ok(refs) => download.pending.extend(refs),
                                Err(err) => tracing::error!(
                                    %hash, %err, "warp sync: a stored state node does not decode"
                                ),
                            }
                        }
                    }
                    None => {
                        download.asked_hashes.insert(hash, at.is_node());
                        batch.push(at);
                    }
                }
            }
            if batch.is_empty() {
                return Ok(());
            }
            let hashes: Vec<Hash> = batch.iter().map(NodeRef::hash).collect();
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
                    for at in batch {
                        let as_node = download.asked_hashes.remove(&at.hash()) == Some(true);
                        download.pending.push(match as_node {
                            true => NodeRef::Node(at.hash()),
                            false => at,
                        });
                    }
                    return Ok(());
                }
            }
            if local_reads >= MAX_LOCAL_READS {
                return Ok(());
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
                download.fetched_nodes,
                download.fetched_bytes,
                download.reused,
                download.pending.len() + download.asked_hashes.len()
            ),
            Phase::Finished => "finished".to_string(),
        }
    }
}

/// What a checked part of a warp proof leads to.
#[derive(Debug)]
enum ProofStep {
    /// The peer has finalized nothing past what we know (not its fault).
    Nothing,
    /// Ask again from the set it reached, above the change block `floor`.
    Continue {
        set: AuthoritySet,
        changes: Vec<(u64, WarpFragment)>,
        floor: BlockNumber,
    },
    /// The block to warp to.
    Target(Box<WarpTarget>),
}

/// Checks `answer`, a part of a warp proof from `set` after the set changes `changes` whose
/// last is the block `floor` (0 before any): what it leads to, or what the peer did wrong.
fn proof_step(
    set: &AuthoritySet,
    floor: BlockNumber,
    changes: &[(u64, WarpFragment)],
    answer: &WarpResponse,
) -> Result<ProofStep, String> {
    let fragments = &answer.proof.fragments;
    let warped = match verify_warp_proof(set.clone(), &answer.proof) {
        Err(WarpProofError::Empty) => return Ok(ProofStep::Nothing),
        Err(err) => return Err(err.to_string()),
        Ok(warped) => warped,
    };
    // A justification also covers ancestors of what its set voted for: they must not take
    // the node back below that set's start, nor to genesis.
    if fragments.first().is_none_or(|f| f.header.number <= floor) {
        return Err(format!("a proof that does not start above block #{floor}"));
    }
    let mut changes = changes.to_vec();
    let mut set_id = set.set_id();
    for fragment in fragments {
        if let Ok(Some(_)) = ScheduledChange::from_header(&fragment.header) {
            set_id = set_id.saturating_add(1);
            changes.push((set_id, fragment.clone()));
        }
    }
    match (answer.is_finished, fragments.last()) {
        (true, Some(last)) => Ok(ProofStep::Target(Box::new(WarpTarget {
            fragment: last.clone(),
            set: warped.set,
            changes,
        }))),
        // Continued from the set it reached: an unfinished part ends on the change that
        // enacted it, as honest servers cut it (else the floor would be a block past it, above
        // what honest continuations start with).
        (false, Some(last))
            if matches!(ScheduledChange::from_header(&last.header), Ok(Some(_))) =>
        {
            Ok(ProofStep::Continue {
                set: warped.set,
                changes,
                floor: last.header.number,
            })
        }
        _ => Err("an unfinished proof that does not end on a set change".to_string()),
    }
}

/// The nodes and values under `root` that `store` lacks (the first of each missing subtree).
fn missing_nodes(store: &ChainStore, root: Hash) -> Vec<NodeRef> {
    let mut missing = Vec::new();
    let mut next = vec![NodeRef::Node(root)];
    while let Some(at) = next.pop() {
        match store.node(&at.hash()) {
            None => missing.push(at),
            Some(node) if at.is_node() => next.extend(node_refs(&node).unwrap_or_default()),
            Some(_) => {}
        }
    }
    missing
}

/// Commits the block warped to with its state's engines' data, and starts `client` above it.
fn finish(download: StateDownload, client: &mut Client) -> Result<WarpOutcome, TargetError> {
    let StateDownload {
        target,
        block,
        fetched_nodes,
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
    Ok(WarpOutcome {
        header,
        set_id: target.set.set_id(),
        fetched_nodes,
        fetched_bytes,
        reused,
    })
}

/// The authorship engine's data for `header`, from its state (the relay runtime's `babe`
/// module keeps the epochs as the engine counts them). Its count of primary blocks starts at
/// 0: fork choice compares only blocks above it.
fn block_data(store: &ChainStore, header: &Header) -> Result<BlockData, TargetError> {
    let number = header.number;
    let missing = |what: &str| TargetError::MissingState {
        number,
        what: what.to_string(),
    };
    let read = |e: tessera_runtime::Error| TargetError::BadState {
        number,
        reason: e.to_string(),
    };
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
    if current.is_empty() || next.is_empty() || origin_slot.is_none() {
        return Err(missing("the epoch's authorities and start"));
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

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_consensus::finality::{vote_payload, Justification, SignedTarget, Target, Vote};
    use tessera_consensus::test_headers::{child, genesis, signalling};
    use tessera_consensus::AuthorityKey;

    fn keys(from: u64) -> Vec<AuthorityKey> {
        (from..from + 4).map(AuthorityKey::from_index).collect()
    }

    fn set(id: u64, keys: &[AuthorityKey]) -> AuthoritySet {
        AuthoritySet::equal(id, keys.iter().map(AuthorityKey::public)).unwrap()
    }

    /// `header` justified by `keys` (set `set_id`), which precommit for `voted` (it or a
    /// descendant, linked by `ancestry`).
    fn justified(
        header: &Header,
        voted: &Header,
        ancestry: Vec<Header>,
        keys: &[AuthorityKey],
        set_id: u64,
    ) -> WarpFragment {
        let target = |h: &Header| Target {
            hash: h.hash(),
            number: h.number,
        };
        let precommits = keys
            .iter()
            .map(|key| SignedTarget {
                target: target(voted),
                id: key.public(),
                signature: key.sign(&vote_payload(&Vote::Precommit(target(voted)), 1, set_id)),
            })
            .collect();
        WarpFragment {
            header: header.clone(),
            justification: Justification {
                round: 1,
                target: target(header),
                precommits,
                ancestry,
            },
        }
    }

    fn answer(fragments: Vec<WarpFragment>, is_finished: bool) -> WarpResponse {
        WarpResponse {
            proof: tessera_consensus::finality::WarpProof { fragments },
            is_finished,
        }
    }

    #[test]
    fn a_continued_proof_must_start_above_the_change_it_went_through_and_never_at_genesis() {
        let (old, new) = (keys(0), keys(10));
        let genesis = genesis();
        let before = child(&genesis, 1);
        let change = signalling(&before, 2, new.iter().map(AuthorityKey::public));
        let after = child(&change, 3);

        // A first part that stops at the change: ask again from set 1, above it.
        let first = answer(vec![justified(&change, &change, vec![], &old, 0)], false);
        let step = proof_step(&set(0, &old), 0, &[], &first).unwrap();
        let ProofStep::Continue {
            set: set_1,
            changes,
            floor,
        } = step
        else {
            panic!("{step:?}");
        };
        assert_eq!(
            (set_1.set_id(), floor, changes.len()),
            (1, change.number, 1)
        );

        // Set 1's precommits for the block after the change also justify the block before it
        // (with the ancestry linking them), which set 0 governed: refused.
        let below = justified(
            &before,
            &after,
            vec![change.clone(), after.clone()],
            &new,
            1,
        );
        let refused = proof_step(&set_1, floor, &changes, &answer(vec![below.clone()], true));
        assert_eq!(
            refused.unwrap_err(),
            "a proof that does not start above block #2"
        );
        // (It is a valid proof by itself: the floor is what refuses it.)
        assert!(verify_warp_proof(set_1.clone(), &answer(vec![below], true).proof).is_ok());
        // Above the change, the same set's justification is the target.
        let above = justified(&after, &after, vec![], &new, 1);
        let step = proof_step(&set_1, floor, &changes, &answer(vec![above], true)).unwrap();
        let ProofStep::Target(target) = step else {
            panic!("{step:?}");
        };
        assert_eq!((target.fragment.header.number, target.set.set_id()), (3, 1));
        assert_eq!(target.changes[0].0, 1);

        // Genesis justified by the genesis set's votes for a descendant: refused.
        let to_genesis = justified(&genesis, &before, vec![before.clone()], &old, 0);
        let refused = proof_step(&set(0, &old), 0, &[], &answer(vec![to_genesis], true));
        assert_eq!(
            refused.unwrap_err(),
            "a proof that does not start above block #0"
        );
        // Nothing finalized past what we know is no fault.
        assert!(matches!(
            proof_step(&set(0, &old), 0, &[], &answer(vec![], true)),
            Ok(ProofStep::Nothing)
        ));
        // An unfinished part must end on a change: one that changes nothing would be asked
        // again forever, and one that goes past its change would set the floor above where
        // honest continuations start.
        let idle = answer(vec![justified(&before, &before, vec![], &old, 0)], false);
        assert!(proof_step(&set(0, &old), 0, &[], &idle).is_err());
        let past = answer(
            vec![
                justified(&change, &change, vec![], &old, 0),
                justified(&after, &after, vec![], &new, 1),
            ],
            false,
        );
        let refused = proof_step(&set(0, &old), 0, &[], &past);
        assert_eq!(
            refused.unwrap_err(),
            "an unfinished proof that does not end on a set change"
        );
    }

    #[test]
    fn the_state_walk_finds_what_the_store_lacks() {
        let pairs: Vec<(Vec<u8>, Vec<u8>)> = (0u8..40)
            .map(|i| (vec![i, i], vec![i; 40 + usize::from(i)]))
            .collect();
        let (root, nodes) = tessera_runtime::trie::root_of(pairs);
        let db = crate::store::MemoryDb::default();
        let genesis = genesis();
        let store = ChainStore::open(Box::new(db), &genesis, &[]).unwrap();
        assert_eq!(missing_nodes(&store, root), vec![NodeRef::Node(root)]);
        let all: Vec<(Hash, Vec<u8>)> = nodes.into_iter().collect();
        // Everything but one value: the walk names exactly that value.
        let value = all
            .iter()
            .find(|(_, node)| node.len() >= 40 && node.iter().all(|b| *b == node[0]))
            .map(|(hash, _)| *hash)
            .unwrap();
        store
            .put_nodes(all.iter().filter(|(h, _)| *h != value).cloned().collect())
            .unwrap();
        assert_eq!(missing_nodes(&store, root), vec![NodeRef::Value(value)]);
        store.put_nodes(all).unwrap();
        assert!(missing_nodes(&store, root).is_empty());
    }
}
