//! A seeded, deterministic network of validators running [`ApprovalEngine`] and [`Disputes`]:
//! relay blocks include a candidate on every core, messages arrive after a random delay (later
//! still when lost and sent again), some validators vanish after announcing their assignments
//! (no-shows), byzantine ones approve without checking and back invalid candidates, and others
//! dispute every candidate they check. [`run`] reports what every honest validator approved, how
//! late, how disputes concluded and whom they named, and what the protocol cost in messages and
//! bytes.
//!
//! Assignments here are drawn with a keyed hash instead of a VRF and signatures name their
//! signer instead of proving it: the same rules ([`crate::assignment::combine`],
//! [`crate::assignment::check_claimed`], [`crate::assignment::delay_tranche_of`]) at a cost that
//! lets a run cover a thousand seeds. The real [`crate::assignment::ValidatorKeys`] is tested on
//! its own.
#![allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]

use crate::assignment::{
    check_claimed, combine, delay_tranche_of, AssignmentCert, AssignmentKind, Crypto,
    InvalidAssignment, OurAssignment, RelayVrfStory,
};
use crate::disputes::{DisputeMessage, DisputeOutput, Disputes};
use crate::engine::{ApprovalEngine, IncludedCandidate, Message, NewBlock, Output};
use crate::{ApprovalConfig, CoreIndex, DelayTranche, ValidatorIndex};
use parity_scale_codec::Encode;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap};
use tessera_runtime::{Hash, Signature};

/// How much later a lost message arrives.
pub const RETRANSMIT_MS: u64 = 1_000;

/// splitmix64's finalizer: a fast keyed hash with well-spread output.
fn mix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn draw(parts: &[u64]) -> u64 {
    parts.iter().fold(0, |acc, part| mix(acc ^ part))
}

/// The simulator's stand-in for VRFs and signatures (see the module docs).
#[derive(Clone, Debug)]
pub struct SimCrypto {
    seed: u64,
    me: Option<ValidatorIndex>,
}

impl SimCrypto {
    fn story_word(story: &RelayVrfStory) -> u64 {
        let mut word = [0u8; 8];
        word.copy_from_slice(&story.0[..8]);
        u64::from_le_bytes(word)
    }

    fn drawn(
        &self,
        who: ValidatorIndex,
        story: &RelayVrfStory,
        config: &ApprovalConfig,
        n_cores: u32,
    ) -> Vec<CoreIndex> {
        let story = Self::story_word(story);
        let mut cores: Vec<CoreIndex> = (0..config.relay_vrf_modulo_samples)
            .map(|sample| {
                let random = draw(&[self.seed, story, u64::from(who.0), 0, u64::from(sample)]);
                CoreIndex((random % u64::from(n_cores.max(1))) as u32)
            })
            .collect();
        cores.sort_unstable();
        cores.dedup();
        cores
    }

    fn tranche(
        &self,
        who: ValidatorIndex,
        story: &RelayVrfStory,
        config: &ApprovalConfig,
        core: CoreIndex,
    ) -> DelayTranche {
        let story = Self::story_word(story);
        let random = draw(&[self.seed, story, u64::from(who.0), 1, u64::from(core.0)]);
        delay_tranche_of(random as u32, config)
    }

    fn cert(kind: AssignmentKind) -> AssignmentCert {
        AssignmentCert {
            kind,
            output: [0; 32],
            proof: [0; 64],
        }
    }
}

impl Crypto for SimCrypto {
    fn assignments(
        &self,
        story: &RelayVrfStory,
        config: &ApprovalConfig,
        n_cores: u32,
        occupied: &[CoreIndex],
    ) -> BTreeMap<CoreIndex, OurAssignment> {
        let Some(me) = self.me else {
            return BTreeMap::new();
        };
        let drawn = self.drawn(me, story, config, n_cores);
        let modulo = |cores| Self::cert(AssignmentKind::Modulo { cores });
        combine(occupied, (drawn, modulo), |core| {
            let tranche = self.tranche(me, story, config, core);
            (tranche, Self::cert(AssignmentKind::Delay { core }))
        })
    }

    fn check_assignment(
        &self,
        validator: ValidatorIndex,
        story: &RelayVrfStory,
        config: &ApprovalConfig,
        n_cores: u32,
        cert: &AssignmentCert,
    ) -> Result<(Vec<CoreIndex>, DelayTranche), InvalidAssignment> {
        match &cert.kind {
            AssignmentKind::Modulo { cores } => {
                check_claimed(
                    cores,
                    &self.drawn(validator, story, config, n_cores),
                    config,
                )?;
                Ok((cores.clone(), 0))
            }
            AssignmentKind::Delay { core } if core.0 < n_cores => {
                Ok((vec![*core], self.tranche(validator, story, config, *core)))
            }
            AssignmentKind::Delay { core } => Err(InvalidAssignment::NoSuchCore(core.0, n_cores)),
        }
    }

    fn sign(&self, _payload: &[u8]) -> Option<Signature> {
        let me = self.me?;
        let mut signature = [0u8; 64];
        signature[..4].copy_from_slice(&me.0.to_le_bytes());
        Some(Signature(signature))
    }

    fn verify(&self, validator: ValidatorIndex, _payload: &[u8], signature: &Signature) -> bool {
        signature.0[..4] == validator.0.to_le_bytes()
    }
}

/// How a simulated validator behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// Checks what it is assigned and approves it if valid, disputes it if not.
    Honest,
    /// Announces its assignments, then vanishes (a SIGKILLed checker): never approves.
    NoShow,
    /// Byzantine: approves whatever it is assigned without checking, votes valid in every
    /// dispute, and backs invalid candidates with another byzantine validator.
    ApprovesBlindly,
    /// Byzantine: says every candidate it is assigned is invalid, opening a dispute.
    DisputesEverything,
}

/// A simulated network and its load.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// Seeds everything random.
    pub seed: u64,
    /// Validators.
    pub validators: u32,
    /// Cores: every relay block includes one candidate on each.
    pub cores: u32,
    /// Relay blocks.
    pub blocks: u32,
    /// Slot length.
    pub slot_ms: u64,
    /// The approval protocol's parameters.
    pub approval: ApprovalConfig,
    /// Smallest message delay.
    pub min_latency_ms: u64,
    /// Largest message delay.
    pub max_latency_ms: u64,
    /// Chance a message to one validator is lost and sent again [`RETRANSMIT_MS`] later, in
    /// parts per million (validators talk over streams: a message is late, never missing; a
    /// validator that is gone is a [`Behaviour::NoShow`]).
    pub loss_ppm: u32,
    /// Shortest and longest time a check (recovery and validation) takes.
    pub check_ms: (u64, u64),
    /// Validators that vanish after announcing ([`Behaviour::NoShow`]).
    pub no_shows: u32,
    /// Byzantine validators ([`Behaviour::ApprovesBlindly`]).
    pub byzantine: u32,
    /// Byzantine validators ([`Behaviour::DisputesEverything`]).
    pub disputers: u32,
    /// Chance a candidate is invalid (backed by two byzantine validators), in parts per
    /// million; none without two byzantine validators.
    pub invalid_ppm: u32,
    /// How often validators are told the time.
    pub tick_ms: u64,
}

impl SimConfig {
    /// `validators` and `cores` with Polkadot's approval parameters and about `needed` checkers
    /// per candidate in tranche 0; an honest, lossless network otherwise.
    pub fn new(seed: u64, validators: u32, cores: u32) -> Self {
        let approval = ApprovalConfig::polkadot();
        let samples = (approval.needed_approvals * cores)
            .div_ceil(validators.max(1))
            .max(1);
        SimConfig {
            seed,
            validators,
            cores,
            blocks: 4,
            slot_ms: 6_000,
            approval: ApprovalConfig {
                relay_vrf_modulo_samples: samples,
                ..approval
            },
            min_latency_ms: 20,
            max_latency_ms: 300,
            loss_ppm: 0,
            check_ms: (200, 2_000),
            no_shows: 0,
            byzantine: 0,
            disputers: 0,
            invalid_ppm: 0,
            tick_ms: 250,
        }
    }
}

/// What a run showed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct SimReport {
    /// Candidates included.
    pub candidates: u64,
    /// Of them, invalid.
    pub invalid: u64,
    /// Honest validators' approvals of blocks that include an invalid candidate (or descend
    /// from one): must be none.
    pub invalid_approved: u64,
    /// Blocks with only valid candidates (on a valid chain) that some honest validator had not
    /// approved by the end: must be none.
    pub valid_unapproved: u64,
    /// Latest approval of a valid block by an honest validator, from the block's slot.
    pub max_lag_ms: u64,
    /// Mean of the same.
    pub mean_lag_ms: u64,
    /// Checks started (a validator recovering and validating a candidate).
    pub checks: u64,
    /// Assignment messages sent.
    pub assignments: u64,
    /// Approval messages sent.
    pub approvals: u64,
    /// Dispute votes sent.
    pub dispute_votes: u64,
    /// Candidates whose dispute concluded valid at every honest validator.
    pub concluded_valid: u64,
    /// Candidates whose dispute concluded invalid at every honest validator.
    pub concluded_invalid: u64,
    /// Disputes some honest validator joined that had not concluded at every honest validator
    /// by the end.
    pub unconcluded: u64,
    /// Validators some honest validator found on the losing side of a dispute.
    pub offenders: BTreeSet<u32>,
    /// Of them, honest ones: must be none.
    pub honest_offenders: u64,
    /// Bytes of all messages sent, once per message (as SCALE-encoded).
    pub bytes: u64,
    /// Messages validators refused (sent for a block they had pruned, say).
    pub refused: u64,
}

impl SimReport {
    /// Approval messages (assignments and approvals) each validator sent per relay block.
    pub fn messages_per_validator_block(&self, config: &SimConfig) -> f64 {
        let sent = self.assignments + self.approvals;
        sent as f64 / (f64::from(config.validators) * f64::from(config.blocks))
    }

    /// The same with one assignment and one approval message per check, as Polkadot's
    /// unaggregated protocol sends.
    pub fn unaggregated_per_validator_block(&self, config: &SimConfig) -> f64 {
        (2 * self.checks) as f64 / (f64::from(config.validators) * f64::from(config.blocks))
    }

    /// Bytes each validator sent per relay block.
    pub fn bytes_per_validator_block(&self, config: &SimConfig) -> f64 {
        self.bytes as f64 / (f64::from(config.validators) * f64::from(config.blocks))
    }
}

/// What validators send each other.
#[derive(Clone)]
enum Wire {
    Approval(Message),
    Dispute(DisputeMessage),
}

enum Event {
    Block(usize, u32),
    /// One copy shared by every receiver: heap entries stay small.
    Deliver(usize, std::rc::Rc<Wire>),
    Checked {
        node: usize,
        block: Hash,
        candidate: u32,
        valid: bool,
    },
    DisputeChecked {
        node: usize,
        candidate: Hash,
        valid: bool,
    },
    Tick,
}

/// An event due at a time; ties go in the order they were queued.
struct Due {
    at: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

struct Queue {
    heap: BinaryHeap<Reverse<Due>>,
    /// The last delivery time on each link, `from * n + to`.
    links: Vec<u64>,
    seq: u64,
}

impl Queue {
    fn push(&mut self, at: u64, event: Event) {
        self.seq += 1;
        let seq = self.seq;
        self.heap.push(Reverse(Due { at, seq, event }));
    }

    fn pop(&mut self) -> Option<(u64, Event)> {
        let Reverse(due) = self.heap.pop()?;
        Some((due.at, due.event))
    }
}

struct SimBlock {
    block: NewBlock,
    /// No invalid candidate in it or its ancestors.
    good: bool,
}

/// One simulated validator.
struct Node {
    role: Behaviour,
    engine: ApprovalEngine<SimCrypto>,
    disputes: Disputes<SimCrypto>,
    /// Messages about blocks not imported yet, in the order they came.
    early: Vec<Message>,
    /// When it approved each block, by the block's position.
    approved_at: HashMap<usize, u64>,
}

/// The network being simulated.
struct Sim<'a> {
    config: &'a SimConfig,
    rng: ChaCha8Rng,
    nodes: Vec<Node>,
    queue: Queue,
    report: SimReport,
    index_of: HashMap<Hash, usize>,
}

/// Whether the simulator made `candidate` invalid (its hash's last byte says so).
fn is_valid(candidate: &Hash) -> bool {
    candidate.0[31] == 0
}

impl Sim<'_> {
    fn broadcast(&mut self, from: usize, wire: Wire, now: u64) {
        let bytes = match &wire {
            Wire::Approval(message) => message.encoded_size(),
            Wire::Dispute(message) => message.encoded_size(),
        };
        self.report.bytes += bytes as u64;
        let n = self.nodes.len();
        let wire = std::rc::Rc::new(wire);
        for to in 0..n {
            if to == from {
                continue;
            }
            // Each link delivers in order, as a stream does, and a lost packet costs a
            // retransmission.
            let mut delay = self
                .rng
                .gen_range(self.config.min_latency_ms..=self.config.max_latency_ms);
            while self.rng.gen_range(0..1_000_000) < self.config.loss_ppm {
                delay += RETRANSMIT_MS;
            }
            let link = &mut self.queue.links[from * n + to];
            *link = (*link).max(now + delay);
            let at = *link;
            self.queue
                .push(at, Event::Deliver(to, std::rc::Rc::clone(&wire)));
        }
    }

    fn check_time(&mut self) -> u64 {
        self.rng
            .gen_range(self.config.check_ms.0..=self.config.check_ms.1)
    }

    fn on_approval_outputs(&mut self, node: usize, outputs: Vec<Output>, now: u64) {
        for output in outputs {
            match output {
                Output::Send(message) => {
                    match &message {
                        Message::Assignment(_) => self.report.assignments += 1,
                        Message::Approval(_) => self.report.approvals += 1,
                    }
                    self.broadcast(node, Wire::Approval(message), now);
                }
                Output::Check {
                    block,
                    candidate,
                    hash,
                } => {
                    self.report.checks += 1;
                    let (after, valid) = match self.nodes[node].role {
                        Behaviour::Honest => (self.check_time(), is_valid(&hash)),
                        Behaviour::ApprovesBlindly => (1, true),
                        Behaviour::DisputesEverything => (1, false),
                        Behaviour::NoShow => continue,
                    };
                    let checked = Event::Checked {
                        node,
                        block,
                        candidate,
                        valid,
                    };
                    self.queue.push(now + after, checked);
                }
                Output::Approved(hash) => {
                    if let Some(&index) = self.index_of.get(&hash) {
                        self.nodes[node].approved_at.entry(index).or_insert(now);
                    }
                }
                // Rewards are the chain's business, not the protocol's.
                Output::ApprovedBy { .. } => {}
                Output::FoundInvalid { candidate, .. } => {
                    let outputs = self.nodes[node].disputes.checked(candidate, false);
                    self.on_dispute_outputs(node, outputs, now);
                }
            }
        }
    }

    fn on_dispute_outputs(&mut self, node: usize, outputs: Vec<DisputeOutput>, now: u64) {
        for output in outputs {
            match output {
                DisputeOutput::Send(message) => {
                    self.report.dispute_votes += 1;
                    let candidate = message.opening.candidate;
                    if self.nodes[node].disputes.is_active(&candidate) {
                        let held = self.nodes[node].engine.dispute(&candidate, true, now);
                        self.on_approval_outputs(node, held, now);
                    }
                    self.broadcast(node, Wire::Dispute(message), now);
                }
                DisputeOutput::Check(candidate) => {
                    let (after, valid) = match self.nodes[node].role {
                        Behaviour::Honest => (self.check_time(), is_valid(&candidate)),
                        Behaviour::ApprovesBlindly => (1, true),
                        Behaviour::DisputesEverything => (1, false),
                        Behaviour::NoShow => continue,
                    };
                    let checked = Event::DisputeChecked {
                        node,
                        candidate,
                        valid,
                    };
                    self.queue.push(now + after, checked);
                }
                DisputeOutput::Concluded(concluded) => {
                    if self.nodes[node].role == Behaviour::Honest {
                        let named = concluded.offenders().into_iter().map(|v| v.0);
                        self.report.offenders.extend(named);
                    }
                    let still = !concluded.valid;
                    let outputs = self.nodes[node]
                        .engine
                        .dispute(&concluded.candidate, still, now);
                    self.on_approval_outputs(node, outputs, now);
                }
            }
        }
    }

    fn deliver(&mut self, to: usize, wire: &Wire, now: u64) {
        match wire.clone() {
            Wire::Approval(message) => {
                if self.nodes[to]
                    .engine
                    .is_approved(&message.block())
                    .is_none()
                {
                    // Not imported yet: a node's gossip keeps it for when it is (bounded per
                    // peer there; here every block arrives within the latency bound).
                    self.nodes[to].early.push(message);
                    return;
                }
                match self.nodes[to].engine.message(message, now) {
                    Ok(outputs) => self.on_approval_outputs(to, outputs, now),
                    Err(_) => self.report.refused += 1,
                }
            }
            Wire::Dispute(message) => {
                let candidate = message.opening.candidate;
                match self.nodes[to].disputes.message(message) {
                    Ok(outputs) => {
                        if self.nodes[to].disputes.is_active(&candidate) {
                            let held = self.nodes[to].engine.dispute(&candidate, true, now);
                            self.on_approval_outputs(to, held, now);
                        }
                        self.on_dispute_outputs(to, outputs, now);
                    }
                    Err(_) => self.report.refused += 1,
                }
            }
        }
    }

    fn import(&mut self, node: usize, block: NewBlock, now: u64) {
        let hash = block.hash;
        let mut outputs = self.nodes[node].engine.new_block(block, now);
        let (came, rest): (Vec<Message>, Vec<Message>) =
            std::mem::take(&mut self.nodes[node].early)
                .into_iter()
                .partition(|message| message.block() == hash);
        self.nodes[node].early = rest;
        for message in came {
            match self.nodes[node].engine.message(message, now) {
                Ok(more) => outputs.extend(more),
                Err(_) => self.report.refused += 1,
            }
        }
        self.on_approval_outputs(node, outputs, now);
    }
}

/// Runs `config` to the end: every block's slot, then long enough for every tranche and two
/// rounds of no-shows.
pub fn run(config: &SimConfig) -> SimReport {
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let n = config.validators as usize;
    let mut roles = vec![Behaviour::Honest; n];
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let byzantine: Vec<usize> = order
        .iter()
        .copied()
        .take(config.byzantine as usize)
        .collect();
    let mut others = order.iter().copied().skip(byzantine.len());
    for &i in &byzantine {
        roles[i] = Behaviour::ApprovesBlindly;
    }
    for i in others.by_ref().take(config.disputers as usize) {
        roles[i] = Behaviour::DisputesEverything;
    }
    for i in others.take(config.no_shows as usize) {
        roles[i] = Behaviour::NoShow;
    }
    let nodes: Vec<Node> = roles
        .iter()
        .enumerate()
        .map(|(i, role)| {
            let me = Some(ValidatorIndex(i as u32));
            let crypto = SimCrypto {
                seed: config.seed,
                me,
            };
            Node {
                role: *role,
                engine: ApprovalEngine::new(config.approval, crypto.clone(), me, config.validators),
                disputes: Disputes::new(crypto, me, 0, config.validators),
                early: Vec::new(),
                approved_at: HashMap::new(),
            }
        })
        .collect();

    // The chain: a block with an invalid candidate is reverted, so the next builds on its parent.
    let mut blocks: Vec<SimBlock> = Vec::new();
    let mut report = SimReport::default();
    // The chain's tip: hash, number, and whether its chain is valid.
    let mut tip: (Hash, u32, bool) = (Hash::default(), 0, true);
    for slot in 1..=config.blocks {
        let mut candidates = Vec::new();
        let mut bad = false;
        for core in 0..config.cores {
            let invalid = byzantine.len() >= 2 && rng.gen_range(0..1_000_000) < config.invalid_ppm;
            let backers: Vec<ValidatorIndex> = if invalid {
                byzantine
                    .choose_multiple(&mut rng, 2)
                    .map(|&i| ValidatorIndex(i as u32))
                    .collect()
            } else {
                (0..2)
                    .map(|_| ValidatorIndex(rng.gen_range(0..config.validators)))
                    .collect()
            };
            let mut hash = [0u8; 32];
            rng.fill(&mut hash);
            // Candidate validity rides in the hash's last byte, for the simulator alone.
            hash[31] = u8::from(invalid);
            bad |= invalid;
            candidates.push(IncludedCandidate {
                hash: Hash(hash),
                core: CoreIndex(core),
                backers,
            });
        }
        report.candidates += u64::from(config.cores);
        report.invalid += candidates.iter().filter(|c| !is_valid(&c.hash)).count() as u64;
        let mut hash = [0u8; 32];
        rng.fill(&mut hash);
        let mut story = [0u8; 32];
        rng.fill(&mut story);
        let block = NewBlock {
            hash: Hash(hash),
            parent: tip.0,
            number: tip.1 + 1,
            slot_ms: config.slot_ms * u64::from(slot),
            story: RelayVrfStory(story),
            n_cores: config.cores,
            candidates,
            sent: Vec::new(),
        };
        let good = tip.2 && !bad;
        if !bad {
            tip = (block.hash, block.number, good);
        }
        blocks.push(SimBlock { block, good });
    }

    let mut queue = Queue {
        heap: BinaryHeap::new(),
        links: vec![0; n * n],
        seq: 0,
    };
    for (index, block) in blocks.iter().enumerate() {
        for node in 0..n {
            let delay = rng.gen_range(config.min_latency_ms..=config.max_latency_ms);
            queue.push(
                block.block.slot_ms + delay,
                Event::Block(index, node as u32),
            );
        }
    }
    let approval = &config.approval;
    let end = config.slot_ms * u64::from(config.blocks)
        + approval.tranche_ms * u64::from(approval.n_delay_tranches + 1)
        + 3 * approval.no_show_ms
        + 2 * config.check_ms.1;
    let mut at = 0;
    while at <= end {
        queue.push(at, Event::Tick);
        at += config.tick_ms;
    }
    let index_of = blocks
        .iter()
        .enumerate()
        .map(|(i, b)| (b.block.hash, i))
        .collect();
    let mut sim = Sim {
        config,
        rng,
        nodes,
        queue,
        report,
        index_of,
    };
    // Once every honest validator approved every valid block and no dispute is open, only
    // time would pass: the run ends there.
    let good_blocks = blocks.iter().filter(|b| b.good).count();
    let last_slot = config.slot_ms * u64::from(config.blocks);
    let settled = |sim: &Sim<'_>| {
        sim.nodes
            .iter()
            .filter(|node| node.role == Behaviour::Honest)
            .all(|node| node.approved_at.len() >= good_blocks && node.disputes.active() == 0)
    };
    while let Some((now, event)) = sim.queue.pop() {
        if matches!(event, Event::Tick) && now > last_slot && settled(&sim) {
            break;
        }
        match event {
            Event::Block(index, node) => {
                sim.import(node as usize, blocks[index].block.clone(), now)
            }
            Event::Deliver(to, wire) => sim.deliver(to, &wire, now),
            Event::Checked {
                node,
                block,
                candidate,
                valid,
            } => {
                let outputs = sim.nodes[node].engine.checked(block, candidate, valid, now);
                sim.on_approval_outputs(node, outputs, now);
            }
            Event::DisputeChecked {
                node,
                candidate,
                valid,
            } => {
                let outputs = sim.nodes[node].disputes.checked(candidate, valid);
                sim.on_dispute_outputs(node, outputs, now);
            }
            Event::Tick => {
                for node in 0..n {
                    let outputs = sim.nodes[node].engine.tick(now);
                    sim.on_approval_outputs(node, outputs, now);
                }
            }
        }
    }

    let mut report = sim.report;
    let mut lags = Vec::new();
    let disputed: BTreeSet<Hash> = blocks
        .iter()
        .flat_map(|b| b.block.candidates.iter().map(|c| c.hash))
        .filter(|c| {
            sim.nodes.iter().any(|node| {
                node.role == Behaviour::Honest
                    && (node.disputes.is_active(c) || node.disputes.outcome(c).is_some())
            })
        })
        .collect();
    let honest = || {
        sim.nodes
            .iter()
            .filter(|node| node.role == Behaviour::Honest)
    };
    for candidate in &disputed {
        let outcomes: Vec<Option<bool>> = honest()
            .map(|node| node.disputes.outcome(candidate))
            .collect();
        if outcomes.iter().all(|o| *o == Some(true)) {
            report.concluded_valid += 1;
        } else if outcomes.iter().all(|o| *o == Some(false)) {
            report.concluded_invalid += 1;
        } else {
            report.unconcluded += 1;
        }
    }
    for node in honest() {
        for (index, block) in blocks.iter().enumerate() {
            match (node.approved_at.get(&index), block.good) {
                (Some(_), false) => report.invalid_approved += 1,
                (Some(at), true) => lags.push(at.saturating_sub(block.block.slot_ms)),
                (None, true) => report.valid_unapproved += 1,
                (None, false) => {}
            }
        }
    }
    report.honest_offenders = report
        .offenders
        .iter()
        .filter(|v| sim.nodes[**v as usize].role == Behaviour::Honest)
        .count() as u64;
    report.max_lag_ms = lags.iter().copied().max().unwrap_or(0);
    report.mean_lag_ms = lags
        .iter()
        .sum::<u64>()
        .checked_div(lags.len() as u64)
        .unwrap_or(0);
    report
}
