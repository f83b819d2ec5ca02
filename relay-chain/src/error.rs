//! Errors of chain specs.

/// Why a chain spec was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The file could not be read.
    #[error("cannot read chain spec {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The JSON does not match the chain spec format.
    #[error("invalid chain spec at `{field}`: {message}")]
    Json {
        /// Path of the offending field, e.g. `genesis.balances[2][0]`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The spec parses but its values are unusable.
    #[error("invalid chain spec at `{field}`: {message}")]
    Invalid {
        /// Path of the offending field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// Building the genesis state failed.
    #[error("cannot build genesis: {0}")]
    Genesis(String),
}
