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
use alloc::string::String;
use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};

/// Execution cost of a call, in picoseconds of reference hardware.
pub type Weight = u64;

/// Who is calling.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
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

    /// `Ok` for [`Origin::Root`], else [`DispatchError::BadOrigin`].
    pub fn ensure_root(&self) -> Result<(), DispatchError> {
        match self {
            Origin::Root => Ok(()),
            _ => Err(DispatchError::BadOrigin),
        }
    }
}

/// Why a call failed; recorded in the `ExtrinsicFailed` event. The fee is still paid.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, thiserror::Error)]
pub enum DispatchError {
    /// The origin may not make this call.
    #[error("bad origin")]
    BadOrigin,
    /// An error of a module.
    #[error("{module}: {error}")]
    Module {
        /// The module's name.
        module: String,
        /// The error variant's name.
        error: String,
    },
    /// A balance or counter would overflow.
    #[error("arithmetic overflow")]
    Overflow,
}

impl DispatchError {
    /// A module error.
    pub fn module(module: &str, error: &str) -> Self {
        DispatchError::Module {
            module: module.into(),
            error: error.into(),
        }
    }
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Phase {
    /// While applying the extrinsic at this index.
    ApplyExtrinsic(u32),
    /// At the end of the block (e.g. paying the author).
    Finalization,
    /// At the start of the block.
    Initialization,
}

/// An event and where it happened.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub struct EventRecord<E> {
    /// Where.
    pub phase: Phase,
    /// What.
    pub event: E,
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
        }
    }

    /// Records an event at the current phase.
    pub fn deposit_event(&mut self, event: impl Into<E>) {
        self.events.push(EventRecord {
            phase: self.phase,
            event: event.into(),
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
}
