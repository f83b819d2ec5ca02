//! A seeded, deterministic network simulator: N nodes, each running the authorship and
//! finality engines, over a network with latency, loss and partitions, some of them byzantine.
//!
//! Time is simulated in steps; every random choice comes from one seeded ChaCha generator per
//! purpose; maps are ordered. The same [`SimConfig`] always gives the same run, so a failing
//! seed replays exactly.
//!
//! ```
//! use tessera_consensus::sim::{Sim, SimConfig};
//! let mut sim = Sim::new(SimConfig::new(1, 4));
//! sim.run_until(6_000);
//! assert!(sim.check_safety().is_ok());
//! assert!(sim.min_honest_finalized() > 0);
//! ```

mod cache;
mod network;
mod node;
mod schedule;

pub use cache::SharedVerifier;
pub use network::{Envelope, Network, NetworkConfig, Partition, Payload, BRIDGE};
pub use node::{Behaviour, SimNode};
pub use schedule::{Rotation, Schedule};

use crate::authorship::{AuthorshipConfig, AuthorshipEngine};
use crate::finality::{AuthoritySet, FinalityConfig, FinalityEngine, FinalityMessage};
use crate::{AuthorityKey, PeerId};
use node::Action;
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use tessera_runtime::{Hash, Header};

/// Everything that defines a simulation run.
#[derive(Clone, Debug)]
pub struct SimConfig {
    /// The seed of every random choice.
    pub seed: u64,
    /// Behaviour of each node (the length is the node count).
    pub behaviours: Vec<Behaviour>,
    /// The network.
    pub network: NetworkConfig,
    /// Length of a simulation step in milliseconds.
    pub step_ms: u64,
    /// Slot length in milliseconds.
    pub slot_ms: u64,
    /// Slots per epoch.
    pub epoch_length: u64,
    /// Finality timing.
    pub finality: FinalityConfig,
    /// How many random peers a node forwards a newly seen vote or block to.
    pub gossip_fanout: usize,
    /// Whether nodes check every justification they output with `verify_justification`.
    pub check_justifications: bool,
    /// Fault injection: the engines use a threshold this much weight below the real one, while
    /// justifications are still checked against the real set (the safety check should fail).
    pub threshold_reduction: u64,
    /// Authorities that change each epoch (every node in every epoch when `None`).
    pub rotation: Option<Rotation>,
}

impl SimConfig {
    /// `nodes` honest nodes with the default timing.
    pub fn new(seed: u64, nodes: usize) -> Self {
        SimConfig {
            seed,
            behaviours: vec![Behaviour::Honest; nodes],
            network: NetworkConfig::default(),
            step_ms: 20,
            slot_ms: 400,
            epoch_length: 8,
            finality: FinalityConfig {
                gossip_delay_ms: 100,
                rebroadcast_ms: 800,
                catch_up_timeout_ms: 800,
                max_pending_votes: 20_000,
                kept_rounds: 3,
                commit_senders: 3,
            },
            gossip_fanout: 2,
            check_justifications: true,
            threshold_reduction: 0,
            rotation: None,
        }
    }
}

/// A running simulation.
pub struct Sim {
    /// The configuration it started from.
    pub config: SimConfig,
    /// The nodes, by index.
    pub nodes: Vec<SimNode>,
    /// The network.
    pub network: Network,
    /// The current time in milliseconds.
    pub now: u64,
    /// The shared signature cache.
    pub verifier: SharedVerifier,
    /// Every header any node built, for ancestry checks.
    pub headers: BTreeMap<Hash, Header>,
    rng: ChaCha8Rng,
}

pub use crate::test_headers::genesis;

impl Sim {
    /// Builds the nodes of `config`.
    pub fn new(config: SimConfig) -> Self {
        let keys: Vec<AuthorityKey> = (0..config.behaviours.len() as u64)
            .map(AuthorityKey::from_index)
            .collect();
        let schedule = Schedule::new(keys.clone(), config.rotation);
        let authorities = schedule.authorities(0);
        let mut authorship =
            AuthorshipConfig::new(config.slot_ms, config.epoch_length, authorities.clone());
        authorship.genesis_randomness =
            tessera_runtime::hashing::blake2_256(&config.seed.to_le_bytes()).0;
        let set = AuthoritySet::new(0, authorities).unwrap_or_else(|_| empty_set());
        let engine_set = set
            .clone()
            .with_lowered_threshold(config.threshold_reduction);
        let verifier = SharedVerifier::default();
        let genesis = genesis();
        let nodes = keys
            .into_iter()
            .zip(&config.behaviours)
            .enumerate()
            .map(|(index, (key, behaviour))| {
                let babe =
                    AuthorshipEngine::new(authorship.clone(), genesis.clone(), Some(key.clone()))
                        .with_verifier(Box::new(verifier.clone()));
                let grandpa = FinalityEngine::new(
                    config.finality,
                    engine_set.clone(),
                    genesis.clone(),
                    Some(key.clone()),
                )
                .with_verifier(Box::new(verifier.clone()));
                let rng = ChaCha8Rng::seed_from_u64(config.seed ^ ((index as u64) << 32));
                let mut node = SimNode::new(
                    index,
                    key,
                    *behaviour,
                    babe,
                    grandpa,
                    genesis.clone(),
                    rng,
                    Box::new(verifier.clone()),
                );
                node.check_justifications = config.check_justifications;
                node.reference_set = Some(set.clone());
                node.schedule = schedule.clone();
                node.partitions = config.network.partitions.clone();
                node
            })
            .collect();
        let mut headers = BTreeMap::new();
        headers.insert(genesis.hash(), genesis);
        Sim {
            network: Network::new(config.network.clone()),
            rng: ChaCha8Rng::seed_from_u64(config.seed),
            config,
            nodes,
            now: 0,
            verifier,
            headers,
        }
    }

    /// Runs until simulated time `end_ms`.
    pub fn run_until(&mut self, end_ms: u64) {
        while self.now < end_ms {
            self.step();
        }
    }

    /// One step: deliver due messages, then tick every node.
    pub fn step(&mut self) {
        self.now = self.now.saturating_add(self.config.step_ms.max(1));
        let now = self.now;
        let mut inboxes: BTreeMap<usize, Vec<(PeerId, FinalityMessage)>> = BTreeMap::new();
        let mut outgoing: Vec<(usize, Action)> = Vec::new();
        for envelope in self.network.due(now) {
            let Some(node) = self.nodes.get_mut(envelope.to) else {
                continue;
            };
            let mut actions = Vec::new();
            match envelope.payload {
                Payload::Block(header) => node.on_block(envelope.from, header, &mut actions),
                Payload::BlockRequest(hash) => {
                    node.on_block_request(envelope.from, hash, &mut actions)
                }
                Payload::Finality(message) => {
                    if node.first_sight(&message) {
                        actions.push(Action::Gossip(Payload::Finality(message.clone())));
                    }
                    inboxes
                        .entry(envelope.to)
                        .or_default()
                        .push((PeerId(envelope.from as u64), message));
                }
            }
            outgoing.extend(actions.into_iter().map(|a| (envelope.to, a)));
        }
        for (to, messages) in inboxes {
            let Some(node) = self.nodes.get_mut(to) else {
                continue;
            };
            let mut actions = Vec::new();
            node.on_finality_messages(messages, &mut actions);
            outgoing.extend(actions.into_iter().map(|a| (to, a)));
        }
        for (index, node) in self.nodes.iter_mut().enumerate() {
            let mut actions = Vec::new();
            node.tick(now, &mut actions);
            outgoing.extend(actions.into_iter().map(|a| (index, a)));
        }
        for (from, action) in outgoing {
            self.send(from, action);
        }
    }

    fn send(&mut self, from: usize, action: Action) {
        let now = self.now;
        // Register every block, even unsent ones: a silent author's blocks may be served later.
        let blocks: Vec<&Payload> = match &action {
            Action::All(p) | Action::One(_, p) | Action::Gossip(p) => vec![p],
            Action::Split(a, b) => vec![a, b],
        };
        for payload in blocks {
            if let Payload::Block(header) = payload {
                self.headers.insert(header.hash(), header.clone());
            }
        }
        let Some(node) = self.nodes.get(from) else {
            return;
        };
        if node.is_silent(now) {
            return;
        }
        let n = self.nodes.len();
        match action {
            Action::All(payload) => {
                for to in (0..n).filter(|to| *to != from) {
                    self.network
                        .send(&mut self.rng, now, from, to, payload.clone());
                }
            }
            Action::One(to, payload) => self.network.send(&mut self.rng, now, from, to, payload),
            Action::Gossip(payload) => {
                let amount = self.config.gossip_fanout.min(n.saturating_sub(1));
                let peers: Vec<usize> = sample(&mut self.rng, n.saturating_sub(1), amount)
                    .into_iter()
                    .map(|i| if i >= from { i.saturating_add(1) } else { i })
                    .collect();
                for to in peers {
                    self.network
                        .send(&mut self.rng, now, from, to, payload.clone());
                }
            }
            Action::Split(even, odd) => {
                for to in (0..n).filter(|to| *to != from) {
                    // During a partition each side gets one payload; otherwise by index parity.
                    let side = self.network.side(to, now).map_or(to, usize::from);
                    let payload = if side.is_multiple_of(2) {
                        even.clone()
                    } else {
                        odd.clone()
                    };
                    self.network.send(&mut self.rng, now, from, to, payload);
                }
            }
        }
    }

    /// Whether `descendant` is `ancestor` or descends from it, by the headers built so far.
    pub fn is_descendant(&self, descendant: &Hash, ancestor: &Hash) -> bool {
        let mut current = *descendant;
        for _ in 0..1_000_000 {
            if current == *ancestor {
                return true;
            }
            match self.headers.get(&current) {
                Some(header) if header.number > 0 => current = header.parent_hash,
                _ => return false,
            }
        }
        false
    }

    /// Checks that no two honest nodes finalized conflicting blocks (and that every
    /// justification verified); the error names the seed for replay.
    pub fn check_safety(&self) -> Result<(), String> {
        let seed = self.config.seed;
        let mut all: BTreeMap<(u32, Hash), usize> = BTreeMap::new();
        for node in self.nodes.iter().filter(|n| n.is_honest()) {
            if node.bad_justifications > 0 {
                return Err(format!(
                    "seed {seed}: node {} output a justification that does not verify",
                    node.index
                ));
            }
            for target in &node.finalized {
                all.entry((target.number, target.hash))
                    .or_insert(node.index);
            }
        }
        let Some(((_, highest), _)) = all.last_key_value() else {
            return Ok(());
        };
        for ((number, hash), index) in &all {
            if !self.is_descendant(highest, hash) {
                return Err(format!(
                    "seed {seed}: node {index} finalized #{number} {hash}, which conflicts with {highest}"
                ));
            }
        }
        Ok(())
    }

    /// The lowest finalized number among honest nodes.
    pub fn min_honest_finalized(&self) -> u32 {
        self.nodes
            .iter()
            .filter(|n| n.is_honest())
            .map(SimNode::finalized_number)
            .min()
            .unwrap_or_default()
    }

    /// The highest best-block number among honest nodes.
    pub fn max_honest_best(&self) -> u32 {
        self.nodes
            .iter()
            .filter(|n| n.is_honest())
            .filter_map(|n| n.authorship.header(&n.authorship.best()).map(|h| h.number))
            .max()
            .unwrap_or_default()
    }
}

/// Unreachable fallback: simulated authority lists are never empty or duplicated.
fn empty_set() -> AuthoritySet {
    let key = AuthorityKey::from_index(u64::MAX);
    match AuthoritySet::new(0, vec![(key.public(), 1)]) {
        Ok(set) => set,
        Err(_) => unreachable_set(),
    }
}

#[allow(clippy::panic)]
fn unreachable_set() -> AuthoritySet {
    panic!("a one-authority set is valid")
}
