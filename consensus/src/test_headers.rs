//! Headers for tests and the simulator: a fixed genesis and distinguishable children.

use tessera_runtime::consensus::ScheduledChange;
use tessera_runtime::{AccountId, Digest, Hash, Header};

/// The genesis header of every simulated chain and test.
pub fn genesis() -> Header {
    Header {
        parent_hash: Hash::ZERO,
        number: 0,
        state_root: Hash::ZERO,
        extrinsics_root: Hash::ZERO,
        digest: Digest::default(),
    }
}

/// A child of `parent`; `salt` tells siblings apart.
pub fn child(parent: &Header, salt: u8) -> Header {
    Header {
        parent_hash: parent.hash(),
        number: parent.number.saturating_add(1),
        state_root: Hash([salt; 32]),
        extrinsics_root: Hash::ZERO,
        digest: Digest::default(),
    }
}

/// A child of `parent` that signals an immediate change of the finality set to `next`.
pub fn signalling(parent: &Header, salt: u8, next: impl IntoIterator<Item = AccountId>) -> Header {
    let mut header = child(parent, salt);
    let change = ScheduledChange {
        next_authorities: next.into_iter().map(|id| (id, 1)).collect(),
        delay: 0,
    };
    header.digest.logs.push(change.to_digest_item());
    header
}
