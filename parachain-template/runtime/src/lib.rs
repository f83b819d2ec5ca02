//! The parachain template's runtime: `system`, `balances`, `sudo` and `parachain_system` from
//! `tessera-runtime` and `xcm` from `tessera-xcm`, compiled natively for the collator and to
//! Wasm as the para's validation function.
//!
//! To make your own para, copy this crate, add a module to [`Call`] and [`Event`], and change
//! [`TemplateRuntime::VERSION`]. The validation function needs no code of yours: it re-executes
//! the block with these same modules against the PoV's storage proof
//! ([`tessera_runtime::parachain::validate_block`]). The build script compiles the crate to
//! Wasm; with the `std` feature, [`WASM_BINARY`] is that blob, ready to register on the relay
//! chain.
#![cfg_attr(not(feature = "std"), no_std)]

extern crate alloc;

#[cfg(feature = "std")]
mod genesis;
#[cfg(feature = "std")]
pub use genesis::{genesis, sign};
#[cfg(feature = "std")]
pub use tessera_runtime::crypto::DEV_ACCOUNTS;
pub use tessera_runtime::parachain::ParaGenesis as GenesisConfig;

use tessera_runtime::dispatch::RuntimeConfig;
use tessera_runtime::executive::Runtime;
use tessera_runtime::modules::{balances, parachain_system, sudo, system};
use tessera_runtime::parachain::ValidationParams;
use tessera_runtime::wasm::ValidationOutcome;
use tessera_runtime::{Balance, RuntimeVersion};

/// The Wasm validation function of this runtime (built by `build.rs`).
#[cfg(feature = "std")]
pub const WASM_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/validation.wasm"));

/// One token: balances have 12 decimals.
pub const UNIT: Balance = 1_000_000_000_000;

/// The template's runtime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TemplateRuntime;

impl Runtime for TemplateRuntime {
    type Call = Call;
    type Event = Event;
    const VERSION: RuntimeVersion = RuntimeVersion {
        spec_name: "tessera-parachain-template",
        spec_version: if cfg!(feature = "next-version") { 2 } else { 1 },
        transaction_version: 1,
    };
    #[cfg(feature = "std")]
    const CODE: &'static [u8] = WASM_BINARY;
    const CONFIG: RuntimeConfig = RuntimeConfig {
        existential_deposit: UNIT / 100,
        base_fee: if cfg!(feature = "next-version") {
            UNIT / 2_000
        } else {
            UNIT / 1_000
        },
        fee_per_weight: 1,
        fee_per_byte: UNIT / 1_000_000,
        // 60 ms of reference execution (1,200 transfers): with synchronous backing a block
        // must be built, proven, sent and validated by its backers within one relay slot.
        max_block_weight: 60_000_000_000,
        max_block_length: tessera_runtime::dispatch::MAX_BLOCK_LENGTH,
    };
}

/// The validation function: stateless re-execution of a template block.
pub fn validate(params: ValidationParams) -> ValidationOutcome {
    tessera_runtime::parachain::validate_block::<TemplateRuntime>(params)
}

tessera_runtime::validation_function!(validate, TemplateRuntime);
tessera_runtime::runtime_api!(TemplateRuntime);

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
        /// Calls as root by the sudo key.
        2 => Sudo {
            call: sudo::Call<Call>,
            event: sudo::Event,
            error: sudo::Error,
            storage: sudo::storage_metadata,
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
