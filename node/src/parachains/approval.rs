//! A validator's approval checking and disputes, run on the relay chain it imports: the
//! sans-io engines of `tessera-validity` fed with its blocks, its peers' messages and time, and
//! the checks they ask for done here (recovery over the chunk protocol, then validation on a
//! blocking thread).
//!
//! Each relay block on the best chain above the finalized one is fed once, with the candidates
//! it included (its `CandidateIncluded` events, read with what was pending at its parent).
//! What peers send arrives as [`ParachainMessage::Approval`] and [`ParachainMessage::Dispute`]
//! gossip. At most [`MAX_RECOVERING`] checks run at once (recovering, validating, or waiting to
//! validate or to try again), at most [`MAX_VALIDATING`] of them validating; [`MAX_QUEUED`]
//! more wait, the oldest dropped first (its checker then counts as a no-show, which later
//! tranches cover). So a node holds at most that many recovered PoVs. Concluded disputes wait
//! here for the next block this validator authors, whose inherent records them.
//!
//! Each block is checked by the validators of its own session, drawing assignments with their
//! `para_assignment` keys and signing with their `para_validator` keys
//! ([`tessera_relay_chain::session::para_validators`] at the block): blocks on either side
//! of a session change are approved by their own sets, and recovery asks the chunks of the
//! validators who hold them. A dispute is among the validators of its candidate's session,
//! with that session's index in its votes, as the chain checks it (for
//! [`tessera_relay_chain::session::DISPUTE_PERIOD`] sessions).
//!
//! A validator also counts whose approvals approved each candidate, per session, and signs
//! that tally for the chain's approval points once finality passes into a later session
//! ([`tessera_relay_chain::approval_rewards`]); the client offers it in the blocks it authors.

use super::host::ParachainMessage;
use super::own_messages::OwnMessages;
use crate::client::Client;
use crate::malus::Malus;
use crate::store::ChainMeta;
use crate::validation::{CandidateToCheck, InvalidCandidate, ValidationHost, ValidationPurpose};
use parity_scale_codec::{DecodeAll, Encode};
use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use tessera_consensus::authorship::PreDigest;
use tessera_consensus::AuthorityKey;
use tessera_relay_chain::approval_rewards::ApprovalTally;
use tessera_relay_chain::availability::{AvailableData, ErasureChunk};
use tessera_relay_chain::disputes::DisputeStatementSet;
use tessera_relay_chain::inclusion::ValidityVote;
use tessera_relay_chain::runtime_api::CandidateEvent;
use tessera_relay_chain::session::ParaValidators;
use tessera_runtime::hashing::blake2_256;
use tessera_runtime::parachain::CandidateReceipt;
use tessera_runtime::state::State;
use tessera_runtime::{AccountId, Hash, Header};
use tessera_validity::assignment::{AssignmentKind, Crypto, RelayVrfStory, ValidatorKeys};
use tessera_validity::disputes::{DisputeMessage, DisputeOutput, Disputes};
use tessera_validity::engine::{
    ApprovalEngine, IncludedCandidate, Message, NewBlock, Output, SessionValidators,
};
use tessera_validity::recovery::{Answer, Recovery, Request};
use tessera_validity::{ApprovalConfig, CoreIndex, ValidatorIndex};

/// Checks running at once (recovering, validating, or waiting to).
pub const MAX_RECOVERING: usize = 4;
/// Validations running at once, on blocking threads.
pub const MAX_VALIDATING: usize = 2;
/// Checks waiting for room.
pub const MAX_QUEUED: usize = 32;
/// Chunk requests in flight per recovery.
const PARALLEL_CHUNKS: usize = 8;
/// Blocks fed to the engine per tick at most (a node catching up spreads the work).
const FEED_PER_TICK: usize = 16;

/// The randomness a block's assignments are drawn from: its author's VRF output, or for a
/// secondary block (which has none) its parent's hash and slot, which its author cannot choose.
pub fn story_of(header: &Header) -> Option<(RelayVrfStory, u64)> {
    let pre = PreDigest::from_header(header)?;
    let bytes = match &pre {
        PreDigest::Primary { vrf_output, .. } => (b"tessera-story", vrf_output).encode(),
        PreDigest::Secondary { slot, .. } => (b"tessera-story", header.parent_hash, slot).encode(),
    };
    Some((RelayVrfStory(blake2_256(&bytes).0), pre.slot()))
}

/// What this node knows of recent blocks' approval, for finality, RPC and the status line.
#[derive(Clone, Debug, Default)]
pub struct ApprovalStatus {
    /// Whether this node checks approval (a validator of the set): finality consults it only
    /// then.
    pub active: bool,
    /// Approved blocks above the finalized one: hash to number.
    pub approved: BTreeMap<Hash, u32>,
    /// The newest approved block (kept past finality, for display).
    pub newest: Option<(Hash, u32)>,
    /// Blocks above the finalized one that included a candidate under dispute or concluded
    /// invalid: finality votes stop below them even if they were approved before.
    pub disputed: BTreeMap<Hash, u32>,
}

impl ApprovalStatus {
    /// The newest approved block, if any.
    pub fn best(&self) -> Option<Hash> {
        self.newest.map(|(hash, _)| hash)
    }
}

/// Shared approval status.
pub type SharedApproval = Arc<Mutex<ApprovalStatus>>;

/// The newest block `shared` approval checking approved.
pub fn best_approved(status: &SharedApproval) -> Option<Hash> {
    status.lock().unwrap_or_else(|p| p.into_inner()).best()
}

/// What checking an included candidate needs.
#[derive(Clone, Debug)]
struct CandidateInfo {
    /// The blocks that included it (one per fork), with its position in each.
    at: Vec<(Hash, u32)>,
    /// The validators of its relay parent's session: they hold its chunks and judge its
    /// dispute.
    session: Session,
    receipt: CandidateReceipt,
    /// Its backers' statements, which name them in a dispute.
    backing: Vec<ValidityVote>,
    /// The para's code the candidate is checked with.
    code: Arc<tessera_runtime::parachain::ValidationCode>,
}

/// A request this module wants sent to validator `index`'s peer: chunk `index`, or the
/// whole available data (of a backer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChunkWanted {
    /// The candidate.
    pub candidate: Hash,
    /// The validator asked (its parachain key), whose peer its identity names (none if
    /// not in the session: then nobody is asked).
    pub validator: Option<AccountId>,
    /// Its index in the candidate's session, and the chunk's.
    pub index: u32,
    /// The whole available data rather than the chunk.
    pub whole: bool,
}

/// What the service should do after a call.
#[derive(Debug, Default)]
pub struct Actions {
    /// Messages to gossip.
    pub publish: Vec<ParachainMessage>,
    /// Chunks and available data to request.
    pub requests: Vec<ChunkWanted>,
    /// Relay blocks to revert: they included a candidate a dispute concluded invalid.
    pub revert: Vec<Hash>,
    /// Unsigned extrinsics for the blocks this validator authors: its approval tallies.
    pub reports: Vec<tessera_runtime::OpaqueExtrinsic>,
}

impl Actions {
    /// Adds `other`'s actions after these.
    pub fn absorb(&mut self, other: Actions) {
        self.publish.extend(other.publish);
        self.requests.extend(other.requests);
        self.revert.extend(other.revert);
        self.reports.extend(other.reports);
    }
}

/// A validation finished on a blocking thread: valid or not, or none when this machine could
/// not judge in time (see [`after_timeout`]; meanwhile the checker may count as a no-show).
struct Validated {
    candidate: Hash,
    valid: Option<bool>,
    /// Whether the candidate's own execution ran out of time (not its code's compilation).
    ran_out: bool,
    /// The data, to try again with.
    data: Option<AvailableData>,
}

/// Validations of one candidate tried before giving up: a minute of retries, long enough for
/// a code compiling elsewhere on this machine to be ready (until then every validation of it
/// fails at once).
const VALIDATION_ATTEMPTS: u32 = 30;

/// Executions past the approval deadline after which a candidate is judged invalid.
const EXECUTION_TIMEOUTS: u32 = 3;

/// What becomes of a candidate whose validation did not finish in time.
#[derive(Debug, PartialEq, Eq)]
enum AfterTimeout {
    /// Validate it again later.
    Retry,
    /// Stop trying (this machine could not compile its code in a minute).
    GiveUp,
    /// Judge it invalid.
    Invalid,
}

/// What to do after `attempts` validations of a candidate did not finish, `ran_out` of them
/// because its execution overran the approval deadline. Its backers vouched that it runs
/// within the backing deadline (2 s); one that overruns six times that, [`EXECUTION_TIMEOUTS`]
/// times, is invalid, as Polkadot's checkers judge a PVF timeout: never judging it would leave
/// it unapproved, and finality stopped, for good. A compilation that overruns says nothing
/// about the candidate.
fn after_timeout(attempts: u32, ran_out: u32) -> AfterTimeout {
    if ran_out >= EXECUTION_TIMEOUTS {
        AfterTimeout::Invalid
    } else if attempts >= VALIDATION_ATTEMPTS {
        AfterTimeout::GiveUp
    } else {
        AfterTimeout::Retry
    }
}

/// Concluded disputes kept until the finalized chain records them, at most (one the runtime
/// keeps refusing must not stay for ever).
const MAX_CONCLUDED_KEPT: usize = 64;

/// Where a validator's judgements of candidates are kept.
const JUDGED_KEY: &[u8] = b"approval-judged";
/// Judgements kept at most (the oldest go first).
const MAX_JUDGED_KEPT: usize = 4_096;

/// Approval messages kept for peers that (re)connect, at most (about 1.2 MB): as many as one
/// catch-up carries (`service::CATCH_UP_BATCH` × `service::MAX_CATCH_UP_BATCHES`).
pub const MAX_KNOWN_MESSAGES: usize = 8_192;

/// How long to wait before recovering again a candidate that could not be recovered.
const RECOVERY_RETRY: std::time::Duration = std::time::Duration::from_secs(6);

/// How long to wait before validating again after a timeout.
const VALIDATION_RETRY: std::time::Duration = std::time::Duration::from_secs(2);

/// A session's validators as approval checking uses them: their parachain keys, and the
/// engines' view of them (with this validator's key and index among them, if it is one).
#[derive(Clone, Debug)]
struct Session {
    validators: Arc<ParaValidators>,
    engine: Arc<SessionValidators<ValidatorKeys>>,
}

impl Session {
    fn me(&self) -> Option<u32> {
        self.engine.me.map(|me| me.0)
    }
}

/// Sessions whose validators are remembered (blocks of one session share them).
const SESSIONS_KEPT: usize = 4;

/// This validator's count of whose approvals approved candidates in one session's blocks, by
/// validator index ([`tessera_relay_chain::approval_rewards`]).
struct SessionTally {
    session: Session,
    usages: Vec<u32>,
}

/// A block fed to the engine: its number and its session's validators.
struct Fed {
    number: u32,
    session: Session,
}

/// The disputes about one session's candidates, among its validators.
struct SessionDisputes {
    session: Session,
    disputes: Disputes<ValidatorKeys>,
}

/// A validator's approval work.
pub struct ApprovalWork {
    engine: ApprovalEngine<ValidatorKeys>,
    /// Disputes by the session index of their candidates (those of tracked candidates only).
    disputes: BTreeMap<u32, SessionDisputes>,
    /// The keys this validator may sign with: in each session, the one that is a
    /// validator's `para_validator` key.
    keys: Vec<AuthorityKey>,
    /// Recent sessions, newest last.
    sessions: VecDeque<Session>,
    /// Approval usages counted in sessions this node validates in, by session index (at most
    /// [`SESSIONS_KEPT`]); each is sent once a block of a later session is finalized.
    tallies: BTreeMap<u32, SessionTally>,
    /// The latest session whose tally was sent (or dropped): no more is counted for it.
    tallies_sent: Option<u32>,
    validation: Arc<ValidationHost>,
    /// Blocks fed to the engine.
    fed: HashMap<Hash, Fed>,
    candidates: HashMap<Hash, CandidateInfo>,
    /// Validation code of the candidates tracked, by hash.
    codes: HashMap<Hash, Arc<tessera_runtime::parachain::ValidationCode>>,
    /// Candidates to check: each check serves the approval of every block that included the
    /// candidate and its dispute, if one is open.
    queued: VecDeque<Hash>,
    recovering: HashMap<Hash, Recovery>,
    validating: tokio::task::JoinSet<Validated>,
    /// Recovered candidates waiting for a validation slot.
    to_validate: VecDeque<(Hash, AvailableData)>,
    /// Validations that could not finish in time, to try again (counted in flight).
    retries: Vec<(std::time::Instant, Hash, AvailableData)>,
    /// Validations tried per candidate that did not finish in time, and how many of them ran
    /// out of time executing.
    attempts: HashMap<Hash, (u32, u32)>,
    /// Checks to queue again later (their recovery found too few chunks).
    later: Vec<(std::time::Instant, Hash)>,
    /// Concluded disputes not yet on chain.
    concluded: Vec<DisputeStatementSet>,
    /// Validators (their stashes) on the losing side of a dispute concluded here, by the
    /// dispute's session, at most as many per session as the chain disables; kept while the
    /// session's disputes are.
    offenders: BTreeMap<u32, BTreeSet<AccountId>>,
    /// Blocks fed since the last tick that included a candidate concluded invalid.
    revert_later: Vec<Hash>,
    /// This validator's judgements (valid or not) of candidates above finality, with the
    /// highest block number that included each; kept on disk.
    judged: HashMap<Hash, (bool, u32)>,
    /// Our assignments and approvals about unfinalized blocks; kept on disk.
    own: OwnMessages,
    /// Every approval message accepted here (ours too) about unfinalized blocks, by block in
    /// the order accepted: what a peer that connects is sent.
    known: BTreeMap<(u32, Hash), Vec<Message>>,
    /// Messages in `known`.
    known_count: usize,
    /// Whether `judged` and `own` were read from disk yet.
    loaded: bool,
    /// Checks asked for candidates judged already: answered on the next tick.
    rejudged: Vec<(Hash, bool)>,
    /// The finalized number last acted on.
    finalized: u32,
    /// Our messages that could not be kept on disk, to keep and send on the next tick.
    unkept: Vec<Message>,
    status: SharedApproval,
    /// Hostile behaviours (tests only).
    malus: Malus,
}

/// The validators disabled on the best chain, as its runtime says: their stashes.
fn disabled_at_best(client: &Client) -> Vec<AccountId> {
    let Ok(meta) = client.info() else {
        return Vec::new();
    };
    let Ok(Some(best)) = client.header(&meta.best_hash) else {
        return Vec::new();
    };
    let disabled =
        super::relay_api::disabled_validators(client, &meta.best_hash).unwrap_or_default();
    if disabled.is_empty() {
        return Vec::new();
    }
    let mut state = State::new(client.store(), best.state_root);
    let Ok(session) = tessera_relay_chain::session::para_validators(&mut state) else {
        return Vec::new();
    };
    disabled
        .iter()
        .filter_map(|index| session.stash(*index).copied())
        .collect()
}

fn now_ms() -> u64 {
    crate::client::unix_time_ms()
}

impl ApprovalWork {
    /// The approval work of the validator with `key`, with `config`.
    pub fn new(
        key: AuthorityKey,
        config: ApprovalConfig,
        validation: Arc<ValidationHost>,
        status: SharedApproval,
    ) -> Self {
        status.lock().unwrap_or_else(|p| p.into_inner()).active = true;
        // Every block is fed with its own session's validators: this one stands for none.
        let none = ValidatorKeys::new(None, Arc::from(Vec::new()));
        ApprovalWork {
            engine: ApprovalEngine::new(config, none, None, 0),
            disputes: BTreeMap::new(),
            keys: vec![key],
            sessions: VecDeque::new(),
            tallies: BTreeMap::new(),
            tallies_sent: None,
            validation,
            fed: HashMap::new(),
            candidates: HashMap::new(),
            codes: HashMap::new(),
            queued: VecDeque::new(),
            recovering: HashMap::new(),
            validating: tokio::task::JoinSet::new(),
            to_validate: VecDeque::new(),
            retries: Vec::new(),
            attempts: HashMap::new(),
            later: Vec::new(),
            concluded: Vec::new(),
            offenders: BTreeMap::new(),
            revert_later: Vec::new(),
            judged: HashMap::new(),
            own: OwnMessages::default(),
            known: BTreeMap::new(),
            known_count: 0,
            loaded: false,
            rejudged: Vec::new(),
            finalized: 0,
            unkept: Vec::new(),
            status,
            malus: Malus::default(),
        }
    }

    /// Adds a key this validator may sign with (a session key made by `author_rotateKeys`).
    pub fn add_key(&mut self, key: AuthorityKey) {
        if !self.keys.iter().any(|k| k.public() == key.public()) {
            self.keys.push(key);
            // This validator may be one of the sessions known now.
            self.sessions.clear();
        }
    }

    /// The session validators at relay block `header`, with this validator's place among
    /// them.
    fn session_at(&mut self, client: &Client, header: &Header) -> Option<Session> {
        let mut state = State::new(client.store(), header.state_root);
        let validators = tessera_relay_chain::session::para_validators(&mut state).ok()?;
        if let Some(known) = self.sessions.iter().find(|s| *s.validators == validators) {
            return Some(known.clone());
        }
        let found = super::place_in(&self.keys, &validators);
        let me = found.map(|(index, _)| ValidatorIndex(index));
        let publics: Arc<[AccountId]> = validators.keys.iter().copied().collect();
        // Assignments are drawn with the validator's assignment key, as `session.setKeys`
        // named it; one whose node lacks that key checks nothing.
        let assignment_publics: Arc<[AccountId]> =
            validators.assignment_keys.iter().copied().collect();
        let assignment_key = me
            .and_then(|me| assignment_publics.get(me.0 as usize))
            .and_then(|public| self.keys.iter().find(|key| key.public() == *public))
            .cloned();
        if me.is_some() && assignment_key.is_none() {
            tracing::warn!(
                session = validators.session,
                "this validator's approval assignment key is not in its keystore: it checks nothing"
            );
        }
        let crypto = ValidatorKeys::new(found.map(|(_, key)| key.clone()), publics)
            .with_assignment_keys(assignment_key, assignment_publics);
        let session = Session {
            engine: Arc::new(SessionValidators {
                crypto,
                me,
                n_validators: u32::try_from(validators.len()).ok()?,
            }),
            validators: Arc::new(validators),
        };
        if self.sessions.len() >= SESSIONS_KEPT {
            self.sessions.pop_front();
        }
        self.sessions.push_back(session.clone());
        Some(session)
    }

    /// The disputes about `candidate` (a tracked one), among its session's validators.
    fn disputes_of(&mut self, candidate: &Hash) -> Option<&mut Disputes<ValidatorKeys>> {
        let session = self.candidates.get(candidate)?.session.clone();
        let index = session.validators.session;
        let entry = self
            .disputes
            .entry(index)
            .or_insert_with(|| SessionDisputes {
                disputes: Disputes::new(
                    session.engine.crypto.clone(),
                    session.engine.me,
                    index,
                    session.engine.n_validators,
                ),
                session,
            });
        Some(&mut entry.disputes)
    }

    /// Whether a dispute about `candidate` is open here.
    fn dispute_active(&self, candidate: &Hash) -> bool {
        self.candidates
            .get(candidate)
            .and_then(|info| self.disputes.get(&info.session.validators.session))
            .is_some_and(|set| set.disputes.is_active(candidate))
    }

    /// How a dispute about `candidate` concluded here, if it did.
    fn dispute_outcome(&self, candidate: &Hash) -> Option<bool> {
        let info = self.candidates.get(candidate)?;
        self.disputes
            .get(&info.session.validators.session)?
            .disputes
            .outcome(candidate)
    }

    /// This work with hostile `malus` behaviours (tests only).
    pub fn with_malus(mut self, malus: Malus) -> Self {
        self.malus = malus;
        self
    }

    /// Validators on the losing side of a dispute concluded here, whether or not the chain
    /// records it yet.
    pub fn offenders(&self) -> impl Iterator<Item = AccountId> + '_ {
        self.offenders.values().flatten().copied()
    }

    /// Concluded disputes for the inherent of a block on `parent`: those not recorded there.
    pub fn disputes_for(&self, client: &Client, parent: &Header) -> Vec<DisputeStatementSet> {
        let mut state = State::new(client.store(), parent.state_root);
        self.concluded
            .iter()
            // Not recorded, and of a session the chain still holds: one it pruned would fail
            // the inherent with every other dispute in it.
            .filter(|set| {
                tessera_relay_chain::disputes::RECORDED
                    .get(&mut state, &set.candidate)
                    .is_ok_and(|recorded| recorded.is_none())
                    && tessera_relay_chain::session::para_validators_of(&mut state, set.session)
                        .is_ok_and(|held| held.is_some())
            })
            .take(tessera_relay_chain::disputes::MAX_SETS_PER_BLOCK)
            .cloned()
            .collect()
    }

    /// Periodic work: forgets what finality settled, feeds new best-chain blocks, advances
    /// the engine's clock, collects finished validations and starts queued checks.
    pub fn tick(&mut self, client: &Client) -> Actions {
        let now = now_ms();
        let mut actions = Actions::default();
        let Ok(meta) = client.info() else {
            return actions;
        };
        self.ensure_loaded(client);
        if meta.finalized_number > self.finalized {
            self.finalized(meta.finalized_number);
            self.forget_recorded(client, &meta.finalized_hash);
            self.send_tallies(client, &meta.finalized_hash, &mut actions);
            let before = self.judged.len();
            let finalized = self.finalized;
            self.judged.retain(|_, (_, number)| *number > finalized);
            if self.judged.len() != before {
                self.store_judged(client);
            }
            if let Err(err) = self.own.finalized(client.store(), finalized) {
                tracing::error!(%err, "could not forget own approval messages on disk");
            }
        }
        self.drop_disabled_disputes(client, now, &mut actions);
        let mut outputs = self.feed(client, &meta, now);
        actions.revert.append(&mut self.revert_later);
        outputs.extend(self.engine.tick(now));
        while let Some(done) = self.validating.try_join_next() {
            let Ok(done) = done else { continue };
            self.finish(client, done, now, &mut actions);
        }
        let due = std::time::Instant::now();
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.retries)
            .into_iter()
            .partition(|(at, ..)| *at <= due);
        self.retries = waiting;
        for (_, candidate, data) in ready {
            self.to_validate.push_back((candidate, data));
        }
        self.start_validations();
        let (again, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.later)
            .into_iter()
            .partition(|(at, _)| *at <= due);
        self.later = waiting;
        for (_, candidate) in again {
            self.enqueue(candidate);
        }
        let unkept = std::mem::take(&mut self.unkept);
        let outputs = outputs
            .into_iter()
            .chain(unkept.into_iter().map(Output::Send))
            .collect();
        self.handle(client, outputs, now, &mut actions);
        for (candidate, valid) in std::mem::take(&mut self.rejudged) {
            let done = Validated {
                candidate,
                valid: Some(valid),
                ran_out: false,
                data: None,
            };
            self.finish(client, done, now, &mut actions);
        }
        self.start_queued(&mut actions);
        actions
    }

    /// A peer's approval message; whether it was accepted, and why not.
    pub fn on_message(
        &mut self,
        client: &Client,
        message: Message,
        actions: &mut Actions,
    ) -> Result<(), tessera_validity::engine::MessageError> {
        self.ensure_loaded(client);
        let now = now_ms();
        if self.is_known(&message) {
            return Err(tessera_validity::engine::MessageError::Duplicate);
        }
        let outputs = self.engine.message(message.clone(), now)?;
        self.know(message, false);
        self.handle(client, outputs, now, actions);
        Ok(())
    }

    /// What this validator knows of the approval of unfinalized blocks: every assignment and
    /// approval it accepted or sent, oldest block first, for a peer that connects (it may have
    /// restarted or been cut off while they were gossiped).
    pub fn known_messages(&self) -> impl Iterator<Item = &Message> {
        self.known.values().flatten()
    }

    /// What this validator holds of the disputes not concluded yet, as messages (`limit` at
    /// most), for a peer that connects.
    pub fn known_dispute_messages(&self, limit: usize) -> Vec<DisputeMessage> {
        let mut messages = Vec::new();
        for set in self.disputes.values() {
            let room = limit.saturating_sub(messages.len());
            if room == 0 {
                break;
            }
            messages.extend(set.disputes.known_messages(room));
        }
        messages
    }

    /// Whether `message` was accepted here already (checked before the engine's costlier
    /// checks: catch-up from several peers repeats what gossip brought).
    pub fn is_known(&self, message: &Message) -> bool {
        let block = message.block();
        self.fed.get(&block).is_some_and(|fed| {
            self.known
                .get(&(fed.number, block))
                .is_some_and(|messages| messages.contains(message))
        })
    }

    /// Feeds the blocks not fed yet (as a tick would), so that a catch-up about them is
    /// taken now rather than kept as early.
    pub fn feed_now(&mut self, client: &Client, actions: &mut Actions) {
        let Ok(meta) = client.info() else {
            return;
        };
        let now = now_ms();
        let outputs = self.feed(client, &meta, now);
        self.handle(client, outputs, now, actions);
    }

    /// Keeps an accepted message for peers that connect later (ours always; others' up to
    /// [`MAX_KNOWN_MESSAGES`]).
    fn know(&mut self, message: Message, ours: bool) {
        let block = message.block();
        let Some(number) = self.fed.get(&block).map(|fed| fed.number) else {
            return;
        };
        if self.known_count >= MAX_KNOWN_MESSAGES && !ours {
            return;
        }
        let messages = self.known.entry((number, block)).or_default();
        if !messages.contains(&message) {
            messages.push(message);
            self.known_count += 1;
        }
    }

    /// A peer's dispute message; whether it was accepted, and why not.
    pub fn on_dispute(
        &mut self,
        client: &Client,
        message: DisputeMessage,
        actions: &mut Actions,
    ) -> Result<(), tessera_validity::disputes::DisputeError> {
        self.ensure_loaded(client);
        let candidate = message.opening.candidate;
        // Not a candidate of an unfinalized block here: nothing this node could check (an old
        // vote replayed after finality, or a block not imported yet).
        let not_here = tessera_validity::disputes::DisputeError::NotDisputed(candidate);
        let Some(info) = self.candidates.get(&candidate) else {
            return Err(not_here);
        };
        // An offender could otherwise make everyone re-validate without end.
        let opener = message.opening.validator.0;
        let opener_stash = info.session.validators.stash(opener).copied();
        if !self.dispute_active(&candidate)
            && opener_stash.is_some_and(|stash| disabled_at_best(client).contains(&stash))
        {
            return Err(tessera_validity::disputes::DisputeError::DisabledOpener(
                opener,
            ));
        }
        let outputs = self
            .disputes_of(&candidate)
            .ok_or(not_here)?
            .message(message)?;
        let now = now_ms();
        if self.dispute_active(&candidate) {
            self.hold(client, candidate, true, now, actions);
        }
        self.handle_disputes(client, outputs, now, actions);
        Ok(())
    }

    /// A peer's answer (or none) for chunk `index` of `candidate`; an answer that did not
    /// match the erasure root, to blame its sender.
    pub fn on_chunk(
        &mut self,
        candidate: Hash,
        index: u32,
        chunk: Option<ErasureChunk>,
        actions: &mut Actions,
    ) -> Option<String> {
        let recovery = self.recovering.get_mut(&candidate)?;
        tracing::trace!(%candidate, index, got = chunk.is_some(), "recovery chunk answer");
        let blame = match recovery.on_chunk(index, chunk) {
            Answer::Fine => None,
            Answer::Bad(why) => Some(why),
        };
        self.advance_recovery(candidate, actions);
        blame
    }

    /// A backer's answer (or none) with `candidate`'s whole available data; an answer that
    /// did not match the erasure root, to blame its sender.
    pub fn on_available_data(
        &mut self,
        candidate: Hash,
        from: u32,
        data: Option<AvailableData>,
        actions: &mut Actions,
    ) -> Option<String> {
        let recovery = self.recovering.get_mut(&candidate)?;
        let got = data.is_some();
        let blame = match recovery.on_full(from, data) {
            Answer::Fine => {
                if got {
                    tracing::debug!(%candidate, from, "whole available data from a backer");
                }
                None
            }
            Answer::Bad(why) => Some(why),
        };
        self.advance_recovery(candidate, actions);
        blame
    }

    /// Releases the candidates whose disputes only disabled validators stand behind.
    fn drop_disabled_disputes(&mut self, client: &Client, now: u64, actions: &mut Actions) {
        if self.disputes.values().all(|set| set.disputes.active() == 0) {
            return;
        }
        let disabled = disabled_at_best(client);
        let mut released = Vec::new();
        for set in self.disputes.values_mut() {
            let in_set: Vec<ValidatorIndex> = disabled
                .iter()
                .filter_map(|stash| set.session.validators.index_of_stash(stash))
                .map(ValidatorIndex)
                .collect();
            released.extend(set.disputes.drop_disabled_only(&in_set));
        }
        for candidate in released {
            tracing::debug!(%candidate, "dispute dropped: only disabled validators dispute it");
            self.hold(client, candidate, false, now, actions);
        }
    }

    /// Forgets the concluded disputes recorded on the finalized chain. One about a finalized
    /// candidate stays until then: its offenders are still to be named on chain.
    fn forget_recorded(&mut self, client: &Client, finalized: &Hash) {
        let Ok(Some(header)) = client.header(finalized) else {
            return;
        };
        let mut state = State::new(client.store(), header.state_root);
        self.concluded.retain(|set| {
            !tessera_relay_chain::disputes::RECORDED
                .get(&mut state, &set.candidate)
                .is_ok_and(|recorded| recorded.is_some())
        });
    }

    /// Counts a candidate of `block` approved by `approvers`, in the tally of `block`'s session
    /// if this node is one of its validators and has not sent that session's tally yet.
    fn count(&mut self, block: &Hash, approvers: &[ValidatorIndex]) {
        let Some(session) = self.fed.get(block).map(|fed| fed.session.clone()) else {
            return;
        };
        let index = session.validators.session;
        if session.me().is_none() || self.tallies_sent.is_some_and(|sent| index <= sent) {
            return;
        }
        if !self.tallies.contains_key(&index) && self.tallies.len() >= SESSIONS_KEPT {
            // The oldest makes way, unless this one is older still.
            match self.tallies.first_key_value() {
                Some((&oldest, _)) if oldest < index => {
                    self.tallies.pop_first();
                }
                _ => return,
            }
        }
        let n = session.validators.len();
        let tally = self.tallies.entry(index).or_insert_with(|| SessionTally {
            session,
            usages: vec![0; n],
        });
        for approver in approvers {
            if let Some(usages) = tally.usages.get_mut(approver.0 as usize) {
                *usages = usages.saturating_add(1);
            }
        }
    }

    /// Signs the tallies of sessions before the one `finalized` is in (finality waited for
    /// every approval of their blocks), for the chain to take; those it no longer takes are
    /// dropped.
    fn send_tallies(&mut self, client: &Client, finalized: &Hash, actions: &mut Actions) {
        if self.tallies.is_empty() {
            return;
        }
        let Ok(Some(header)) = client.header(finalized) else {
            return;
        };
        let mut state = State::new(client.store(), header.state_root);
        let (Ok(current), Ok(Some(genesis))) = (
            tessera_relay_chain::session::CURRENT_INDEX.get_or_default(&mut state),
            client.store().canonical_hash(0),
        ) else {
            return;
        };
        while let Some(entry) = self.tallies.first_entry() {
            if *entry.key() >= current {
                break;
            }
            self.tallies_sent = self.tallies_sent.max(Some(*entry.key()));
            let (
                session,
                SessionTally {
                    session: of,
                    usages,
                },
            ) = entry.remove_entry();
            let taken = tessera_relay_chain::approval_rewards::takes_tallies_of(current, session);
            let Some(me) = of.me().filter(|_| taken) else {
                continue;
            };
            let tally = ApprovalTally {
                session,
                validator: me,
                usages,
            };
            if let Some(signature) = of.engine.crypto.sign(&tally.payload(&genesis)) {
                tracing::debug!(session, usages = ?tally.usages, "approval tally sent");
                actions
                    .reports
                    .push(crate::offences::tally_report(tally, signature));
            }
        }
    }

    /// Forgets what concerns blocks up to the finalized `number`.
    fn finalized(&mut self, number: u32) {
        self.finalized = number;
        self.engine.finalized(number);
        let fed = &self.fed;
        let done: Vec<Hash> = self
            .candidates
            .iter()
            .filter(|(_, info)| {
                info.at
                    .iter()
                    .all(|(block, _)| fed.get(block).is_none_or(|f| f.number <= number))
            })
            .map(|(hash, _)| *hash)
            .collect();
        for set in self.disputes.values_mut() {
            set.disputes.finalized(&done);
        }
        for candidate in &done {
            self.candidates.remove(candidate);
            self.attempts.remove(candidate);
            self.recovering.remove(candidate);
        }
        self.queued.retain(|candidate| !done.contains(candidate));
        self.to_validate
            .retain(|(candidate, ..)| !done.contains(candidate));
        self.retries
            .retain(|(_, candidate, ..)| !done.contains(candidate));
        self.later
            .retain(|(_, candidate)| !done.contains(candidate));
        let candidates = &self.candidates;
        // A session's disputes go once none is open and none of its candidates is tracked.
        self.disputes.retain(|index, set| {
            set.disputes.active() > 0
                || candidates
                    .values()
                    .any(|info| info.session.validators.session == *index)
        });
        let disputes = &self.disputes;
        self.offenders
            .retain(|index, _| disputes.contains_key(index));
        self.codes.retain(|hash, _| {
            candidates
                .values()
                .any(|c| c.receipt.descriptor.validation_code_hash == *hash)
        });
        self.fed.retain(|_, fed| fed.number > number);
        self.known = self
            .known
            .split_off(&(number.saturating_add(1), Hash([0; 32])));
        self.known_count = self.known.values().map(Vec::len).sum();
        let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
        status.approved.retain(|_, n| *n > number);
        status.disputed.retain(|_, n| *n > number);
    }

    /// Feeds the best chain's blocks above the finalized one that the engine has not seen.
    fn feed(&mut self, client: &Client, meta: &ChainMeta, now: u64) -> Vec<Output> {
        // A block fed before our kept messages are read would have them drawn and signed anew.
        self.ensure_loaded(client);
        let mut path = Vec::new();
        let mut cursor = meta.best_hash;
        while path.len() < tessera_validity::engine::MAX_BLOCKS {
            if cursor == meta.finalized_hash || self.fed.contains_key(&cursor) {
                break;
            }
            let Ok(Some(header)) = client.header(&cursor) else {
                break;
            };
            if header.number <= meta.finalized_number {
                break;
            }
            cursor = header.parent_hash;
            path.push(header);
        }
        let slot_ms = client.slot_duration().as_millis() as u64;
        let mut outputs = Vec::new();
        for header in path.into_iter().rev().take(FEED_PER_TICK) {
            let hash = header.hash();
            match self.new_block(client, &header, slot_ms) {
                Some((block, session)) => {
                    let engine = session.engine.clone();
                    let fed = Fed {
                        number: header.number,
                        session,
                    };
                    self.fed.insert(hash, fed);
                    outputs.extend(self.engine.new_block_in(block, engine, now));
                }
                None => {
                    // Tried again next tick, and its descendants after it.
                    tracing::debug!(number = header.number, %hash, "block not fed to approval yet");
                    break;
                }
            }
        }
        outputs
    }

    /// `header`'s block as the engine takes it (the candidates it included), with its
    /// session's validators.
    fn new_block(
        &mut self,
        client: &Client,
        header: &Header,
        slot_ms: u64,
    ) -> Option<(NewBlock, Session)> {
        let hash = header.hash();
        let (story, slot) = story_of(header)?;
        let session = self.session_at(client, header)?;
        // The cores at the parent, with the candidates this block could include.
        let cores = super::relay_api::availability_cores(client, &header.parent_hash).ok()?;
        let events = client.candidate_events(&hash).ok()?;
        let mut candidates = Vec::new();
        for event in events {
            let CandidateEvent::Included {
                para,
                candidate_hash,
            } = event
            else {
                continue;
            };
            let core = cores.iter().position(|c| c.para == para)?;
            let pending = cores.get(core)?.occupied.clone()?;
            let index = u32::try_from(candidates.len()).ok()?;
            let code_hash = pending.descriptor.validation_code_hash;
            let code = match self.codes.get(&code_hash) {
                Some(code) => code.clone(),
                None => {
                    let at = &header.parent_hash;
                    let code = super::relay_api::validation_code_by_hash(client, at, &code_hash);
                    let code = Arc::new(code.ok()??);
                    self.codes.insert(code_hash, code.clone());
                    code
                }
            };
            // Its session is its relay parent's, the same on every fork that includes it.
            let relay_parent = client.header(&pending.descriptor.relay_parent).ok()??;
            let candidate_session = self.session_at(client, &relay_parent)?;
            let receipt = CandidateReceipt {
                descriptor: pending.descriptor.clone(),
                commitments_hash: pending.commitments_hash,
            };
            let info = self
                .candidates
                .entry(candidate_hash)
                .or_insert_with(|| CandidateInfo {
                    at: Vec::new(),
                    session: candidate_session,
                    receipt,
                    backing: pending.backing.clone(),
                    code,
                });
            if !info.at.contains(&(hash, index)) {
                info.at.push((hash, index));
            }
            if self.dispute_outcome(&candidate_hash) == Some(false) {
                self.revert_later.push(hash);
            }
            candidates.push(IncludedCandidate {
                hash: candidate_hash,
                core: CoreIndex(u32::try_from(core).ok()?),
                backers: pending.backers().map(ValidatorIndex).collect(),
            });
        }
        if self.malus.dispute_valid {
            // A false disputer checks (and so disputes) every candidate, assigned or not.
            for candidate in &candidates {
                self.enqueue(candidate.hash);
            }
        }
        let block = NewBlock {
            hash,
            parent: header.parent_hash,
            number: header.number,
            slot_ms: slot.saturating_mul(slot_ms),
            story,
            n_cores: u32::try_from(cores.len()).ok()?,
            candidates,
            sent: self.own.of(&hash),
        };
        Some((block, session))
    }

    fn handle(&mut self, client: &Client, outputs: Vec<Output>, now: u64, actions: &mut Actions) {
        for output in outputs {
            match output {
                Output::Send(message) => {
                    if self.keep_own(client, &message) {
                        self.know(message.clone(), true);
                        actions.publish.push(ParachainMessage::Approval(message));
                    } else if self.fed.contains_key(&message.block())
                        && self.unkept.len() < MAX_KNOWN_MESSAGES
                    {
                        // Signed but not on disk: sent only once kept (tried each tick).
                        self.unkept.push(message);
                    }
                }
                Output::Check { hash, .. } => self.enqueue(hash),
                Output::Approved(block) => {
                    let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
                    if let Some(number) = self.fed.get(&block).map(|fed| fed.number) {
                        status.approved.insert(block, number);
                        if status.newest.is_none_or(|(_, newest)| number >= newest) {
                            status.newest = Some((block, number));
                        }
                        tracing::debug!(number, %block, "relay block approved");
                    }
                }
                Output::ApprovedBy { block, approvers } => self.count(&block, &approvers),
                Output::FoundInvalid { candidate, .. } => {
                    tracing::warn!(%candidate, "candidate found invalid: disputing it");
                    let outputs = match self.disputes_of(&candidate) {
                        Some(disputes) => disputes.checked(candidate, false),
                        None => Vec::new(),
                    };
                    self.handle_disputes(client, outputs, now, actions);
                }
            }
        }
    }

    fn handle_disputes(
        &mut self,
        client: &Client,
        outputs: Vec<DisputeOutput>,
        now: u64,
        actions: &mut Actions,
    ) {
        for output in outputs {
            match output {
                DisputeOutput::Send(message) => {
                    let candidate = message.opening.candidate;
                    if self.dispute_active(&candidate) {
                        self.hold(client, candidate, true, now, actions);
                    }
                    actions.publish.push(ParachainMessage::Dispute(message));
                }
                DisputeOutput::Check(candidate) => self.enqueue(candidate),
                DisputeOutput::Concluded(concluded) => {
                    let info = self.candidates.get(&concluded.candidate);
                    let backing = info.map(|info| &info.backing[..]).unwrap_or_default();
                    let set = concluded.statement_set(backing);
                    let losers = set.losers();
                    tracing::warn!(
                        candidate = %concluded.candidate,
                        valid = concluded.valid,
                        offenders = ?losers,
                        "dispute concluded"
                    );
                    // As many as the chain would disable at most: more would mean this node
                    // judged unlike most honest ones, and it would stop including their
                    // candidates.
                    let session = info.map(|info| info.session.validators.clone());
                    if let Some(session) = session {
                        let cap = tessera_relay_chain::disputes::max_disabled(session.len());
                        let named = self.offenders.entry(session.session).or_default();
                        for offender in losers {
                            let Some(stash) = session.stash(offender) else {
                                continue;
                            };
                            if named.len() < cap {
                                named.insert(*stash);
                            }
                        }
                    }
                    self.hold(client, concluded.candidate, !concluded.valid, now, actions);
                    if !concluded.valid {
                        if let Some(info) = self.candidates.get(&concluded.candidate) {
                            actions
                                .revert
                                .extend(info.at.iter().map(|(block, _)| *block));
                        }
                    }
                    if self.concluded.len() >= MAX_CONCLUDED_KEPT {
                        self.concluded.remove(0);
                    }
                    self.concluded.push(set);
                }
            }
        }
    }

    /// Holds (`standing`) or releases the approval of the blocks that included `candidate`,
    /// in the engine and for finality.
    fn hold(
        &mut self,
        client: &Client,
        candidate: Hash,
        standing: bool,
        now: u64,
        actions: &mut Actions,
    ) {
        if let Some(info) = self.candidates.get(&candidate) {
            let mut status = self.status.lock().unwrap_or_else(|p| p.into_inner());
            for (block, _) in &info.at {
                let Some(number) = self.fed.get(block).map(|fed| fed.number) else {
                    continue;
                };
                if standing {
                    status.disputed.insert(*block, number);
                } else {
                    status.disputed.remove(block);
                }
            }
        }
        let outputs = self.engine.dispute(&candidate, standing, now);
        self.handle(client, outputs, now, actions);
    }

    /// Keeps this validator's judgement of `candidate` on disk before any vote on it is sent,
    /// so that after a restart it votes the same way instead of judging again.
    fn remember(&mut self, client: &Client, candidate: Hash, valid: bool) {
        if self
            .judged
            .get(&candidate)
            .is_some_and(|(v, _)| *v == valid)
        {
            return;
        }
        let number = self
            .candidates
            .get(&candidate)
            .and_then(|info| {
                let numbers = info.at.iter().filter_map(|(b, _)| self.fed.get(b));
                numbers.map(|fed| fed.number).max()
            })
            .unwrap_or(self.finalized);
        self.judged.insert(candidate, (valid, number));
        self.store_judged(client);
    }

    fn store_judged(&mut self, client: &Client) {
        if self.judged.len() > MAX_JUDGED_KEPT {
            let mut by_age: Vec<(u32, Hash)> =
                self.judged.iter().map(|(c, (_, n))| (*n, *c)).collect();
            by_age.sort_unstable();
            let excess = self.judged.len().saturating_sub(MAX_JUDGED_KEPT);
            for (_, candidate) in by_age.into_iter().take(excess) {
                self.judged.remove(&candidate);
            }
        }
        let list: Vec<(Hash, bool, u32)> =
            self.judged.iter().map(|(c, (v, n))| (*c, *v, *n)).collect();
        if let Err(err) = client.store().set_aux(JUDGED_KEY, &list.encode()) {
            tracing::error!(%err, "could not keep approval judgements on disk");
        }
    }

    /// Keeps our `message` on disk before it is sent; whether to send it (not if it could not
    /// be kept: after a restart this node would sign anew what it had sent).
    fn keep_own(&mut self, client: &Client, message: &Message) -> bool {
        let block = message.block();
        let Some(number) = self.fed.get(&block).map(|fed| fed.number) else {
            return false;
        };
        match self.own.keep(client.store(), number, message) {
            Ok(true) => {
                match message {
                    Message::Assignment(a) => {
                        let cores: Vec<u32> = match &a.cert.kind {
                            AssignmentKind::Modulo { cores } => cores.iter().map(|c| c.0).collect(),
                            AssignmentKind::Delay { core } => vec![core.0],
                        };
                        tracing::debug!(%block, ?cores, "signed assignment")
                    }
                    Message::Approval(a) => {
                        tracing::debug!(%block, candidates = ?a.candidates, "signed approval")
                    }
                }
                true
            }
            Ok(false) => {
                tracing::debug!(%block, "own approval message sent again");
                true
            }
            Err(err) => {
                tracing::error!(%err, "could not keep an approval message on disk: not sent");
                false
            }
        }
    }

    /// Reads what an earlier run kept, once, before anything else touches the engines: a
    /// catch-up can arrive before the first tick.
    fn ensure_loaded(&mut self, client: &Client) {
        if !self.loaded {
            self.load(client);
        }
    }

    /// What an earlier run of this node kept: its judgements and its own messages.
    fn load(&mut self, client: &Client) {
        self.loaded = true;
        match OwnMessages::load(client.store()) {
            Ok(own) => {
                let (blocks, messages) = own.count();
                if messages > 0 {
                    tracing::info!(blocks, messages, "resuming approval work from disk");
                }
                self.own = own;
            }
            Err(err) => tracing::error!(%err, "could not read own approval messages"),
        }
        let Ok(Some(bytes)) = client.store().aux(JUDGED_KEY) else {
            return;
        };
        match Vec::<(Hash, bool, u32)>::decode_all(&mut &bytes[..]) {
            Ok(list) => {
                self.judged = list.into_iter().map(|(c, v, n)| (c, (v, n))).collect();
            }
            Err(err) => tracing::warn!(%err, "approval judgements on disk do not decode: ignored"),
        }
    }

    fn enqueue(&mut self, candidate: Hash) {
        tracing::debug!(%candidate, "check asked");
        if let Some(&(valid, _)) = self.judged.get(&candidate) {
            // Judged before (maybe by an earlier run): the same answer, without checking again.
            self.rejudged.push((candidate, valid));
            return;
        }
        if self.recovering.contains_key(&candidate) || self.queued.contains(&candidate) {
            return;
        }
        if self.queued.len() >= MAX_QUEUED {
            if let Some(dropped) = self.queued.pop_front() {
                tracing::debug!(candidate = %dropped, "approval check dropped: queue full");
            }
        }
        self.queued.push_back(candidate);
    }

    /// Checks in flight: recovering, validating, or waiting to validate or to try again.
    fn in_flight(&self) -> usize {
        self.recovering.len() + self.to_validate.len() + self.validating.len() + self.retries.len()
    }

    fn start_queued(&mut self, actions: &mut Actions) {
        while self.in_flight() < MAX_RECOVERING {
            let Some(candidate) = self.queued.pop_front() else {
                return;
            };
            let Some(info) = self.candidates.get(&candidate) else {
                continue;
            };
            let Ok(validators) = u32::try_from(info.session.validators.len()) else {
                continue;
            };
            // Each checker its own order, so that they do not all ask the same backer.
            let seed = u64::from_le_bytes(candidate.0[..8].try_into().unwrap_or_default())
                ^ u64::from(info.session.me().unwrap_or(u32::MAX))
                    .wrapping_mul(0x9e37_79b9_7f4a_7c15);
            let backers: Vec<u32> = info.backing.iter().map(|vote| vote.validator).collect();
            match Recovery::new(
                info.receipt.descriptor.erasure_root,
                validators,
                &backers,
                seed,
            ) {
                Ok(recovery) => {
                    tracing::debug!(%candidate, "recovering a candidate");
                    self.recovering.insert(candidate, recovery);
                    self.advance_recovery(candidate, actions);
                }
                Err(err) => tracing::debug!(%err, "recovery not started"),
            }
        }
    }

    /// Sends a recovery's next requests, or takes its outcome to validation.
    fn advance_recovery(&mut self, candidate: Hash, actions: &mut Actions) {
        let Some(recovery) = self.recovering.get_mut(&candidate) else {
            return;
        };
        let session = self
            .candidates
            .get(&candidate)
            .map(|info| &info.session.validators);
        for request in recovery.requests(PARALLEL_CHUNKS) {
            let (from, whole) = match request {
                Request::Chunk { from } => (from, false),
                Request::Full { from } => (from, true),
            };
            let validator = session.and_then(|session| session.key(from)).copied();
            actions.requests.push(ChunkWanted {
                candidate,
                validator,
                index: from,
                whole,
            });
        }
        let Some(outcome) = recovery.take_outcome() else {
            return;
        };
        self.recovering.remove(&candidate);
        tracing::debug!(%candidate, ok = outcome.is_ok(), "recovery finished");
        match outcome {
            Ok(data) => {
                self.to_validate.push_back((candidate, data));
                self.start_validations();
            }
            Err(tessera_validity::recovery::RecoveryError::Invalid(why)) => {
                tracing::warn!(%candidate, %why, "recovered data does not match its erasure root");
                let outcome = Validated {
                    candidate,
                    valid: Some(false),
                    ran_out: false,
                    data: None,
                };
                self.validating.spawn(async move { outcome });
            }
            Err(err) => {
                // Unavailable for now (peers not known yet, or down): meanwhile this checker
                // is a no-show, covered by later tranches; tried again until finality.
                tracing::debug!(%candidate, %err, "candidate not recovered: trying again later");
                let at = std::time::Instant::now() + RECOVERY_RETRY;
                if self.later.len() < MAX_QUEUED {
                    self.later.push((at, candidate));
                }
            }
        }
    }

    /// Validates recovered data on blocking threads, as many as there is room for.
    fn start_validations(&mut self) {
        while self.validating.len() < MAX_VALIDATING {
            let Some((candidate, data)) = self.to_validate.pop_front() else {
                return;
            };
            self.spawn_validation(candidate, data);
        }
    }

    fn spawn_validation(&mut self, candidate: Hash, data: AvailableData) {
        let Some(info) = self.candidates.get(&candidate).cloned() else {
            return;
        };
        if let Some(verdict) = self.malus.verdict() {
            tracing::debug!(%candidate, verdict, "malus: judged without validating");
            self.validating.spawn(async move {
                Validated {
                    candidate,
                    valid: Some(verdict),
                    ran_out: false,
                    data: None,
                }
            });
            return;
        }
        let validation = self.validation.clone();
        let validators = info.session.validators.len();
        self.validating.spawn_blocking(move || {
            let checked = validation.validate_candidate(
                CandidateToCheck {
                    receipt: &info.receipt,
                    pov: &data.pov,
                    validation_data: &data.validation_data,
                    code: &info.code,
                    validators,
                },
                ValidationPurpose::Approval,
            );
            let ran_out = matches!(checked, Err(InvalidCandidate::Timeout { .. }));
            let valid = match &checked {
                Ok(_) => Some(true),
                Err(
                    err @ (InvalidCandidate::Timeout { .. }
                    | InvalidCandidate::CompileTimeout(_)
                    | InvalidCandidate::Busy),
                ) => {
                    tracing::debug!(%candidate, %err, "approval check could not finish in time");
                    None
                }
                Err(err) => {
                    tracing::warn!(%candidate, %err, "approval check found the candidate invalid");
                    Some(false)
                }
            };
            Validated {
                candidate,
                valid,
                ran_out,
                data: valid.is_none().then_some(data),
            }
        });
    }

    fn finish(&mut self, client: &Client, done: Validated, now: u64, actions: &mut Actions) {
        let valid = match done.valid {
            Some(valid) => valid,
            None => {
                let (attempts, ran_out) = self.attempts.entry(done.candidate).or_insert((0, 0));
                *attempts = attempts.saturating_add(1);
                *ran_out = ran_out.saturating_add(u32::from(done.ran_out));
                match after_timeout(*attempts, *ran_out) {
                    AfterTimeout::Invalid => {
                        tracing::warn!(candidate = %done.candidate, "approval check ran out of time: invalid");
                        false
                    }
                    AfterTimeout::GiveUp => return,
                    AfterTimeout::Retry => {
                        let room = self.retries.len() < MAX_RECOVERING;
                        if let (true, Some(data)) = (room, done.data) {
                            let at = std::time::Instant::now() + VALIDATION_RETRY;
                            self.retries.push((at, done.candidate, data));
                        }
                        return;
                    }
                }
            }
        };
        self.attempts.remove(&done.candidate);
        tracing::debug!(candidate = %done.candidate, valid, "candidate checked");
        self.remember(client, done.candidate, valid);
        // One check serves every purpose: the approval of each block that included it, and
        // the dispute about it if one is open (a second check for it was not queued).
        let at = self
            .candidates
            .get(&done.candidate)
            .map(|info| info.at.clone())
            .unwrap_or_default();
        for (block, index) in at {
            let outputs = self.engine.checked(block, index, valid, now);
            self.handle(client, outputs, now, actions);
        }
        if self.dispute_active(&done.candidate) && !self.malus.silent_in_disputes() {
            let outputs = match self.disputes_of(&done.candidate) {
                Some(disputes) => disputes.checked(done.candidate, valid),
                None => Vec::new(),
            };
            self.handle_disputes(client, outputs, now, actions);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_candidate_that_keeps_overrunning_the_approval_deadline_is_invalid_and_slow_compiles_are_not(
    ) {
        assert_eq!(after_timeout(1, 1), AfterTimeout::Retry);
        assert_eq!(after_timeout(2, 2), AfterTimeout::Retry);
        assert_eq!(
            after_timeout(EXECUTION_TIMEOUTS, EXECUTION_TIMEOUTS),
            AfterTimeout::Invalid
        );
        // Compilations elsewhere on this machine: tried for a minute, never judged.
        assert_eq!(
            after_timeout(VALIDATION_ATTEMPTS - 1, 0),
            AfterTimeout::Retry
        );
        assert_eq!(after_timeout(VALIDATION_ATTEMPTS, 0), AfterTimeout::GiveUp);
    }
}
