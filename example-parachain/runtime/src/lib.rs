//! The example para: `system`, `balances` and a `notes` module of its own — a second,
//! different state transition beside the template, with its own Wasm validation function.
//!
//! It shows what heterogeneity means here: relay validators check its blocks by running its
//! blob, which they fetch from relay state by hash, exactly as they check the template's.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

pub mod notes;

use tessera_runtime::dispatch::RuntimeConfig;
use tessera_runtime::executive::Runtime;
use tessera_runtime::modules::{balances, parachain_system, system};
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
        transaction_version: 1,
    };
    #[cfg(feature = "std")]
    const CODE: &'static [u8] = WASM_BINARY;
    const CONFIG: RuntimeConfig = RuntimeConfig {
        existential_deposit: UNIT / 100,
        base_fee: UNIT / 1_000,
        fee_per_weight: 1,
        fee_per_byte: UNIT / 1_000_000,
        // As the template: a block must be collated and backed within one relay slot.
        max_block_weight: 60_000_000_000,
        max_block_length: tessera_runtime::dispatch::MAX_BLOCK_LENGTH,
    };
}

/// The validation function: stateless re-execution of an example block.
pub fn validate(params: ValidationParams) -> ValidationOutcome {
    tessera_runtime::parachain::validate_block::<ExampleRuntime>(params)
}

tessera_runtime::validation_function!(validate, ExampleRuntime);
tessera_runtime::runtime_api!(ExampleRuntime);

tessera_runtime::compose_runtime! {
    modules {
        /// Blocks, accounts, events and runtime upgrades.
        0 => System {
            call: system::Call,
            event: system::Event,
            error: system::Error,
            storage: system::storage_metadata,
        },
        /// Balances and transfers.
        1 => Balances {
            call: balances::Call,
            event: balances::Event,
            error: balances::Error,
            storage: balances::storage_metadata,
        },
        /// A note per account.
        2 => Notes {
            call: notes::Call,
            event: notes::Event,
            error: notes::Error,
            storage: notes::storage_metadata,
        },
        /// The relay inputs inherent: relay state, messages, code upgrades.
        3 => ParachainSystem {
            call: parachain_system::Call,
            event: parachain_system::Event,
            error: parachain_system::Error,
            storage: parachain_system::storage_metadata,
        },
        /// Sending, receiving and executing XCM.
        4 => PolkadotXcm {
            call: tessera_xcm::module::Call,
            event: tessera_xcm::module::Event,
            error: tessera_xcm::module::Error,
            storage: tessera_xcm::module::storage_metadata,
        },
        /// The para's id.
        5 => ParachainInfo { storage: tessera_runtime::parachain::parachain_info_storage_metadata, },
        /// The fee each transaction paid (FRAME's `TransactionPayment` event).
        6 => TransactionPayment { event: tessera_runtime::payment::Event, },
    }
    inherents { ParachainSystem }
}

tessera_xcm::para_xcm!(Event, Call);

impl From<balances::Call> for Call {
    fn from(call: balances::Call) -> Self {
        Call::Balances(call)
    }
}
