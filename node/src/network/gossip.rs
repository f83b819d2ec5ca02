//! Gossip topics, and what the node answers about each message received on them.

use libp2p::gossipsub::IdentTopic;
use parity_scale_codec::{Decode, Encode};

/// Gossip topics (also what kind of message a direct one is).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode)]
pub enum Topic {
    /// Block announcements and status.
    Blocks,
    /// Finality votes and commits.
    Finality,
    /// Collations, backing statements and availability bitfields.
    Parachains,
    /// Para transactions, from the node that received them to the para's collators.
    ParaTransactions,
    /// Relay transactions, from the node a client sent them to, to the block authors.
    Transactions,
}

impl Topic {
    pub(super) const ALL: [Topic; 5] = [
        Topic::Blocks,
        Topic::Finality,
        Topic::Parachains,
        Topic::ParaTransactions,
        Topic::Transactions,
    ];

    pub(super) fn ident(self, chain: &str) -> IdentTopic {
        let name = match self {
            Topic::Blocks => "blocks",
            Topic::Finality => "finality",
            Topic::Parachains => "parachains",
            Topic::ParaTransactions => "para-transactions",
            Topic::Transactions => "transactions",
        };
        IdentTopic::new(format!("/tessera/{chain}/{name}/1"))
    }
}

/// What the node found a gossip message to be, which decides whether it travels on and whom
/// it costs: only what was verified is forwarded, and only its signed source is ever blamed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Verified: forward it.
    Accept,
    /// Cannot be checked here now (unknown parent, another round or set, not our group), or
    /// not worth forwarding: kept or dropped locally, never forwarded, nobody blamed.
    Ignore,
    /// Provably invalid: dropped, and its source charged for the offence.
    Reject(super::Misbehaviour),
}
