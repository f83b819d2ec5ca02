//! The finality voter: rounds of prevotes and precommits driven by ticks, imported blocks and
//! messages; outputs votes, commits, finalized blocks and equivocation reports.

use super::authorities::AuthoritySet;
use super::changes::SetChanges;
use super::equivocation::VoteEquivocation;
use super::error::MessageError;
use super::justification::Justification;
use super::message::{FinalityMessage, Phase, SignedVote, Target, Vote};
use super::pending::PendingVotes;
use super::round::{Round, RoundState};
use super::votes::Added;
use super::voting_rule::VotingRule;
use crate::block_tree::BlockTree;
use crate::verify::{BatchVerifier, SignatureVerifier};
use crate::{AuthorityKey, PeerId};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use tessera_runtime::{AccountId, Hash, Header};

/// Timing and bounds of the finality voter (times in milliseconds).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FinalityConfig {
    /// The expected gossip delay Δ: prevote after 2Δ, precommit after 4Δ at the latest.
    pub gossip_delay_ms: u64,
    /// How often this voter resends its own votes of the current and previous rounds.
    pub rebroadcast_ms: u64,
    /// How long to wait for a catch-up answer before asking again.
    pub catch_up_timeout_ms: u64,
    /// Most verified votes kept while their block or round has not arrived yet (besides at
    /// most two per voter, round and kind).
    pub max_pending_votes: usize,
    /// Completed rounds whose late votes are still counted (finality, equivocations).
    pub kept_rounds: usize,
    /// How many voters broadcast the commit of a round: the primary and those after it in
    /// the authority list (everyone else finalizes from the votes or from their commits).
    pub commit_senders: usize,
}

impl Default for FinalityConfig {
    fn default() -> Self {
        FinalityConfig {
            gossip_delay_ms: 1_000,
            rebroadcast_ms: 8_000,
            catch_up_timeout_ms: 10_000,
            max_pending_votes: 20_000,
            kept_rounds: 3,
            commit_senders: 3,
        }
    }
}

/// What the finality engine is told.
#[derive(Clone, Debug)]
pub enum Input {
    /// The current time.
    Tick(u64),
    /// A block was imported (its parent first).
    BlockImported(Header),
    /// Fork choice picked a new best block.
    BestBlock(Hash),
    /// Messages from peers, checked together (one signature batch).
    Messages(Vec<(PeerId, FinalityMessage)>),
    /// A new authority set takes over (the block enacting it has been finalized).
    NewAuthoritySet(AuthoritySet),
}

/// What the finality engine asks the node to do.
#[derive(Clone, Debug)]
pub enum Output {
    /// Gossip a message to all peers.
    Broadcast(FinalityMessage),
    /// Send a message to one peer.
    SendTo(PeerId, FinalityMessage),
    /// A block is final; store and serve its justification.
    Finalized {
        /// The block.
        target: Target,
        /// Its proof.
        justification: Justification,
    },
    /// A voter equivocated; here is the proof.
    ReportEquivocation(VoteEquivocation),
    /// Finalizing `enacted_at` enacted a scheduled change: `set` votes from now on (store it to
    /// resume with it).
    NewAuthoritySet {
        /// The new set.
        set: AuthoritySet,
        /// The block that enacted it (finalized by the previous set).
        enacted_at: Target,
    },
    /// A peer sent an invalid message.
    Misbehaviour(PeerId, MessageError),
    /// A peer voted for a block this node has not imported: fetch it (from that peer).
    UnknownBlock(PeerId, Target),
    /// A message from this peer was verified in full and is of use now (a vote of a kept or
    /// the next round for a known block, a commit that finalized): worth forwarding. A message
    /// that gets neither this nor [`Output::Misbehaviour`] could not be checked here yet.
    Verified(PeerId),
}

/// Counters for benchmarks and metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FinalityStats {
    /// Signatures handed to the verifier.
    pub signatures_checked: u64,
    /// Messages output (broadcasts and direct sends).
    pub messages_sent: u64,
    /// Rounds completed (including rounds skipped by catch-up).
    pub rounds_completed: u64,
    /// Catch-up answers adopted.
    pub catch_ups: u64,
}

/// The GRANDPA-like finality voter of one node.
pub struct FinalityEngine {
    pub(super) config: FinalityConfig,
    /// The key this node votes with: the first of `keys` in the set in force.
    pub(super) key: Option<AuthorityKey>,
    /// Every key this node holds (its session keys over time).
    keys: Vec<AuthorityKey>,
    pub(super) set: AuthoritySet,
    pub(super) tree: BlockTree,
    pub(super) best: Hash,
    pub(super) current: Round,
    /// Completed rounds, oldest first (at most `kept_rounds`).
    pub(super) past: VecDeque<Round>,
    /// Verified votes waiting for their block or their round.
    pub(super) pending: PendingVotes,
    pub(super) now: u64,
    pub(super) last_rebroadcast: u64,
    pub(super) catch_up_sent_at: Option<u64>,
    /// The peer asked for a catch-up, while its answer is awaited (no other is accepted).
    pub(super) catch_up_peer: Option<PeerId>,
    /// Per peer, the last round whose catch-up it was sent (one answer per round and peer).
    pub(super) catch_up_replies: BTreeMap<PeerId, u64>,
    pub(super) voting_rule: Option<Box<dyn VotingRule>>,
    pub(super) verifier: Box<dyn SignatureVerifier>,
    pub(super) reported: BTreeSet<(u64, Phase, AccountId)>,
    pub(super) stats: FinalityStats,
    /// Scheduled changes of the authority set not enacted yet.
    changes: SetChanges,
}

impl FinalityEngine {
    /// A voter (with `key`, if `set` lists it) or observer for `set`, above the finalized
    /// `root`.
    pub fn new(
        config: FinalityConfig,
        set: AuthoritySet,
        root: Header,
        key: Option<AuthorityKey>,
    ) -> Self {
        let tree = BlockTree::new(root);
        let keys: Vec<AuthorityKey> = key.into_iter().collect();
        FinalityEngine {
            config,
            key: voting_key(&keys, &set),
            keys,
            set,
            best: tree.root(),
            tree,
            current: Round::new(1, 0),
            past: VecDeque::new(),
            pending: PendingVotes::default(),
            now: 0,
            last_rebroadcast: 0,
            catch_up_sent_at: None,
            catch_up_peer: None,
            catch_up_replies: BTreeMap::new(),
            voting_rule: None,
            verifier: Box::new(BatchVerifier::default()),
            reported: BTreeSet::new(),
            stats: FinalityStats::default(),
            changes: SetChanges::default(),
        }
    }

    /// Resumes in `round` holding this voter's own `votes` of it, as recorded before a
    /// restart: the voter finishes the round without ever casting a second, different vote in
    /// a phase it voted in. Blocks above the finalized one must be imported first.
    pub fn resume_round(mut self, round: u64, votes: Vec<SignedVote>) -> Self {
        let mut current = Round::new(round.max(1), self.now);
        let set_id = self.set.set_id();
        for vote in votes {
            let own = self.key.as_ref().is_some_and(|k| k.public() == vote.id);
            if !own || vote.round != current.number || vote.set_id != set_id {
                continue;
            }
            match vote.vote.phase() {
                Some(phase) => {
                    let weight = self.set.weight(&vote.id).unwrap_or_default();
                    current.add(&self.tree, phase, vote.compact(), weight);
                    match phase {
                        Phase::Prevote => current.prevoted = true,
                        Phase::Precommit => current.precommitted = true,
                    }
                }
                None => {
                    current.proposed = true;
                    current.proposal = Some(vote.vote.target());
                }
            }
            current.own.push(vote);
        }
        self.current = current;
        self
    }

    /// Uses `rule` to cap prevote targets.
    pub fn with_voting_rule(mut self, rule: Box<dyn VotingRule>) -> Self {
        self.voting_rule = Some(rule);
        self
    }

    /// Uses `verifier` for all signature checks.
    pub fn with_verifier(mut self, verifier: Box<dyn SignatureVerifier>) -> Self {
        self.verifier = verifier;
        self
    }

    /// The last finalized block.
    pub fn finalized(&self) -> Target {
        Target {
            hash: self.tree.root(),
            number: self.tree.root_number(),
        }
    }

    /// The current round number.
    pub fn round(&self) -> u64 {
        self.current.number
    }

    /// The authority set in force.
    pub fn authority_set(&self) -> &AuthoritySet {
        &self.set
    }

    /// The unfinalized block tree.
    pub fn tree(&self) -> &BlockTree {
        &self.tree
    }

    /// Counters since start.
    pub fn stats(&self) -> FinalityStats {
        self.stats
    }

    /// How many verified votes wait for their block or round.
    pub fn pending_votes(&self) -> usize {
        self.pending.len()
    }

    /// Feeds one input; returns what to do.
    pub fn handle(&mut self, input: Input) -> Vec<Output> {
        let mut out = Vec::new();
        match input {
            Input::Tick(now) => self.now = self.now.max(now),
            Input::BlockImported(header) => {
                let hash = header.hash();
                if !self.tree.contains(&hash) && header.number > self.tree.root_number() {
                    self.changes.note(&header);
                }
                if matches!(self.tree.insert(header), Ok(true)) {
                    self.retry_block(&hash, &mut out);
                }
            }
            Input::BestBlock(hash) => {
                if self.tree.contains(&hash) {
                    self.best = hash;
                }
            }
            Input::Messages(messages) => self.on_messages(messages, &mut out),
            Input::NewAuthoritySet(set) => self.switch_set(set),
        }
        self.progress(&mut out);
        let sent = out
            .iter()
            .filter(|o| matches!(o, Output::Broadcast(_) | Output::SendTo(..)))
            .count();
        self.stats.messages_sent = self.stats.messages_sent.saturating_add(sent as u64);
        out
    }

    /// The key with public key `public`, if this node votes with it.
    pub fn key_of(&self, public: &AccountId) -> Option<&AuthorityKey> {
        self.keys.iter().find(|key| key.public() == *public)
    }

    /// Adds a key to vote with in the sets that list it (a session key made later).
    pub fn add_key(&mut self, key: AuthorityKey) {
        if !self.keys.iter().any(|k| k.public() == key.public()) {
            self.keys.push(key);
        }
        if !self.is_voter() {
            self.key = voting_key(&self.keys, &self.set);
        }
    }

    /// Hands voting to `set` from round 1, above the finalized block.
    fn switch_set(&mut self, set: AuthoritySet) {
        self.key = voting_key(&self.keys, &set);
        self.set = set;
        self.current = Round::new(1, self.now);
        self.current.base = Some(self.tree.root());
        self.past.clear();
        self.pending.clear();
        self.reported.clear();
        self.catch_up_sent_at = None;
        self.catch_up_peer = None;
        self.catch_up_replies.clear();
    }

    /// Whether this node votes in the current set.
    pub(super) fn is_voter(&self) -> bool {
        self.key
            .as_ref()
            .is_some_and(|k| self.set.weight(&k.public()).is_some())
    }

    /// The primary of `round`: authority `(round + set_id) mod n`.
    pub(super) fn primary(&self, round: u64) -> Option<AccountId> {
        let n = self.set.len() as u64;
        let position = round.wrapping_add(self.set.set_id()).checked_rem(n)?;
        self.set.get(position as usize).map(|(id, _)| *id)
    }

    /// Whether this voter is one of the `commit_senders` voters from `round`'s primary on.
    fn is_commit_sender(&self, round: u64) -> bool {
        let n = self.set.len();
        let (Some(key), Some(primary)) = (self.key.as_ref(), self.primary(round)) else {
            return false;
        };
        let (Some(own), Some(first)) = (
            self.set.position(&key.public()),
            self.set.position(&primary),
        ) else {
            return false;
        };
        let distance = own
            .wrapping_add(n)
            .wrapping_sub(first)
            .checked_rem(n)
            .unwrap_or(n);
        distance < self.config.commit_senders
    }

    /// Takes every step the current state allows; bounded (a step can start one round).
    fn progress(&mut self, out: &mut Vec<Output>) {
        for _ in 0..4 {
            let (base, previous_ghost) = match self.current.base {
                // A round started from the finalized block: the previous round is stale.
                Some(base) if self.tree.contains(&base) => (base, None),
                Some(_) => (self.tree.root(), None),
                None => {
                    let previous = self
                        .past
                        .back()
                        .map(|r| r.state(&self.tree, &self.set))
                        .unwrap_or_default();
                    let base = previous
                        .estimate
                        .filter(|e| self.tree.contains(e))
                        .unwrap_or_else(|| self.tree.root());
                    (base, previous.prevote_ghost)
                }
            };
            self.try_propose(base, out);
            self.try_prevote(base, previous_ghost, out);
            let state = self.current.state(&self.tree, &self.set);
            self.try_precommit(base, &state, out);
            self.try_finalize(out);
            let state = self.current.state(&self.tree, &self.set);
            let waited = self.now
                >= self
                    .current
                    .started_at
                    .saturating_add(self.config.gossip_delay_ms.saturating_mul(4));
            if state.completable && (self.current.precommitted || !self.is_voter() || waited) {
                self.start_round(self.current.number.saturating_add(1), out);
            } else {
                break;
            }
        }
        if self.now
            >= self
                .last_rebroadcast
                .saturating_add(self.config.rebroadcast_ms)
        {
            self.last_rebroadcast = self.now;
            let own = self.past.back().into_iter().chain([&self.current]);
            for vote in own.flat_map(|r| r.own.iter()) {
                out.push(Output::Broadcast(FinalityMessage::Vote(*vote)));
            }
        }
    }

    /// Moves to `number`, keeping the finished round as the previous one.
    pub(super) fn start_round(&mut self, number: u64, out: &mut Vec<Output>) {
        let finished = std::mem::replace(&mut self.current, Round::new(number, self.now));
        self.past.push_back(finished);
        while self.past.len() > self.config.kept_rounds.max(1) {
            self.past.pop_front();
        }
        let (current, past) = (&self.current, &self.past);
        self.reported.retain(|(round, _, _)| {
            *round == current.number || past.iter().any(|r| r.number == *round)
        });
        self.stats.rounds_completed = self.stats.rounds_completed.saturating_add(1);
        self.retry_pending(out);
    }

    fn try_propose(&mut self, base: Hash, out: &mut Vec<Output>) {
        if self.current.proposed || self.past.is_empty() {
            return;
        }
        self.current.proposed = true;
        let Some(key) = self.key.as_ref() else { return };
        if self.primary(self.current.number) != Some(key.public()) || base == self.tree.root() {
            return;
        }
        let Some(number) = self.tree.number(&base) else {
            return;
        };
        let target = Target { hash: base, number };
        let vote = SignedVote::sign(
            key,
            Vote::PrimaryPropose(target),
            self.current.number,
            self.set.set_id(),
        );
        self.current.proposal = Some(target);
        self.current.own.push(vote);
        out.push(Output::Broadcast(FinalityMessage::Vote(vote)));
    }

    fn try_prevote(&mut self, base: Hash, previous_ghost: Option<Hash>, out: &mut Vec<Output>) {
        let due = self.now
            >= self
                .current
                .started_at
                .saturating_add(self.config.gossip_delay_ms.saturating_mul(2));
        if self.current.prevoted || !self.is_voter() || !(due || self.current.proposal.is_some()) {
            return;
        }
        let proposal = self.current.proposal.map(|p| p.hash).filter(|p| {
            self.tree.is_descendant_or_equal(p, &base)
                && previous_ghost.is_none_or(|g| self.tree.is_descendant_or_equal(&g, p))
        });
        let start = proposal.unwrap_or(base);
        let head = if self.tree.is_descendant_or_equal(&self.best, &start) {
            self.best
        } else {
            self.tree.longest_under(&start)
        };
        let target = self.restrict(base, head);
        self.cast(Phase::Prevote, target, out);
        self.current.prevoted = true;
    }

    /// Applies the voting rule and the pending set changes (no vote past a block that enacts
    /// one): the answer must lie between `base` and `head`, else `base`.
    fn restrict(&self, base: Hash, head: Hash) -> Hash {
        let head = match self.changes.limit(&self.tree, &head) {
            Some(limit) if self.tree.is_descendant_or_equal(&limit, &base) => limit,
            Some(_) => base,
            None => head,
        };
        let Some(rule) = self.voting_rule.as_ref() else {
            return head;
        };
        let (Some(base_header), Some(head_header)) =
            (self.tree.header(&base), self.tree.header(&head))
        else {
            return base;
        };
        match rule.restrict(base_header, head_header, &self.tree) {
            None => head,
            Some(capped)
                if self.tree.is_descendant_or_equal(&head, &capped)
                    && self.tree.is_descendant_or_equal(&capped, &base) =>
            {
                capped
            }
            Some(_) => base,
        }
    }

    fn try_precommit(&mut self, base: Hash, state: &RoundState, out: &mut Vec<Output>) {
        if self.current.precommitted || !self.current.prevoted || !self.is_voter() {
            return;
        }
        let Some(ghost) = state.prevote_ghost else {
            return;
        };
        let due = self.now
            >= self
                .current
                .started_at
                .saturating_add(self.config.gossip_delay_ms.saturating_mul(4));
        if self.tree.is_descendant_or_equal(&ghost, &base) && (due || state.completable) {
            self.cast(Phase::Precommit, ghost, out);
            self.current.precommitted = true;
        }
    }

    /// Signs, records and broadcasts this voter's vote of `phase` for `hash`.
    fn cast(&mut self, phase: Phase, hash: Hash, out: &mut Vec<Output>) {
        let (Some(key), Some(number)) = (self.key.as_ref(), self.tree.number(&hash)) else {
            return;
        };
        let target = Target { hash, number };
        let vote = SignedVote::sign(
            key,
            Vote::of_phase(phase, target),
            self.current.number,
            self.set.set_id(),
        );
        let weight = self.set.weight(&vote.id).unwrap_or_default();
        self.current.add(&self.tree, phase, vote.compact(), weight);
        self.current.own.push(vote);
        out.push(Output::Broadcast(FinalityMessage::Vote(vote)));
    }

    /// Finalizes the deepest block with supermajority precommits in the previous or current
    /// round, if it is above the last finalized block.
    fn try_finalize(&mut self, out: &mut Vec<Output>) {
        let mut best: Option<(u64, Target)> = None;
        for round in self.past.iter().chain([&self.current]) {
            let Some(hash) = round.precommits.ghost(&self.tree, self.set.threshold()) else {
                continue;
            };
            let Some(number) = self.tree.number(&hash) else {
                continue;
            };
            if number > self.tree.root_number() && best.is_none_or(|(_, t)| number > t.number) {
                best = Some((round.number, Target { hash, number }));
            }
        }
        let Some((round_number, target)) = best else {
            return;
        };
        let Some(round) = self.round_of(round_number) else {
            return;
        };
        let justification =
            Justification::build(round_number, target, round.precommits.all(), &self.tree);
        if self.is_commit_sender(round_number) {
            out.push(Output::Broadcast(FinalityMessage::Commit {
                set_id: self.set.set_id(),
                justification: justification.clone(),
            }));
        }
        self.finalize(target, justification, out);
    }

    /// Records `target` as final: prunes the tree and reports it. When the new root passes the
    /// current round (a later round finalized it, or the round can no longer reach a prevote
    /// GHOST above it), moves on to a new round based on the root, as GRANDPA does.
    pub(super) fn finalize(
        &mut self,
        target: Target,
        justification: Justification,
        out: &mut Vec<Output>,
    ) {
        let round = justification.round;
        let enacted = self.changes.take_enacted(&self.tree, &target.hash);
        self.tree.prune_to(&target.hash);
        self.changes.prune(&self.tree);
        for round in self.past.iter_mut().chain([&mut self.current]) {
            round.prevotes.prune(&self.tree);
            round.precommits.prune(&self.tree);
        }
        if !self.tree.contains(&self.best) {
            self.best = self.tree.longest_under(&self.tree.root());
        }
        out.push(Output::Finalized {
            target,
            justification,
        });
        let mut next_set = None;
        for change in enacted {
            let set_id = next_set
                .as_ref()
                .unwrap_or(&self.set)
                .set_id()
                .saturating_add(1);
            // The runtime never signals an unusable set; one that is would halt finality, so
            // the current set keeps voting instead.
            if let Ok(set) = AuthoritySet::new(set_id, change.next_authorities) {
                next_set = Some(set);
            }
        }
        if let Some(set) = next_set {
            self.switch_set(set.clone());
            out.push(Output::NewAuthoritySet {
                set,
                enacted_at: target,
            });
            return;
        }
        if round > self.current.number || self.current_round_stalled() {
            let next = self.current.number.max(round).saturating_add(1);
            self.start_round(next, out);
            self.current.base = Some(self.tree.root());
        } else {
            // Waiting votes at or below the new root now count as votes for finalized blocks.
            self.retry_pending(out);
        }
    }

    /// Whether the current round can no longer reach a prevote GHOST: the voters not seen yet
    /// and those supporting the root fall short of the threshold (after pruning to the root).
    fn current_round_stalled(&self) -> bool {
        let prevotes = &self.current.prevotes;
        let unseen = self
            .set
            .total_weight()
            .saturating_sub(prevotes.seen_weight());
        prevotes.support(&self.tree.root()).saturating_add(unseen) < self.set.threshold()
    }

    /// Imports a verified vote into its round, or keeps it until its block or round arrives.
    pub(super) fn import_vote(&mut self, peer: PeerId, vote: SignedVote, out: &mut Vec<Output>) {
        let target = vote.vote.target();
        let next_round = self.current.number.saturating_add(1);
        let known_round = self.round_of(vote.round).is_some();
        let missing = target.number > self.tree.root_number() && !self.tree.contains(&target.hash);
        if vote.round == next_round || (known_round && missing) {
            // Every next-round vote waits (even one at or below the finalized block: it still
            // counts as its voter's vote); the block is asked for once, when the vote is stored.
            if self
                .pending
                .insert(peer, vote, self.config.max_pending_votes)
                && missing
            {
                out.push(Output::UnknownBlock(peer, target));
            }
            return;
        }
        // A vote at or below the finalized block supports nothing above it, but it still counts
        // as its voter's vote (for completability and equivocation detection).
        if !known_round {
            return;
        }
        if let Some(actual) = self.tree.number(&target.hash) {
            if actual != target.number {
                out.push(Output::Misbehaviour(
                    peer,
                    MessageError::WrongNumber {
                        hash: target.hash,
                        claimed: target.number,
                        actual,
                    },
                ));
                return;
            }
        }
        let primary = self.primary(vote.round);
        let weight = self.set.weight(&vote.id).unwrap_or_default();
        let set_id = self.set.set_id();
        let round = if vote.round == self.current.number {
            &mut self.current
        } else {
            match self.past.iter_mut().find(|r| r.number == vote.round) {
                Some(round) => round,
                None => return,
            }
        };
        let Some(phase) = vote.vote.phase() else {
            if primary == Some(vote.id) && round.proposal.is_none() {
                round.proposal = Some(target);
            }
            return;
        };
        if let Added::Equivocation(first) = round.add(&self.tree, phase, vote.compact(), weight) {
            if self.reported.insert((vote.round, phase, vote.id)) {
                out.push(Output::ReportEquivocation(VoteEquivocation {
                    first: first.expand(phase, vote.round, set_id),
                    second: vote,
                }));
            }
        }
    }

    /// The current or a kept past round numbered `number`.
    pub(super) fn round_of(&self, number: u64) -> Option<&Round> {
        if number == self.current.number {
            return Some(&self.current);
        }
        self.past.iter().find(|r| r.number == number)
    }

    /// Imports the waiting votes that can be imported now (after a new round or finalization);
    /// the others keep waiting, without asking for their blocks again.
    pub(super) fn retry_pending(&mut self, out: &mut Vec<Output>) {
        let (current, past, tree) = (&self.current, &self.past, &self.tree);
        let ready = self.pending.take_all(|v| is_ready(v, current, past, tree));
        for (peer, vote) in ready {
            self.import_vote(peer, vote, out);
        }
    }

    /// Imports the waiting votes for block `hash`, just imported, that can be imported now.
    fn retry_block(&mut self, hash: &Hash, out: &mut Vec<Output>) {
        let (current, past, tree) = (&self.current, &self.past, &self.tree);
        let ready = self
            .pending
            .take_block(hash, |v| is_ready(v, current, past, tree));
        for (peer, vote) in ready {
            self.import_vote(peer, vote, out);
        }
    }
}

/// The first of `keys` that votes in `set` (none: this node observes).
fn voting_key(keys: &[AuthorityKey], set: &AuthoritySet) -> Option<AuthorityKey> {
    keys.iter()
        .find(|key| set.weight(&key.public()).is_some())
        .cloned()
}

/// Whether a waiting vote can leave the store: its round has come and its block is known (or at
/// or below the finalized block), or its round is no longer kept (it is then dropped).
fn is_ready(vote: &SignedVote, current: &Round, past: &VecDeque<Round>, tree: &BlockTree) -> bool {
    let target = vote.vote.target();
    let kept = vote.round == current.number || past.iter().any(|r| r.number == vote.round);
    vote.round <= current.number
        && (!kept || target.number <= tree.root_number() || tree.contains(&target.hash))
}
