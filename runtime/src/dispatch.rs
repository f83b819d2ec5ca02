//! The module model: origins, calls, weights, errors and the context calls run in.
//!
//! A module is a plain Rust module with a `Call` enum, an `Event` enum, an `Error` enum and
//! typed storage items. A call implements [`Dispatch`]: its weight (which sets its fee) and a
//! `match` that checks the origin and runs a function. A runtime's call enum wraps the
//! modules' calls and dispatches with another `match`, so "go to definition" leads from an
//! extrinsic to the storage write.

use crate::crypto::AccountId;
use crate::header::BlockNumber;
use crate::state::State;
use crate::Balance;
use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};
use scale_info::TypeInfo;

/// Execution cost of a call, in picoseconds of reference hardware.
pub type Weight = u64;

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
pub enum Origin {
    /// The chain itself (genesis, sudo, governance).
    Root,
    /// A signed transaction's account.
    Signed(AccountId),
    /// An inherent: no account, checked by every node.
    None,
}

impl Origin {
    /// The signing account, or [`DispatchError::BadOrigin`].
    pub fn ensure_signed(&self) -> Result<&AccountId, DispatchError> {
        match self {
            Origin::Signed(who) => Ok(who),
            _ => Err(DispatchError::BadOrigin),
        }
    }

    /// `Ok` for [`Origin::None`] (an inherent or unsigned report), else
    /// [`DispatchError::BadOrigin`].
    pub fn ensure_none(&self) -> Result<(), DispatchError> {
        match self {
            Origin::None => Ok(()),
            _ => Err(DispatchError::BadOrigin),
        }
    }

    /// `Ok` for [`Origin::Root`], else [`DispatchError::BadOrigin`].
    pub fn ensure_root(&self) -> Result<(), DispatchError> {
        match self {
            Origin::Root => Ok(()),
            _ => Err(DispatchError::BadOrigin),
        }
    }
}

/// Why a call failed: Substrate's `DispatchError`, with its variant indices, so that clients
/// read it from events as they do on Polkadot. Recorded in `ExtrinsicFailed`; the fee is still
/// paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo, thiserror::Error)]
pub enum DispatchError {
    /// An address names no account this chain can find (an account index, raw bytes or a
    /// 20-byte address).
    #[codec(index = 1)]
    #[error("cannot look up the account")]
    CannotLookup,
    /// The origin may not make this call.
    #[codec(index = 2)]
    #[error("bad origin")]
    BadOrigin,
    /// An error of a module.
    #[codec(index = 3)]
    #[error("{0}")]
    Module(ModuleError),
    /// Arithmetic went out of range.
    #[codec(index = 8)]
    #[error("arithmetic: {0:?}")]
    Arithmetic(ArithmeticError),
}

impl DispatchError {
    /// A balance or counter would overflow.
    pub const OVERFLOW: DispatchError = DispatchError::Arithmetic(ArithmeticError::Overflow);

    /// The error with its module's index filled in from `index_of` (a runtime's module
    /// names); other errors unchanged.
    pub fn with_module_index(self, index_of: impl Fn(&str) -> Option<u8>) -> Self {
        match self {
            DispatchError::Module(mut error) => {
                if let Some(index) = error.module.and_then(index_of) {
                    error.index = index;
                }
                DispatchError::Module(error)
            }
            other => other,
        }
    }
}

/// Substrate's `ArithmeticError`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
pub enum ArithmeticError {
    /// Below the type's minimum.
    Underflow,
    /// Above the type's maximum.
    Overflow,
    /// A division by zero.
    DivisionByZero,
}

/// Substrate's `ModuleError`: the module's index in the runtime and its error's encoding.
/// Equal when those are: the names are for logs and are not encoded.
#[derive(Clone, Copy, Debug, Eq, Encode, Decode, TypeInfo)]
pub struct ModuleError {
    /// The module's index in the runtime ([`ModuleError::UNRESOLVED`] until the runtime's
    /// dispatch fills it in).
    pub index: u8,
    /// The module's error enum, SCALE-encoded and padded with zeroes.
    pub error: [u8; MAX_MODULE_ERROR_SIZE],
    /// The module's name, while it is known.
    #[codec(skip)]
    pub module: Option<&'static str>,
    /// The error variant's name, while it is known.
    #[codec(skip)]
    pub message: Option<&'static str>,
}

/// Bytes of a module error's encoding (Substrate's `MAX_MODULE_ERROR_ENCODED_SIZE`).
pub const MAX_MODULE_ERROR_SIZE: usize = 4;

impl ModuleError {
    /// The index of an error whose module the runtime has not yet named.
    pub const UNRESOLVED: u8 = u8::MAX;

    /// The error `error` of its module.
    pub fn new<E: ModuleErrorKind>(error: &E) -> Self {
        let mut bytes = [0u8; MAX_MODULE_ERROR_SIZE];
        let encoded = error.encode();
        debug_assert!(
            encoded.len() <= MAX_MODULE_ERROR_SIZE,
            "{} too large",
            E::MODULE
        );
        for (byte, encoded) in bytes.iter_mut().zip(encoded) {
            *byte = encoded;
        }
        ModuleError {
            index: Self::UNRESOLVED,
            error: bytes,
            module: Some(E::MODULE),
            message: Some(error.name()),
        }
    }
}

impl PartialEq for ModuleError {
    fn eq(&self, other: &Self) -> bool {
        self.index == other.index && self.error == other.error
    }
}

impl core::fmt::Display for ModuleError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match (self.module, self.message) {
            (Some(module), Some(message)) => write!(f, "{module}: {message}"),
            _ => write!(
                f,
                "module {} error 0x{}",
                self.index,
                hex::encode(self.error)
            ),
        }
    }
}

/// A module's error enum ([`module_error!`](crate::module_error) implements it).
pub trait ModuleErrorKind: Encode {
    /// The module's name.
    const MODULE: &'static str;

    /// The variant's name.
    fn name(&self) -> &'static str;
}

/// Why a call stopped: a dispatch error (the extrinsic fails, the block goes on) or a state
/// error (the block cannot be executed, e.g. a node missing from a proof).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// The call failed; its changes are rolled back.
    #[error(transparent)]
    Dispatch(#[from] DispatchError),
    /// State could not be read.
    #[error(transparent)]
    State(#[from] crate::Error),
}

/// Result of a call.
pub type CallResult = Result<(), CallError>;

/// Where in the block an event happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
pub enum Phase {
    /// While applying the extrinsic at this index.
    ApplyExtrinsic(u32),
    /// At the end of the block (e.g. paying the author).
    Finalization,
    /// At the start of the block.
    Initialization,
}

/// An event and where it happened (Substrate's `EventRecord`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct EventRecord<E> {
    /// Where.
    pub phase: Phase,
    /// What.
    pub event: E,
    /// Hashes a client may filter events by (none are set today).
    pub topics: Vec<crate::Hash>,
}

/// Described under Substrate's path, `frame_system::EventRecord`, by which clients find the
/// runtime's event enum (its parameter `E`).
impl<E: TypeInfo + 'static> TypeInfo for EventRecord<E> {
    type Identity = Self;

    fn type_info() -> scale_info::Type {
        use scale_info::{build::Fields, meta_type, Path, TypeParameter};
        scale_info::Type::builder()
            .path(Path::new("EventRecord", "frame_system"))
            .type_params([
                TypeParameter::new("E", Some(meta_type::<E>())),
                TypeParameter::new("T", Some(meta_type::<crate::Hash>())),
            ])
            .composite(
                Fields::named()
                    .field(|f| f.ty::<Phase>().name("phase").type_name("Phase"))
                    .field(|f| f.ty::<E>().name("event").type_name("E"))
                    .field(|f| {
                        f.ty::<Vec<crate::Hash>>()
                            .name("topics")
                            .type_name("Vec<T>")
                    }),
            )
    }
}

/// Chain-wide constants of a runtime.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RuntimeConfig {
    /// Accounts below this balance are removed and their dust burnt.
    pub existential_deposit: Balance,
    /// Fee of every signed extrinsic.
    pub base_fee: Balance,
    /// Fee per unit of weight.
    pub fee_per_weight: Balance,
    /// Fee per byte of encoded extrinsic.
    pub fee_per_byte: Balance,
    /// Most weight a block may use.
    pub max_block_weight: Weight,
    /// Most bytes the signed transactions of a block may take (inherents are not counted:
    /// a block is invalid without them).
    pub max_block_length: u32,
}

/// The usual [`RuntimeConfig::max_block_length`]: Polkadot's 5 MiB.
pub const MAX_BLOCK_LENGTH: u32 = 5 * 1024 * 1024;

/// What calls run in: state, the block being built, and the events so far.
pub struct Context<'a, E> {
    /// The state.
    pub state: State<'a>,
    /// Height of the block being executed.
    pub block_number: BlockNumber,
    /// The runtime's constants.
    pub config: RuntimeConfig,
    /// The version of the runtime executing, when the executive runs it (`set_code` checks
    /// a new runtime against it).
    pub version: Option<crate::RuntimeVersion>,
    phase: Phase,
    events: Vec<EventRecord<E>>,
    /// Weight used by work a call's declared weight cannot foresee (what a hook finds in
    /// state, such as an era's election), added to the block's by the executive.
    used_beyond_declared: Weight,
}

impl<'a, E> Context<'a, E> {
    /// A context for executing block `block_number` on `state`.
    pub fn new(state: State<'a>, block_number: BlockNumber, config: RuntimeConfig) -> Self {
        Context {
            state,
            block_number,
            config,
            version: None,
            phase: Phase::Initialization,
            events: Vec::new(),
            used_beyond_declared: 0,
        }
    }

    /// Records an event at the current phase.
    pub fn deposit_event(&mut self, event: impl Into<E>) {
        self.events.push(EventRecord {
            phase: self.phase,
            event: event.into(),
            topics: Vec::new(),
        });
    }

    /// Where in the block execution is.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Sets the phase for events that follow.
    pub fn set_phase(&mut self, phase: Phase) {
        self.phase = phase;
    }

    /// Records `weight` used beyond what the running call declared: the block counts it.
    pub fn consume_weight(&mut self, weight: Weight) {
        self.used_beyond_declared = self.used_beyond_declared.saturating_add(weight);
    }

    /// The weight recorded by [`Self::consume_weight`] since the last call, reset to 0.
    pub fn take_consumed_weight(&mut self) -> Weight {
        core::mem::take(&mut self.used_beyond_declared)
    }

    /// Events so far.
    pub fn events(&self) -> &[EventRecord<E>] {
        &self.events
    }

    /// How many events so far (to drop those of a failed call with [`Self::truncate_events`]).
    pub fn event_count(&self) -> usize {
        self.events.len()
    }

    /// Forgets events after the first `count`.
    pub fn truncate_events(&mut self, count: usize) {
        self.events.truncate(count);
    }

    /// Consumes the context: its state and events.
    pub fn into_parts(self) -> (State<'a>, Vec<EventRecord<E>>) {
        (self.state, self.events)
    }
}

/// A call: its weight and how it runs.
pub trait Dispatch<E> {
    /// The call's weight; the fee follows from it.
    fn weight(&self) -> Weight;

    /// Runs the call as `origin`.
    fn dispatch(self, ctx: &mut Context<'_, E>, origin: Origin) -> CallResult;

    /// Whether the call is an inherent: put unsigned in a block by its author, dispatched with
    /// [`Origin::None`], and required to succeed for the block to be valid.
    fn is_inherent(&self) -> bool {
        false
    }

    /// Whether the call is a report whose proof is its own authority (an equivocation's, a
    /// validator's signed statement): a block author may include it unsigned, dispatched with
    /// [`Origin::None`]; it must succeed (not a false or known report), or the block is invalid.
    fn is_report(&self) -> bool {
        false
    }
}
