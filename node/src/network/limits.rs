//! What one peer, or all of them, may take of this node: connections, request rates, and the
//! bytes waiting for the node loop.

use libp2p::PeerId;
use std::collections::{HashMap, HashSet};
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// Connection and rate limits of a node's network.
#[derive(Clone, Debug, PartialEq)]
pub struct NetworkLimits {
    /// Most connections in all (inbound and outbound).
    pub max_connections: u32,
    /// Most inbound connections.
    pub max_inbound: u32,
    /// Most inbound connections still in their handshake.
    pub max_pending_inbound: u32,
    /// Most peers with inbound connections from one IP address.
    pub max_inbound_per_ip: u32,
    /// Bytes of unsolicited messages (gossip, direct messages, collations) that may wait for
    /// the node loop; beyond it new ones are dropped unforwarded until the node catches up.
    pub max_queued_bytes: usize,
}

impl Default for NetworkLimits {
    fn default() -> Self {
        NetworkLimits {
            max_connections: 256,
            max_inbound: 192,
            max_pending_inbound: 32,
            max_inbound_per_ip: 16,
            max_queued_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The inbound request protocols, each with its own rate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(super) enum Inbound {
    Sync,
    Direct,
    Chunks,
    AvailableData,
    Collations,
    ParaBlocks,
}

impl Inbound {
    /// Sustained requests per second, and the burst allowed above it.
    fn rate(self) -> (f64, f64) {
        match self {
            // Catching up asks one batch at a time; a little slack for retries.
            Inbound::Sync => (10.0, 20.0),
            // Finality catch-up requests and answers (a few per round), and a validator's
            // approval catch-up when it connects (a few messages).
            Inbound::Direct => (10.0, 20.0),
            // One chunk per candidate per relay block for each validator.
            Inbound::Chunks => (50.0, 100.0),
            // Each checker of a candidate asks one of its backers, once (up to 5 MiB each).
            Inbound::AvailableData => (5.0, 10.0),
            // A collator sends one collation per relay parent to each backer.
            Inbound::Collations => (4.0, 8.0),
            Inbound::ParaBlocks => (10.0, 20.0),
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// Token buckets per peer and inbound protocol.
#[derive(Debug, Default)]
pub(super) struct RequestRates {
    buckets: HashMap<(PeerId, Inbound), Bucket>,
}

impl RequestRates {
    /// Takes a token for a request of `peer` on `protocol`; `false` if it is over its rate.
    pub(super) fn admit(&mut self, peer: PeerId, protocol: Inbound, now: Instant) -> bool {
        let (rate, burst) = protocol.rate();
        let bucket = self.buckets.entry((peer, protocol)).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * rate).min(burst);
        bucket.at = now;
        if bucket.tokens < 1.0 {
            return false;
        }
        bucket.tokens -= 1.0;
        true
    }

    /// Forgets a disconnected peer's buckets.
    pub(super) fn forget(&mut self, peer: &PeerId) {
        self.buckets.retain(|(p, _), _| p != peer);
    }
}

/// The peers with inbound connections from each IP address, with their connection counts.
#[derive(Debug, Default)]
pub(super) struct PerIp {
    peers: HashMap<IpAddr, HashMap<PeerId, u32>>,
}

impl PerIp {
    /// Counts an inbound connection of `peer` from `ip`, unless that would make more than
    /// `max` peers from the address (a peer's second connection is not another peer): then
    /// `false`, and nothing is counted.
    pub(super) fn add(&mut self, ip: IpAddr, peer: PeerId, max: u32) -> bool {
        let peers = self.peers.entry(ip).or_default();
        if !peers.contains_key(&peer) && peers.len() >= max as usize {
            return false;
        }
        let count = peers.entry(peer).or_default();
        *count = count.saturating_add(1);
        true
    }

    /// Uncounts a closed inbound connection.
    pub(super) fn remove(&mut self, ip: IpAddr, peer: PeerId) {
        let Some(peers) = self.peers.get_mut(&ip) else {
            return;
        };
        if let Some(count) = peers.get_mut(&peer) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                peers.remove(&peer);
            }
        }
        if peers.is_empty() {
            self.peers.remove(&ip);
        }
    }
}

/// What the network task and the node's event queue share: the bytes queued, and the peers
/// banned since (their queued events are dropped unread).
#[derive(Debug, Default)]
pub(super) struct Queue {
    bytes: AtomicUsize,
    banned: Mutex<HashSet<PeerId>>,
}

impl Queue {
    /// Reserves `bytes` if the total stays within `max`.
    pub(super) fn reserve(&self, bytes: usize, max: usize) -> bool {
        self.bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                let total = queued.saturating_add(bytes);
                (total <= max).then_some(total)
            })
            .is_ok()
    }

    /// Releases `bytes` once their event has been taken.
    pub(super) fn release(&self, bytes: usize) {
        let _always = self
            .bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |queued| {
                Some(queued.saturating_sub(bytes))
            });
    }

    pub(super) fn set_banned(&self, peer: PeerId, banned: bool) {
        let mut set = self.banned.lock().unwrap_or_else(|e| e.into_inner());
        if banned {
            set.insert(peer);
        } else {
            set.remove(&peer);
        }
    }

    /// Keeps only the banned peers for which `still` holds (the others' bans expired).
    pub(super) fn retain_banned(&self, mut still: impl FnMut(&PeerId) -> bool) {
        let mut set = self.banned.lock().unwrap_or_else(|e| e.into_inner());
        set.retain(|peer| still(peer));
    }

    pub(super) fn is_banned(&self, peer: &PeerId) -> bool {
        self.banned
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .contains(peer)
    }
}

/// Shared handle on the queue state.
pub(super) type SharedQueue = Arc<Queue>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn a_peer_over_its_rate_is_refused_until_tokens_refill() {
        let mut rates = RequestRates::default();
        let peer = PeerId::random();
        let now = Instant::now();
        let admitted = (0..100)
            .filter(|_| rates.admit(peer, Inbound::Collations, now))
            .count();
        assert_eq!(admitted, 8);
        // Another peer and another protocol have their own buckets.
        assert!(rates.admit(PeerId::random(), Inbound::Collations, now));
        assert!(rates.admit(peer, Inbound::Sync, now));
        assert!(rates.admit(peer, Inbound::Collations, now + Duration::from_millis(250)));
        assert!(!rates.admit(peer, Inbound::Collations, now + Duration::from_millis(250)));
    }

    #[test]
    fn queued_bytes_are_bounded() {
        let queue = Queue::default();
        assert!(queue.reserve(60, 100));
        assert!(!queue.reserve(60, 100));
        queue.release(60);
        assert!(queue.reserve(60, 100));
    }

    #[test]
    fn inbound_peers_per_ip_are_counted() {
        let mut per_ip = PerIp::default();
        let ip: IpAddr = [127, 0, 0, 1].into();
        let (a, b, c) = (PeerId::random(), PeerId::random(), PeerId::random());
        assert!(per_ip.add(ip, a, 2));
        assert!(per_ip.add(ip, a, 2), "a second connection of one peer");
        assert!(per_ip.add(ip, b, 2));
        assert!(!per_ip.add(ip, c, 2));
        assert!(!per_ip.add(ip, c, 2), "a refused peer is not counted");
        per_ip.remove(ip, b);
        assert!(per_ip.add(ip, c, 2));
    }
}
