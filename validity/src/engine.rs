//! One validator's approval voting, as a state machine.
//!
//! The node tells it of each imported relay block and the candidates it included
//! ([`ApprovalEngine::new_block`]), of messages from peers ([`ApprovalEngine::message`]), of the
//! outcome of checks it asked for ([`ApprovalEngine::checked`]), of finality
//! ([`ApprovalEngine::finalized`]) and of time ([`ApprovalEngine::tick`]). It answers with
//! [`Output`]s: messages to gossip, candidates to recover and validate, candidates found
//! invalid (for [`crate::disputes`]), and blocks now approved. A candidate under dispute is not
//! approved until the dispute concludes valid ([`ApprovalEngine::dispute`]).
//!
//! What a peer can make it keep is bounded: one assignment per validator and candidate, and one
//! approval bit per assignment. Every message is checked (certificate, signature, assignment,
//! backing group) before anything changes, and a refused one says why ([`MessageError`]). Only
//! some reasons prove the sender wrong (a bad certificate or signature, a backer claiming its
//! own candidate, a core with no candidate): an unknown block, a duplicate or an approval
//! before its assignment also happen to honest peers when gossip reorders
//! ([`MessageError::is_offence`]).

use crate::assignment::{
    approval_payload, AssignmentCert, Crypto, InvalidAssignment, OurAssignment, RelayVrfStory,
    MAX_CORES,
};
use crate::tranches::{self, Assigned};
use crate::{ApprovalConfig, CoreIndex, ValidatorIndex};
use parity_scale_codec::{Decode, Encode};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use tessera_runtime::{Hash, Signature};

/// Most unfinalized blocks kept; a node whose finality stalls longer stops tracking new ones
/// (and so never votes for them) rather than grow without bound.
pub const MAX_BLOCKS: usize = 4_096;

/// A candidate a relay block included.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct IncludedCandidate {
    /// Its hash.
    pub hash: Hash,
    /// The core it occupied.
    pub core: CoreIndex,
    /// The validators that backed it: they are not assigned to check it.
    pub backers: Vec<ValidatorIndex>,
}

/// An imported relay block, as approval voting needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewBlock {
    /// Its hash.
    pub hash: Hash,
    /// Its parent's.
    pub parent: Hash,
    /// Its number.
    pub number: u32,
    /// When its slot started, in milliseconds: tranches count from there.
    pub slot_ms: u64,
    /// Its VRF story.
    pub story: RelayVrfStory,
    /// The session's cores.
    pub n_cores: u32,
    /// The candidates it included, at most one per core.
    pub candidates: Vec<IncludedCandidate>,
    /// This validator's own messages about it, sent before a restart (kept on disk): they
    /// count as sent and are gossiped again, so nothing about the block is signed twice.
    pub sent: Vec<Message>,
}

/// The validators of a block's session as approval voting knows them: their keys (checking
/// and, with this validator's, signing), this validator's index among them and their number.
#[derive(Clone, Debug)]
pub struct SessionValidators<C> {
    /// Their keys.
    pub crypto: C,
    /// This validator's index (none if it is not one of them).
    pub me: Option<ValidatorIndex>,
    /// How many there are.
    pub n_validators: u32,
}

/// A validator announces it is assigned to check candidates of a block.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Assignment {
    /// The relay block.
    pub block: Hash,
    /// The validator.
    pub validator: ValidatorIndex,
    /// What it is assigned, with the proof it drew it.
    pub cert: AssignmentCert,
}

/// A validator approves candidates of a block it checked: one signature for all of them.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct Approval {
    /// The relay block.
    pub block: Hash,
    /// The candidates approved, by their position in the block, ascending.
    pub candidates: Vec<u32>,
    /// The validator.
    pub validator: ValidatorIndex,
    /// Its signature over [`approval_payload`] of the block and the candidates' hashes.
    pub signature: Signature,
}

/// What validators gossip about approval.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Message {
    /// An assignment.
    Assignment(Assignment),
    /// Approvals.
    Approval(Approval),
}

impl Message {
    /// The relay block it is about.
    pub fn block(&self) -> Hash {
        match self {
            Message::Assignment(a) => a.block,
            Message::Approval(a) => a.block,
        }
    }

    /// The validator that signed it.
    pub fn validator(&self) -> ValidatorIndex {
        match self {
            Message::Assignment(a) => a.validator,
            Message::Approval(a) => a.validator,
        }
    }
}

/// What the engine asks of the node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// Gossip this message to the other validators.
    Send(Message),
    /// Recover candidate `candidate` of `block` and validate it; report with
    /// [`ApprovalEngine::checked`].
    Check {
        /// The relay block.
        block: Hash,
        /// Its position in the block.
        candidate: u32,
        /// Its hash.
        hash: Hash,
    },
    /// This block, its candidates and its ancestors' are approved here.
    Approved(Hash),
    /// A candidate of this block is approved here, by these validators' approval votes (the
    /// "approval usages" validators tally for rewards). Told once per candidate and block.
    ApprovedBy {
        /// The relay block.
        block: Hash,
        /// The validators whose approvals counted, by their index in the block's session.
        approvers: Vec<ValidatorIndex>,
    },
    /// This validator's check found the candidate invalid: open a dispute
    /// ([`crate::disputes::Disputes::checked`]).
    FoundInvalid {
        /// The relay block.
        block: Hash,
        /// The candidate's hash.
        candidate: Hash,
    },
}

/// Why a peer's message was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MessageError {
    /// Its relay block is not one this node tracks (unknown, or finalized and pruned).
    #[error("relay block {0} is not tracked")]
    UnknownBlock(Hash),
    /// Its validator is not in the session.
    #[error("validator {0} is not in the session")]
    UnknownValidator(u32),
    /// Its assignment certificate does not hold.
    #[error("bad assignment: {0}")]
    Assignment(#[from] InvalidAssignment),
    /// It names a core the block has no candidate on.
    #[error("core {0} has no candidate in this block")]
    NotOccupied(u32),
    /// It assigns a validator to a candidate it backed.
    #[error("validator {0} backed the candidate it claims to check")]
    Backer(u32),
    /// It says nothing new.
    #[error("already known")]
    Duplicate,
    /// It approves a candidate its validator is not known to be assigned to.
    #[error("validator {validator} is not assigned to candidate {candidate}")]
    NotAssigned {
        /// The validator.
        validator: u32,
        /// The candidate's position.
        candidate: u32,
    },
    /// It names a candidate the block does not have, or lists them out of order.
    #[error("the block has no candidate {0}, or the list is not ascending")]
    NoSuchCandidate(u32),
    /// Its signature does not verify.
    #[error("bad signature")]
    BadSignature,
}

impl MessageError {
    /// Whether the message proves its sender wrong, whatever this node has seen.
    pub fn is_offence(&self) -> bool {
        matches!(
            self,
            MessageError::UnknownValidator(_)
                | MessageError::Assignment(_)
                | MessageError::NotOccupied(_)
                | MessageError::Backer(_)
                | MessageError::NoSuchCandidate(_)
                | MessageError::BadSignature
        )
    }
}

/// One candidate of a tracked block.
#[derive(Debug)]
struct CandidateEntry {
    info: IncludedCandidate,
    assigned: BTreeMap<ValidatorIndex, Assigned>,
    approved: bool,
    /// Under a dispute that has not concluded valid.
    disputed: bool,
    /// When time alone may next change its tally or our trigger (a no-show deadline or a
    /// tranche start); ticks before then skip it.
    recheck_at: u64,
}

/// When time alone may next change the tally of `assigned` or whether a checker of
/// `our_tranche` triggers: the next no-show deadline or start of a tranche that has a checker.
fn next_recheck(
    config: &ApprovalConfig,
    slot_ms: u64,
    now_ms: u64,
    assigned: &[Assigned],
    next_no_show_ms: Option<u64>,
    our_tranche: Option<u32>,
) -> u64 {
    // Our own tranche, once started and not triggered yet, is due now: leaving it out (as a
    // past start) would leave the candidate waiting for a recheck that never comes, e.g. after
    // a dispute held it past every tranche.
    let ours_due = our_tranche.map(|t| tranches::tranche_start(config, slot_ms, t).max(now_ms));
    assigned
        .iter()
        .map(|a| tranches::tranche_start(config, slot_ms, a.tranche))
        .filter(|start| *start > now_ms)
        .chain(ours_due)
        .chain(next_no_show_ms)
        .min()
        .unwrap_or(u64::MAX)
}

/// The approval parameters for a candidate of `session` that `backers` backed: no more
/// approvals needed than there are validators who did not back it (those who may check it).
/// `None` if every validator of the session backed it (and so checked it in full).
fn config_for<C>(
    config: &ApprovalConfig,
    session: &SessionValidators<C>,
    backers: &[ValidatorIndex],
) -> Option<ApprovalConfig> {
    let mut distinct: Vec<ValidatorIndex> = backers
        .iter()
        .copied()
        .filter(|b| b.0 < session.n_validators)
        .collect();
    distinct.sort_unstable();
    distinct.dedup();
    let checkers = session
        .n_validators
        .saturating_sub(u32::try_from(distinct.len()).unwrap_or(u32::MAX));
    if checkers == 0 && !distinct.is_empty() {
        return None;
    }
    // With no validators at all nothing is approved: no checker can ever be assigned.
    Some(ApprovalConfig {
        needed_approvals: config.needed_approvals.min(checkers).max(1),
        ..*config
    })
}

/// A tracked relay block.
#[derive(Debug)]
struct BlockEntry<C> {
    /// Its session's validators.
    session: Arc<SessionValidators<C>>,
    parent: Hash,
    number: u32,
    slot_ms: u64,
    story: RelayVrfStory,
    n_cores: u32,
    candidates: Vec<CandidateEntry>,
    approved: bool,
    /// Our assignments not yet announced, by candidate position.
    ours: BTreeMap<u32, OurAssignment>,
    /// Candidates we found valid whose approval is not sent yet (sent together on the next
    /// tick).
    unsent: BTreeSet<u32>,
}

/// What this node knows of a block's approval.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockApproval {
    /// Its number.
    pub number: u32,
    /// Whether it is approved.
    pub approved: bool,
    /// Candidates approved, of all it included.
    pub candidates_approved: u32,
    /// Candidates it included.
    pub candidates: u32,
    /// Candidates under dispute.
    pub disputed: u32,
}

/// One validator's approval voting (or a non-validator's view of it, with no key).
#[derive(Debug)]
pub struct ApprovalEngine<C> {
    config: ApprovalConfig,
    /// The validators of blocks fed without theirs ([`Self::new_block`]).
    session: Arc<SessionValidators<C>>,
    blocks: HashMap<Hash, BlockEntry<C>>,
    /// The relay chain's finalized number, as last told.
    finalized: u32,
}

impl<C: Crypto> ApprovalEngine<C> {
    /// The engine of validator `me` (none on a node that only follows) in a session of
    /// `n_validators`.
    pub fn new(
        config: ApprovalConfig,
        crypto: C,
        me: Option<ValidatorIndex>,
        n_validators: u32,
    ) -> Self {
        ApprovalEngine {
            config,
            session: Arc::new(SessionValidators {
                crypto,
                me,
                n_validators,
            }),
            blocks: HashMap::new(),
            finalized: 0,
        }
    }

    /// The protocol's parameters.
    pub fn config(&self) -> &ApprovalConfig {
        &self.config
    }

    /// Whether `block` is approved here; none if it is not tracked.
    pub fn is_approved(&self, block: &Hash) -> Option<bool> {
        self.blocks.get(block).map(|entry| entry.approved)
    }

    /// What this node knows of `block`'s approval; none if it is not tracked.
    pub fn block_approval(&self, block: &Hash) -> Option<BlockApproval> {
        let entry = self.blocks.get(block)?;
        let count = |f: fn(&CandidateEntry) -> bool| {
            u32::try_from(entry.candidates.iter().filter(|c| f(c)).count()).unwrap_or(u32::MAX)
        };
        Some(BlockApproval {
            number: entry.number,
            approved: entry.approved,
            candidates_approved: count(|c| c.approved),
            candidates: count(|_| true),
            disputed: count(|c| c.disputed),
        })
    }

    /// Blocks tracked (included but not yet finalized).
    pub fn tracked(&self) -> usize {
        self.blocks.len()
    }

    /// Starts tracking an imported block of the engine's session: draws this validator's
    /// assignments in it and, at `now_ms`, announces those due.
    pub fn new_block(&mut self, block: NewBlock, now_ms: u64) -> Vec<Output> {
        let session = self.session.clone();
        self.new_block_in(block, session, now_ms)
    }

    /// [`Self::new_block`] for a block of `session`: its assignments, approvals and
    /// validator indices are those validators'.
    pub fn new_block_in(
        &mut self,
        block: NewBlock,
        session: Arc<SessionValidators<C>>,
        now_ms: u64,
    ) -> Vec<Output> {
        if self.blocks.contains_key(&block.hash) || self.blocks.len() >= MAX_BLOCKS {
            return Vec::new();
        }
        let n_cores = block.n_cores.min(MAX_CORES);
        let mut candidates: Vec<CandidateEntry> = Vec::new();
        for info in block.candidates {
            let taken = candidates.iter().any(|c| c.info.core == info.core);
            if info.core.0 < n_cores && !taken {
                candidates.push(CandidateEntry {
                    info,
                    assigned: BTreeMap::new(),
                    approved: false,
                    disputed: false,
                    recheck_at: 0,
                });
            }
        }
        let ours = match session.me {
            Some(me) => {
                let occupied: Vec<CoreIndex> = candidates
                    .iter()
                    .filter(|c| !c.info.backers.contains(&me))
                    .map(|c| c.info.core)
                    .collect();
                let drawn =
                    session
                        .crypto
                        .assignments(&block.story, &self.config, n_cores, &occupied);
                drawn
                    .into_iter()
                    .filter_map(|(core, ours)| {
                        let index = candidates.iter().position(|c| c.info.core == core)?;
                        Some((u32::try_from(index).ok()?, ours))
                    })
                    .collect()
            }
            None => BTreeMap::new(),
        };
        let hash = block.hash;
        let sent = block.sent;
        self.blocks.insert(
            hash,
            BlockEntry {
                session,
                parent: block.parent,
                number: block.number,
                slot_ms: block.slot_ms,
                story: block.story,
                n_cores,
                candidates,
                approved: false,
                ours,
                unsent: BTreeSet::new(),
            },
        );
        let mut outputs = self.resume(&hash, sent, now_ms);
        outputs.extend(self.advance(&hash, now_ms));
        outputs.extend(self.update(hash, now_ms));
        outputs
    }

    /// Takes our messages about `hash` sent before a restart as sent: their assignments as
    /// announced (not drawn and signed again) and their approvals as given. Each is gossiped
    /// again for peers that missed it, and a candidate assigned but not approved is checked
    /// again (the node answers from its verdicts on disk if it judged it already).
    fn resume(&mut self, hash: &Hash, sent: Vec<Message>, now_ms: u64) -> Vec<Output> {
        let Some(entry) = self.blocks.get_mut(hash) else {
            return Vec::new();
        };
        let session = entry.session.clone();
        let Some(me) = session.me else {
            return Vec::new();
        };
        let mut outputs = Vec::new();
        let (mut assignments, mut approvals) = (Vec::new(), Vec::new());
        for message in sent {
            match message {
                _ if message.block() != *hash || message.validator() != me => {}
                Message::Assignment(assignment) => assignments.push(assignment),
                Message::Approval(approval) => approvals.push(approval),
            }
        }
        for assignment in assignments {
            // Our own disk, but checked like any certificate: a stale or damaged one is
            // dropped (and drawn again) rather than believed.
            let Ok((cores, tranche)) = session.crypto.check_assignment(
                me,
                &entry.story,
                &self.config,
                entry.n_cores,
                &assignment.cert,
            ) else {
                continue;
            };
            for core in cores {
                let Some(index) = entry.candidates.iter().position(|c| c.info.core == core) else {
                    continue;
                };
                let position = u32::try_from(index).unwrap_or(u32::MAX);
                entry.ours.remove(&position);
                if let Some(candidate) = entry.candidates.get_mut(index) {
                    candidate.recheck_at = now_ms;
                    candidate.assigned.entry(me).or_insert(Assigned {
                        tranche,
                        received_ms: now_ms,
                        approved: false,
                    });
                }
            }
            outputs.push(Output::Send(Message::Assignment(assignment)));
        }
        for approval in approvals {
            for &index in &approval.candidates {
                let ours = entry
                    .candidates
                    .get_mut(index as usize)
                    .and_then(|c| c.assigned.get_mut(&me));
                if let Some(ours) = ours {
                    ours.approved = true;
                }
            }
            outputs.push(Output::Send(Message::Approval(approval)));
        }
        for (index, candidate) in entry.candidates.iter().enumerate() {
            if candidate.assigned.get(&me).is_some_and(|a| !a.approved) {
                outputs.push(Output::Check {
                    block: *hash,
                    candidate: u32::try_from(index).unwrap_or(u32::MAX),
                    hash: candidate.info.hash,
                });
            }
        }
        outputs
    }

    /// Time passes: announces assignments that fell due, sends approvals for checks done, and
    /// approves what no-shows and late checkers now allow.
    pub fn tick(&mut self, now_ms: u64) -> Vec<Output> {
        let mut pending: Vec<(u32, Hash)> = self
            .blocks
            .iter()
            .filter(|(_, entry)| {
                !entry.approved || !entry.ours.is_empty() || !entry.unsent.is_empty()
            })
            .map(|(hash, entry)| (entry.number, *hash))
            .collect();
        pending.sort_unstable();
        let mut outputs = Vec::new();
        for (_, hash) in pending {
            outputs.extend(self.advance(&hash, now_ms));
            outputs.extend(self.update(hash, now_ms));
        }
        outputs
    }

    /// A peer's message, received at `now_ms`.
    pub fn message(&mut self, message: Message, now_ms: u64) -> Result<Vec<Output>, MessageError> {
        match message {
            Message::Assignment(assignment) => self.on_assignment(assignment, now_ms),
            Message::Approval(approval) => self.on_approval(approval, now_ms),
        }
    }

    /// A dispute about `candidate` opened (`standing`) or concluded valid (not `standing`):
    /// a disputed candidate is not approved, whatever its checkers say.
    pub fn dispute(&mut self, candidate: &Hash, standing: bool, now_ms: u64) -> Vec<Output> {
        let mut touched = Vec::new();
        for (hash, entry) in &mut self.blocks {
            for found in entry
                .candidates
                .iter_mut()
                .filter(|c| c.info.hash == *candidate)
            {
                found.disputed = standing;
                found.recheck_at = now_ms;
                touched.push(*hash);
            }
        }
        touched.sort_unstable();
        touched.dedup();
        let mut outputs = Vec::new();
        for block in touched {
            // Released: our assignments held back by the dispute may be due now.
            outputs.extend(self.advance(&block, now_ms));
            outputs.extend(self.update(block, now_ms));
        }
        outputs
    }

    /// The outcome of a check asked for with [`Output::Check`].
    pub fn checked(
        &mut self,
        block: Hash,
        candidate: u32,
        valid: bool,
        now_ms: u64,
    ) -> Vec<Output> {
        let Some(entry) = self.blocks.get_mut(&block) else {
            return Vec::new();
        };
        let Some(me) = entry.session.me else {
            return Vec::new();
        };
        let Some(checked) = entry.candidates.get_mut(candidate as usize) else {
            return Vec::new();
        };
        if valid {
            match checked.assigned.get_mut(&me) {
                Some(ours) if !ours.approved => {
                    ours.approved = true;
                    entry.unsent.insert(candidate);
                }
                _ => return Vec::new(),
            }
            return self.update_only(block, Some(&[candidate]), now_ms);
        }
        checked.disputed = true;
        vec![Output::FoundInvalid {
            block,
            candidate: checked.info.hash,
        }]
    }

    /// The relay chain finalized up to `number`: blocks up to it need no more approval work,
    /// and count as approved for their children.
    pub fn finalized(&mut self, number: u32) {
        self.finalized = self.finalized.max(number);
        self.blocks.retain(|_, entry| entry.number > number);
    }

    /// Announces our assignments in `hash` that are due and checks their candidates, and sends
    /// the approvals of checks done since the last call.
    fn advance(&mut self, hash: &Hash, now_ms: u64) -> Vec<Output> {
        let Some(entry) = self.blocks.get_mut(hash) else {
            return Vec::new();
        };
        let session = entry.session.clone();
        let Some(me) = session.me else {
            return Vec::new();
        };
        let mut outputs = Vec::new();
        let mut announced: Vec<AssignmentCert> = Vec::new();
        let mut triggered = Vec::new();
        for (&index, ours) in &entry.ours {
            let Some(candidate) = entry.candidates.get(index as usize) else {
                continue;
            };
            if candidate.approved {
                // Settled without us: nothing to check.
                triggered.push(index);
                continue;
            }
            if candidate.disputed {
                // Everyone checks it for the dispute; approval waits for its outcome, and may
                // need us then.
                continue;
            }
            let started = tranches::current_tranche(&self.config, entry.slot_ms, now_ms);
            if ours.tranche > started || now_ms < candidate.recheck_at {
                continue;
            }
            let assigned: Vec<Assigned> = candidate.assigned.values().copied().collect();
            let Some(config) = config_for(&self.config, &session, &candidate.info.backers) else {
                continue;
            };
            if !tranches::should_trigger(&config, entry.slot_ms, now_ms, &assigned, ours.tranche) {
                continue;
            }
            triggered.push(index);
            if !announced.contains(&ours.cert) {
                announced.push(ours.cert.clone());
            }
            outputs.push(Output::Check {
                block: *hash,
                candidate: index,
                hash: candidate.info.hash,
            });
        }
        // A certificate announced for one core announces every core it claims: peers count us
        // assigned to all of them, so we check all of them (those not settled).
        for (&index, ours) in &entry.ours {
            if triggered.contains(&index) || !announced.contains(&ours.cert) {
                continue;
            }
            let Some(candidate) = entry.candidates.get(index as usize) else {
                continue;
            };
            triggered.push(index);
            if !candidate.approved {
                outputs.push(Output::Check {
                    block: *hash,
                    candidate: index,
                    hash: candidate.info.hash,
                });
            }
        }
        for index in triggered {
            let Some(ours) = entry.ours.remove(&index) else {
                continue;
            };
            let counted = outputs
                .iter()
                .any(|o| matches!(o, Output::Check { candidate, .. } if *candidate == index));
            if let (true, Some(candidate)) = (counted, entry.candidates.get_mut(index as usize)) {
                candidate.recheck_at = now_ms;
                candidate.assigned.insert(
                    me,
                    Assigned {
                        tranche: ours.tranche,
                        received_ms: now_ms,
                        approved: false,
                    },
                );
            }
        }
        let mut sends: Vec<Output> = announced
            .into_iter()
            .map(|cert| {
                Output::Send(Message::Assignment(Assignment {
                    block: *hash,
                    validator: me,
                    cert,
                }))
            })
            .collect();
        if !entry.unsent.is_empty() {
            let candidates: Vec<u32> = std::mem::take(&mut entry.unsent).into_iter().collect();
            let hashes: Vec<Hash> = candidates
                .iter()
                .filter_map(|&i| entry.candidates.get(i as usize).map(|c| c.info.hash))
                .collect();
            if let Some(signature) = session.crypto.sign(&approval_payload(hash, &hashes)) {
                sends.push(Output::Send(Message::Approval(Approval {
                    block: *hash,
                    candidates,
                    validator: me,
                    signature,
                })));
            }
        }
        sends.extend(outputs);
        sends
    }

    /// Re-tallies the candidates of `hash` and, when it becomes approved, its descendants.
    fn update(&mut self, hash: Hash, now_ms: u64) -> Vec<Output> {
        self.update_only(hash, None, now_ms)
    }

    /// [`Self::update`], re-tallying only the candidates `only` of `hash` (all if none).
    fn update_only(&mut self, hash: Hash, only: Option<&[u32]>, now_ms: u64) -> Vec<Output> {
        let mut outputs = Vec::new();
        let mut work = vec![hash];
        let mut first = true;
        while let Some(hash) = work.pop() {
            let only = if std::mem::take(&mut first) {
                only
            } else {
                None
            };
            // A parent not tracked is approved only if finality already passed it (it was
            // pruned); one dropped or never fed is not.
            let finalized = self.finalized;
            let parent_approved = match self.blocks.get(&hash) {
                Some(entry) => match self.blocks.get(&entry.parent) {
                    Some(parent) => parent.approved,
                    None => entry.number.saturating_sub(1) <= finalized,
                },
                None => continue,
            };
            let Some(entry) = self.blocks.get_mut(&hash) else {
                continue;
            };
            if entry.approved {
                continue;
            }
            for (index, candidate) in entry.candidates.iter_mut().enumerate() {
                let index = u32::try_from(index).unwrap_or(u32::MAX);
                let named = match only {
                    Some(only) => only.contains(&index),
                    None => now_ms >= candidate.recheck_at,
                };
                if !named || candidate.approved || candidate.disputed {
                    continue;
                }
                let Some(config) =
                    config_for(&self.config, &entry.session, &candidate.info.backers)
                else {
                    // Every validator backed it: all of them checked it in full.
                    candidate.approved = true;
                    continue;
                };
                let assigned: Vec<Assigned> = candidate.assigned.values().copied().collect();
                let tally = tranches::tally(&config, entry.slot_ms, now_ms, &assigned);
                candidate.approved = tally.approved;
                if tally.approved {
                    let approvers = candidate.assigned.iter();
                    outputs.push(Output::ApprovedBy {
                        block: hash,
                        approvers: approvers
                            .filter(|(_, assigned)| assigned.approved)
                            .map(|(validator, _)| *validator)
                            .collect(),
                    });
                }
                candidate.recheck_at = next_recheck(
                    &config,
                    entry.slot_ms,
                    now_ms,
                    &assigned,
                    tally.next_no_show_ms,
                    entry.ours.get(&index).map(|ours| ours.tranche),
                );
            }
            let all = entry.candidates.iter().all(|c| c.approved && !c.disputed);
            if all && parent_approved {
                entry.approved = true;
                outputs.push(Output::Approved(hash));
                work.extend(
                    self.blocks
                        .iter()
                        .filter(|(_, child)| child.parent == hash)
                        .map(|(child, _)| *child),
                );
            }
        }
        outputs
    }

    /// The tracked `block` a message of `validator` is about, if both are known.
    fn block_of(
        &self,
        block: &Hash,
        validator: ValidatorIndex,
    ) -> Result<&BlockEntry<C>, MessageError> {
        let entry = self
            .blocks
            .get(block)
            .ok_or(MessageError::UnknownBlock(*block))?;
        if validator.0 >= entry.session.n_validators {
            return Err(MessageError::UnknownValidator(validator.0));
        }
        Ok(entry)
    }

    fn on_assignment(
        &mut self,
        assignment: Assignment,
        now_ms: u64,
    ) -> Result<Vec<Output>, MessageError> {
        let Assignment {
            block,
            validator,
            cert,
        } = assignment;
        let entry = self.block_of(&block, validator)?;
        let (cores, tranche) = entry.session.crypto.check_assignment(
            validator,
            &entry.story,
            &self.config,
            entry.n_cores,
            &cert,
        )?;
        let mut indices = Vec::with_capacity(cores.len());
        for core in &cores {
            let index = entry
                .candidates
                .iter()
                .position(|c| c.info.core == *core)
                .ok_or(MessageError::NotOccupied(core.0))?;
            let candidate = entry
                .candidates
                .get(index)
                .ok_or(MessageError::NotOccupied(core.0))?;
            if candidate.info.backers.contains(&validator) {
                return Err(MessageError::Backer(validator.0));
            }
            if !candidate.assigned.contains_key(&validator) {
                indices.push(index);
            }
        }
        if indices.is_empty() {
            return Err(MessageError::Duplicate);
        }
        let entry = self
            .blocks
            .get_mut(&block)
            .ok_or(MessageError::UnknownBlock(block))?;
        let starts = tranches::tranche_start(&self.config, entry.slot_ms, tranche);
        for index in indices {
            if let Some(candidate) = entry.candidates.get_mut(index) {
                candidate.recheck_at = candidate.recheck_at.min(starts.max(now_ms));
                candidate.assigned.insert(
                    validator,
                    Assigned {
                        tranche,
                        received_ms: now_ms,
                        approved: false,
                    },
                );
            }
        }
        Ok(Vec::new())
    }

    fn on_approval(
        &mut self,
        approval: Approval,
        now_ms: u64,
    ) -> Result<Vec<Output>, MessageError> {
        let Approval {
            block,
            candidates,
            validator,
            signature,
        } = approval;
        let entry = self.block_of(&block, validator)?;
        let mut hashes = Vec::with_capacity(candidates.len());
        let mut new = false;
        let mut previous: Option<u32> = None;
        for &index in &candidates {
            let candidate = entry
                .candidates
                .get(index as usize)
                .filter(|_| previous.is_none_or(|p| p < index))
                .ok_or(MessageError::NoSuchCandidate(index))?;
            previous = Some(index);
            let assigned = candidate
                .assigned
                .get(&validator)
                .ok_or(MessageError::NotAssigned {
                    validator: validator.0,
                    candidate: index,
                })?;
            new |= !assigned.approved;
            hashes.push(candidate.info.hash);
        }
        if !new {
            return Err(MessageError::Duplicate);
        }
        if !entry
            .session
            .crypto
            .verify(validator, &approval_payload(&block, &hashes), &signature)
        {
            return Err(MessageError::BadSignature);
        }
        let entry = self
            .blocks
            .get_mut(&block)
            .ok_or(MessageError::UnknownBlock(block))?;
        for &index in &candidates {
            let assigned = entry
                .candidates
                .get_mut(index as usize)
                .and_then(|c| c.assigned.get_mut(&validator));
            if let Some(assigned) = assigned {
                assigned.approved = true;
            }
        }
        Ok(self.update_only(block, Some(&candidates), now_ms))
    }
}
