//! The finality voter of a running node: the consensus crate's GRANDPA-like engine, fed with
//! imported blocks, time and peers' messages, its votes and commits gossiped on the finality
//! topic, catch-up sent to one peer, and its finalized blocks stored with their justifications.

use crate::client::unix_time_ms;
use crate::network::{Misbehaviour, NetworkHandle, Topic, Verdict};
use crate::service::{ChainEvent, Shared};
use crate::store::StoreError;
use libp2p::PeerId;
use parity_scale_codec::{Decode, Encode};
use std::collections::BTreeMap;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tessera_consensus::codec::decode_bounded;
use tessera_consensus::finality::{
    AuthoritySet, AuthoritySetError, FinalityConfig, FinalityEngine, FinalityMessage, Input,
    Justification, Output, SignedVote, Target, Vote, VotingRule, MAX_MESSAGE_BYTES,
};
use tessera_consensus::{AuthorityKey, BlockTree, PeerId as EnginePeer};
use tessera_runtime::consensus::ScheduledChange;
use tessera_runtime::{AccountId, BlockNumber, Hash, Header};

/// Why the voter could not start.
#[derive(Debug, thiserror::Error)]
pub enum FinalityError {
    /// The chain's validators do not form an authority set.
    #[error("authority set: {0}")]
    Authorities(#[from] AuthoritySetError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the node loop must do after the voter handled something.
#[derive(Debug, Default)]
pub struct FinalityOutcome {
    /// Blocks peers voted for that we lack: fetch from that peer.
    pub wanted: Vec<(PeerId, Target)>,
}

/// Peers as the engine numbers them, both ways.
#[derive(Default)]
struct PeerTable {
    ids: BTreeMap<PeerId, EnginePeer>,
    peers: BTreeMap<EnginePeer, PeerId>,
}

impl PeerTable {
    fn id(&mut self, peer: PeerId) -> EnginePeer {
        let next = EnginePeer(self.ids.len() as u64);
        let id = *self.ids.entry(peer).or_insert(next);
        self.peers.insert(id, peer);
        id
    }

    fn peer(&self, id: EnginePeer) -> Option<PeerId> {
        self.peers.get(&id).copied()
    }
}

/// Timing of the voter for a chain with `slot_ms` slots: the gossip delay is a quarter slot
/// (at least 25 ms, at most GRANDPA's 1 s), so a round fits in about one slot.
pub fn config_for_slot(slot_ms: u64) -> FinalityConfig {
    let gossip_delay_ms = (slot_ms / 4).clamp(25, 1_000);
    FinalityConfig {
        gossip_delay_ms,
        rebroadcast_ms: gossip_delay_ms.saturating_mul(8),
        catch_up_timeout_ms: gossip_delay_ms.saturating_mul(10),
        ..FinalityConfig::default()
    }
}

/// The finality voter (with a key of the authority set) or observer (without) of a node.
pub struct FinalityService {
    engine: FinalityEngine,
    availability: AvailabilityRule,
    shared: Arc<Shared>,
    network: NetworkHandle,
    peers: PeerTable,
    /// Every key this node votes with (its `--key` and its session keys): their votes are
    /// recorded before they leave.
    own: Vec<AccountId>,
    /// This voter's votes in the last round it voted in, as recorded in the store.
    voted: VoterRecord,
    /// A finalization the engine reached but the store could not write yet: retried on each
    /// tick until it is stored or a later one supersedes it.
    unstored: Option<(Hash, Justification)>,
    /// An enacted authority set the store could not write yet: retried on each tick.
    unstored_set: Option<(AuthoritySet, Hash)>,
    /// Keystore keys handed to the engine so far.
    keys_taken: usize,
    /// Hostile behaviours (tests only).
    malus: crate::malus::Malus,
}

/// Votes never go past a relay block that backed a candidate which, as of the block voted
/// from, is not available yet: finalizing it would finalize data nobody may be able to
/// recover. It caps votes at the parent of the first such block.
#[derive(Clone, Default)]
pub struct AvailabilityRule {
    /// Per block (hash): its number and the first block backing a still-unavailable candidate.
    unavailable_since: Arc<Mutex<HashMap<Hash, (BlockNumber, BlockNumber)>>>,
}

/// Blocks kept in the rule's memory below the newest.
const AVAILABILITY_MEMORY: BlockNumber = 1024;

impl AvailabilityRule {
    /// Notes what `header`'s state says of candidates pending availability.
    pub fn note(&self, header: &Header, since: Option<BlockNumber>) {
        let mut map = self
            .unavailable_since
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(since) = since {
            map.insert(header.hash(), (header.number, since));
        }
        let oldest = header.number.saturating_sub(AVAILABILITY_MEMORY);
        map.retain(|_, (number, _)| *number >= oldest);
    }
}

impl VotingRule for AvailabilityRule {
    fn restrict(&self, base: &Header, best: &Header, tree: &BlockTree) -> Option<Hash> {
        let since = self
            .unavailable_since
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .get(&best.hash())
            .map(|(_, since)| *since)?;
        let cap = since.saturating_sub(1).max(base.number);
        tree.ancestor_at(&best.hash(), cap)
    }
}

/// Votes never go past a relay block this validator's approval checking has not approved
/// (every candidate it included re-checked by enough assigned validators, its ancestors too;
/// `parachains::approval`), nor past one that included a candidate under dispute. It caps votes at the parent of the lowest unapproved block above
/// the round's base. A node that does not check approval (not in the set) is not capped.
#[derive(Clone)]
pub struct ApprovalRule {
    status: crate::parachains::approval::SharedApproval,
}

impl ApprovalRule {
    /// The cap on votes from `base` towards `best`, if any block between is unapproved.
    fn cap(&self, base: &Header, best: &Header, tree: &BlockTree) -> Option<Hash> {
        let status = self
            .status
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if !status.active {
            return None;
        }
        // Fails closed: a block the tree cannot place caps votes at the base.
        let mut lowest_unapproved = None;
        let mut cursor = best.hash();
        loop {
            let Some(number) = tree.number(&cursor) else {
                return Some(base.hash());
            };
            if number <= base.number {
                break;
            }
            if !status.approved.contains_key(&cursor) || status.disputed.contains_key(&cursor) {
                lowest_unapproved = Some(cursor);
            }
            let Some(parent) = tree.parent(&cursor) else {
                return Some(base.hash());
            };
            cursor = parent;
        }
        Some(
            tree.parent(&lowest_unapproved?)
                .unwrap_or_else(|| base.hash()),
        )
    }
}

/// The relay chain's voting rules together: the lower of the availability and approval caps.
#[derive(Clone)]
pub struct RelayVotingRule {
    availability: AvailabilityRule,
    approval: ApprovalRule,
}

impl VotingRule for RelayVotingRule {
    fn restrict(&self, base: &Header, best: &Header, tree: &BlockTree) -> Option<Hash> {
        let caps = [
            self.availability.restrict(base, best, tree),
            self.approval.cap(base, best, tree),
        ];
        caps.into_iter()
            .flatten()
            .min_by_key(|hash| tree.number(hash).unwrap_or(u32::MAX))
    }
}

/// The voter's own votes of its latest round, stored before any of them is sent.
#[derive(Clone, Debug, Default, Encode, Decode)]
struct VoterRecord {
    set_id: u64,
    round: u64,
    votes: Vec<SignedVote>,
}

const VOTER_KEY: &[u8] = b"finality-voter";

/// Where the authority set in force is kept, once a change was enacted.
const SET_KEY: &[u8] = b"finality-set";

/// Where the block that enacted set `set_id` is kept (for every set since genesis's: the
/// warp proofs [`crate::warp`] serves).
pub(crate) fn change_key(set_id: u64) -> Vec<u8> {
    [&b"finality-change/"[..], &set_id.to_be_bytes()].concat()
}

/// The authority set in force and the block that enacted it.
#[derive(Clone, Debug, Encode, Decode)]
struct SetRecord {
    set_id: u64,
    authorities: Vec<(AccountId, u64)>,
    enacted_at: Hash,
}

/// The authority set in force above the finalized block `root`: the genesis validators until
/// a change is enacted, then the last stored one. A change signalled in `root` itself (no
/// delay) whose set was not stored yet (a crash between the two writes) is enacted here.
fn load_set(client: &crate::client::Client, root: &Header) -> Result<AuthoritySet, FinalityError> {
    let stored = stored_set(client.store())?;
    let root_hash = root.hash();
    let set = match &stored {
        Some(record) => AuthoritySet::new(record.set_id, record.authorities.clone())?,
        None => AuthoritySet::equal(0, client.authorities().iter().copied())?,
    };
    let enacted_here = stored.as_ref().is_some_and(|r| r.enacted_at == root_hash);
    match ScheduledChange::from_header(root) {
        Ok(Some(change)) if change.delay == 0 && !enacted_here && root.number > 0 => {
            let next = AuthoritySet::new(set.set_id().saturating_add(1), change.next_authorities)?;
            store_set(client, &next, root_hash)?;
            Ok(next)
        }
        _ => Ok(set),
    }
}

/// The stored set in force, if a change was enacted.
fn stored_set(store: &crate::store::ChainStore) -> Result<Option<SetRecord>, StoreError> {
    store
        .aux(SET_KEY)?
        .map(|bytes| {
            SetRecord::decode(&mut &bytes[..]).map_err(|e| StoreError::Corrupt {
                what: "finality authority set",
                reason: e.to_string(),
            })
        })
        .transpose()
}

/// The id of the set in force on the finalized chain (0 until a change was enacted).
pub(crate) fn current_set_id(store: &crate::store::ChainStore) -> Result<u64, StoreError> {
    Ok(stored_set(store)?.map_or(0, |record| record.set_id))
}

/// Stores `set` as enacted at `enacted_at`: its change block in the index, and it as the set
/// in force unless a later one is stored already (a retried write of an older set).
fn store_set(
    client: &crate::client::Client,
    set: &AuthoritySet,
    enacted_at: Hash,
) -> Result<(), StoreError> {
    let store = client.store();
    let mut writes = vec![(change_key(set.set_id()), Some(enacted_at.encode()))];
    if stored_set(store)?.is_none_or(|stored| stored.set_id <= set.set_id()) {
        let (key, record) = in_force(set, enacted_at);
        writes.push((key, Some(record)));
    }
    store.write_aux(writes)
}

/// The `aux` entry that makes `set`, enacted at `enacted_at`, the set in force.
fn in_force(set: &AuthoritySet, enacted_at: Hash) -> (Vec<u8>, Vec<u8>) {
    let record = SetRecord {
        set_id: set.set_id(),
        authorities: set.authorities().to_vec(),
        enacted_at,
    };
    (SET_KEY.to_vec(), record.encode())
}

/// The `aux` values a warp-synced store starts with: the block that enacted each set the proof
/// went through (`changes`, ascending), and `set` in force as enacted by the last of them.
pub(crate) fn warp_aux(set: &AuthoritySet, changes: &[(u64, Hash)]) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut aux: Vec<(Vec<u8>, Vec<u8>)> = changes
        .iter()
        .map(|(set_id, block)| (change_key(*set_id), block.encode()))
        .collect();
    if let Some((_, enacted_at)) = changes.last() {
        aux.push(in_force(set, *enacted_at));
    }
    aux
}

fn load_record(client: &crate::client::Client) -> Result<VoterRecord, StoreError> {
    match client.store().aux(VOTER_KEY)? {
        None => Ok(VoterRecord::default()),
        Some(bytes) => VoterRecord::decode(&mut &bytes[..]).map_err(|e| StoreError::Corrupt {
            what: "finality voter record",
            reason: e.to_string(),
        }),
    }
}

impl FinalityService {
    /// A voter above the node's finalized block, fed with the blocks imported above it, that
    /// resumes the last round it voted in with the votes it cast there (so it never casts a
    /// conflicting vote, and can still finish that round).
    pub fn new(
        shared: Arc<Shared>,
        network: NetworkHandle,
        key: Option<AuthorityKey>,
    ) -> Result<Self, FinalityError> {
        let client = shared.client();
        let meta = client.info()?;
        let root = client
            .header(&meta.finalized_hash)?
            .ok_or(StoreError::MissingBlock(meta.finalized_hash))?;
        let set = load_set(&client, &root)?;
        let voted = load_record(&client)?;
        let config = config_for_slot(client.slot_duration().as_millis() as u64);
        // The session keys too, before the round is resumed: a vote cast with one before a
        // restart must be found in the record.
        let session_keys: Vec<AuthorityKey> = shared
            .keystore()
            .map(|keystore| {
                keystore
                    .pairs()
                    .iter()
                    .map(AuthorityKey::from_pair)
                    .collect()
            })
            .unwrap_or_default();
        let keys_taken = session_keys.len();
        let own: Vec<AccountId> = key
            .iter()
            .chain(&session_keys)
            .map(AuthorityKey::public)
            .collect();
        let set_id = set.set_id();
        let availability = AvailabilityRule::default();
        let rules = RelayVotingRule {
            availability: availability.clone(),
            approval: ApprovalRule {
                status: shared.approval.clone(),
            },
        };
        let mut engine =
            FinalityEngine::new(config, set, root, key).with_voting_rule(Box::new(rules));
        for session_key in session_keys {
            engine.add_key(session_key);
        }
        let tree = client.authorship().tree();
        let mut unfinalized: Vec<&Header> = tree
            .hashes()
            .filter(|h| **h != tree.root())
            .filter_map(|h| tree.header(h))
            .collect();
        unfinalized.sort_by_key(|h| h.number);
        for header in unfinalized {
            availability.note(
                header,
                crate::parachains::unavailable_since(&client, header),
            );
            engine.handle(Input::BlockImported(header.clone()));
        }
        engine.handle(Input::BestBlock(meta.best_hash));
        if voted.set_id == set_id && voted.round > 0 {
            engine = engine.resume_round(voted.round, voted.votes.clone());
        }
        drop(client);
        shared
            .metrics
            .finalized_height
            .set(i64::from(meta.finalized_number));
        Ok(FinalityService {
            engine,
            availability,
            shared,
            network,
            peers: PeerTable::default(),
            own,
            voted,
            unstored: None,
            unstored_set: None,
            keys_taken,
            malus: crate::malus::Malus::default(),
        })
    }

    /// Moves the voter's clock.
    pub async fn tick(&mut self) -> FinalityOutcome {
        let mut outcome = FinalityOutcome::default();
        self.take_new_keys();
        if let Some((set, enacted_at)) = self.unstored_set.take() {
            self.store_new_set(set, enacted_at);
        }
        if let Some((hash, justification)) = self.unstored.take() {
            if let Some(new_best) = self.finalized(hash, &justification) {
                outcome = self.feed(Input::BestBlock(new_best)).await;
            }
        }
        let more = self.feed(Input::Tick(unix_time_ms())).await;
        outcome.wanted.extend(more.wanted);
        outcome
    }

    /// Tells the voter of a block imported (parents first) and whether it became best.
    pub async fn block_imported(&mut self, header: Header, best: bool) -> FinalityOutcome {
        let hash = header.hash();
        let since = crate::parachains::unavailable_since(&self.shared.client(), &header);
        self.availability.note(&header, since);
        let mut outcome = self.feed(Input::BlockImported(header)).await;
        if best {
            let more = self.feed(Input::BestBlock(hash)).await;
            outcome.wanted.extend(more.wanted);
        }
        outcome
    }

    /// Handles gossip on the finality topic: what it was worth, and what to fetch.
    pub async fn on_gossip(&mut self, peer: PeerId, data: &[u8]) -> (Verdict, FinalityOutcome) {
        self.shared.metrics.gossip_in.inc();
        self.on_message(peer, data).await
    }

    /// Handles a message sent to this node alone (catch-up), charging its sender if invalid.
    pub async fn on_direct(&mut self, peer: PeerId, data: &[u8]) -> FinalityOutcome {
        let (verdict, outcome) = self.on_message(peer, data).await;
        if let Verdict::Reject(what) = verdict {
            let _stopped = self.network.report(peer, what);
        }
        outcome
    }

    /// Checks a justification a peer served with a block, finalizing it if it holds.
    pub async fn on_justification(&mut self, peer: PeerId, data: &[u8]) -> FinalityOutcome {
        match decode_bounded::<Justification>(data, MAX_MESSAGE_BYTES) {
            // Signed by voters of another set (this node is behind or ahead of a set change):
            // not this set's to judge, and no fault of the peer.
            Ok(justification)
                if justification
                    .precommits
                    .iter()
                    .any(|p| self.engine.authority_set().weight(&p.id).is_none()) =>
            {
                tracing::debug!(%peer, "justification from another authority set");
                FinalityOutcome::default()
            }
            Ok(justification) => {
                let message = FinalityMessage::Commit {
                    set_id: self.engine.authority_set().set_id(),
                    justification,
                };
                let id = self.peers.id(peer);
                let outputs = self.engine.handle(Input::Messages(vec![(id, message)]));
                if let Verdict::Reject(what) = verdict(&outputs, id, peer) {
                    let _stopped = self.network.report(peer, what);
                }
                self.act(outputs, Some(id)).await
            }
            Err(err) => {
                tracing::debug!(%peer, %err, "malformed justification");
                let _stopped = self.network.report(peer, Misbehaviour::Malformed);
                FinalityOutcome::default()
            }
        }
    }

    /// Checks one message from `peer`: accepted if the engine verified it, rejected if it
    /// found it invalid, ignored if it could not check it now.
    async fn on_message(&mut self, peer: PeerId, data: &[u8]) -> (Verdict, FinalityOutcome) {
        let message = match FinalityMessage::decode_bounded(data) {
            Ok(message) => message,
            Err(err) => {
                tracing::debug!(%peer, %err, "malformed finality message");
                return (
                    Verdict::Reject(Misbehaviour::Malformed),
                    FinalityOutcome::default(),
                );
            }
        };
        let id = self.peers.id(peer);
        let outputs = self.engine.handle(Input::Messages(vec![(id, message)]));
        let verdict = verdict(&outputs, id, peer);
        (verdict, self.act(outputs, Some(id)).await)
    }

    async fn feed(&mut self, input: Input) -> FinalityOutcome {
        let outputs = self.engine.handle(input);
        self.act(outputs, None).await
    }

    /// Carries out the engine's outputs; misbehaviour of `judged` is left to the caller,
    /// who answers for the message (a gossip verdict blames its source, not its forwarder).
    async fn act(&mut self, outputs: Vec<Output>, judged: Option<EnginePeer>) -> FinalityOutcome {
        let mut outcome = FinalityOutcome::default();
        let mut queue: std::collections::VecDeque<Output> = outputs.into();
        while let Some(output) = queue.pop_front() {
            match output {
                Output::Broadcast(message) => {
                    if let Err(err) = self.note_own_vote(&message) {
                        // Never send a vote whose round could be forgotten by a restart.
                        tracing::error!(%err, "cannot record the voter's round; vote withheld");
                        continue;
                    }
                    if self.malus.double_vote {
                        if let Some(second) = self.second_vote(&message) {
                            queue.push_back(Output::Broadcast(second));
                        }
                    }
                    if self
                        .network
                        .publish(Topic::Finality, message.encode())
                        .await
                        .is_ok()
                    {
                        self.shared.metrics.gossip_out.inc();
                    }
                }
                Output::SendTo(id, message) => {
                    if let Some(peer) = self.peers.peer(id) {
                        let _stopped =
                            self.network
                                .send_direct(peer, Topic::Finality, message.encode());
                    }
                }
                Output::Finalized {
                    target,
                    justification,
                } => {
                    if let Some(new_best) = self.finalized(target.hash, &justification) {
                        queue.extend(self.engine.handle(Input::BestBlock(new_best)));
                    }
                }
                Output::ReportEquivocation(equivocation) => {
                    tracing::warn!(
                        voter = %equivocation.second.id,
                        round = equivocation.second.round,
                        "a finality voter signed two votes in one round: reporting it"
                    );
                    let report = crate::offences::finality_report(&equivocation);
                    self.shared.client().report(report);
                }
                Output::NewAuthoritySet { set, enacted_at } => {
                    tracing::info!(
                        set_id = set.set_id(),
                        authorities = set.len(),
                        number = enacted_at.number,
                        "finality authority set changed"
                    );
                    self.store_new_set(set, enacted_at.hash);
                }
                Output::Verified(_) => {}
                Output::Misbehaviour(id, _) if Some(id) == judged => {}
                Output::Misbehaviour(id, error) => {
                    if let Some(peer) = self.peers.peer(id) {
                        tracing::debug!(%peer, %error, "invalid finality message");
                        let _stopped = self.network.report(peer, Misbehaviour::Invalid);
                    }
                }
                Output::UnknownBlock(id, target) => {
                    if let Some(peer) = self.peers.peer(id) {
                        outcome.wanted.push((peer, target));
                    }
                }
            }
        }
        self.shared
            .metrics
            .finality_round
            .set(self.engine.round() as i64);
        outcome
    }

    /// With the hostile behaviours of `malus` (tests only).
    pub fn with_malus(mut self, malus: crate::malus::Malus) -> Self {
        self.malus = malus;
        self
    }

    /// With the double-vote malus: the same vote as `message` (one of this node's prevotes or
    /// precommits, signed as it leaves) for the last finalized block instead, once per vote.
    fn second_vote(&self, message: &FinalityMessage) -> Option<FinalityMessage> {
        let FinalityMessage::Vote(vote) = message else {
            return None;
        };
        let phase = vote.vote.phase()?;
        let finalized = self.engine.finalized();
        if vote.vote.target() == finalized {
            return None;
        }
        let key = self.engine.key_of(&vote.id)?;
        let second = Vote::of_phase(phase, finalized);
        tracing::warn!(round = vote.round, "malus: voting twice");
        Some(FinalityMessage::Vote(SignedVote::sign(
            key,
            second,
            vote.round,
            vote.set_id,
        )))
    }

    /// Hands the engine the keystore's keys it does not have yet (session keys made by
    /// `author_rotateKeys`): it votes with one once a set lists it.
    fn take_new_keys(&mut self) {
        let Some(keystore) = self.shared.keystore() else {
            return;
        };
        for pair in keystore.take_new(&mut self.keys_taken) {
            self.own.push(pair.public());
            self.engine.add_key(AuthorityKey::from_pair(&pair));
        }
    }

    /// Stores the set in force, or keeps it to retry on the next tick (a later set supersedes
    /// it).
    fn store_new_set(&mut self, set: AuthoritySet, enacted_at: Hash) {
        if let Err(err) = store_set(&self.shared.client(), &set, enacted_at) {
            tracing::error!(%err, "cannot store the new finality authority set; retrying");
            self.unstored_set = Some((set, enacted_at));
        }
    }

    /// Records this voter's own vote durably before it leaves the node.
    fn note_own_vote(&mut self, message: &FinalityMessage) -> Result<(), StoreError> {
        let FinalityMessage::Vote(vote) = message else {
            return Ok(());
        };
        let latest = (self.voted.set_id, self.voted.round);
        if !self.own.contains(&vote.id) {
            return Ok(());
        }
        if vote.set_id < latest.0 {
            // A set older than the one on record (its change was not stored before a
            // restart): a vote there could contradict one the record no longer holds.
            return Err(StoreError::Corrupt {
                what: "finality voter record",
                reason: format!(
                    "own vote in set {} is behind the recorded set {}",
                    vote.set_id, latest.0
                ),
            });
        }
        if (vote.set_id, vote.round) < latest {
            // A past round's vote sent again: it was recorded when cast.
            return Ok(());
        }
        let mut record = if (vote.set_id, vote.round) > latest {
            VoterRecord {
                set_id: vote.set_id,
                round: vote.round,
                votes: Vec::new(),
            }
        } else {
            self.voted.clone()
        };
        if record.votes.contains(vote) {
            return Ok(());
        }
        record.votes.push(*vote);
        self.shared
            .client()
            .store()
            .set_aux(VOTER_KEY, &record.encode())?;
        self.voted = record;
        Ok(())
    }

    /// Stores a finalized block; returns the new best block if finality moved it. If the
    /// store cannot take it, it is kept for the next tick: the engine has moved on, and
    /// finality that only lives in memory would be lost on a restart.
    fn finalized(&mut self, hash: Hash, justification: &Justification) -> Option<Hash> {
        let result = {
            let mut client = self.shared.client();
            client
                .finalize(&hash, Some(&justification.encode()))
                .and_then(|done| Ok((done, client.header(&hash)?)))
        };
        match result {
            Ok((Some(done), Some(header))) => {
                tracing::debug!(number = header.number, %hash, "finalized");
                // A later finalization covers an earlier one that failed to store.
                if self
                    .unstored
                    .as_ref()
                    .is_some_and(|(_, j)| j.target.number <= header.number)
                {
                    self.unstored = None;
                }
                self.shared
                    .metrics
                    .finalized_height
                    .set(i64::from(done.meta.finalized_number));
                self.shared
                    .metrics
                    .best_height
                    .set(i64::from(done.meta.best_number));
                self.shared.publish(ChainEvent::Finalized(header));
                done.best_changed.then_some(done.meta.best_hash)
            }
            Ok(_) => None,
            Err(err) => {
                tracing::error!(%err, %hash, "cannot store finality; retrying");
                self.unstored = Some((hash, justification.clone()));
                None
            }
        }
    }
}

/// What the engine's `outputs` for one message of `peer` (engine id `id`) make of it: rejected
/// if it found it invalid, accepted if it verified it, ignored if it could not check it now.
pub fn verdict(outputs: &[Output], id: EnginePeer, peer: PeerId) -> Verdict {
    let invalid = outputs.iter().find_map(|o| match o {
        Output::Misbehaviour(p, error) if *p == id => Some(error),
        _ => None,
    });
    if let Some(error) = invalid {
        tracing::debug!(%peer, %error, "invalid finality message");
        Verdict::Reject(Misbehaviour::Invalid)
    } else if outputs
        .iter()
        .any(|o| matches!(o, Output::Verified(p) if *p == id))
    {
        Verdict::Accept
    } else {
        Verdict::Ignore
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chain(length: u32) -> (BlockTree, Vec<Header>) {
        let mut headers = vec![Header {
            parent_hash: Hash::ZERO,
            number: 0,
            state_root: Hash::ZERO,
            extrinsics_root: Hash::ZERO,
            digest: Default::default(),
        }];
        for number in 1..=length {
            let parent = &headers[number as usize - 1];
            headers.push(Header {
                parent_hash: parent.hash(),
                number,
                ..parent.clone()
            });
        }
        let mut tree = BlockTree::new(headers[0].clone());
        for header in &headers[1..] {
            tree.insert(header.clone()).unwrap();
        }
        (tree, headers)
    }

    #[test]
    fn votes_stop_below_the_first_block_backing_an_unavailable_candidate() {
        let (tree, headers) = chain(8);
        let rule = AvailabilityRule::default();
        let (base, best) = (&headers[1], &headers[8]);
        // Nothing pending as of #8: no cap.
        assert_eq!(rule.restrict(base, best, &tree), None);
        // As of #8, a candidate backed in #5 is still unavailable: vote up to #4.
        rule.note(best, Some(5));
        assert_eq!(rule.restrict(base, best, &tree), Some(headers[4].hash()));
        // Never below the base.
        rule.note(best, Some(1));
        assert_eq!(rule.restrict(base, best, &tree), Some(base.hash()));
    }
}
