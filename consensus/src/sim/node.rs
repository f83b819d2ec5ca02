//! One simulated node: both engines, a header store, orphan handling, gossip bookkeeping and
//! the byzantine behaviours applied to what it sends.

use super::network::{Partition, Payload, BRIDGE};
use crate::authorship::{self, seal_header, AuthorEquivocation, AuthorshipEngine, PreDigest};
use crate::finality::{
    self, verify_justification_with, FinalityEngine, FinalityMessage, Phase, SignedVote, Target,
    Vote, VoteEquivocation,
};
use crate::{AuthorityKey, SignatureVerifier};
use parity_scale_codec::Encode;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use tessera_runtime::hashing::blake2_256;
use tessera_runtime::{AccountId, Digest, Hash, Header};

/// How a node behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Follows the protocol.
    Honest,
    /// Sends nothing from `from_ms` until `until_ms` (then follows the protocol again).
    Silent {
        /// Start (inclusive).
        from_ms: u64,
        /// End (exclusive).
        until_ms: u64,
    },
    /// Seals two blocks for each slot it wins and sends each to half of its peers.
    EquivocatingAuthor,
    /// Signs two votes in each phase, for blocks on conflicting forks, and sends each to half of
    /// its peers; while it bridges a partition, each side gets a vote for that side's own fork.
    EquivocatingVoter,
    /// Votes for a random known block instead of following the rules.
    RandomForkVoter,
}

/// Where a message goes.
#[derive(Clone, Debug)]
pub(super) enum Action {
    /// To every other node.
    All(Payload),
    /// To one node.
    One(usize, Payload),
    /// To a few random other nodes (gossip forwarding).
    Gossip(Payload),
    /// The first payload to even-indexed nodes, the second to odd-indexed ones; during a
    /// partition, to even and odd groups instead.
    Split(Payload, Payload),
}

/// Work queued inside a node: inputs for its two engines.
enum Work {
    Authorship(authorship::Input),
    Finality(finality::Input),
}

/// One simulated node.
pub struct SimNode {
    /// Its index (and peer id).
    pub index: usize,
    /// Its authority key.
    pub key: AuthorityKey,
    /// How it behaves.
    pub behaviour: Behaviour,
    /// Its authorship engine.
    pub authorship: AuthorshipEngine,
    /// Its finality engine.
    pub finality: FinalityEngine,
    /// Blocks it finalized, in order.
    pub finalized: Vec<Target>,
    /// Justifications it produced or accepted that failed an independent check.
    pub bad_justifications: u64,
    /// Voter equivocations it reported.
    pub vote_reports: Vec<VoteEquivocation>,
    /// Author equivocations it reported.
    pub author_reports: Vec<AuthorEquivocation>,
    /// Invalid messages it received.
    pub misbehaviour_seen: u64,
    /// The last block it finalized, with its justification.
    pub last_justification: Option<(Target, finality::Justification)>,
    /// Whether it checks every justification it outputs with `verify_justification`.
    pub check_justifications: bool,
    /// The set justifications are checked against (the engine's own when `None`), following
    /// the engine's set changes.
    pub reference_set: Option<finality::AuthoritySet>,
    /// What the chain's runtime deposits in headers, checked on import.
    pub schedule: super::Schedule,
    /// Headers dropped because their consensus logs are not the runtime's.
    pub bad_logs: u64,
    /// Every header it imported.
    pub store: BTreeMap<Hash, Header>,
    /// Vote equivocations this node committed: (round, phase).
    pub committed_vote_equivocations: BTreeSet<(u64, Phase)>,
    /// Author equivocations this node committed: slots.
    pub committed_author_equivocations: BTreeSet<u64>,
    pub(super) rng: ChaCha8Rng,
    pub(super) checker: Box<dyn SignatureVerifier>,
    orphans: BTreeMap<Hash, Vec<Header>>,
    seen_votes: BTreeSet<[u8; 32]>,
    byzantine_votes: BTreeMap<(u64, Phase), SignedVote>,
    split_votes: BTreeMap<(u64, Phase), (SignedVote, SignedVote)>,
    /// The partitions of the network (byzantine nodes know them, to coordinate with them).
    pub(super) partitions: Vec<Partition>,
    now: u64,
    work: VecDeque<Work>,
}

impl SimNode {
    /// A node with its engines.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        index: usize,
        key: AuthorityKey,
        behaviour: Behaviour,
        authorship: AuthorshipEngine,
        finality: FinalityEngine,
        genesis: Header,
        rng: ChaCha8Rng,
        checker: Box<dyn SignatureVerifier>,
    ) -> Self {
        let mut store = BTreeMap::new();
        store.insert(genesis.hash(), genesis);
        SimNode {
            index,
            key,
            behaviour,
            authorship,
            finality,
            finalized: Vec::new(),
            bad_justifications: 0,
            vote_reports: Vec::new(),
            author_reports: Vec::new(),
            misbehaviour_seen: 0,
            last_justification: None,
            check_justifications: true,
            reference_set: None,
            schedule: super::Schedule::new(Vec::new(), None),
            bad_logs: 0,
            store,
            committed_vote_equivocations: BTreeSet::new(),
            committed_author_equivocations: BTreeSet::new(),
            rng,
            checker,
            orphans: BTreeMap::new(),
            seen_votes: BTreeSet::new(),
            byzantine_votes: BTreeMap::new(),
            split_votes: BTreeMap::new(),
            partitions: Vec::new(),
            now: 0,
            work: VecDeque::new(),
        }
    }

    /// Whether the node sends nothing at `now`.
    pub fn is_silent(&self, now: u64) -> bool {
        matches!(self.behaviour, Behaviour::Silent { from_ms, until_ms } if now >= from_ms && now < until_ms)
    }

    /// Whether the node follows the protocol (silent nodes do, when they speak).
    pub fn is_honest(&self) -> bool {
        matches!(self.behaviour, Behaviour::Honest | Behaviour::Silent { .. })
    }

    /// The highest block it finalized.
    pub fn finalized_number(&self) -> u32 {
        self.finality.finalized().number
    }

    /// Advances both engines to `now`.
    pub(super) fn tick(&mut self, now: u64, actions: &mut Vec<Action>) {
        self.now = now;
        self.work
            .push_back(Work::Authorship(authorship::Input::Tick(now)));
        self.work
            .push_back(Work::Finality(finality::Input::Tick(now)));
        self.run(actions);
    }

    /// A block arrived from `from`.
    pub(super) fn on_block(&mut self, from: usize, header: Header, actions: &mut Vec<Action>) {
        let hash = header.hash();
        if self.store.contains_key(&hash) {
            return;
        }
        if !self.store.contains_key(&header.parent_hash) {
            let parent = header.parent_hash;
            let waiting = self.orphans.entry(parent).or_default();
            if !waiting.contains(&header) && waiting.len() < 16 {
                waiting.push(header);
            }
            // Ask again on every sighting: an earlier request or answer may have been lost.
            actions.push(Action::One(from, Payload::BlockRequest(parent)));
            return;
        }
        self.work
            .push_back(Work::Authorship(authorship::Input::ImportHeader(header)));
        self.run(actions);
    }

    /// A peer asked for a block.
    pub(super) fn on_block_request(&self, from: usize, hash: Hash, actions: &mut Vec<Action>) {
        if let Some(header) = self.store.get(&hash) {
            actions.push(Action::One(from, Payload::Block(header.clone())));
        }
    }

    /// Whether a finality message should be forwarded (first sight of a vote).
    pub(super) fn first_sight(&mut self, message: &FinalityMessage) -> bool {
        match message {
            FinalityMessage::Vote(vote) => self.seen_votes.insert(blake2_256(&vote.encode()).0),
            _ => false,
        }
    }

    /// Hands a batch of finality messages to the finality engine.
    pub(super) fn on_finality_messages(
        &mut self,
        messages: Vec<(crate::PeerId, FinalityMessage)>,
        actions: &mut Vec<Action>,
    ) {
        self.work
            .push_back(Work::Finality(finality::Input::Messages(messages)));
        self.run(actions);
    }

    /// Drains the work queue (bounded), turning engine outputs into work and actions.
    fn run(&mut self, actions: &mut Vec<Action>) {
        for _ in 0..100_000 {
            let Some(work) = self.work.pop_front() else {
                return;
            };
            match work {
                Work::Authorship(authorship::Input::ImportHeader(header))
                    if !self.schedule.check(&self.authorship, &header) =>
                {
                    self.bad_logs = self.bad_logs.saturating_add(1);
                }
                Work::Authorship(input) => {
                    for output in self.authorship.handle(input) {
                        self.on_authorship_output(output, actions);
                    }
                }
                Work::Finality(input) => {
                    for output in self.finality.handle(input) {
                        self.on_finality_output(output, actions);
                    }
                }
            }
        }
    }

    fn on_authorship_output(&mut self, output: authorship::Output, actions: &mut Vec<Action>) {
        match output {
            authorship::Output::AuthorBlock {
                parent,
                slot,
                pre_digest,
                ..
            } => self.author(parent, slot, pre_digest, actions),
            authorship::Output::Imported { hash, .. } => {
                let Some(header) = self.authorship.header(&hash).cloned() else {
                    return;
                };
                self.store.insert(hash, header.clone());
                actions.push(Action::Gossip(Payload::Block(header.clone())));
                self.work
                    .push_back(Work::Finality(finality::Input::BlockImported(header)));
                for child in self.orphans.remove(&hash).unwrap_or_default() {
                    self.work
                        .push_back(Work::Authorship(authorship::Input::ImportHeader(child)));
                }
            }
            authorship::Output::NewBest(hash) => self
                .work
                .push_back(Work::Finality(finality::Input::BestBlock(hash))),
            authorship::Output::Rejected { .. } => {}
            authorship::Output::ReportEquivocation(proof) => self.author_reports.push(*proof),
        }
    }

    fn author(
        &mut self,
        parent: Hash,
        slot: u64,
        pre_digest: tessera_runtime::DigestItem,
        actions: &mut Vec<Action>,
    ) {
        let Some(parent_header) = self.store.get(&parent) else {
            return;
        };
        let mut logs = vec![pre_digest];
        logs.extend(
            self.schedule
                .logs(&self.authorship, &parent, slot)
                .unwrap_or_default(),
        );
        let header = Header {
            parent_hash: parent,
            number: parent_header.number.saturating_add(1),
            state_root: blake2_256(&(parent, slot, self.index as u64).encode()),
            extrinsics_root: Hash::ZERO,
            digest: Digest { logs },
        };
        let first = seal_header(&self.key, header.clone());
        if self.behaviour == Behaviour::EquivocatingAuthor {
            let mut other = header;
            other.extrinsics_root = Hash([1; 32]);
            let second = seal_header(&self.key, other);
            self.committed_author_equivocations.insert(slot);
            actions.push(Action::Split(
                Payload::Block(first.clone()),
                Payload::Block(second),
            ));
        } else {
            actions.push(Action::All(Payload::Block(first.clone())));
        }
        self.work
            .push_back(Work::Authorship(authorship::Input::ImportHeader(first)));
    }

    fn on_finality_output(&mut self, output: finality::Output, actions: &mut Vec<Action>) {
        match output {
            finality::Output::Broadcast(FinalityMessage::Vote(vote))
                if vote.id == self.key.public() =>
            {
                self.send_own_vote(vote, actions)
            }
            finality::Output::Broadcast(message) => {
                actions.push(Action::All(Payload::Finality(message)))
            }
            finality::Output::SendTo(peer, message) => {
                actions.push(Action::One(peer.0 as usize, Payload::Finality(message)))
            }
            finality::Output::Finalized {
                target,
                justification,
            } => {
                let set = self
                    .reference_set
                    .as_ref()
                    .unwrap_or(self.finality.authority_set());
                if self.check_justifications
                    && verify_justification_with(set, target, &justification, self.checker.as_mut())
                        .is_err()
                {
                    self.bad_justifications = self.bad_justifications.saturating_add(1);
                }
                self.finalized.push(target);
                self.last_justification = Some((target, justification));
                self.work
                    .push_back(Work::Authorship(authorship::Input::Finalized(target.hash)));
            }
            finality::Output::ReportEquivocation(proof) => self.vote_reports.push(proof),
            finality::Output::NewAuthoritySet { set, .. } => self.reference_set = Some(set),
            finality::Output::UnknownBlock(peer, target) => {
                if !self.store.contains_key(&target.hash) {
                    actions.push(Action::One(
                        peer.0 as usize,
                        Payload::BlockRequest(target.hash),
                    ));
                }
            }
            finality::Output::Verified(_) => {}
            finality::Output::Misbehaviour(..) => {
                self.misbehaviour_seen = self.misbehaviour_seen.saturating_add(1)
            }
        }
    }

    /// Sends this node's own vote, as its behaviour dictates.
    fn send_own_vote(&mut self, vote: SignedVote, actions: &mut Vec<Action>) {
        let Some(phase) = vote.vote.phase() else {
            actions.push(Action::All(Payload::Finality(FinalityMessage::Vote(vote))));
            return;
        };
        let key = (vote.round, phase);
        match self.behaviour {
            Behaviour::EquivocatingVoter => {
                let pair = match self.split_votes.get(&key) {
                    Some(pair) => Some(*pair),
                    None => self.equivocation(&vote, phase),
                };
                match pair {
                    Some((first, second)) => {
                        self.split_votes.insert(key, (first, second));
                        self.committed_vote_equivocations.insert(key);
                        actions.push(Action::Split(
                            Payload::Finality(FinalityMessage::Vote(first)),
                            Payload::Finality(FinalityMessage::Vote(second)),
                        ));
                    }
                    None => {
                        actions.push(Action::All(Payload::Finality(FinalityMessage::Vote(vote))))
                    }
                }
            }
            Behaviour::RandomForkVoter => {
                let random = match self.byzantine_votes.get(&key) {
                    Some(v) => *v,
                    None => {
                        let target = self.random_target().unwrap_or(vote.vote.target());
                        let v = SignedVote::sign(
                            &self.key,
                            Vote::of_phase(phase, target),
                            vote.round,
                            vote.set_id,
                        );
                        self.byzantine_votes.insert(key, v);
                        v
                    }
                };
                actions.push(Action::All(Payload::Finality(FinalityMessage::Vote(
                    random,
                ))));
            }
            _ => actions.push(Action::All(Payload::Finality(FinalityMessage::Vote(vote)))),
        }
    }

    /// Two votes for different blocks in `vote`'s round and phase: while a partition is in
    /// force, for the forks of its even and odd sides; otherwise `vote` and one for a block on
    /// another fork.
    fn equivocation(&self, vote: &SignedVote, phase: Phase) -> Option<(SignedVote, SignedVote)> {
        let sign = |target: Target| {
            SignedVote::sign(
                &self.key,
                Vote::of_phase(phase, target),
                vote.round,
                vote.set_id,
            )
        };
        if let (Some(even), Some(odd)) = (self.side_head(0), self.side_head(1)) {
            if even != odd {
                return Some((sign(even), sign(odd)));
            }
        }
        let other = self.other_target(&vote.vote.target())?;
        Some((*vote, sign(other)))
    }

    /// The highest known block authored on the side of parity `parity` of the partition in
    /// force (bridges excluded).
    fn side_head(&self, parity: u8) -> Option<Target> {
        let now = self.now;
        let partition = self
            .partitions
            .iter()
            .find(|p| now >= p.from_ms && now < p.until_ms)?;
        let tree = self.finality.tree();
        tree.hashes()
            .filter_map(|hash| {
                let header = tree.header(hash)?;
                let author = PreDigest::from_header(header)?.authority_index() as usize;
                let group = *partition.groups.get(author)?;
                (group != BRIDGE && group % 2 == parity).then_some((header.number, *hash))
            })
            .max()
            .map(|(number, hash)| Target { hash, number })
    }

    /// The highest known block that conflicts with `target` (neither its ancestor nor its
    /// descendant), if the tree has another fork.
    fn other_target(&self, target: &Target) -> Option<Target> {
        let tree = self.finality.tree();
        tree.hashes()
            .filter(|hash| {
                !tree.is_descendant_or_equal(hash, &target.hash)
                    && !tree.is_descendant_or_equal(&target.hash, hash)
            })
            .filter_map(|hash| Some((tree.number(hash)?, *hash)))
            .max()
            .map(|(number, hash)| Target { hash, number })
    }

    /// A random block of the unfinalized tree.
    fn random_target(&mut self) -> Option<Target> {
        let tree = self.finality.tree();
        let hashes: Vec<Hash> = tree.hashes().copied().collect();
        let hash = *hashes.choose(&mut self.rng)?;
        Some(Target {
            hash,
            number: tree.number(&hash)?,
        })
    }

    /// The node's authority id.
    pub fn id(&self) -> AccountId {
        self.key.public()
    }
}
