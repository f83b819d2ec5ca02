//! The simulated network: a time-ordered queue of messages with latency, loss and partitions.

use crate::finality::FinalityMessage;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeMap;
use tessera_runtime::{Hash, Header};

/// What travels between simulated nodes.
#[derive(Clone, Debug)]
pub enum Payload {
    /// A block announcement (the header stands for the whole block).
    Block(Header),
    /// A request for a missing block.
    BlockRequest(Hash),
    /// A finality message.
    Finality(FinalityMessage),
}

/// The group of a node that sits on both sides of a partition (a byzantine bridge): it reaches,
/// and is reached from, every group.
pub const BRIDGE: u8 = u8::MAX;

/// A partition: from `from_ms` until `until_ms`, nodes only reach nodes of their own group
/// (and [`BRIDGE`] nodes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Partition {
    /// Start (inclusive).
    pub from_ms: u64,
    /// End (exclusive): the heal.
    pub until_ms: u64,
    /// Group of each node, by index.
    pub groups: Vec<u8>,
}

/// Latency, loss and partitions.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkConfig {
    /// Smallest one-way delay (at least 1 ms).
    pub min_latency_ms: u64,
    /// Largest one-way delay.
    pub max_latency_ms: u64,
    /// Probability that a message is lost, in parts per million.
    pub loss_ppm: u32,
    /// Partitions in force over time.
    pub partitions: Vec<Partition>,
}

impl Default for NetworkConfig {
    fn default() -> Self {
        NetworkConfig {
            min_latency_ms: 10,
            max_latency_ms: 100,
            loss_ppm: 0,
            partitions: Vec::new(),
        }
    }
}

/// A message in flight.
#[derive(Clone, Debug)]
pub struct Envelope {
    /// Sender index.
    pub from: usize,
    /// Receiver index.
    pub to: usize,
    /// The message.
    pub payload: Payload,
}

/// Messages in flight, ordered by delivery time and then by send order.
#[derive(Default)]
pub struct Network {
    config: NetworkConfig,
    queue: BTreeMap<(u64, u64), Envelope>,
    sequence: u64,
    /// Messages handed to the network.
    pub sent: u64,
    /// Messages dropped by loss or partitions.
    pub dropped: u64,
}

impl Network {
    /// An empty network.
    pub fn new(config: NetworkConfig) -> Self {
        Network {
            config,
            ..Network::default()
        }
    }

    /// Whether `a` and `b` can talk at `now`.
    pub fn connected(&self, a: usize, b: usize, now: u64) -> bool {
        self.config.partitions.iter().all(|p| {
            let (ga, gb) = (p.groups.get(a), p.groups.get(b));
            now < p.from_ms
                || now >= p.until_ms
                || ga == gb
                || ga == Some(&BRIDGE)
                || gb == Some(&BRIDGE)
        })
    }

    /// The group of `node` in the first partition in force at `now`.
    pub fn side(&self, node: usize, now: u64) -> Option<u8> {
        self.config
            .partitions
            .iter()
            .find(|p| now >= p.from_ms && now < p.until_ms)
            .and_then(|p| p.groups.get(node).copied())
    }

    /// Sends `payload` from `from` to `to` at `now`, subject to loss, partitions and latency.
    pub fn send(
        &mut self,
        rng: &mut ChaCha8Rng,
        now: u64,
        from: usize,
        to: usize,
        payload: Payload,
    ) {
        self.sent = self.sent.saturating_add(1);
        let lost =
            self.config.loss_ppm > 0 && rng.gen_range(0..1_000_000u32) < self.config.loss_ppm;
        if lost || !self.connected(from, to, now) {
            self.dropped = self.dropped.saturating_add(1);
            return;
        }
        let min = self.config.min_latency_ms.max(1);
        let max = self.config.max_latency_ms.max(min);
        let at = now.saturating_add(rng.gen_range(min..=max));
        self.sequence = self.sequence.saturating_add(1);
        self.queue
            .insert((at, self.sequence), Envelope { from, to, payload });
    }

    /// Removes and returns every message due at or before `now`, in order.
    pub fn due(&mut self, now: u64) -> Vec<Envelope> {
        let later = self.queue.split_off(&(now.saturating_add(1), 0));
        let due = std::mem::replace(&mut self.queue, later);
        due.into_values().collect()
    }

    /// Messages still in flight.
    pub fn in_flight(&self) -> usize {
        self.queue.len()
    }
}
