//! Helpers shared by the finality tests.

use tessera_consensus::finality::Target;
use tessera_runtime::{Digest, Hash, Header};

/// A child of `parent`; `salt` tells siblings apart.
pub(crate) fn child(parent: &Header, salt: u8) -> Header {
    Header {
        parent_hash: parent.hash(),
        number: parent.number + 1,
        state_root: Hash([salt; 32]),
        extrinsics_root: Hash::ZERO,
        digest: Digest::default(),
    }
}

/// The vote target of `header`.
pub(crate) fn target(header: &Header) -> Target {
    Target {
        hash: header.hash(),
        number: header.number,
    }
}
