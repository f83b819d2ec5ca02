//! Peer reputation: each offence costs points by its kind, scores heal over time and survive
//! reconnects, and a peer whose score falls to the ban line is disconnected and refused for a
//! while. See docs/adr/005-hostile-peers.md for the costs and why.

use libp2p::PeerId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What a peer did wrong, and what it costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Bytes that do not decode, or exceed a size limit: no honest peer sends them.
    Malformed,
    /// A well-formed message that is provably invalid (bad signature, a block that fails its
    /// checks on its own parent, a vote by a non-voter).
    Invalid,
    /// A request the peer should not have made (too large, refused parameters).
    BadRequest,
    /// More requests or messages than the protocol's rate allows.
    Flood,
    /// Claimed a chain it then did not serve.
    Unfulfilled,
}

impl Misbehaviour {
    /// Points it costs; a score at [`BAN_THRESHOLD`] or below is banned.
    pub fn cost(self) -> f64 {
        match self {
            Misbehaviour::Malformed => 400.0,
            Misbehaviour::Invalid => 400.0,
            Misbehaviour::BadRequest => 100.0,
            Misbehaviour::Flood => 25.0,
            Misbehaviour::Unfulfilled => 200.0,
        }
    }
}

/// Score at or below which a peer is banned (three provable offences in quick succession).
pub const BAN_THRESHOLD: f64 = -1000.0;
/// How long a ban lasts.
pub const BAN_DURATION: Duration = Duration::from_secs(300);
/// Time in which a score heals halfway back to zero.
pub const HALF_LIFE: Duration = Duration::from_secs(60);
/// Most peers whose scores are remembered; beyond it the mildest are forgotten first.
pub(super) const MAX_REMEMBERED: usize = 4096;

#[derive(Clone, Copy, Debug)]
struct Score {
    value: f64,
    at: Instant,
}

impl Score {
    fn at(self, now: Instant) -> f64 {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.value * 0.5f64.powf(elapsed / HALF_LIFE.as_secs_f64())
    }
}

/// Scores of known peers (connected or not) and current bans.
#[derive(Debug, Default)]
pub struct Reputations {
    scores: HashMap<PeerId, Score>,
    banned: HashMap<PeerId, Instant>,
}

impl Reputations {
    /// Charges `peer` for `what`; `true` if this banned it.
    pub fn report(&mut self, peer: PeerId, what: Misbehaviour, now: Instant) -> bool {
        if self.is_banned(&peer, now) {
            return false;
        }
        let value = self.score(&peer, now) - what.cost();
        if value <= BAN_THRESHOLD {
            self.scores.remove(&peer);
            if self.banned.len() >= MAX_REMEMBERED {
                self.banned.retain(|_, until| *until > now);
            }
            self.banned.insert(peer, now + BAN_DURATION);
            return true;
        }
        if self.scores.len() >= MAX_REMEMBERED && !self.scores.contains_key(&peer) {
            self.forget_mildest(now);
        }
        self.scores.insert(peer, Score { value, at: now });
        false
    }

    /// The score of `peer` at `now` (0 for a peer never charged or fully healed).
    pub fn score(&self, peer: &PeerId, now: Instant) -> f64 {
        self.scores.get(peer).map_or(0.0, |score| score.at(now))
    }

    /// Whether `peer` is banned at `now` (expired bans are forgotten).
    pub fn is_banned(&mut self, peer: &PeerId, now: Instant) -> bool {
        match self.banned.get(peer) {
            Some(until) if *until > now => true,
            Some(_) => {
                self.banned.remove(peer);
                false
            }
            None => false,
        }
    }

    /// How many peers are banned at `now`.
    pub fn banned_count(&self, now: Instant) -> usize {
        self.banned.values().filter(|until| **until > now).count()
    }

    /// Forgets the quarter of scores nearest to zero, to make room.
    fn forget_mildest(&mut self, now: Instant) {
        let mut values: Vec<f64> = self.scores.values().map(|s| s.at(now)).collect();
        values.sort_by(|a, b| b.total_cmp(a));
        let line = values.get(values.len() / 4).copied().unwrap_or(0.0);
        self.scores.retain(|_, score| score.at(now) < line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn three_provable_offences_at_once_ban_until_expiry() {
        let mut reputations = Reputations::default();
        let peer = PeerId::random();
        let now = Instant::now();
        assert!(!reputations.report(peer, Misbehaviour::Malformed, now));
        assert!(!reputations.report(peer, Misbehaviour::Invalid, now));
        assert!(reputations.report(peer, Misbehaviour::Malformed, now));
        assert!(reputations.is_banned(&peer, now));
        assert!(!reputations.is_banned(&peer, now + BAN_DURATION + Duration::from_secs(1)));
    }

    #[test]
    fn scores_heal_so_rare_offences_never_ban() {
        let mut reputations = Reputations::default();
        let peer = PeerId::random();
        let start = Instant::now();
        for minute in 0..100u64 {
            let now = start + Duration::from_secs(60 * minute);
            assert!(!reputations.report(peer, Misbehaviour::Invalid, now));
        }
        let later = start + Duration::from_secs(60 * 100);
        // 400 per half-life converges to 800, short of the ban line.
        assert!(reputations.score(&peer, later) > BAN_THRESHOLD);
        assert!(reputations.score(&peer, later + HALF_LIFE * 20) > -1.0);
    }

    #[test]
    fn scores_survive_a_reconnect_and_are_bounded() {
        let mut reputations = Reputations::default();
        let now = Instant::now();
        let peer = PeerId::random();
        reputations.report(peer, Misbehaviour::Invalid, now);
        reputations.report(peer, Misbehaviour::Invalid, now);
        // Nothing forgets a score on disconnect: a third offence after reconnecting bans.
        assert!(reputations.report(peer, Misbehaviour::Invalid, now));
        for _ in 0..MAX_REMEMBERED * 2 {
            reputations.report(PeerId::random(), Misbehaviour::Flood, now);
        }
        assert!(reputations.scores.len() <= MAX_REMEMBERED);
        let offender = PeerId::random();
        reputations.report(offender, Misbehaviour::Invalid, now);
        reputations.report(offender, Misbehaviour::Invalid, now);
        for _ in 0..MAX_REMEMBERED {
            reputations.report(PeerId::random(), Misbehaviour::Flood, now);
        }
        // The mildest go first: the worst offender is still remembered.
        assert!(reputations.score(&offender, now) <= -800.0);
    }
}
