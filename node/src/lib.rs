//! The Tessera node.
