//! Messages that came before what they are about (gossip reorders: an approval before its
//! block or its assignment, a dispute vote before its opening), kept a while to be tried again.
//!
//! The room is shared between peers fairly: when it is full, the peer holding the most gives up
//! its oldest message. So a peer sending floods of messages about blocks that never come only
//! pushes out its own, not the honest peers' early messages.

use libp2p::PeerId;
use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

/// Early messages of one kind, with the peer each came from.
#[derive(Debug)]
pub struct EarlyMessages<M> {
    queue: VecDeque<(Instant, PeerId, M)>,
    per_peer: HashMap<PeerId, usize>,
    capacity: usize,
    kept_for: Duration,
}

impl<M> EarlyMessages<M> {
    /// At most `capacity` messages, each kept for `kept_for`.
    pub fn new(capacity: usize, kept_for: Duration) -> Self {
        EarlyMessages {
            queue: VecDeque::new(),
            per_peer: HashMap::new(),
            capacity,
            kept_for,
        }
    }

    /// Messages kept.
    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Whether none is kept.
    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Keeps `message` from `peer`, received at `at`; when full, the oldest message of the peer
    /// holding the most makes room.
    pub fn keep(&mut self, at: Instant, peer: PeerId, message: M) {
        if self.capacity == 0 {
            return;
        }
        if self.queue.len() >= self.capacity {
            let most = self
                .per_peer
                .iter()
                .max_by_key(|(_, held)| **held)
                .map(|(peer, _)| *peer);
            if let Some(position) =
                most.and_then(|most| self.queue.iter().position(|e| e.1 == most))
            {
                self.remove(position);
            }
        }
        *self.per_peer.entry(peer).or_insert(0) += 1;
        self.queue.push_back((at, peer, message));
    }

    /// Takes every message still fresh at `now` (in the order received), dropping the stale:
    /// those still early go back with [`Self::keep`], keeping their time.
    pub fn take_fresh(&mut self, now: Instant) -> Vec<(Instant, PeerId, M)> {
        self.per_peer.clear();
        let kept_for = self.kept_for;
        std::mem::take(&mut self.queue)
            .into_iter()
            .filter(|(at, ..)| now.saturating_duration_since(*at) <= kept_for)
            .collect()
    }

    fn remove(&mut self, position: usize) {
        if let Some((_, peer, _)) = self.queue.remove(position) {
            if let Some(held) = self.per_peer.get_mut(&peer) {
                *held = held.saturating_sub(1);
                if *held == 0 {
                    self.per_peer.remove(&peer);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flooding_peer_pushes_out_only_its_own_messages() {
        let (honest, flooder) = (PeerId::random(), PeerId::random());
        let mut early = EarlyMessages::new(8, Duration::from_secs(30));
        let now = Instant::now();
        for i in 0..3 {
            early.keep(now, honest, ("honest", i));
        }
        for i in 0..100 {
            early.keep(now, flooder, ("flooder", i));
        }
        assert_eq!(early.len(), 8);
        let kept = early.take_fresh(now);
        let honest_kept: Vec<_> = kept.iter().filter(|(_, p, _)| *p == honest).collect();
        assert_eq!(honest_kept.len(), 3, "every honest message is still there");
        // The flooder's newest are what it kept.
        let flooded: Vec<u32> = kept
            .iter()
            .filter(|(_, p, _)| *p == flooder)
            .map(|(_, _, (_, i))| *i)
            .collect();
        assert_eq!(flooded, [95, 96, 97, 98, 99]);
        assert!(early.is_empty());
    }

    #[test]
    fn stale_messages_are_dropped_and_fresh_ones_come_back_with_their_time() {
        let peer = PeerId::random();
        let mut early = EarlyMessages::new(8, Duration::from_secs(30));
        let start = Instant::now();
        early.keep(start, peer, 1);
        early.keep(start + Duration::from_secs(20), peer, 2);
        let fresh = early.take_fresh(start + Duration::from_secs(40));
        assert_eq!(fresh.len(), 1);
        let (at, from, message) = fresh[0];
        assert_eq!((from, message), (peer, 2));
        early.keep(at, from, message);
        assert!(early.take_fresh(start + Duration::from_secs(51)).is_empty());
    }
}
