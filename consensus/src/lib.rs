//! Block authorship (BABE-like VRF slots) and finality (GRANDPA-like) as sans-io state
//! machines: messages, ticks and headers in, actions out.
//!
//! Empty until the consensus issue fills it. Until then the dev chain has one authority, which
//! seals its blocks with an sr25519 signature checked on import (see `tessera-node`).
