//! The example para: `system`, `balances` and a `notes` module of its own — a second,
//! different state transition beside the template, with its own Wasm validation function.
//!
//! It shows what heterogeneity means here: relay validators check its blocks by running its
//! blob, which they fetch from relay state by hash, exactly as they check the template's.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod notes;

use parity_scale_codec::{Decode, Encode};
use tessera_runtime::dispatch::{CallResult, Context, Dispatch, Origin, RuntimeConfig, Weight};
use tessera_runtime::executive::Runtime;
use tessera_runtime::modules::{balances, system};
use tessera_runtime::parachain::ValidationParams;
use tessera_runtime::wasm::ValidationOutcome;
use tessera_runtime::{Balance, RuntimeVersion};

/// The Wasm validation function of this runtime (built by `build.rs`).
#[cfg(feature = "std")]
pub const WASM_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/validation.wasm"));

/// One token: balances have 12 decimals.
pub const UNIT: Balance = 1_000_000_000_000;

/// The example para's runtime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExampleRuntime;

impl Runtime for ExampleRuntime {
    type Call = Call;
    type Event = Event;
    const VERSION: RuntimeVersion = RuntimeVersion {
        spec_name: "tessera-example-notes",
        spec_version: 1,
    };
    const CONFIG: RuntimeConfig = RuntimeConfig {
        existential_deposit: UNIT / 100,
        base_fee: UNIT / 1_000,
        fee_per_weight: 1,
        fee_per_byte: UNIT / 1_000_000,
        // As the template: a block must be collated and backed within one relay slot.
        max_block_weight: 60_000_000_000,
    };
}

/// The validation function: stateless re-execution of an example block.
pub fn validate(params: ValidationParams) -> ValidationOutcome {
    tessera_runtime::parachain::validate_block::<ExampleRuntime>(params)
}

tessera_runtime::validation_function!(validate);

/// Every call of the example runtime.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Call {
    /// `system`.
    #[codec(index = 0)]
    System(system::Call),
    /// `balances`.
    #[codec(index = 1)]
    Balances(balances::Call),
    /// `notes`.
    #[codec(index = 2)]
    Notes(notes::Call),
}

/// Every event of the example runtime.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Event {
    /// `system`.
    #[codec(index = 0)]
    System(system::Event),
    /// `balances`.
    #[codec(index = 1)]
    Balances(balances::Event),
    /// `notes`.
    #[codec(index = 2)]
    Notes(notes::Event),
}

impl From<system::Event> for Event {
    fn from(event: system::Event) -> Self {
        Event::System(event)
    }
}

impl From<balances::Event> for Event {
    fn from(event: balances::Event) -> Self {
        Event::Balances(event)
    }
}

impl From<notes::Event> for Event {
    fn from(event: notes::Event) -> Self {
        Event::Notes(event)
    }
}

impl From<balances::Call> for Call {
    fn from(call: balances::Call) -> Self {
        Call::Balances(call)
    }
}

impl Dispatch<Event> for Call {
    fn weight(&self) -> Weight {
        match self {
            Call::System(call) => Dispatch::<Event>::weight(call),
            Call::Balances(call) => Dispatch::<Event>::weight(call),
            Call::Notes(call) => Dispatch::<Event>::weight(call),
        }
    }

    fn dispatch(self, ctx: &mut Context<'_, Event>, origin: Origin) -> CallResult {
        match self {
            Call::System(call) => call.dispatch(ctx, origin),
            Call::Balances(call) => call.dispatch(ctx, origin),
            Call::Notes(call) => call.dispatch(ctx, origin),
        }
    }
}
