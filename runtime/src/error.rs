//! The framework's error type.

use crate::hashing::Hash;

/// Result with the framework's [`Error`].
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// What went wrong below the module level: storage, proofs, codecs, keys.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A trie node needed to read or write state is not in the database or proof.
    #[error("trie node {0} is missing from the database or storage proof")]
    MissingTrieNode(Hash),
    /// A trie node could not be decoded.
    #[error("trie node {hash} is malformed: {reason}")]
    MalformedTrieNode {
        /// Hash of the node.
        hash: Hash,
        /// Codec message.
        reason: &'static str,
    },
    /// A stored value could not be decoded as the type the module expects.
    #[error("storage value under key 0x{key} does not decode: {reason}")]
    CorruptStorage {
        /// Hex of the storage key.
        key: alloc::string::String,
        /// Codec message.
        reason: alloc::string::String,
    },
    /// `commit_transaction`/`rollback_transaction` without a matching `start_transaction`.
    #[error("no storage transaction is open")]
    NoOpenTransaction,
    /// Text that is not a valid SS58 address.
    #[error("invalid SS58 address: {0}")]
    InvalidSs58(&'static str),
    /// Bytes that are not a valid sr25519 public key or signature.
    #[error("invalid key material: {0}")]
    InvalidKey(&'static str),
    /// A secret URI (phrase, hex seed, derivation path) that cannot be parsed.
    #[error("invalid secret URI: {0}")]
    InvalidSecretUri(alloc::string::String),
    /// The block breaks a rule the runtime checks as it starts (its digest names an author
    /// other than the slot's).
    #[error("invalid block: {0}")]
    InvalidBlock(&'static str),
}
