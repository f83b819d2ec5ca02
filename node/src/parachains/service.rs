//! The parachain protocol on the network: gossip of collations, statements and bitfields on
//! [`Topic::Parachains`], and chunk fetching over the chunk protocol.
//!
//! Which peer is which validator is learned only from the identities validators sign and
//! publish every [`IDENTITY_EVERY`] ([`ValidatorIdentity`]), never from who relayed a signed
//! statement: so a collator sends its collation to the backers' own peers, and a validator
//! asks its chunk from a backer's own peer (from any peer while it knows none).

use super::early::EarlyMessages;
use super::host::{
    CandidateCheck, CollationOutcome, IdentityError, MissingChunk, ParachainHost, ParachainMessage,
    ValidatorIdentity,
};
use crate::client::Client;
use crate::collation::{Collation, DeclaredCollation};
use crate::malus::Malus;
use crate::network::{
    decode_exact, AvailableDataRequest, AvailableDataResponse, ChunkRequest, ChunkResponse,
    CollationResponse, Misbehaviour, NetworkHandle, Topic, Verdict,
};
use crate::service::Shared;
use crate::validation::{InvalidCandidate, ValidationHost};
use libp2p::gossipsub::MessageId;
use libp2p::request_response::ResponseChannel;
use libp2p::PeerId;
use parity_scale_codec::Encode;
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_consensus::AuthorityKey;
use tessera_relay_chain::paras::ParaId;
use tessera_runtime::{AccountId, Hash, Header, OpaqueExtrinsic};
use tessera_validity::backing::BackingError;

/// How often a validator publishes its identity: often enough for a newcomer to learn every
/// validator's peer within seconds, at one small message per validator.
pub const IDENTITY_EVERY: Duration = Duration::from_secs(15);

/// Soonest a validator publishes its identity again because new peers connected (they join
/// the gossip mesh within a heartbeat or two).
const IDENTITY_FOR_NEWCOMERS: Duration = Duration::from_secs(2);

/// How far in the future an identity may be signed (clock skew between machines).
const IDENTITY_SKEW_MS: u64 = 30_000;

/// A chunk request not answered in this long is made again (to another peer).
const CHUNK_RETRY: Duration = Duration::from_secs(2);

/// Most collations kept while their relay parent is not imported here.
const MAX_WAITING: usize = 8;

/// How long such a collation waits.
const WAITING_FOR: Duration = Duration::from_secs(6);

/// Most collation checks running at once (each on a blocking thread, up to the 2 s backing
/// deadline), one per peer: the node loop never waits for one.
pub const MAX_CHECKS: usize = 2;

/// Who sent a collation being checked, to answer once it is.
pub enum Asker {
    /// A collator, over the collation protocol.
    Collator {
        /// Its peer.
        peer: PeerId,
        /// Where the answer goes.
        channel: ResponseChannel<CollationResponse>,
    },
    /// A gossip message.
    Gossip {
        /// The peer that forwarded it.
        peer: PeerId,
        /// The peer that signed it.
        source: Option<PeerId>,
        /// Its id.
        id: MessageId,
    },
    /// A peer whose collation waited for its relay parent (it was answered then).
    Waited(PeerId),
    /// This node's own collation.
    Here,
}

impl Asker {
    /// The peer whose checks are limited to one at a time.
    fn peer(&self) -> Option<PeerId> {
        match self {
            Asker::Collator { peer, .. } => Some(*peer),
            Asker::Gossip { source, peer, .. } => Some(source.unwrap_or(*peer)),
            Asker::Waited(peer) => Some(*peer),
            Asker::Here => None,
        }
    }
}

/// Most collations a validator takes from one peer per relay parent: an honest collator
/// makes one candidate per relay parent, and may send it again.
const MAX_COLLATIONS_PER_COLLATOR: usize = 2;

/// Most collations a validator checks for one para per relay parent, from all peers: it
/// seconds one, so more only cost it time.
const MAX_COLLATIONS_PER_PARA: usize = 4;

/// How far below the best block a collation's relay parent may be: the runtime backs a
/// candidate only in the block right after its relay parent, so older ones are wasted work.
const MAX_RELAY_PARENT_AGE: u32 = 2;

/// Most collations waiting for their relay parent from one peer.
const MAX_WAITING_PER_PEER: usize = 2;

/// Relay blocks below the best for which collations taken are counted.
const COUNT_BLOCKS: u32 = 16;

/// Collations taken on one relay parent.
struct Taken {
    number: u32,
    by_peer: HashMap<PeerId, usize>,
    by_para: HashMap<ParaId, usize>,
}

/// Whether a collation may be checked, given what was taken on its relay parent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Admission {
    /// Yes.
    Take,
    /// Its para has had its share on this relay parent: not the sender's fault.
    ParaFull,
    /// Its sender has had its share: it broke the protocol.
    PeerFull,
}

/// Collations taken per relay parent, from each peer and for each para.
#[derive(Default)]
struct PerRelayParent(HashMap<Hash, Taken>);

impl PerRelayParent {
    /// Counts a collation of `para` from `peer` on `relay_parent` (number `number`) if there
    /// is room for it.
    fn admit(&mut self, relay_parent: Hash, number: u32, peer: PeerId, para: ParaId) -> Admission {
        let taken = self.0.entry(relay_parent).or_insert_with(|| Taken {
            number,
            by_peer: HashMap::new(),
            by_para: HashMap::new(),
        });
        let of_peer = taken.by_peer.get(&peer).copied().unwrap_or_default();
        let of_para = taken.by_para.get(&para).copied().unwrap_or_default();
        if of_peer >= MAX_COLLATIONS_PER_COLLATOR {
            return Admission::PeerFull;
        }
        if of_para >= MAX_COLLATIONS_PER_PARA {
            return Admission::ParaFull;
        }
        taken.by_peer.insert(peer, of_peer.saturating_add(1));
        taken.by_para.insert(para, of_para.saturating_add(1));
        Admission::Take
    }

    /// Forgets relay parents [`COUNT_BLOCKS`] below `best`.
    fn prune(&mut self, best: u32) {
        self.0
            .retain(|_, taken| taken.number.saturating_add(COUNT_BLOCKS) >= best);
    }
}

/// Most collation checks waiting for room, in all and per peer.
const MAX_QUEUED: usize = 8;
const MAX_QUEUED_PER_PEER: usize = 2;

/// A collation check that ran, for [`ParachainService::finish_check`].
pub struct Finished {
    check: CandidateCheck,
    chunks: Result<Vec<tessera_relay_chain::availability::ErasureChunk>, super::ParachainError>,
    collation: Collation,
    asker: Asker,
}

/// A collation check waiting for room.
struct Queued {
    check: CandidateCheck,
    collation: Collation,
    asker: Asker,
}

/// A node's parachain protocol: the validator logic plus the network.
pub struct ParachainService {
    shared: Arc<Shared>,
    network: NetworkHandle,
    host: ParachainHost,
    is_validator: bool,
    /// How many of the keystore's keys the validator took (see [`Self::take_new_keys`]).
    keys_taken: usize,
    /// Each validator's peer, as its newest identity says, with when that was signed: of the
    /// validators of the sessions chunks may still be asked of, and the queued ones.
    peer_of: HashMap<AccountId, (PeerId, u64)>,
    /// The session at the best block when `peer_of` was last pruned.
    peers_pruned_in: Option<u32>,
    /// The best block whose session was last looked at for that.
    peers_checked_at: Option<Hash>,
    /// When this validator last published its identity, and to how many connected peers.
    identity_sent: Option<(Instant, usize)>,
    requested: HashMap<(Hash, u32), (Instant, usize)>,
    missing: HashMap<(Hash, u32), MissingChunk>,
    bitfield_sent_for: Option<Hash>,
    best_seen_at: (Hash, Instant),
    asked: HashSet<(Hash, u32, PeerId)>,
    /// Collations on relay blocks not imported yet, with when they came.
    waiting: Vec<(Instant, Collation, Option<PeerId>)>,
    /// Collation checks running.
    checks: tokio::task::JoinSet<Finished>,
    /// The candidates being checked or queued.
    checking: HashSet<Hash>,
    /// Checks waiting for room.
    queued: std::collections::VecDeque<Queued>,
    /// The candidate and peer of each running check, by task.
    running: HashMap<tokio::task::Id, (Hash, Option<PeerId>)>,
    /// Collations taken per relay parent.
    taken: PerRelayParent,
    /// This validator's approval checking and disputes (none on a full node).
    approval: Option<super::approval::ApprovalWork>,
    /// What approval work wants done that waits for the next tick (gossip is async).
    approval_actions: super::approval::Actions,
    /// Chunk requests sent for approval recoveries.
    recovery_requests: HashSet<(Hash, u32)>,
    /// Recoveries' requests for a backer's whole available data in flight: the backer asked,
    /// by candidate.
    recovery_whole: HashMap<Hash, u32>,
    /// Validator peers sent our approval catch-up: since when counted, and how many times
    /// (one entry per validator peer at most).
    catch_up_sent: HashMap<PeerId, (Instant, u32)>,
    /// Catch-up messages taken from each connected peer since it connected.
    catch_up_taken: HashMap<PeerId, usize>,
    /// Whole available data served in the current second: since when, and how many bytes.
    whole_data_served: (Instant, usize),
    /// Approval messages that came before their block or assignment, with when.
    approval_early: EarlyMessages<tessera_validity::engine::Message>,
    /// Dispute messages that came before their candidate's block or the dispute's opening.
    dispute_early: EarlyMessages<tessera_validity::disputes::DisputeMessage>,
    /// Checks of new para code under way, with the verdicts known.
    pvf: super::pvf_check::PvfChecks,
    /// This validator's compiles of code under check.
    pvf_compiles: tokio::task::JoinSet<(super::pvf_check::ToJudge, Option<bool>)>,
    validation: Arc<ValidationHost>,
}

/// Codes under check this validator compiles at once, at most.
const MAX_PVF_COMPILES: usize = 1;

/// Approval messages (and, apart, dispute messages) kept for a retry at most, shared fairly
/// between the peers that sent them ([`EarlyMessages`]).
const MAX_EARLY_APPROVAL_MESSAGES: usize = 1_024;
/// How long an early approval message is kept.
const EARLY_APPROVAL_MESSAGE_KEPT: Duration = Duration::from_secs(30);
/// Approval catch-ups sent to one validator peer per [`CATCH_UP_WINDOW`], at most: a peer
/// reconnecting in a loop must not make this node send it each time.
const CATCH_UPS_PER_WINDOW: u32 = 3;
/// See [`CATCH_UPS_PER_WINDOW`].
const CATCH_UP_WINDOW: Duration = Duration::from_secs(60);
/// Bytes of whole available data a backer serves per second, at most: what approval checkers of
/// the candidates it backed need (a few answers per candidate per relay block), with room to
/// spare; the node loop reads and sends each answer, so validators asking for more cannot take
/// it over.
pub const WHOLE_DATA_BYTES_PER_SECOND: usize = 64 * 1024 * 1024;

/// Approval and dispute messages in one catch-up message to a peer, at most (about 200 KB).
pub const CATCH_UP_BATCH: usize = 1_024;
/// Catch-up messages to one peer per connection, at most: well inside the burst of direct
/// messages a peer admits (finality catch-up uses the same protocol), so that an honest
/// catch-up is never taken for a flood.
pub const MAX_CATCH_UP_BATCHES: usize = 8;

impl ParachainService {
    /// The protocol of the node whose state is `shared`; `key` for a validator, with hostile
    /// `malus` behaviours in tests.
    pub fn new(
        shared: Arc<Shared>,
        network: NetworkHandle,
        key: Option<AuthorityKey>,
        validation: Arc<ValidationHost>,
        malus: Malus,
    ) -> Self {
        if !malus.is_honest() {
            tracing::warn!(%malus, "running with hostile behaviours: this validator lies");
        }
        let approval = key.clone().map(|key| {
            let config = *shared.client().approval_config();
            super::approval::ApprovalWork::new(
                key,
                config,
                validation.clone(),
                shared.approval.clone(),
            )
            .with_malus(malus)
        });
        ParachainService {
            approval,
            approval_actions: super::approval::Actions::default(),
            recovery_requests: HashSet::new(),
            recovery_whole: HashMap::new(),
            catch_up_sent: HashMap::new(),
            catch_up_taken: HashMap::new(),
            whole_data_served: (Instant::now(), 0),
            approval_early: EarlyMessages::new(
                MAX_EARLY_APPROVAL_MESSAGES,
                EARLY_APPROVAL_MESSAGE_KEPT,
            ),
            dispute_early: EarlyMessages::new(
                MAX_EARLY_APPROVAL_MESSAGES,
                EARLY_APPROVAL_MESSAGE_KEPT,
            ),
            shared,
            network,
            is_validator: key.is_some(),
            keys_taken: 0,
            pvf: super::pvf_check::PvfChecks::new(key.clone()),
            pvf_compiles: tokio::task::JoinSet::new(),
            validation: validation.clone(),
            host: ParachainHost::new(key, validation).with_malus(malus),
            peer_of: HashMap::new(),
            peers_pruned_in: None,
            peers_checked_at: None,
            identity_sent: None,
            requested: HashMap::new(),
            missing: HashMap::new(),
            bitfield_sent_for: None,
            best_seen_at: (Hash::ZERO, Instant::now()),
            asked: HashSet::new(),
            waiting: Vec::new(),
            checks: tokio::task::JoinSet::new(),
            checking: HashSet::new(),
            queued: std::collections::VecDeque::new(),
            running: HashMap::new(),
            taken: PerRelayParent::default(),
        }
    }

    /// Sends a collation made on this node (a collator) to its para's backers over the
    /// collation protocol, when the peer of each is known and connected; else gossips it.
    /// This node's own validator part checks it too.
    pub async fn publish_collation(&mut self, declared: DeclaredCollation) {
        let collation = declared.collation.clone();
        let descriptor = &collation.candidate.descriptor;
        let backers = {
            let client = self.shared.client();
            self.host
                .backers(&client, &descriptor.relay_parent, descriptor.para_id)
                .unwrap_or_default()
        };
        let connected = self.network.peers().await.unwrap_or_default();
        let peers: Option<Vec<PeerId>> = backers
            .iter()
            .filter(|backer| !self.host.is_mine(backer))
            .map(|backer| {
                self.peer_of
                    .get(backer)
                    .map(|(peer, _)| *peer)
                    .filter(|peer| connected.contains(peer))
            })
            .collect();
        match peers.filter(|peers| !peers.is_empty()) {
            Some(peers) => {
                self.shared.metrics.collations_sent.inc();
                for peer in peers {
                    if let Err(err) = self.network.send_collation(peer, declared.clone()) {
                        tracing::debug!(%err, "collation not sent");
                    }
                }
            }
            None => {
                self.shared.metrics.collations_gossiped.inc();
                let message = ParachainMessage::Collation(declared);
                if let Err(err) = self
                    .network
                    .publish(Topic::Parachains, message.encode())
                    .await
                {
                    tracing::debug!(%err, "collation not published");
                }
            }
        }
        if let Some((verdict, asker)) = self.start_check(collation, Asker::Here) {
            self.answer(verdict, asker);
        }
    }

    /// Starts checking a collation if this validator backs its para, on a blocking thread
    /// away from the node loop, or queues it while [`MAX_CHECKS`] run or one of its peer's
    /// does; its verdict goes to `asker` once [`Self::finish_check`] has it. Answers at once
    /// what needs no check: ignored (not ours, seen, in hand already, its relay parent not
    /// imported, or the queue full), or rejected (provably invalid before running it).
    fn start_check(&mut self, collation: Collation, asker: Asker) -> Option<(Verdict, Asker)> {
        let prepared = {
            let client = self.shared.client();
            self.host.prepare_check(&client, &collation)
        };
        let check = match prepared {
            Ok(Some(check)) => check,
            Ok(None) => return Some((Verdict::Ignore, asker)),
            // Not imported here yet: check it once it is, counted against its sender then.
            Err(super::ParachainError::UnknownRelayParent(_)) => {
                let peer = asker.peer();
                let of_peer = self.waiting.iter().filter(|(_, _, p)| *p == peer).count();
                let full = of_peer >= MAX_WAITING_PER_PEER || self.waiting.len() >= MAX_WAITING;
                if full {
                    // The sender's oldest makes room; another's only when it has none waiting.
                    let oldest = self.waiting.iter().position(|(_, _, p)| *p == peer);
                    let oldest = oldest.or((of_peer == 0).then_some(0));
                    match oldest {
                        Some(at) => {
                            self.waiting.remove(at);
                        }
                        None => return Some((Verdict::Ignore, asker)),
                    }
                }
                self.waiting.push((Instant::now(), collation, peer));
                return Some((Verdict::Ignore, asker));
            }
            Err(err) => {
                tracing::debug!(%err, "collation refused");
                return Some((verdict_of(&err), asker));
            }
        };
        let candidate = collation.candidate.hash();
        if self.checking.contains(&candidate) {
            return Some((Verdict::Ignore, asker));
        }
        let best = self
            .shared
            .client()
            .info()
            .map_or(0, |meta| meta.best_number);
        if check
            .relay_parent_number()
            .saturating_add(MAX_RELAY_PARENT_AGE)
            < best
        {
            return Some((Verdict::Ignore, asker));
        }
        let peer = asker.peer();
        // This node's own collations are not limited.
        if let Some(peer) = peer {
            let descriptor = &collation.candidate.descriptor;
            let admission = self.taken.admit(
                descriptor.relay_parent,
                check.relay_parent_number(),
                peer,
                descriptor.para_id,
            );
            match admission {
                Admission::Take => {}
                Admission::ParaFull => return Some((Verdict::Ignore, asker)),
                Admission::PeerFull => {
                    return Some((Verdict::Reject(Misbehaviour::BadRequest), asker))
                }
            }
        }
        let peer_busy = self.is_running_for(peer);
        if self.checks.len() < MAX_CHECKS && !peer_busy {
            self.spawn_check(check, collation, asker);
            return None;
        }
        // Queued, a few per peer: a peer's newest replace its oldest.
        let of_peer = self
            .queued
            .iter()
            .filter(|q| q.asker.peer() == peer)
            .count();
        if of_peer >= MAX_QUEUED_PER_PEER || self.queued.len() >= MAX_QUEUED {
            let oldest = self.queued.iter().position(|q| q.asker.peer() == peer);
            let Some(old) = oldest.and_then(|at| self.queued.remove(at)) else {
                tracing::debug!(?peer, "no room to check a collation now");
                return Some((Verdict::Ignore, asker));
            };
            self.checking.remove(&old.collation.candidate.hash());
            self.answer(Verdict::Ignore, old.asker);
        }
        self.checking.insert(candidate);
        self.queued.push_back(Queued {
            check,
            collation,
            asker,
        });
        None
    }

    fn spawn_check(&mut self, check: CandidateCheck, collation: Collation, asker: Asker) {
        let candidate = collation.candidate.hash();
        let peer = asker.peer();
        self.checking.insert(candidate);
        let validation = self.host.validation();
        let task = self.checks.spawn_blocking(move || {
            // A panic in the check (a bug) must still free its peer's slot.
            let ran =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| check.run(&validation)));
            let chunks = ran.unwrap_or_else(|_| {
                Err(super::ParachainError::State(
                    "the candidate check panicked".into(),
                ))
            });
            Finished {
                check,
                chunks,
                collation,
                asker,
            }
        });
        self.running.insert(task.id(), (candidate, peer));
    }

    /// Whether a check of `peer`'s runs (never for this node's own).
    fn is_running_for(&self, peer: Option<PeerId>) -> bool {
        peer.is_some_and(|peer| self.running.values().any(|(_, p)| *p == Some(peer)))
    }

    /// Starts queued checks while there is room, oldest first, one per peer.
    fn start_queued(&mut self) {
        while self.checks.len() < MAX_CHECKS {
            let next = self
                .queued
                .iter()
                .position(|q| !self.is_running_for(q.asker.peer()));
            let Some(queued) = next.and_then(|at| self.queued.remove(at)) else {
                return;
            };
            self.spawn_check(queued.check, queued.collation, queued.asker);
        }
    }

    /// Whether collation checks are running (then [`Self::next_check`] will yield).
    pub fn is_checking(&self) -> bool {
        !self.checks.is_empty()
    }

    /// The next collation check to finish (pending while none runs).
    pub async fn next_check(&mut self) -> Option<Finished> {
        match self.checks.join_next_with_id().await {
            Some(Ok((id, finished))) => {
                self.running.remove(&id);
                Some(finished)
            }
            Some(Err(join)) => {
                // Lost (cancelled): free its slots; its asker's answer is dropped with it.
                tracing::warn!(%join, "collation check did not finish");
                if let Some((candidate, _)) = self.running.remove(&join.id()) {
                    self.checking.remove(&candidate);
                }
                self.start_queued();
                None
            }
            None => std::future::pending().await,
        }
    }

    /// Completes a finished check: keeps the chunks and publishes the statement if valid,
    /// answers whoever asked, and returns the collation unless it was refused (for the
    /// para's nodes here to keep its block).
    pub async fn finish_check(&mut self, finished: Finished) -> Option<Collation> {
        let Finished {
            check,
            chunks,
            collation,
            asker,
        } = finished;
        self.checking.remove(&collation.candidate.hash());
        self.start_queued();
        let completed = chunks.map(|chunks| {
            let client = self.shared.client();
            self.host.complete_check(&client, check, chunks)
        });
        let verdict = match completed {
            Ok(CollationOutcome::Seconded(statement)) => {
                tracing::debug!(
                    para = statement.candidate.descriptor.para_id.0,
                    candidate = %statement.candidate.hash(),
                    "seconded a candidate"
                );
                let message = ParachainMessage::Statement(*statement);
                if let Err(err) = self
                    .network
                    .publish(Topic::Parachains, message.encode())
                    .await
                {
                    tracing::debug!(%err, "statement not published");
                }
                Verdict::Accept
            }
            Ok(CollationOutcome::Ignored) => Verdict::Ignore,
            Err(err) => {
                tracing::debug!(%err, "collation refused");
                verdict_of(&err)
            }
        };
        self.answer(verdict, asker);
        (!matches!(verdict, Verdict::Reject(_))).then_some(collation)
    }

    /// Tells whoever sent a collation what it was worth.
    fn answer(&self, verdict: Verdict, asker: Asker) {
        match asker {
            Asker::Collator { peer, channel } => {
                let response = match verdict {
                    Verdict::Accept => CollationResponse::Seconded,
                    Verdict::Ignore => CollationResponse::Ignored,
                    Verdict::Reject(_) => CollationResponse::Refused,
                };
                let _stopped = self.network.respond_collation(channel, response);
                if let Verdict::Reject(what) = verdict {
                    let _stopped = self.network.report(peer, what);
                }
            }
            Asker::Gossip { peer, source, id } => {
                let _stopped = self.network.validated(id, peer, source, verdict);
            }
            Asker::Waited(peer) => {
                // It was answered (ignored) when it came; only provable offences count now.
                if let Verdict::Reject(what) = verdict {
                    let _stopped = self.network.report(peer, what);
                }
            }
            Asker::Here => {}
        }
    }

    /// Checks a collation a collator sent this node directly (the answer goes back once
    /// checked); the collation, if it needs no check and was not refused, for the para's
    /// nodes here to keep its block.
    pub fn on_direct_collation(
        &mut self,
        peer: PeerId,
        declared: DeclaredCollation,
        channel: ResponseChannel<CollationResponse>,
    ) -> Option<Collation> {
        let asker = Asker::Collator { peer, channel };
        if let Err(err) = declared.check(&peer) {
            tracing::debug!(%peer, %err, "collation refused");
            self.answer(Verdict::Reject(Misbehaviour::Invalid), asker);
            return None;
        }
        let collation = declared.collation;
        let (verdict, asker) = self.start_check(collation.clone(), asker)?;
        self.answer(verdict, asker);
        (!matches!(verdict, Verdict::Reject(_))).then_some(collation)
    }

    /// Notes what a backer did with a collation this node sent it.
    pub fn on_collation_response(
        &self,
        peer: PeerId,
        candidate: Hash,
        response: Result<CollationResponse, String>,
    ) {
        match response {
            Ok(CollationResponse::Refused) => {
                tracing::warn!(%peer, %candidate, "a backer refused our collation")
            }
            Ok(answer) => tracing::debug!(%peer, %candidate, ?answer, "collation delivered"),
            Err(err) => tracing::debug!(%peer, %candidate, %err, "collation not delivered"),
        }
    }

    /// Checks the collations that waited for their relay parent, once it is imported.
    async fn retry_waiting(&mut self) {
        self.waiting.retain(|(at, _, _)| at.elapsed() < WAITING_FOR);
        let ready: Vec<(Collation, Option<PeerId>)> = {
            let client = self.shared.client();
            let (ready, waiting) = std::mem::take(&mut self.waiting).into_iter().partition(
                |(_, collation, _): &(Instant, Collation, Option<PeerId>)| {
                    matches!(
                        client.header(&collation.candidate.descriptor.relay_parent),
                        Ok(Some(_))
                    )
                },
            );
            self.waiting = waiting;
            ready
                .into_iter()
                .map(|(_, collation, peer)| (collation, peer))
                .collect()
        };
        for (collation, peer) in ready {
            let asker = peer.map_or(Asker::Here, Asker::Waited);
            if let Some((verdict, asker)) = self.start_check(collation, asker) {
                self.answer(verdict, asker);
            }
        }
    }

    /// Handles a gossip message on the parachains topic; a collation it passes on is returned,
    /// for the para's nodes here to keep its block.
    pub async fn on_gossip(
        &mut self,
        peer: PeerId,
        source: Option<PeerId>,
        id: MessageId,
        data: &[u8],
    ) -> Option<Collation> {
        let message = match decode_exact::<ParachainMessage>(data) {
            Ok(message) => message,
            Err(_) => {
                let verdict = Verdict::Reject(Misbehaviour::Malformed);
                let _stopped = self.network.validated(id, peer, source, verdict);
                return None;
            }
        };
        let mut passed = None;
        let verdict = match message {
            ParachainMessage::Collation(declared) => {
                // Only from the collator that declared it: gossip is signed by its publisher.
                let declared_by_source = source.map(|source| declared.check(&source));
                let collation = match declared_by_source {
                    Some(Ok(())) => declared.collation,
                    Some(Err(err)) => {
                        tracing::debug!(%peer, %err, "gossiped collation refused");
                        let verdict = Verdict::Reject(Misbehaviour::Invalid);
                        let _stopped = self.network.validated(id, peer, source, verdict);
                        return None;
                    }
                    None => {
                        let _stopped = self.network.validated(id, peer, source, Verdict::Ignore);
                        return None;
                    }
                };
                // A collation for another group is not forwarded unchecked (its collator sends
                // it to the group); one checked here is answered when the check finishes.
                let asker = Asker::Gossip { peer, source, id };
                let (verdict, asker) = self.start_check(collation.clone(), asker)?;
                self.answer(verdict, asker);
                // Not refused: the para's nodes here keep its block.
                if !matches!(verdict, Verdict::Reject(_)) {
                    passed = Some(collation);
                }
                return passed;
            }
            ParachainMessage::Statement(statement) => {
                let result = {
                    let client = self.shared.client();
                    self.host.on_statement(&client, statement)
                };
                self.verdict(result)
            }
            ParachainMessage::Bitfield {
                relay_parent,
                bitfield,
            } => {
                let result = {
                    let client = self.shared.client();
                    self.host.on_bitfield(&client, relay_parent, bitfield)
                };
                self.verdict(result)
            }
            ParachainMessage::Identity(identity) => self.on_identity(identity),
            ParachainMessage::Approval(message) => self.on_approval_message(peer, message),
            ParachainMessage::Dispute(message) => self.on_dispute_message(peer, message),
            ParachainMessage::PvfCheck(statement) => {
                let result = { self.pvf.on_statement(statement) };
                self.verdict(result)
            }
        };
        let _stopped = self.network.validated(id, peer, source, verdict);
        passed
    }

    /// Gossip verdict of a signed validator message, given whether it was news here: one
    /// known already is not forwarded again.
    fn verdict(&mut self, result: Result<bool, super::ParachainError>) -> Verdict {
        match result {
            Ok(true) => Verdict::Accept,
            Ok(false) => Verdict::Ignore,
            Err(err) => {
                tracing::debug!(%err, "parachain message refused");
                verdict_of(&err)
            }
        }
    }

    /// Learns a validator's peer from its signed identity. Accepted (and forwarded) only
    /// when it is newer than the one known; an identity of someone who is not a validator
    /// here, or signed ahead of this node's clock, cannot be judged and is ignored.
    pub fn on_identity(&mut self, identity: ValidatorIdentity) -> Verdict {
        let known = self.peer_of.get(&identity.validator).map(|(_, at)| *at);
        if known.is_some_and(|at| at >= identity.issued_ms)
            || identity.issued_ms > crate::client::unix_time_ms().saturating_add(IDENTITY_SKEW_MS)
            || !self.is_validator_key(&identity.validator)
        {
            return Verdict::Ignore;
        }
        match identity.verified_peer() {
            Ok(peer) => {
                let before = self
                    .peer_of
                    .insert(identity.validator, (peer, identity.issued_ms));
                if before.is_none_or(|(was, _)| was != peer) {
                    // A validator (re)started or moved: it missed what was gossiped meanwhile.
                    self.send_catch_up(peer);
                }
                Verdict::Accept
            }
            Err(IdentityError::Malformed) => Verdict::Reject(Misbehaviour::Malformed),
            Err(IdentityError::BadSignature) => Verdict::Reject(Misbehaviour::Invalid),
        }
    }

    /// Whether `key` is a validator's parachain key at the best block, in the session or the
    /// one queued.
    fn is_validator_key(&self, key: &AccountId) -> bool {
        let client = self.shared.client();
        let Ok(best) = client.best_header() else {
            return false;
        };
        self.host.is_validator_key(&client, &best.hash(), key)
    }

    /// Once per session, forgets the peers of validators who are in none of the sessions whose
    /// candidates may still be recovered or disputed (the current one and the dispute period
    /// before it) nor in the one queued: a validator that left, or a key rotated away.
    fn forget_departed_validators(&mut self, best: &Header) {
        use tessera_relay_chain::session;
        // Looked at once per best block: the client's lock is wanted by import and authoring.
        let best_hash = best.hash();
        if self.peers_checked_at == Some(best_hash) {
            return;
        }
        self.peers_checked_at = Some(best_hash);
        let client = self.shared.client();
        let mut state = tessera_runtime::state::State::new(client.store(), best.state_root);
        let Ok(current) = session::CURRENT_INDEX.get_or_default(&mut state) else {
            return;
        };
        if self.peers_pruned_in == Some(current) {
            return;
        }
        let Ok(queued) = session::QUEUED_KEYS.get_or_default(&mut state) else {
            return;
        };
        let mut kept: HashSet<AccountId> = queued.iter().map(|keys| keys.para_validator).collect();
        for index in current.saturating_sub(session::DISPUTE_PERIOD)..=current {
            match session::para_validators_of(&mut state, index) {
                Ok(Some(validators)) => kept.extend(validators.keys),
                Ok(None) => {}
                Err(_) => return,
            }
        }
        self.peer_of.retain(|key, _| kept.contains(key));
        self.peers_pruned_in = Some(current);
    }

    /// Whether `peer` is a validator's, as their identities say.
    fn is_validator_peer(&self, peer: &PeerId) -> bool {
        self.peer_of.values().any(|(known, _)| known == peer)
    }

    /// The peer validator `account` last said it is, if it did.
    pub fn validator_peer(&self, account: &AccountId) -> Option<PeerId> {
        self.peer_of.get(account).map(|(peer, _)| *peer)
    }

    /// Publishes this validator's identity every [`IDENTITY_EVERY`], and sooner when peers
    /// joined since, so that a newcomer (a collator) learns whom to send to within seconds.
    async fn publish_identity(&mut self, connected: usize) {
        let due = match self.identity_sent {
            None => true,
            Some((at, heard_by)) => {
                at.elapsed() >= IDENTITY_EVERY
                    || (connected > heard_by && at.elapsed() >= IDENTITY_FOR_NEWCOMERS)
            }
        };
        if !due {
            return;
        }
        let me = self.network.local_peer_id();
        let identities = {
            let client = self.shared.client();
            let Ok(best) = client.best_header() else {
                return;
            };
            let now = crate::client::unix_time_ms();
            self.host.identities(&client, &best.hash(), &me, now)
        };
        let mut sent = !identities.is_empty();
        for identity in identities {
            let message = ParachainMessage::Identity(identity).encode();
            sent &= self
                .network
                .publish(Topic::Parachains, message)
                .await
                .is_ok();
        }
        // Sent once a peer can hear it; tried again on the next tick until then.
        if sent {
            self.identity_sent = Some((Instant::now(), connected));
        }
    }

    /// Answers a peer's chunk request.
    pub fn on_chunk_request(&self, request: ChunkRequest, channel: ResponseChannel<ChunkResponse>) {
        if self.host.malus().withhold_chunks {
            let _stopped = self.network.respond_chunk(channel, ChunkResponse(None));
            return;
        }
        let chunk = ParachainHost::chunk(
            &self.shared.client(),
            &request.candidate_hash,
            request.index,
        );
        let _stopped = self.network.respond_chunk(channel, ChunkResponse(chunk));
    }

    /// Takes a peer's answer to a chunk request.
    pub fn on_chunk_response(
        &mut self,
        peer: PeerId,
        request: ChunkRequest,
        response: Result<ChunkResponse, String>,
    ) {
        let key = (request.candidate_hash, request.index);
        if self.recovery_requests.remove(&key) {
            self.on_recovery_chunk(peer, request, response);
            return;
        }
        let Some(wanted) = self.missing.get(&key).cloned() else {
            return;
        };
        match response {
            Ok(ChunkResponse(Some(chunk))) => {
                let result = {
                    let client = self.shared.client();
                    self.host.on_chunk(&client, &wanted, chunk)
                };
                match result {
                    Ok(()) => {
                        self.missing.remove(&key);
                        self.requested.remove(&key);
                    }
                    Err(err) => {
                        tracing::debug!(%peer, %err, "bad chunk");
                        let _stopped = self.network.report(peer, Misbehaviour::Malformed);
                        self.requested.remove(&key);
                    }
                }
            }
            // It does not have it (yet), or did not answer: ask again later.
            Ok(ChunkResponse(None)) | Err(_) => {
                self.requested.remove(&key);
            }
        }
    }

    /// Periodic work: fetch missing chunks, publish this validator's bitfield on the best
    /// block once it holds its chunks (or half a slot after the block arrived), forget old
    /// candidates.
    pub async fn tick(&mut self) {
        if !self.is_validator {
            // Only to pass verdicts on new code on: they are checked against the checks
            // under way.
            let best = self.shared.client().best_header();
            if let Ok(best) = best {
                self.forget_departed_validators(&best);
                self.pvf_tick(&best).await;
            }
            return;
        }
        self.take_new_keys();
        self.approval_tick().await;
        if !self.waiting.is_empty() {
            self.retry_waiting().await;
        }
        let (best, missing, peers) = {
            let client = self.shared.client();
            let Ok(best) = client.best_header() else {
                return;
            };
            let missing = self
                .host
                .missing_chunks(&client, &best.hash())
                .unwrap_or_default();
            (best, missing, self.network.clone())
        };
        let best_hash = best.hash();
        self.forget_departed_validators(&best);
        if self.best_seen_at.0 != best_hash {
            self.best_seen_at = (best_hash, Instant::now());
            self.host.prune(best.number);
            ParachainHost::prune_availability(&self.shared.client());
            self.taken.prune(best.number);
            self.asked.clear();
        }
        self.missing = missing
            .into_iter()
            .map(|m| ((m.candidate_hash, m.index), m))
            .collect();
        let connected = peers.peers().await.unwrap_or_default();
        self.publish_identity(connected.len()).await;
        let wanted: Vec<MissingChunk> = self.missing.values().cloned().collect();
        for chunk in wanted {
            self.request(&chunk, &connected);
        }
        let slot = self.shared.client().slot_duration();
        let waited = self.best_seen_at.1.elapsed() >= slot / 2;
        if self.bitfield_sent_for != Some(best_hash) && (self.missing.is_empty() || waited) {
            self.publish_bitfield(&best).await;
        }
        self.pvf_tick(&best).await;
    }

    /// Takes the keystore's keys this validator does not have yet (session keys made by
    /// `author_rotateKeys`): it signs parachain work with one once a session lists it.
    fn take_new_keys(&mut self) {
        let Some(keystore) = self.shared.keystore() else {
            return;
        };
        for pair in keystore.take_new(&mut self.keys_taken) {
            let key = AuthorityKey::from_pair(&pair);
            self.host.add_key(key.clone());
            self.pvf.add_key(key.clone());
            if let Some(approval) = &mut self.approval {
                approval.add_key(key);
            }
        }
    }

    /// Starts compiling code newly under check at `best`, and publishes the verdicts of
    /// compiles that finished.
    async fn pvf_tick(&mut self, best: &Header) {
        let room = MAX_PVF_COMPILES.saturating_sub(self.pvf_compiles.len());
        let to_judge = self.pvf.on_best(&self.shared.client(), best, room);
        for job in to_judge {
            let host = self.validation.clone();
            self.pvf_compiles.spawn_blocking(move || {
                let verdict = super::pvf_check::judge(&host, job.code_hash, &job.code);
                (job, verdict)
            });
        }
        let mut verdicts = Vec::new();
        while let Some(finished) = self.pvf_compiles.try_join_next() {
            let Ok((job, verdict)) = finished else {
                continue;
            };
            if let Some(statement) = self.pvf.sign(&job, verdict, best.number) {
                tracing::info!(code_hash = %job.code_hash, accept = statement.accept, "new para code checked");
                verdicts.push(statement);
            }
        }
        verdicts.extend(self.pvf.to_republish(best.number));
        for statement in verdicts {
            let message = ParachainMessage::PvfCheck(statement);
            if let Err(err) = self
                .network
                .publish(Topic::Parachains, message.encode())
                .await
            {
                tracing::debug!(%err, "code check verdict not published");
            }
        }
    }

    fn request(&mut self, chunk: &MissingChunk, connected: &[PeerId]) {
        let key = (chunk.candidate_hash, chunk.index);
        if let Some((at, _)) = self.requested.get(&key) {
            if at.elapsed() < CHUNK_RETRY {
                return;
            }
        }
        let backer_peers = chunk
            .backers
            .iter()
            .filter_map(|b| self.peer_of.get(b).map(|(peer, _)| *peer));
        let candidates: Vec<PeerId> = backer_peers
            .chain(connected.iter().copied())
            .filter(|p| connected.contains(p))
            .collect();
        let Some(peer) = candidates
            .iter()
            .copied()
            .find(|p| !self.asked.contains(&(key.0, key.1, *p)))
        else {
            // Asked everyone: start over.
            self.asked.retain(|(hash, index, _)| (*hash, *index) != key);
            return;
        };
        self.asked.insert((key.0, key.1, peer));
        let request = ChunkRequest {
            candidate_hash: chunk.candidate_hash,
            index: chunk.index,
        };
        if self.network.request_chunk(peer, request).is_ok() {
            let attempts = self.requested.get(&key).map_or(0, |(_, n)| *n);
            self.requested.insert(key, (Instant::now(), attempts + 1));
        }
    }

    async fn publish_bitfield(&mut self, best: &Header) {
        let best_hash = best.hash();
        let bitfield = {
            let client = self.shared.client();
            self.host.bitfield(&client, &best_hash)
        };
        let Ok(Some(bitfield)) = bitfield else {
            return;
        };
        self.bitfield_sent_for = Some(best_hash);
        {
            let client = self.shared.client();
            let _own = self.host.on_bitfield(&client, best_hash, bitfield.clone());
        }
        let message = ParachainMessage::Bitfield {
            relay_parent: best_hash,
            bitfield,
        };
        if let Err(err) = self
            .network
            .publish(Topic::Parachains, message.encode())
            .await
        {
            tracing::debug!(%err, "bitfield not published");
        }
    }

    /// The parachains inherent for a block on `parent` (authors call this, holding the client).
    pub fn inherent(&mut self, client: &Client, parent: &Header) -> Option<OpaqueExtrinsic> {
        if let Some(approval) = &self.approval {
            self.host
                .record_disputes(approval.disputes_for(client, parent));
            self.host.record_offenders(approval.offenders());
        }
        self.host
            .record_pvf_checks(self.pvf.for_inherent(client, parent));
        match self.host.inherent(client, parent) {
            Ok(inherent) => Some(inherent),
            Err(err) => {
                tracing::warn!(%err, "no parachains inherent");
                None
            }
        }
    }
}

impl ParachainService {
    /// Approval work's periodic part, and what it asked for since the last tick.
    async fn approval_tick(&mut self) {
        self.retry_early_approval_messages();
        let Some(approval) = &mut self.approval else {
            return;
        };
        let actions = approval.tick(&self.shared.client());
        self.approval_actions.absorb(actions);
        let pending = std::mem::take(&mut self.approval_actions);
        for block in pending.revert {
            match self.shared.client().revert(block) {
                Ok(new_best) => tracing::warn!(
                    %block,
                    best = ?new_best.map(|header| header.number),
                    "relay block reverted: it included a candidate found invalid"
                ),
                Err(err) => tracing::error!(%block, %err, "reverting a relay block failed"),
            }
        }
        self.send_recovery_requests(pending.requests);
        for report in pending.reports {
            self.shared.client().report(report);
        }
        for message in pending.publish {
            if let Err(err) = self
                .network
                .publish(Topic::Parachains, message.encode())
                .await
            {
                tracing::debug!(%err, "approval message not published");
            }
        }
    }

    /// Asks each validator for its chunk, or a backer for the whole data; one whose peer is
    /// not known answers nothing.
    fn send_recovery_requests(&mut self, requests: Vec<super::approval::ChunkWanted>) {
        let mut unanswerable = Vec::new();
        for wanted in requests {
            let peer = wanted
                .validator
                .and_then(|validator| self.peer_of.get(&validator))
                .map(|(peer, _)| *peer);
            let sent = match (peer, wanted.whole) {
                (Some(peer), true) => {
                    let request = AvailableDataRequest {
                        candidate_hash: wanted.candidate,
                    };
                    let sent = self.network.request_available_data(peer, request).is_ok();
                    if sent {
                        // One at a time per recovery (`Recovery::requests`).
                        self.recovery_whole.insert(wanted.candidate, wanted.index);
                    }
                    sent
                }
                (Some(peer), false) => {
                    let request = ChunkRequest {
                        candidate_hash: wanted.candidate,
                        index: wanted.index,
                    };
                    let sent = self.network.request_chunk(peer, request).is_ok();
                    if sent {
                        self.recovery_requests
                            .insert((wanted.candidate, wanted.index));
                    }
                    sent
                }
                (None, _) => false,
            };
            if !sent {
                unanswerable.push(wanted);
            }
        }
        let Some(approval) = &mut self.approval else {
            return;
        };
        let mut actions = super::approval::Actions::default();
        for wanted in unanswerable {
            if wanted.whole {
                approval.on_available_data(wanted.candidate, wanted.index, None, &mut actions);
            } else {
                approval.on_chunk(wanted.candidate, wanted.index, None, &mut actions);
            }
        }
        self.approval_actions.absorb(actions);
    }

    /// Answers a peer's request for a candidate's whole available data (kept by backers):
    /// to validators only, and [`WHOLE_DATA_BYTES_PER_SECOND`] at most in all (past it, the
    /// checker recovers from chunks).
    pub fn on_available_data_request(
        &mut self,
        peer: PeerId,
        request: AvailableDataRequest,
        channel: ResponseChannel<AvailableDataResponse>,
    ) {
        let data = if self.host.malus().withhold_chunks || !self.is_validator_peer(&peer) {
            // Up to 5 MiB read and sent: for checkers only.
            None
        } else {
            let (since, served) = &mut self.whole_data_served;
            if since.elapsed() >= Duration::from_secs(1) {
                (*since, *served) = (Instant::now(), 0);
            }
            if *served >= WHOLE_DATA_BYTES_PER_SECOND {
                tracing::debug!(%peer, "whole available data not served: this second's budget is spent");
                None
            } else {
                let data =
                    ParachainHost::available_data(&self.shared.client(), &request.candidate_hash);
                let size = data.as_ref().map_or(0, Encode::encoded_size);
                *served = served.saturating_add(size);
                data
            }
        };
        let _stopped = self
            .network
            .respond_available_data(channel, AvailableDataResponse(data));
    }

    /// A backer's answer to a recovery's request for the whole available data.
    pub fn on_available_data_response(
        &mut self,
        peer: PeerId,
        request: AvailableDataRequest,
        response: Result<AvailableDataResponse, String>,
    ) {
        let Some(from) = self.recovery_whole.remove(&request.candidate_hash) else {
            return;
        };
        let Some(approval) = &mut self.approval else {
            return;
        };
        let data = response.ok().and_then(|AvailableDataResponse(data)| data);
        let mut actions = super::approval::Actions::default();
        if let Some(why) =
            approval.on_available_data(request.candidate_hash, from, data, &mut actions)
        {
            tracing::debug!(%peer, %why, "bad available data for a recovery");
            let _stopped = self.network.report(peer, Misbehaviour::Invalid);
        }
        self.approval_actions.publish.extend(actions.publish);
        self.send_recovery_requests(actions.requests);
    }

    /// A validator's answer to a recovery's chunk request.
    fn on_recovery_chunk(
        &mut self,
        peer: PeerId,
        request: ChunkRequest,
        response: Result<ChunkResponse, String>,
    ) {
        let Some(approval) = &mut self.approval else {
            return;
        };
        let chunk = match response {
            Ok(ChunkResponse(chunk)) => chunk,
            Err(_) => None,
        };
        let mut actions = super::approval::Actions::default();
        if let Some(why) =
            approval.on_chunk(request.candidate_hash, request.index, chunk, &mut actions)
        {
            tracing::debug!(%peer, %why, "bad chunk for a recovery");
            let _stopped = self.network.report(peer, Misbehaviour::Malformed);
        }
        self.approval_actions.publish.extend(actions.publish);
        // Further requests go out now: recovery waits on nothing else.
        self.send_recovery_requests(actions.requests);
    }

    /// A peer connected: a validator's is sent our approval catch-up.
    pub fn on_peer_connected(&mut self, peer: PeerId) {
        self.send_catch_up(peer);
    }

    /// A peer disconnected: what it sent since it connected is forgotten.
    pub fn on_peer_disconnected(&mut self, peer: &PeerId) {
        self.catch_up_taken.remove(peer);
    }

    /// Sends validator peer `peer` every approval message this validator holds about
    /// unfinalized blocks, as Polkadot's approval distribution does for a peer's view: gossip
    /// is not repeated, and a validator that restarted or was cut off would otherwise never
    /// approve, nor vote past, what was gossiped while it was away.
    fn send_catch_up(&mut self, peer: PeerId) {
        let Some(approval) = &self.approval else {
            return;
        };
        if !self.is_validator_peer(&peer) {
            // Not a validator (as far as this node knows): it has no use for them.
            return;
        }
        let validator_peers: HashSet<PeerId> = self.peer_of.values().map(|(p, _)| *p).collect();
        self.catch_up_sent
            .retain(|known, _| validator_peers.contains(known));
        let (since, sent) = self
            .catch_up_sent
            .entry(peer)
            .or_insert((Instant::now(), 0));
        if since.elapsed() >= CATCH_UP_WINDOW {
            (*since, *sent) = (Instant::now(), 0);
        }
        if *sent >= CATCH_UPS_PER_WINDOW {
            return;
        }
        // Open disputes first (each holds its candidate's block, and finality, back), in half
        // the room at most (byzantine openers must not crowd out approvals), then the approval
        // messages of the oldest blocks first: the lowest unapproved block holds finality.
        let room = CATCH_UP_BATCH * MAX_CATCH_UP_BATCHES;
        let known: Vec<ParachainMessage> = approval
            .known_dispute_messages(room / 2)
            .into_iter()
            .map(ParachainMessage::Dispute)
            .chain(
                approval
                    .known_messages()
                    .cloned()
                    .map(ParachainMessage::Approval),
            )
            .take(room)
            .collect();
        if known.is_empty() {
            return;
        }
        *sent += 1;
        for batch in known.chunks(CATCH_UP_BATCH) {
            let _stopped = self
                .network
                .send_direct(peer, Topic::Parachains, batch.encode());
        }
        tracing::debug!(%peer, messages = known.len(), "approval catch-up sent");
    }

    /// A peer's catch-up (approval and dispute messages for this node alone): each is checked
    /// as if gossiped; one that proves the peer wrong, another kind of message, or a batch that
    /// does not decode, costs it.
    pub fn on_direct(&mut self, peer: PeerId, data: &[u8]) {
        let messages = match decode_exact::<Vec<ParachainMessage>>(data) {
            Ok(messages) if messages.len() <= CATCH_UP_BATCH => messages,
            _ => {
                let _stopped = self.network.report(peer, Misbehaviour::Malformed);
                return;
            }
        };
        let taken = self.catch_up_taken.entry(peer).or_default();
        *taken = taken.saturating_add(1);
        if *taken > CATCH_UPS_PER_WINDOW as usize * MAX_CATCH_UP_BATCHES {
            // More than an honest peer sends on one connection: each message costs signature
            // and VRF checks here.
            let _stopped = self.network.report(peer, Misbehaviour::Flood);
            return;
        }
        let Some(approval) = &mut self.approval else {
            return;
        };
        // The blocks it is about may be in the store but not fed yet (after a restart).
        let mut actions = super::approval::Actions::default();
        approval.feed_now(&self.shared.client(), &mut actions);
        self.approval_actions.absorb(actions);
        for message in messages {
            let verdict = match message {
                ParachainMessage::Approval(message) => self.on_approval_message(peer, message),
                ParachainMessage::Dispute(message) => self.on_dispute_message(peer, message),
                _ => Verdict::Reject(Misbehaviour::Malformed),
            };
            if let Verdict::Reject(what) = verdict {
                let _stopped = self.network.report(peer, what);
                return;
            }
        }
    }

    /// An approval message from `peer`: accepted (and forwarded) when it checked, rejected
    /// when it proves its sender wrong, else ignored (gossip reorders honest messages too).
    fn on_approval_message(
        &mut self,
        peer: PeerId,
        message: tessera_validity::engine::Message,
    ) -> Verdict {
        use tessera_validity::engine::MessageError;
        let Some(approval) = &mut self.approval else {
            return Verdict::Ignore;
        };
        let mut actions = super::approval::Actions::default();
        let message_copy = message.clone();
        let result = {
            let client = self.shared.client();
            approval.on_message(&client, message, &mut actions)
        };
        self.approval_actions.absorb(actions);
        match result {
            Ok(()) => Verdict::Accept,
            Err(err) if err.is_offence() => {
                tracing::debug!(%err, "approval message refused");
                Verdict::Reject(Misbehaviour::Invalid)
            }
            Err(MessageError::UnknownBlock(_) | MessageError::NotAssigned { .. }) => {
                // Gossip reorders: the block may not be imported yet, or the approval may have
                // overtaken its assignment. Kept a while and tried again; not forwarded.
                self.approval_early.keep(Instant::now(), peer, message_copy);
                Verdict::Ignore
            }
            Err(_) => Verdict::Ignore,
        }
    }

    /// Tries again the approval and dispute messages that came too early.
    fn retry_early_approval_messages(&mut self) {
        use tessera_validity::engine::MessageError;
        let Some(approval) = &mut self.approval else {
            return;
        };
        let mut actions = super::approval::Actions::default();
        let now = Instant::now();
        let client = self.shared.client();
        for (at, peer, message) in self.approval_early.take_fresh(now) {
            if let Err(MessageError::UnknownBlock(_) | MessageError::NotAssigned { .. }) =
                approval.on_message(&client, message.clone(), &mut actions)
            {
                self.approval_early.keep(at, peer, message);
            }
        }
        for (at, peer, message) in self.dispute_early.take_fresh(now) {
            if let Err(tessera_validity::disputes::DisputeError::NotDisputed(_)) =
                approval.on_dispute(&client, message.clone(), &mut actions)
            {
                self.dispute_early.keep(at, peer, message);
            }
        }
        drop(client);
        self.approval_actions.absorb(actions);
    }

    /// A gossiped dispute message, judged like an approval message (an opening over its
    /// opener's count is ignored: counts differ between nodes; so is a conflict, which may be
    /// the opening validator's equivocation carried by an honest sender).
    fn on_dispute_message(
        &mut self,
        peer: PeerId,
        message: tessera_validity::disputes::DisputeMessage,
    ) -> Verdict {
        use tessera_validity::disputes::DisputeError as E;
        let Some(approval) = &mut self.approval else {
            return Verdict::Ignore;
        };
        let mut actions = super::approval::Actions::default();
        let message_copy = message.clone();
        let result = {
            let client = self.shared.client();
            approval.on_dispute(&client, message, &mut actions)
        };
        self.approval_actions.absorb(actions);
        match result {
            Ok(()) => Verdict::Accept,
            Err(E::NotDisputed(_)) => {
                // Gossip reorders: the candidate's block may not be fed here yet, or a vote
                // may have overtaken the opening. Kept a while and tried again.
                self.dispute_early.keep(Instant::now(), peer, message_copy);
                Verdict::Ignore
            }
            Err(
                err @ (E::UnknownValidator(_)
                | E::BadSignature
                | E::ValidOpening
                | E::NotSameDispute),
            ) => {
                tracing::debug!(%err, "dispute message refused");
                Verdict::Reject(Misbehaviour::Invalid)
            }
            Err(_) => Verdict::Ignore,
        }
    }
}

/// How a parachain message that failed its checks is judged: what cannot be checked here now
/// (unknown relay parent or para, a check that ran out of time on this machine) is ignored;
/// what is provably invalid is rejected against its source.
pub fn verdict_of(err: &super::ParachainError) -> Verdict {
    use super::ParachainError as E;
    match err {
        E::UnknownRelayParent(_)
        | E::UnknownPara(_)
        | E::State(_)
        | E::Backing(BackingError::TooManyStatements(_)) => Verdict::Ignore,
        E::Invalid(
            InvalidCandidate::Timeout { .. }
            | InvalidCandidate::MemoryLimit { .. }
            | InvalidCandidate::CompileTimeout(_)
            | InvalidCandidate::Busy,
        ) => Verdict::Ignore,
        E::Invalid(_)
        | E::Backing(
            BackingError::NotAllowed(_)
            | BackingError::BadSignature(_)
            | BackingError::BadBitfield { .. },
        )
        | E::BadChunk(_) => Verdict::Reject(Misbehaviour::Invalid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collations_per_relay_parent_are_limited_per_collator_and_per_para() {
        let mut taken = PerRelayParent::default();
        let (a, b) = (Hash([1; 32]), Hash([2; 32]));
        let peers: Vec<PeerId> = (0..4).map(|_| PeerId::random()).collect();
        let para = ParaId(1000);
        // Two from one collator, a third is a protocol breach.
        assert_eq!(taken.admit(a, 10, peers[0], para), Admission::Take);
        assert_eq!(taken.admit(a, 10, peers[0], para), Admission::Take);
        assert_eq!(taken.admit(a, 10, peers[0], para), Admission::PeerFull);
        // Four for one para from all collators; then the para waits for the next relay parent.
        assert_eq!(taken.admit(a, 10, peers[1], para), Admission::Take);
        assert_eq!(taken.admit(a, 10, peers[2], para), Admission::Take);
        assert_eq!(taken.admit(a, 10, peers[3], para), Admission::ParaFull);
        assert_eq!(taken.admit(a, 10, peers[3], ParaId(1001)), Admission::Take);
        assert_eq!(taken.admit(b, 11, peers[3], para), Admission::Take);
        // Old relay parents are forgotten.
        taken.prune(10 + COUNT_BLOCKS + 1);
        assert_eq!(taken.0.len(), 1);
    }
}
