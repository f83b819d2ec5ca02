//! Helpers shared by the finality tests.

use tessera_consensus::finality::Target;
use tessera_runtime::Header;

pub(crate) use tessera_consensus::test_headers::child;

/// The vote target of `header`.
pub(crate) fn target(header: &Header) -> Target {
    Target {
        hash: header.hash(),
        number: header.number,
    }
}
