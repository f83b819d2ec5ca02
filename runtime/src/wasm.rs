//! The Wasm validation ABI: how a relay validator runs a para's validation function.
//!
//! A validation function is a `wasm32-unknown-unknown` module. It exports
//!
//! - `memory`: its linear memory;
//! - `tessera_alloc(len: i32) -> i32`: a buffer of `len` bytes the host may write into;
//! - `validate_block(ptr: i32, len: i32) -> i64`: takes the SCALE-encoded
//!   [`ValidationParams`](crate::parachain::ValidationParams)
//!   at `ptr..ptr+len` and returns `ptr | len << 32` of a SCALE-encoded [`ValidationOutcome`].
//!
//! It may import only these functions, from the module [`HOST_MODULE`] (pointers are offsets in
//! its memory; they run natively in the host, so hashing and signature checks cost what they
//! cost in a node):
//!
//! | name | signature | what |
//! |---|---|---|
//! | `blake2_256` | `(data: i32, len: i32, out: i32)` | writes blake2b-256 of the data to `out` (32 bytes) |
//! | `blake2_128` | `(data: i32, len: i32, out: i32)` | writes blake2b-128 of the data to `out` (16 bytes) |
//! | `sr25519_verify` | `(signature: i32, message: i32, len: i32, public: i32) -> i32` | 1 if the 64-byte signature of the message by the 32-byte key verifies, else 0 |
//! | `ed25519_verify` | `(signature: i32, message: i32, len: i32, public: i32) -> i32` | 1 if the 64-byte ed25519 signature of the message by the 32-byte key verifies, else 0 |
//! | `sr25519_verify_batch` | `(items: i32, len: i32) -> i32` | 1 if every item of the SCALE `Vec<(AccountId, Vec<u8>, Signature)>` (at most [`MAX_VERIFY_BATCH`]) verifies, else 0 |
//! | `abort` | `(message: i32, len: i32)` | stops execution with a UTF-8 message (a panic) |
//! | `log` | `(level: i32, target: i32, target_len: i32, message: i32, message_len: i32)` | a UTF-8 line for the node's log at `level` (1 error … 5 trace), under `target` (at most 64 and 1,024 bytes are read; a node shows at most 64 lines a call, and none from a validation, where the code is a para's) |
//! | `runtime_version_for` | `(code: i32, len: i32, kind: i32) -> i64` | checks a runtime blob for a relay chain (`kind` 0) or a para (1) ([`check_code`]; a relay runtime is also instantiated and asked its version): `ptr \| len << 32` of a buffer from `tessera_alloc` holding the SCALE `Result<VersionInfo, CodeError>` |
//! | `runtime_version` | `(code: i32, len: i32) -> i64` | `runtime_version_for` a para (the first version, kept for blobs that import it) |
//!
//! A chain's runtime (its `:code`, the same blob for a para) also exports its runtime API to
//! the nodes that execute it, each `fn(ptr: i32, len: i32) -> i64` over SCALE arguments and
//! result as above, named as Substrate names them ([`api`]); for those calls (never in
//! validation, where the state is the PoV's proof) the node's state is reached through two more
//! imports:
//!
//! | name | signature | what |
//! |---|---|---|
//! | `storage_get` | `(key: i32, len: i32) -> i64` | the value under the key in the state the call started from: `ptr \| len << 32` of a buffer the host got from `tessera_alloc`, or -1 if there is none |
//! | `storage_commit` | `(changes: i32, len: i32, root: i32)` | applies the SCALE `Vec<(Vec<u8>, Option<Vec<u8>>)>` of every write (`None` deletes) to that state and writes the new 32-byte root to `root` |
//! | `out_of_time` | `() -> i32` | 1 once a block builder's time is up, else 0 (the only input that is not deterministic: it decides only where a block being built ends) |
//!
//! A para implements the function as a plain Rust `fn(ValidationParams) -> ValidationOutcome`
//! and exports it with [`validation_function!`](crate::validation_function); this module
//! provides the allocator, the panic handler and the host calls when compiled for Wasm without
//! `std`.

use crate::executive::{InvalidTransaction, ValidTransaction};
use crate::parachain::CandidateCommitments;
use crate::{AccountId, Block, Header, OpaqueExtrinsic};
use alloc::string::String;
use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};

/// What `validate_block` returns: the candidate's commitments, or why the block is invalid.
pub type ValidationOutcome = Result<CandidateCommitments, String>;

/// The import module of every host function.
pub const HOST_MODULE: &str = "tessera";
/// The exported memory.
pub const MEMORY_EXPORT: &str = "memory";
/// The exported allocator the host writes the parameters through.
pub const ALLOC_EXPORT: &str = "tessera_alloc";
/// The exported validation function.
pub const VALIDATE_BLOCK_EXPORT: &str = "validate_block";

/// Most signatures one `sr25519_verify_batch` call takes: the host bounds the native work of
/// one call, so a runtime verifies a larger batch in chunks of this size.
pub const MAX_VERIFY_BATCH: usize = 4096;

/// Host function names a validation function may import, in [`HOST_MODULE`].
pub mod host {
    /// `(data, len, out)`: blake2b-256.
    pub const BLAKE2_256: &str = "blake2_256";
    /// `(data, len, out)`: blake2b-128.
    pub const BLAKE2_128: &str = "blake2_128";
    /// `(signature, message, len, public) -> valid`.
    pub const SR25519_VERIFY: &str = "sr25519_verify";
    /// `(signature, message, len, public) -> valid`: ed25519.
    pub const ED25519_VERIFY: &str = "ed25519_verify";
    /// `(items, len) -> all valid`.
    pub const SR25519_VERIFY_BATCH: &str = "sr25519_verify_batch";
    /// `(message, len)`: a panic.
    pub const ABORT: &str = "abort";
    /// `(code, len, kind) -> ptr | len << 32`: [`super::check_code`] of a blob (a `set_code`)
    /// for a chain of [`super::ChainKind`] `kind`.
    pub const RUNTIME_VERSION_FOR: &str = "runtime_version_for";
    /// `(code, len) -> ptr | len << 32`: [`RUNTIME_VERSION_FOR`] a para (its first version,
    /// which blobs built before the relay chain ran from Wasm import).
    pub const RUNTIME_VERSION: &str = "runtime_version";
    /// `(key, len) -> ptr | len << 32`, or -1: a read of the node's state (runtime API only).
    pub const STORAGE_GET: &str = "storage_get";
    /// `(changes, len, root)`: the call's writes applied to the node's state (runtime API only).
    pub const STORAGE_COMMIT: &str = "storage_commit";
    /// `() -> 1 | 0`: whether a block builder's time is up (block building only).
    pub const OUT_OF_TIME: &str = "out_of_time";
    /// `(level, target, target_len, message, message_len)`: a line for the node's log
    /// ([`crate::logging`]).
    pub const LOG: &str = "log";
    /// The functions of runtime API calls: the node's state, the builder's clock.
    pub const RUNTIME_API: [&str; 3] = [STORAGE_GET, STORAGE_COMMIT, OUT_OF_TIME];

    /// The signature of host function `name`: how many `i32` parameters it takes and its
    /// result (`""`, `"i32"` or `"i64"`); none if the host has no such function.
    pub fn signature(name: &str) -> Option<(usize, &'static str)> {
        Some(match name {
            BLAKE2_256 | BLAKE2_128 | STORAGE_COMMIT => (3, ""),
            SR25519_VERIFY | ED25519_VERIFY => (4, "i32"),
            SR25519_VERIFY_BATCH => (2, "i32"),
            ABORT => (2, ""),
            STORAGE_GET | RUNTIME_VERSION => (2, "i64"),
            RUNTIME_VERSION_FOR => (3, "i64"),
            OUT_OF_TIME => (0, "i32"),
            LOG => (5, ""),
            _ => return None,
        })
    }
    /// All of them.
    pub const ALL: [&str; 9] = [
        BLAKE2_256,
        BLAKE2_128,
        SR25519_VERIFY,
        ED25519_VERIFY,
        SR25519_VERIFY_BATCH,
        ABORT,
        RUNTIME_VERSION,
        RUNTIME_VERSION_FOR,
        LOG,
    ];
}

/// The runtime API's exports, by their Substrate names.
pub mod api {
    /// `() -> VersionInfo`.
    pub const CORE_VERSION: &str = "Core_version";
    /// `(Block) -> Result<(), BlockRejection>`: executes the block on the node's state at its parent
    /// and checks its roots; the node keeps the changes only if it returns `Ok`.
    pub const CORE_EXECUTE_BLOCK: &str = "Core_execute_block";
    /// `(BuildRequest) -> Result<BuildResult, String>`: builds the next block on the node's
    /// state at its parent in one call (Tessera's, where Substrate makes one call per
    /// extrinsic): the extrinsics in order, leaving out the invalid ones, until the block is
    /// full or the `out_of_time` host function says the builder's time is up.
    pub const BLOCK_BUILDER_BUILD_BLOCK: &str = "BlockBuilder_build_block";
    /// `(GenesisRequest) -> Result<Header, String>`: builds the para's genesis state on the
    /// node's (empty) state from a genesis config, the blob itself under `:code`; returns the
    /// genesis header (Substrate's name; its input there is JSON).
    pub const GENESIS_BUILDER_BUILD_STATE: &str = "GenesisBuilder_build_state";
    /// `(RelayInputs) -> Result<Vec<OpaqueExtrinsic>, String>`: the inherents that carry a para block's relay
    /// inputs, first in the block (Substrate's name; its input there is inherent data).
    pub const BLOCK_BUILDER_INHERENT_EXTRINSICS: &str = "BlockBuilder_inherent_extrinsics";
    /// `(ValidateRequest) -> Result<Vec<Result<ValidTransaction, InvalidTransaction>>, String>`:
    /// checks transactions for the block after a parent, on its state (Tessera's batched form
    /// of Substrate's `TaggedTransactionQueue_validate_transaction`); the outer error is a
    /// state the runtime could not read.
    pub const VALIDATE_TRANSACTIONS: &str = "TaggedTransactionQueue_validate_transactions";
    /// `((TransactionSource, OpaqueExtrinsic, Hash)) -> Result<TransactionValidity, String>`:
    /// Substrate's one-transaction check, in its encoding (see
    /// [`crate::transaction_validity`]), on the state after the block given.
    pub const VALIDATE_TRANSACTION: &str = "TaggedTransactionQueue_validate_transaction";
    /// `() -> Result<Vec<u8>, String>`: the runtime's metadata in V14, as Substrate's
    /// `Metadata_metadata` returns it (see [`crate::metadata`]).
    pub const METADATA: &str = "Metadata_metadata";
    /// `(u32) -> Result<Option<Vec<u8>>, String>`: the metadata in a version, if built.
    pub const METADATA_AT_VERSION: &str = "Metadata_metadata_at_version";
    /// `() -> Result<Vec<u32>, String>`: the metadata versions the runtime builds.
    pub const METADATA_VERSIONS: &str = "Metadata_metadata_versions";
    /// `((Vec<u8>, u32)) -> Result<RuntimeDispatchInfo, String>`: an extrinsic's weight, class
    /// and fee (Substrate's; see [`crate::payment`]).
    pub const QUERY_INFO: &str = "TransactionPaymentApi_query_info";
    /// `((Vec<u8>, u32)) -> Result<FeeDetails, String>`: an extrinsic's fee, part by part.
    pub const QUERY_FEE_DETAILS: &str = "TransactionPaymentApi_query_fee_details";
    /// `(AccountId) -> Result<u32, String>`: the account's nonce (Substrate's
    /// `AccountNonceApi_account_nonce`, as Polkadot's clients decode it).
    pub const ACCOUNT_NONCE: &str = "AccountNonceApi_account_nonce";
    /// `(Weight) -> Result<Balance, String>`: what a weight costs.
    pub const QUERY_WEIGHT_TO_FEE: &str = "TransactionPaymentApi_query_weight_to_fee";
    /// `(u32) -> Result<Balance, String>`: what a length costs.
    pub const QUERY_LENGTH_TO_FEE: &str = "TransactionPaymentApi_query_length_to_fee";

    /// The relay runtime's parachain host API (Polkadot's `ParachainHost`): read-only calls
    /// on the state of the relay block asked about, each returning `Result<T, String>`
    /// (`tessera_relay_chain::runtime_api` answers them; nodes call them on every block, so a
    /// relay runtime must have them).
    pub mod parachain_host {
        /// `() -> Vec<AccountId>`: the validator set.
        pub const VALIDATORS: &str = "ParachainHost_validators";
        /// `() -> Vec<u32>`: validators disabled for an offence this session, by index.
        pub const DISABLED_VALIDATORS: &str = "ParachainHost_disabled_validators";
        /// `() -> Vec<CoreState>`: each core's para and the candidate occupying it.
        pub const AVAILABILITY_CORES: &str = "ParachainHost_availability_cores";
        /// `(ParaId, BlockNumber) -> Option<Vec<u32>>`: the validators backing the para's
        /// candidates in block `number` (the block after the one asked at).
        pub const BACKING_GROUP: &str = "ParachainHost_backing_group";
        /// `(Header, ParaId) -> Option<CandidateValidation>`: what a candidate of the para on
        /// relay parent `Header` (the block asked at) is validated with.
        pub const CANDIDATE_VALIDATION: &str = "ParachainHost_candidate_validation";
        /// `(Hash) -> Option<ValidationCode>`: para code by its hash.
        pub const VALIDATION_CODE_BY_HASH: &str = "ParachainHost_validation_code_by_hash";
        /// `() -> Vec<CandidateEvent>`: what the block asked at did with candidates.
        pub const CANDIDATE_EVENTS: &str = "ParachainHost_candidate_events";
        /// `(ParaId) -> InboundMessages`: the downward and horizontal messages the para's
        /// candidate on the block asked at receives.
        pub const INBOUND_MESSAGES: &str = "ParachainHost_inbound_messages";
        /// `() -> Vec<(Hash, Precheck)>`: the checks of new para code under way, with votes.
        pub const PVF_CHECKS: &str = "ParachainHost_pvf_checks";
        /// `(InherentOffer) -> Result<CreatedInherent, String>`: the parachains inherent for
        /// the block after the one asked at, from what its author offers (Polkadot's
        /// `ParaInherent` create_inherent): what this runtime would accept of it.
        pub const CREATE_INHERENT: &str = "ParachainHost_create_inherent";
        /// All of them.
        pub const ALL: [&str; 10] = [
            VALIDATORS,
            DISABLED_VALIDATORS,
            AVAILABILITY_CORES,
            BACKING_GROUP,
            CANDIDATE_VALIDATION,
            VALIDATION_CODE_BY_HASH,
            CANDIDATE_EVENTS,
            INBOUND_MESSAGES,
            PVF_CHECKS,
            CREATE_INHERENT,
        ];
    }
}

/// What `TaggedTransactionQueue_validate_transactions` checks.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct ValidateRequest {
    /// The parent block's hash (the node's state is at its state root).
    pub parent_hash: crate::Hash,
    /// The number of the block the transactions would go in.
    pub number: crate::BlockNumber,
    /// The transactions, each checked alone against the parent's state.
    pub transactions: Vec<OpaqueExtrinsic>,
    /// Whether signatures are checked (not again for transactions checked on entry).
    pub check_signatures: bool,
}

/// The answer of `TaggedTransactionQueue_validate_transactions`, one per transaction.
pub type ValidateResult = Result<Vec<Result<ValidTransaction, InvalidTransaction>>, String>;

/// Why `Core_execute_block` refused a block: a [`crate::executive::BlockError`] as it crosses
/// to the node.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, thiserror::Error, scale_info::TypeInfo)]
pub enum BlockRejection {
    /// The bytes are not a block.
    #[error("the block does not decode: {0}")]
    Malformed(String),
    /// The header's extrinsics root is not the root of its body.
    #[error("extrinsics root mismatch: header has {header}, body gives {computed}")]
    ExtrinsicsRoot {
        /// In the header.
        header: crate::Hash,
        /// Of the body.
        computed: crate::Hash,
    },
    /// An extrinsic is invalid.
    #[error("extrinsic {index} is invalid: {error}")]
    InvalidExtrinsic {
        /// Its index in the body.
        index: u32,
        /// Why.
        error: InvalidTransaction,
    },
    /// Executing the block gives another state root than the header's.
    #[error("state root mismatch: header has {header}, execution gives {computed}")]
    StateRoot {
        /// In the header.
        header: crate::Hash,
        /// After execution.
        computed: crate::Hash,
    },
    /// The author digest does not decode.
    #[error("author pre-runtime digest does not decode as an account")]
    BadAuthorDigest,
    /// The header's digest is not the one executing the block deposits.
    #[error("the header's digest is not the runtime's")]
    Digest,
    /// The block breaks a rule the runtime checks as it starts.
    #[error("invalid block: {0}")]
    Rule(String),
    /// The runtime could not read its state (a value that does not decode).
    #[error("state: {0}")]
    State(String),
}

impl From<crate::executive::BlockError> for BlockRejection {
    fn from(err: crate::executive::BlockError) -> Self {
        use crate::executive::BlockError;
        match err {
            BlockError::ExtrinsicsRoot { header, computed } => {
                BlockRejection::ExtrinsicsRoot { header, computed }
            }
            BlockError::InvalidExtrinsic { index, error } => {
                BlockRejection::InvalidExtrinsic { index, error }
            }
            BlockError::StateRoot { header, computed } => {
                BlockRejection::StateRoot { header, computed }
            }
            BlockError::BadAuthorDigest => BlockRejection::BadAuthorDigest,
            BlockError::Digest => BlockRejection::Digest,
            BlockError::Rule(why) => BlockRejection::Rule(why.into()),
            BlockError::State(err) => BlockRejection::State(alloc::format!("{err}")),
        }
    }
}

/// A runtime's name and version as `Core_version` returns them, read by the node.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct VersionInfo {
    /// Name of the runtime.
    pub spec_name: String,
    /// Its version (part of every signed payload).
    pub spec_version: u32,
    /// The version of its calls' and signed extensions' encoding (part of every signed
    /// payload).
    pub transaction_version: u32,
}

impl From<crate::RuntimeVersion> for VersionInfo {
    fn from(version: crate::RuntimeVersion) -> Self {
        VersionInfo {
            spec_name: version.spec_name.into(),
            spec_version: version.spec_version,
            transaction_version: version.transaction_version,
        }
    }
}

/// Name of the custom section holding a runtime's SCALE [`VersionInfo`], read without
/// running the blob (Substrate's name).
pub const VERSION_SECTION: &str = "runtime_version";

/// The memory cap of a runtime instance in the hosts (256 MiB).
pub const MAX_MEMORY_BYTES: usize = 256 * 1024 * 1024;
/// The most linear memory a runtime may start with: the hosts' cap, in 64 KiB pages.
pub const MAX_INITIAL_MEMORY_PAGES: u64 = (MAX_MEMORY_BYTES / 65_536) as u64;
/// The most tables a runtime may define (the hosts' instance pool has one per instance).
pub const MAX_TABLES: u32 = 1;
/// The most elements a runtime's table may start with (the hosts' pool's table size).
pub const MAX_TABLE_ELEMENTS: usize = 20_000;
/// The most bytes of per-instance metadata a runtime may need, as [`check_code`] estimates it:
/// three quarters of the hosts' pool's 1 MiB per instance (wasmtime's default), the rest left
/// for the metadata's fixed part.
pub const MAX_INSTANCE_METADATA: usize = 768 * 1024;

/// Exports every chain runtime must have, besides [`MEMORY_EXPORT`] and [`ALLOC_EXPORT`], each
/// `(i32, i32) -> i64`.
pub const RUNTIME_EXPORTS: [&str; 4] = [
    api::CORE_VERSION,
    api::CORE_EXECUTE_BLOCK,
    api::BLOCK_BUILDER_BUILD_BLOCK,
    api::VALIDATE_TRANSACTIONS,
];

/// Exports a para's runtime has besides [`RUNTIME_EXPORTS`]: its validation function and the
/// inherent of its relay inputs.
pub const PARA_EXPORTS: [&str; 2] = [
    VALIDATE_BLOCK_EXPORT,
    api::BLOCK_BUILDER_INHERENT_EXTRINSICS,
];

/// Which chain a runtime is for, which decides the exports it must have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum ChainKind {
    /// The relay chain: [`RUNTIME_EXPORTS`] and the parachain host API
    /// ([`api::parachain_host::ALL`]).
    Relay,
    /// A para: [`RUNTIME_EXPORTS`] and [`PARA_EXPORTS`].
    Para,
}

impl ChainKind {
    /// Its number in the `runtime_version` host call.
    pub fn code(self) -> u32 {
        match self {
            ChainKind::Relay => 0,
            ChainKind::Para => 1,
        }
    }

    /// The kind numbered `code`, if any.
    pub fn from_code(code: u32) -> Option<ChainKind> {
        match code {
            0 => Some(ChainKind::Relay),
            1 => Some(ChainKind::Para),
            _ => None,
        }
    }

    /// The `(i32, i32) -> i64` exports a runtime of this kind must have.
    pub fn required_exports(self) -> impl Iterator<Item = &'static str> {
        let own: &[&str] = match self {
            ChainKind::Relay => &api::parachain_host::ALL,
            ChainKind::Para => &PARA_EXPORTS,
        };
        RUNTIME_EXPORTS.into_iter().chain(own.iter().copied())
    }
}

/// Why a blob offered as a chain's new code is not a runtime.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum CodeError {
    /// It is not a valid Wasm module (under the features every node compiles).
    #[codec(index = 0)]
    Invalid(String),
    /// It imports a function the host does not provide.
    #[codec(index = 1)]
    UnknownImport(String),
    /// It lacks an export a node calls, or exports it with another type.
    #[codec(index = 2)]
    MissingExport(String),
    /// It has no readable `runtime_version` section.
    #[codec(index = 3)]
    NoVersion,
    /// Its memory starts larger than a host allows.
    #[codec(index = 4)]
    MemoryTooLarge,
    /// It has more tables, or a larger one, than a host allows, a start function (which
    /// would run, and could trap, at every instantiation), or what fails instantiation: a
    /// segment out of bounds, more instance metadata than a host's pool holds.
    #[codec(index = 5)]
    Unsupported(String),
}

impl core::fmt::Display for CodeError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            CodeError::Invalid(why) => write!(f, "not a valid Wasm module: {why}"),
            CodeError::UnknownImport(name) => write!(f, "imports an unknown function {name}"),
            CodeError::MissingExport(name) => write!(f, "does not export {name}"),
            CodeError::NoVersion => write!(f, "has no `{VERSION_SECTION}` section"),
            CodeError::MemoryTooLarge => write!(f, "starts with more memory than a host allows"),
            CodeError::Unsupported(what) => write!(f, "has {what}, which hosts do not run"),
        }
    }
}

/// Checks that `code` is a runtime of a `kind` chain every node can run, without running it: a
/// valid module under the Wasm 2.0 features (what every node compiles), importing only host
/// functions with their signatures, exporting its memory (at most [`MAX_INITIAL_MEMORY_PAGES`]
/// to start with), the allocator and the functions nodes call with theirs, with at most one
/// table of [`MAX_TABLE_ELEMENTS`] and no start function, and one that instantiates: its
/// segments at constant offsets within the memory and table it starts with, its metadata
/// within [`MAX_INSTANCE_METADATA`]. Returns the version its `runtime_version` section holds.
/// Deterministic, so every node judges a block that offers code alike; a compile that fails
/// on a module passing all this would be a compiler's limit, not the code's.
#[cfg(feature = "std")]
pub fn check_code(code: &[u8], kind: ChainKind) -> Result<VersionInfo, CodeError> {
    use parity_scale_codec::DecodeAll;
    use wasmparser::{
        CompositeInnerType, DataKind, ElementItems, ElementKind, ExternalKind, Parser, Payload,
        TypeRef, ValType, Validator, WasmFeatures,
    };
    let types = Validator::new_with_features(WasmFeatures::WASM2)
        .validate_all(code)
        .map_err(|err| CodeError::Invalid(err.message().into()))?;
    let invalid = |err: wasmparser::BinaryReaderError| CodeError::Invalid(err.message().into());
    let types = types.as_ref();
    // A function type as (`i32` parameters, result), `None` if it has another shape.
    let shape_of = |id: wasmparser::types::CoreTypeId| -> Option<(usize, &'static str)> {
        let CompositeInnerType::Func(func) = &types.get(id)?.composite_type.inner else {
            return None;
        };
        if func.params().iter().any(|param| *param != ValType::I32) {
            return None;
        }
        let result = match func.results() {
            [] => "",
            [ValType::I32] => "i32",
            [ValType::I64] => "i64",
            _ => return None,
        };
        Some((func.params().len(), result))
    };
    let type_shape = |type_index: u32| {
        (type_index < types.core_type_count_in_module())
            .then(|| shape_of(types.core_type_at_in_module(type_index)))
            .flatten()
    };
    let mut memories = Vec::new();
    let (mut exports, mut version) = (Vec::new(), None);
    let mut table_elements = 0u64;
    // What the instance's metadata holds an entry for: imported functions, globals, and
    // functions that escape (exported, in an element segment, or referenced by a global).
    let (mut imported, mut globals) = (0usize, 0usize);
    let mut escaped = std::collections::BTreeSet::new();
    for payload in Parser::new(0).parse_all(code) {
        match payload.map_err(invalid)? {
            Payload::ImportSection(imports) => {
                for import in imports.into_imports() {
                    let import = import.map_err(invalid)?;
                    imported = imported.saturating_add(1);
                    let expected = (import.module == HOST_MODULE)
                        .then(|| host::signature(import.name))
                        .flatten();
                    let TypeRef::Func(type_index) = import.ty else {
                        return Err(unknown_import(import.module, import.name));
                    };
                    if expected.is_none() || type_shape(type_index) != expected {
                        return Err(unknown_import(import.module, import.name));
                    }
                }
            }
            Payload::MemorySection(section) => {
                for memory in section {
                    memories.push(memory.map_err(invalid)?.initial);
                }
            }
            Payload::TableSection(section) => {
                if section.count() > MAX_TABLES {
                    return Err(CodeError::Unsupported("more than one table".into()));
                }
                for table in section {
                    let initial = table.map_err(invalid)?.ty.initial;
                    if usize::try_from(initial).map_or(true, |n| n > MAX_TABLE_ELEMENTS) {
                        return Err(CodeError::Unsupported("a table too large".into()));
                    }
                    table_elements = initial;
                }
            }
            Payload::GlobalSection(section) => {
                for global in section {
                    let global = global.map_err(invalid)?;
                    globals = globals.saturating_add(1);
                    escaped.extend(functions_in(&global.init_expr).map_err(invalid)?);
                }
            }
            Payload::ElementSection(section) => {
                for segment in section {
                    let segment = segment.map_err(invalid)?;
                    let mut items = 0u64;
                    match segment.items {
                        ElementItems::Functions(functions) => {
                            for function in functions {
                                escaped.insert(function.map_err(invalid)?);
                                items = items.saturating_add(1);
                            }
                        }
                        ElementItems::Expressions(_, expressions) => {
                            for expression in expressions {
                                let expression = expression.map_err(invalid)?;
                                escaped.extend(functions_in(&expression).map_err(invalid)?);
                                items = items.saturating_add(1);
                            }
                        }
                    }
                    if let ElementKind::Active { offset_expr, .. } = segment.kind {
                        let end = constant_offset(&offset_expr)?.saturating_add(items);
                        if end > table_elements {
                            return Err(out_of_bounds("an element segment", "table"));
                        }
                    }
                }
            }
            Payload::DataSection(section) => {
                let memory_bytes = memories
                    .first()
                    .map_or(0, |pages| pages.saturating_mul(65_536));
                for segment in section {
                    let segment = segment.map_err(invalid)?;
                    if let DataKind::Active { offset_expr, .. } = segment.kind {
                        let len = u64::try_from(segment.data.len()).unwrap_or(u64::MAX);
                        let end = constant_offset(&offset_expr)?.saturating_add(len);
                        if end > memory_bytes {
                            return Err(out_of_bounds("a data segment", "memory"));
                        }
                    }
                }
            }
            Payload::StartSection { .. } => {
                return Err(CodeError::Unsupported("a start function".into()));
            }
            Payload::ExportSection(section) => {
                for export in section {
                    let export = export.map_err(invalid)?;
                    if export.kind == ExternalKind::Func {
                        escaped.insert(export.index);
                    }
                    exports.push((String::from(export.name), export.kind, export.index));
                }
            }
            Payload::CustomSection(section) if section.name() == VERSION_SECTION => {
                version = VersionInfo::decode_all(&mut section.data()).ok();
            }
            _ => {}
        }
    }
    let exported = |name: &str, kind: ExternalKind| {
        exports
            .iter()
            .find(|(export, found, _)| export == name && *found == kind)
            .map(|(_, _, index)| *index)
    };
    let function_shape = |name: &str| {
        let index = exported(name, ExternalKind::Func)?;
        (index < types.function_count())
            .then(|| shape_of(types.core_function_at(index)))
            .flatten()
    };
    let memory = exported(MEMORY_EXPORT, ExternalKind::Memory)
        .and_then(|index| memories.get(usize::try_from(index).ok()?))
        .ok_or_else(|| CodeError::MissingExport(MEMORY_EXPORT.into()))?;
    if *memory > MAX_INITIAL_MEMORY_PAGES {
        return Err(CodeError::MemoryTooLarge);
    }
    if function_shape(ALLOC_EXPORT) != Some((1, "i32")) {
        return Err(CodeError::MissingExport(ALLOC_EXPORT.into()));
    }
    if let Some(missing) = kind
        .required_exports()
        .find(|name| function_shape(name) != Some((2, "i64")))
    {
        return Err(CodeError::MissingExport(missing.into()));
    }
    // At least wasmtime's entry sizes on 64-bit hosts (measured against its pool: 65,536
    // globals fill 1 MiB, 17,000 imports do, a 20,000-function table does not).
    let metadata = imported
        .saturating_mul(64)
        .saturating_add(escaped.len().saturating_mul(32))
        .saturating_add(globals.saturating_mul(16));
    if metadata > MAX_INSTANCE_METADATA {
        return Err(CodeError::Unsupported(alloc::format!(
            "instance metadata of about {metadata} bytes (at most {MAX_INSTANCE_METADATA})"
        )));
    }
    version.ok_or(CodeError::NoVersion)
}

/// The offset a segment's offset expression gives, if it is a constant (in Wasm 2.0 the only
/// other is an imported global's value, and a runtime imports none).
#[cfg(feature = "std")]
fn constant_offset(expression: &wasmparser::ConstExpr<'_>) -> Result<u64, CodeError> {
    use wasmparser::Operator;
    let mut operators = expression.get_operators_reader();
    match (operators.read(), operators.read()) {
        (Ok(Operator::I32Const { value }), Ok(Operator::End)) if operators.eof() => {
            Ok(u64::from(value.cast_unsigned()))
        }
        _ => Err(CodeError::Unsupported(
            "a segment at an offset that is no constant".into(),
        )),
    }
}

/// The functions a constant expression refers to.
#[cfg(feature = "std")]
fn functions_in(
    expression: &wasmparser::ConstExpr<'_>,
) -> Result<Vec<u32>, wasmparser::BinaryReaderError> {
    let mut functions = Vec::new();
    let mut operators = expression.get_operators_reader();
    while !operators.eof() {
        if let wasmparser::Operator::RefFunc { function_index } = operators.read()? {
            functions.push(function_index);
        }
    }
    Ok(functions)
}

#[cfg(feature = "std")]
fn out_of_bounds(what: &str, of: &str) -> CodeError {
    CodeError::Unsupported(alloc::format!("{what} beyond the {of} it starts with"))
}

#[cfg(feature = "std")]
fn unknown_import(module: &str, name: &str) -> CodeError {
    CodeError::UnknownImport(alloc::format!("{module}::{name}"))
}

/// [`check_code`], by the host when running as Wasm.
pub fn runtime_version_of(code: &[u8], kind: ChainKind) -> Result<VersionInfo, CodeError> {
    #[cfg(all(target_arch = "wasm32", not(feature = "std")))]
    return guest::host_runtime_version(code, kind);
    #[cfg(feature = "std")]
    return check_code(code, kind);
    #[cfg(not(any(feature = "std", target_arch = "wasm32")))]
    {
        let _ = (code, kind);
        Err(CodeError::NoVersion)
    }
}

/// Length of [`version_section`]'s bytes for `version` (spec names under 16 KiB).
// Evaluated at compile time, where an overflow fails the build.
#[allow(clippy::arithmetic_side_effects)]
pub const fn version_section_len(version: &crate::RuntimeVersion) -> usize {
    let name = version.spec_name.len();
    let prefix = if name < 64 { 1 } else { 2 };
    prefix + name + 4 + 4
}

/// `version` as SCALE [`VersionInfo`] bytes at compile time, for the `runtime_version` section
/// [`runtime_api!`](crate::runtime_api) puts in a blob; `N` is [`version_section_len`].
// Evaluated at compile time, where an index out of bounds fails the build.
#[allow(clippy::arithmetic_side_effects, clippy::indexing_slicing)]
pub const fn version_section<const N: usize>(version: &crate::RuntimeVersion) -> [u8; N] {
    let mut out = [0u8; N];
    let name = version.spec_name.as_bytes();
    let mut at = if name.len() < 64 {
        out[0] = (name.len() as u8) << 2;
        1
    } else {
        let compact = ((name.len() as u16) << 2) | 0b01;
        out[0] = compact as u8;
        out[1] = (compact >> 8) as u8;
        2
    };
    let mut i = 0;
    while i < name.len() {
        out[at] = name[i];
        at += 1;
        i += 1;
    }
    let spec = version.spec_version.to_le_bytes();
    let transaction = version.transaction_version.to_le_bytes();
    let mut j = 0;
    while j < 4 {
        out[at + j] = spec[j];
        out[at + 4 + j] = transaction[j];
        j += 1;
    }
    out
}

/// What `GenesisBuilder_build_state` builds from.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct GenesisRequest {
    /// The genesis config.
    pub config: crate::parachain::ParaGenesis,
    /// The runtime's own blob, for `:code` (a blob cannot embed itself).
    pub code: Vec<u8>,
}

/// What `BlockBuilder_build_block` builds on.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct BuildRequest {
    /// The parent block's header (the node's state is at its state root).
    pub parent: Header,
    /// Who collects the fees.
    pub author: Option<AccountId>,
    /// The extrinsics to try, in order (the first is never skipped for time).
    pub extrinsics: Vec<OpaqueExtrinsic>,
    /// Pre-runtime digest items the header starts with (a relay block's slot claim).
    pub pre_runtime: Vec<crate::DigestItem>,
}

/// What `BlockBuilder_build_block` built (the state changes are the node's, from the commit).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct BuildResult {
    /// The block.
    pub block: Block,
    /// Extrinsics left out, by index in the request, and why.
    pub rejected: Vec<(u32, InvalidTransaction)>,
    /// Index of the first extrinsic not tried.
    pub tried: u32,
    /// The block's weight.
    pub weight: u64,
}

/// Packs a pointer and a length into `validate_block`'s return value.
pub fn pack_ptr_len(ptr: u32, len: u32) -> u64 {
    u64::from(ptr) | (u64::from(len) << 32)
}

/// Splits `validate_block`'s return value into pointer and length.
pub fn unpack_ptr_len(packed: u64) -> (u32, u32) {
    (packed as u32, (packed >> 32) as u32)
}

/// Exports a para's side of its runtime (only when compiled for `wasm32` without the `std`
/// feature): `$validate: fn(ValidationParams) -> ValidationOutcome` as the Wasm validation
/// function, and runtime `$runtime`'s para API ([`PARA_EXPORTS`] and its genesis builder).
/// Goes with [`runtime_api!`](crate::runtime_api).
#[macro_export]
macro_rules! validation_function {
    ($validate:path, $runtime:ty) => {
        // In an anonymous const so the exports' names cannot clash with the crate's.
        #[cfg(all(target_arch = "wasm32", not(feature = "std")))]
        const _: () = {
            #[allow(unsafe_code)]
            #[no_mangle]
            extern "C" fn validate_block(ptr: u32, len: u32) -> u64 {
                $crate::wasm::guest::run(ptr, len, $validate)
            }

            #[allow(unsafe_code, non_snake_case)]
            #[no_mangle]
            extern "C" fn GenesisBuilder_build_state(ptr: u32, len: u32) -> u64 {
                $crate::wasm::guest::build_genesis::<$runtime>(ptr, len)
            }

            #[allow(unsafe_code, non_snake_case)]
            #[no_mangle]
            extern "C" fn BlockBuilder_inherent_extrinsics(ptr: u32, len: u32) -> u64 {
                $crate::wasm::guest::inherent_extrinsics::<$runtime>(ptr, len)
            }
        };
    };
}

/// Exports runtime `$runtime`'s API ([`RUNTIME_EXPORTS`]), its version section and the
/// allocator to the node that executes it (only when compiled for `wasm32` without the `std`
/// feature). A para adds [`validation_function!`](crate::validation_function).
#[macro_export]
macro_rules! runtime_api {
    ($runtime:ty) => {
        #[cfg(all(target_arch = "wasm32", not(feature = "std")))]
        const _: () = {
            /// The version, read by nodes without running the blob.
            #[used]
            #[link_section = "runtime_version"]
            static RUNTIME_VERSION: [u8; $crate::wasm::version_section_len(
                &<$runtime as $crate::executive::Runtime>::VERSION,
            )] = $crate::wasm::version_section(&<$runtime as $crate::executive::Runtime>::VERSION);

            #[allow(unsafe_code)]
            #[no_mangle]
            extern "C" fn tessera_alloc(len: u32) -> u32 {
                $crate::wasm::guest::alloc(len)
            }

            #[allow(unsafe_code, non_snake_case)]
            #[no_mangle]
            extern "C" fn Core_version(_ptr: u32, _len: u32) -> u64 {
                $crate::wasm::guest::output(&<$runtime as $crate::executive::Runtime>::VERSION)
            }

            #[allow(unsafe_code, non_snake_case)]
            #[no_mangle]
            extern "C" fn Core_execute_block(ptr: u32, len: u32) -> u64 {
                $crate::wasm::guest::execute_block::<$runtime>(ptr, len)
            }

            #[allow(unsafe_code, non_snake_case)]
            #[no_mangle]
            extern "C" fn BlockBuilder_build_block(ptr: u32, len: u32) -> u64 {
                $crate::wasm::guest::build_block::<$runtime>(ptr, len)
            }

            #[allow(unsafe_code, non_snake_case)]
            #[no_mangle]
            extern "C" fn TaggedTransactionQueue_validate_transactions(ptr: u32, len: u32) -> u64 {
                $crate::wasm::guest::validate_transactions::<$runtime>(ptr, len)
            }

            #[allow(unsafe_code, non_snake_case)]
            #[no_mangle]
            extern "C" fn TaggedTransactionQueue_validate_transaction(ptr: u32, len: u32) -> u64 {
                $crate::wasm::guest::query_or_refuse(
                    ptr,
                    len,
                    |_, (_, xt, parent): $crate::transaction_validity::ValidateInput| {
                        $crate::transaction_validity::validate_transaction::<$runtime>(
                            $crate::state::State::host(),
                            &xt,
                            parent,
                        )
                    },
                )
            }

            #[allow(unsafe_code, non_snake_case)]
            #[no_mangle]
            extern "C" fn Metadata_metadata(ptr: u32, len: u32) -> u64 {
                $crate::wasm::guest::query(ptr, len, |_, ()| {
                    Ok(
                        $crate::metadata::metadata::<$runtime>($crate::metadata::DEFAULT)
                            .unwrap_or_default(),
                    )
                })
            }

            #[allow(unsafe_code, non_snake_case)]
            #[no_mangle]
            extern "C" fn Metadata_metadata_at_version(ptr: u32, len: u32) -> u64 {
                $crate::wasm::guest::query(ptr, len, |_, version: u32| {
                    Ok($crate::metadata::metadata::<$runtime>(version))
                })
            }

            #[allow(unsafe_code, non_snake_case)]
            #[no_mangle]
            extern "C" fn Metadata_metadata_versions(ptr: u32, len: u32) -> u64 {
                $crate::wasm::guest::query(
                    ptr,
                    len,
                    |_, ()| Ok($crate::metadata::VERSIONS.to_vec()),
                )
            }

            #[allow(unsafe_code, non_snake_case)]
            #[no_mangle]
            extern "C" fn AccountNonceApi_account_nonce(ptr: u32, len: u32) -> u64 {
                $crate::wasm::guest::query_or_refuse(ptr, len, |state, who| {
                    $crate::modules::system::account_nonce_api(state, &who)
                })
            }

            #[allow(unsafe_code, non_snake_case)]
            #[no_mangle]
            extern "C" fn TransactionPaymentApi_query_info(ptr: u32, len: u32) -> u64 {
                $crate::wasm::guest::query_or_refuse(
                    ptr,
                    len,
                    |_, (uxt, len): $crate::payment::QueryInput| {
                        $crate::payment::query_info::<$runtime>(&uxt, len)
                    },
                )
            }

            #[allow(unsafe_code, non_snake_case)]
            #[no_mangle]
            extern "C" fn TransactionPaymentApi_query_fee_details(ptr: u32, len: u32) -> u64 {
                $crate::wasm::guest::query_or_refuse(
                    ptr,
                    len,
                    |_, (uxt, len): $crate::payment::QueryInput| {
                        $crate::payment::query_fee_details::<$runtime>(&uxt, len)
                    },
                )
            }

            #[allow(unsafe_code, non_snake_case)]
            #[no_mangle]
            extern "C" fn TransactionPaymentApi_query_weight_to_fee(ptr: u32, len: u32) -> u64 {
                $crate::wasm::guest::query(ptr, len, |_, weight| {
                    Ok($crate::payment::weight_to_fee::<$runtime>(weight))
                })
            }

            #[allow(unsafe_code, non_snake_case)]
            #[no_mangle]
            extern "C" fn TransactionPaymentApi_query_length_to_fee(ptr: u32, len: u32) -> u64 {
                $crate::wasm::guest::query(ptr, len, |_, length: u32| {
                    Ok($crate::payment::length_to_fee::<$runtime>(length))
                })
            }
        };
    };
}

/// The validation function's side of the ABI: allocator, panic handler, host calls.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[allow(unsafe_code)]
pub mod guest {
    use super::{pack_ptr_len, ValidationOutcome};
    use crate::parachain::ValidationParams;
    use alloc::string::String;
    use alloc::vec::Vec;
    use parity_scale_codec::{Decode, DecodeAll, Encode};

    #[global_allocator]
    static ALLOCATOR: dlmalloc::GlobalDlmalloc = dlmalloc::GlobalDlmalloc;

    // The module name is `HOST_MODULE`; the attribute needs a literal.
    #[link(wasm_import_module = "tessera")]
    extern "C" {
        fn blake2_256(data: u32, len: u32, out: u32);
        fn blake2_128(data: u32, len: u32, out: u32);
        fn sr25519_verify(signature: u32, message: u32, len: u32, public: u32) -> u32;
        fn sr25519_verify_batch(items: u32, len: u32) -> u32;
        fn ed25519_verify(signature: u32, message: u32, len: u32, public: u32) -> u32;
        fn abort(message: u32, len: u32);
        fn runtime_version_for(code: u32, len: u32, kind: u32) -> u64;
        fn storage_get(key: u32, len: u32) -> u64;
        fn storage_commit(changes: u32, len: u32, root: u32);
        fn out_of_time() -> u32;
        fn log(level: u32, target: u32, target_len: u32, message: u32, message_len: u32);
    }

    /// Writes a line to the node's log.
    pub fn host_log(level: u32, target: &str, message: &str) {
        // SAFETY: the host reads both strings and returns nothing.
        unsafe {
            log(
                level,
                ptr_of(target.as_bytes()),
                target.len() as u32,
                ptr_of(message.as_bytes()),
                message.len() as u32,
            )
        }
    }

    /// The value under `key` in the node's state.
    pub fn host_storage_get(key: &[u8]) -> Option<Vec<u8>> {
        // SAFETY: the host reads `key` and returns a buffer it got from `tessera_alloc` (ours
        // from now on) and filled, or -1.
        let packed = unsafe { storage_get(ptr_of(key), key.len() as u32) };
        if packed == u64::MAX {
            return None;
        }
        let (ptr, len) = super::unpack_ptr_len(packed);
        // SAFETY: `tessera_alloc` made this buffer with capacity `len`; the host filled it.
        Some(unsafe { Vec::from_raw_parts(ptr as *mut u8, len as usize, len as usize) })
    }

    /// The host's [`super::check_code`] of `code`.
    pub fn host_runtime_version(
        code: &[u8],
        kind: super::ChainKind,
    ) -> Result<super::VersionInfo, super::CodeError> {
        // SAFETY: the host reads `code` and returns a buffer it got from `tessera_alloc` (ours
        // from now on) and filled.
        let packed = unsafe { runtime_version_for(ptr_of(code), code.len() as u32, kind.code()) };
        let (ptr, len) = super::unpack_ptr_len(packed);
        // SAFETY: `tessera_alloc` made this buffer with capacity `len`; the host filled it.
        let answer = unsafe { Vec::from_raw_parts(ptr as *mut u8, len as usize, len as usize) };
        DecodeAll::decode_all(&mut &answer[..]).unwrap_or_else(|_| Err(super::CodeError::NoVersion))
    }

    /// Applies `changes` to the node's state; returns the new root.
    pub fn host_storage_commit(changes: &[(Vec<u8>, Option<Vec<u8>>)]) -> crate::Hash {
        let encoded = changes.encode();
        let mut root = [0u8; 32];
        // SAFETY: the host reads the changes and writes 32 bytes to `root`.
        unsafe {
            storage_commit(
                ptr_of(&encoded),
                encoded.len() as u32,
                root.as_mut_ptr() as u32,
            )
        };
        crate::Hash(root)
    }

    /// Returns `value` encoded to the host: its buffer is the host's to read, never freed.
    pub fn output(value: &impl Encode) -> u64 {
        let output = value.encode();
        let packed = pack_ptr_len(ptr_of(&output), output.len() as u32);
        core::mem::forget(output);
        packed
    }

    /// `BlockBuilder_build_block`: builds on the node's state from the encoded request at
    /// `ptr..ptr + len`.
    pub fn build_block<R: crate::executive::Runtime>(ptr: u32, len: u32) -> u64 {
        // SAFETY: the host wrote `len` bytes at `ptr`, a buffer it got from `tessera_alloc`.
        let input = unsafe { core::slice::from_raw_parts(ptr as *const u8, len as usize) };
        let outcome = match super::BuildRequest::decode_all(&mut &*input) {
            Ok(request) => {
                // SAFETY: a call without arguments.
                let mut out_of_time = || unsafe { out_of_time() } == 1;
                crate::parachain::build_block_with_digest::<R>(
                    crate::state::State::host(),
                    &request.parent,
                    &request.extrinsics,
                    request.pre_runtime,
                    request.author,
                    &mut out_of_time,
                )
                .map(|built| super::BuildResult {
                    block: built.block,
                    rejected: built
                        .rejected
                        .into_iter()
                        .map(|(index, why)| (index as u32, why))
                        .collect(),
                    tried: built.tried as u32,
                    weight: built.weight,
                })
                .map_err(|err| alloc::format!("{err}"))
            }
            Err(err) => Err(alloc::format!("the build request does not decode: {err}")),
        };
        output(&outcome)
    }

    /// `GenesisBuilder_build_state` on the encoded request at `ptr..ptr + len`.
    pub fn build_genesis<R: crate::executive::Runtime>(ptr: u32, len: u32) -> u64 {
        // SAFETY: the host wrote `len` bytes at `ptr`, a buffer it got from `tessera_alloc`.
        let input = unsafe { core::slice::from_raw_parts(ptr as *const u8, len as usize) };
        let outcome: Result<crate::Header, alloc::string::String> =
            match super::GenesisRequest::decode_all(&mut &*input) {
                Ok(request) => request
                    .config
                    .build_on::<R>(crate::state::State::host(), &request.code)
                    .map(|(header, _)| header)
                    .map_err(|err| alloc::format!("{err}")),
                Err(err) => Err(alloc::format!("the genesis request does not decode: {err}")),
            };
        output(&outcome)
    }

    /// `BlockBuilder_inherent_extrinsics` on the encoded relay inputs at `ptr..ptr + len`.
    pub fn inherent_extrinsics<R: crate::executive::Runtime>(ptr: u32, len: u32) -> u64
    where
        R::Call: From<crate::modules::parachain_system::Call>,
    {
        // SAFETY: the host wrote `len` bytes at `ptr`, a buffer it got from `tessera_alloc`.
        let input = unsafe { core::slice::from_raw_parts(ptr as *const u8, len as usize) };
        let outcome: Result<Vec<crate::OpaqueExtrinsic>, alloc::string::String> =
            match crate::messaging::RelayInputs::decode_all(&mut &*input) {
                Ok(inputs) => Ok(alloc::vec![crate::parachain::relay_inputs_inherent::<R>(
                    inputs
                )]),
                Err(err) => Err(alloc::format!("the relay inputs do not decode: {err}")),
            };
        output(&outcome)
    }

    /// `TaggedTransactionQueue_validate_transactions` on the encoded request at
    /// `ptr..ptr + len`.
    pub fn validate_transactions<R: crate::executive::Runtime>(ptr: u32, len: u32) -> u64 {
        use crate::executive::{ApplyError, Executive};
        // SAFETY: the host wrote `len` bytes at `ptr`, a buffer it got from `tessera_alloc`.
        let input = unsafe { core::slice::from_raw_parts(ptr as *const u8, len as usize) };
        let outcome: super::ValidateResult = match super::ValidateRequest::decode_all(&mut &*input)
        {
            Ok(request) => {
                let state = crate::state::State::host();
                match Executive::<R>::initialize(state, request.number, request.parent_hash, None) {
                    Ok(mut executive) => request
                        .transactions
                        .iter()
                        .map(|xt| {
                            let checked = if request.check_signatures {
                                executive.validate(xt)
                            } else {
                                executive.revalidate(xt)
                            };
                            match checked {
                                Ok(valid) => Ok(Ok(valid)),
                                Err(ApplyError::Invalid(why)) => Ok(Err(why)),
                                Err(ApplyError::State(err)) => Err(alloc::format!("{err}")),
                            }
                        })
                        .collect(),
                    Err(err) => Err(alloc::format!("{err}")),
                }
            }
            Err(err) => Err(alloc::format!("the request does not decode: {err}")),
        };
        output(&outcome)
    }

    /// `Core_execute_block`: executes the encoded block at `ptr..ptr + len` on the node's state.
    pub fn execute_block<R: crate::executive::Runtime>(ptr: u32, len: u32) -> u64 {
        // SAFETY: the host wrote `len` bytes at `ptr`, a buffer it got from `tessera_alloc`.
        let input = unsafe { core::slice::from_raw_parts(ptr as *const u8, len as usize) };
        let outcome: Result<(), super::BlockRejection> =
            match crate::Block::decode_all(&mut &*input) {
                Ok(block) => {
                    crate::executive::execute_block_on::<R>(crate::state::State::host(), &block)
                        .map(drop)
                        .map_err(super::BlockRejection::from)
                }
                Err(err) => Err(super::BlockRejection::Malformed(alloc::format!("{err}"))),
            };
        output(&outcome)
    }

    fn ptr_of(bytes: &[u8]) -> u32 {
        bytes.as_ptr() as u32
    }

    /// blake2b-256 by the host.
    pub fn host_blake2_256(data: &[u8]) -> [u8; 32] {
        let mut out = [0u8; 32];
        // SAFETY: the host reads `data` and writes 32 bytes to `out`, both in our memory.
        unsafe { blake2_256(ptr_of(data), data.len() as u32, out.as_mut_ptr() as u32) };
        out
    }

    /// blake2b-128 by the host.
    pub fn host_blake2_128(data: &[u8]) -> [u8; 16] {
        let mut out = [0u8; 16];
        // SAFETY: the host reads `data` and writes 16 bytes to `out`, both in our memory.
        unsafe { blake2_128(ptr_of(data), data.len() as u32, out.as_mut_ptr() as u32) };
        out
    }

    /// sr25519 verification by the host.
    pub fn host_sr25519_verify(signature: &[u8; 64], message: &[u8], public: &[u8; 32]) -> bool {
        verify_with(sr25519_verify, signature, message, public)
    }

    /// ed25519 verification by the host.
    pub fn host_ed25519_verify(signature: &[u8; 64], message: &[u8], public: &[u8; 32]) -> bool {
        verify_with(ed25519_verify, signature, message, public)
    }

    /// One signature checked by the host function `verify`.
    fn verify_with(
        verify: unsafe extern "C" fn(u32, u32, u32, u32) -> u32,
        signature: &[u8; 64],
        message: &[u8],
        public: &[u8; 32],
    ) -> bool {
        // SAFETY: the host only reads the three buffers.
        unsafe {
            verify(
                ptr_of(signature),
                ptr_of(message),
                message.len() as u32,
                ptr_of(public),
            ) == 1
        }
    }

    /// Batch sr25519 verification by the host, of SCALE `Vec<(AccountId, Vec<u8>, Signature)>`.
    pub fn host_sr25519_verify_batch(items: &[u8]) -> bool {
        // SAFETY: the host only reads the buffer.
        unsafe { sr25519_verify_batch(ptr_of(items), items.len() as u32) == 1 }
    }

    /// `tessera_alloc`: a buffer of `len` bytes for the host to fill: the parameters (never
    /// freed: one per call) or a value read (owned and freed by [`host_storage_get`]).
    pub fn alloc(len: u32) -> u32 {
        let mut buffer = Vec::<u8>::with_capacity(len as usize);
        let ptr = buffer.as_mut_ptr() as u32;
        core::mem::forget(buffer);
        ptr
    }

    /// A read-only runtime API call: decodes its input at `ptr..ptr + len`, runs `query` on
    /// the node's state and returns the encoded `Result<O, String>` (the error, a state the
    /// runtime could not read or an input that does not decode).
    pub fn query<I: Decode, O: Encode>(
        ptr: u32,
        len: u32,
        query: impl FnOnce(&mut crate::state::State<'static>, I) -> crate::Result<O>,
    ) -> u64 {
        query_or_refuse(ptr, len, |state, input| {
            query(state, input).map_err(|err| alloc::format!("{err}"))
        })
    }

    /// Like [`query`], for a query that refuses its input with a message of its own.
    pub fn query_or_refuse<I: Decode, O: Encode>(
        ptr: u32,
        len: u32,
        query: impl FnOnce(&mut crate::state::State<'static>, I) -> Result<O, String>,
    ) -> u64 {
        // SAFETY: the host wrote `len` bytes at `ptr`, a buffer it got from `tessera_alloc`.
        let input = unsafe { core::slice::from_raw_parts(ptr as *const u8, len as usize) };
        let outcome: Result<O, String> = match I::decode_all(&mut &*input) {
            Ok(input) => query(&mut crate::state::State::host(), input),
            Err(err) => Err(alloc::format!("the input does not decode: {err}")),
        };
        output(&outcome)
    }

    /// `validate_block`: decodes the parameters, runs `validate`, returns the encoded outcome.
    pub fn run(ptr: u32, len: u32, validate: fn(ValidationParams) -> ValidationOutcome) -> u64 {
        // SAFETY: the host wrote `len` bytes at `ptr`, a buffer it got from `tessera_alloc`.
        let input = unsafe { core::slice::from_raw_parts(ptr as *const u8, len as usize) };
        let outcome = match ValidationParams::decode_all(&mut &*input) {
            Ok(params) => validate(params),
            Err(err) => Err(alloc::format!("validation parameters do not decode: {err}")),
        };
        output(&outcome)
    }

    #[panic_handler]
    fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
        let message = alloc::format!("{info}");
        // SAFETY: the host reads the message and stops execution; it never returns.
        unsafe { abort(ptr_of(message.as_bytes()), message.len() as u32) };
        core::arch::wasm32::unreachable()
    }
}
