//! Peer reputation: misbehaviour costs points; a peer below the ban line is disconnected and
//! refused for a while.

use libp2p::PeerId;
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// What a peer did wrong, and what it costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehaviour {
    /// Bytes that do not decode, or exceed a size limit.
    Malformed,
    /// A well-formed message that is invalid (bad block, bad signature).
    Invalid,
    /// A request the peer should not have made (too large, too frequent).
    BadRequest,
}

impl Misbehaviour {
    fn cost(self) -> i32 {
        match self {
            Misbehaviour::Malformed => 50,
            Misbehaviour::Invalid => 100,
            Misbehaviour::BadRequest => 20,
        }
    }
}

/// Reputation below which a peer is banned.
pub const BAN_THRESHOLD: i32 = -100;
/// How long a ban lasts.
pub const BAN_DURATION: Duration = Duration::from_secs(300);

/// Scores of known peers and current bans.
#[derive(Debug, Default)]
pub struct Reputations {
    scores: HashMap<PeerId, i32>,
    banned: HashMap<PeerId, Instant>,
}

impl Reputations {
    /// Charges `peer` for `what`; `true` if it is now banned.
    pub fn report(&mut self, peer: PeerId, what: Misbehaviour, now: Instant) -> bool {
        let score = self.scores.entry(peer).or_default();
        *score = score.saturating_sub(what.cost());
        if *score <= BAN_THRESHOLD {
            self.scores.remove(&peer);
            self.banned.insert(peer, now + BAN_DURATION);
            return true;
        }
        false
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

    /// Forgets the score of a disconnected peer (bans stay).
    pub fn forget(&mut self, peer: &PeerId) {
        self.scores.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_misbehaviour_bans_until_expiry() {
        let mut reputations = Reputations::default();
        let peer = PeerId::random();
        let now = Instant::now();
        assert!(!reputations.report(peer, Misbehaviour::Malformed, now));
        assert!(reputations.report(peer, Misbehaviour::Malformed, now));
        assert!(reputations.is_banned(&peer, now));
        assert!(!reputations.is_banned(&peer, now + BAN_DURATION + Duration::from_secs(1)));
    }
}
