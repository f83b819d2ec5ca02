//! The relay chain's runtime and chain specs.
//!
//! [`RelayRuntime`] composes the shared modules of `tessera-runtime` — `system`, `balances`,
//! `sudo` — with the relay's own [`session`] (the validator set and sessions), [`staking`]
//! (bonds, nominations and each era's [`election`]), [`paras`] (the parachain
//! registry), [`registrar`] (onboarding paras with deposits, without root), [`pvf_check`]
//! (validators' votes on new para code), [`inclusion`] (candidates from backed to included,
//! through the parachains inherent), [`disputes`], [`messaging`] (DMP, UMP and HRMP) and `xcm`
//! ([`xcm_config`]). Its [`Call`] and [`Event`] enums wrap the modules' and dispatch with a
//! `match`. A chain starts from a [`ChainSpec`] (JSON), whose genesis config builds the genesis
//! state and header. [`availability`] erasure-codes PoVs into per-validator chunks with Merkle
//! proofs.
//!
//!
//! The runtime is built twice: natively (feature `std`, with the chain specs and erasure coding
//! the node uses) and, by `build.rs`, to the Wasm blob [`WASM_BINARY`] that genesis puts under
//! `:code` and nodes execute.
//!
//! ```
//! use tessera_relay_chain::ChainSpec;
//! let spec = ChainSpec::dev();
//! let genesis = spec.build_genesis().unwrap();
//! assert_eq!(genesis.header.number, 0);
//! ```
#![cfg_attr(not(feature = "std"), no_std)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing,
        clippy::arithmetic_side_effects
    )
)]

extern crate alloc;

/// What `std`'s prelude gives the runtime's modules, for the `no_std` build.
mod prelude {
    pub(crate) use alloc::string::{String, ToString};
    pub(crate) use alloc::vec;
    pub(crate) use alloc::vec::Vec;
}

pub mod approval_rewards;
#[cfg(feature = "std")]
pub mod availability;
pub mod babe;
#[cfg(feature = "std")]
mod chain_spec;
pub mod configuration;
pub mod disputes;
pub mod election;
#[cfg(feature = "std")]
mod error;
pub mod grandpa;
pub mod inclusion;
pub mod messaging;
pub mod offences;
#[cfg(feature = "std")]
mod para_spec;
pub mod paras;
pub mod pvf_check;
pub mod registrar;
pub mod runtime_api;
pub mod scheduler;
pub mod session;
pub mod staking;
pub mod xcm_config;

#[cfg(feature = "std")]
pub use chain_spec::{
    Address, ChainSpec, ChainType, Genesis, GenesisChannel, GenesisConfig, GenesisPara,
    GenesisStaker, GenesisStakerRole, GenesisStaking, HexBytes, DEFAULT_CHANNEL_CAPACITY,
    DEFAULT_CHANNEL_MESSAGE_SIZE, DEFAULT_EPOCH_LENGTH, DEFAULT_SLOT_DURATION_MS, DEV_ACCOUNTS,
    DEV_VALIDATOR_BOND, MIN_SLOT_DURATION_MS,
};
pub use configuration::ApprovalConfig;
#[cfg(feature = "std")]
pub use error::SpecError;
#[cfg(feature = "std")]
pub use para_spec::{ParaChainSpec, ParaGenesisConfig};

use tessera_runtime::dispatch::RuntimeConfig;
use tessera_runtime::executive::Runtime;
use tessera_runtime::extrinsic::Extrinsic;
use tessera_runtime::modules::{balances, sudo, system};
use tessera_runtime::{Balance, RuntimeVersion};

/// The relay runtime's Wasm blob (built by `build.rs`), which genesis puts under `:code`.
#[cfg(feature = "std")]
pub const WASM_BINARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/validation.wasm"));

/// One token: balances have 12 decimals.
pub const UNIT: Balance = 1_000_000_000_000;

/// The relay runtime.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RelayRuntime;

impl Runtime for RelayRuntime {
    type Call = Call;
    type Event = Event;
    const VERSION: RuntimeVersion = RuntimeVersion {
        spec_name: "tessera-relay",
        spec_version: if cfg!(feature = "next-version") { 2 } else { 1 },
        transaction_version: 1,
    };
    #[cfg(feature = "std")]
    const CODE: &'static [u8] = WASM_BINARY;

    fn on_initialize(
        ctx: &mut tessera_runtime::dispatch::Context<'_, Event>,
    ) -> tessera_runtime::dispatch::CallResult {
        babe::on_initialize(ctx)
    }
    const CONFIG: RuntimeConfig = RuntimeConfig {
        existential_deposit: UNIT / 100,
        // The next version's visible change: half the base fee.
        base_fee: if cfg!(feature = "next-version") {
            UNIT / 2_000
        } else {
            UNIT / 1_000
        },
        fee_per_weight: 1,
        fee_per_byte: UNIT / 1_000_000,
        // Two seconds of reference execution per block.
        max_block_weight: 2_000_000_000_000,
        max_block_length: tessera_runtime::dispatch::MAX_BLOCK_LENGTH,
    };
}

impl tessera_xcm::module::XcmRuntime for Event {
    type Chain = xcm_config::Relay;
    type Call = Call;
}

/// A relay-chain extrinsic.
pub type RelayExtrinsic = Extrinsic<Call>;

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
        /// Registered paras, their heads and validation code.
        3 => Paras {
            call: paras::Call,
            event: paras::Event,
            error: paras::Error,
            storage: paras::storage_metadata,
        },
        /// The parachains inherent: backed candidates, availability and inclusion.
        4 => ParaInclusion {
            call: inclusion::Call,
            event: inclusion::Event,
            error: inclusion::Error,
            storage: inclusion::storage_metadata,
        },
        /// Upward messages and the HRMP channel calls.
        5 => Messaging {
            call: messaging::Call,
            event: messaging::Event,
            error: messaging::Error,
            storage: messaging::storage_metadata,
        },
        /// Sending, receiving and executing XCM.
        6 => PolkadotXcm {
            call: tessera_xcm::module::Call,
            event: tessera_xcm::module::Event,
            error: tessera_xcm::module::Error,
            storage: tessera_xcm::module::storage_metadata,
        },
        /// Onboarding paras without root.
        7 => Registrar {
            call: registrar::Call,
            event: registrar::Event,
            error: registrar::Error,
            storage: registrar::storage_metadata,
        },
        /// The validator set, slot timing and sessions.
        8 => Session {
            call: session::Call,
            event: session::Event,
            error: session::Error,
            storage: session::storage_metadata,
        },
        /// Approval-checking parameters.
        9 => Configuration { storage: configuration::storage_metadata, },
        /// Dispute records, offences and disabled validators.
        10 => ParasDisputes {
            error: disputes::Error,
            storage: disputes::storage_metadata,
        },
        /// Pre-checking of new validation code.
        11 => PvfCheck {
            error: pvf_check::Error,
            storage: pvf_check::storage_metadata,
        },
        /// Downward message queues.
        12 => Dmp { storage: tessera_runtime::messaging::dmp_storage_metadata, },
        /// HRMP channels and their requests.
        13 => Hrmp { storage: messaging::hrmp_storage_metadata, },
        /// The fee each transaction paid (FRAME's `TransactionPayment` event).
        14 => TransactionPayment { event: tessera_runtime::payment::Event, },
        /// Bonds, validator candidates, nominations and each era's election.
        15 => Staking {
            call: staking::Call,
            event: staking::Event,
            error: staking::Error,
            storage: staking::storage_metadata,
        },
        /// Epochs, their authorities and randomness; authorship equivocation reports.
        16 => Babe {
            call: babe::Call,
            error: babe::Error,
            storage: babe::storage_metadata,
        },
        /// The finality authority set's id; finality equivocation reports.
        17 => Grandpa {
            call: grandpa::Call,
            error: grandpa::Error,
            storage: grandpa::storage_metadata,
        },
        /// Equivocations reported, and their offenders punished.
        18 => Offences {
            event: offences::Event,
            storage: offences::storage_metadata,
        },
        /// Era points for approval checking, from the validators' tallies.
        19 => ApprovalRewards {
            call: approval_rewards::Call,
            event: approval_rewards::Event,
            error: approval_rewards::Error,
            storage: approval_rewards::storage_metadata,
        },
    }
    inherents { ParaInclusion }
}

tessera_runtime::runtime_api!(RelayRuntime);

/// Exports each `name => query` of [`runtime_api`] as the Wasm function `name`.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
macro_rules! parachain_host_exports {
    ($($name:ident => $query:ident),* $(,)?) => {
        $(
            #[allow(unsafe_code, non_snake_case)]
            #[no_mangle]
            extern "C" fn $name(ptr: u32, len: u32) -> u64 {
                tessera_runtime::wasm::guest::query(ptr, len, runtime_api::$query)
            }
        )*
    };
}

// The parachain host API ([`runtime_api`]), exported by the Wasm build under the names in
// `tessera_runtime::wasm::api::parachain_host`.
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
parachain_host_exports! {
    ParachainHost_validators => validators,
    ParachainHost_disabled_validators => disabled_validators,
    ParachainHost_availability_cores => availability_cores,
    ParachainHost_backing_group => backing_group,
    ParachainHost_candidate_validation => candidate_validation,
    ParachainHost_validation_code_by_hash => validation_code_by_hash,
    ParachainHost_candidate_events => candidate_events,
    ParachainHost_inbound_messages => inbound_messages,
    ParachainHost_pvf_checks => pvf_checks,
}

/// [`runtime_api::create_inherent`] takes the state by value: it runs the start of a block on
/// it (the host discards what a query writes).
#[cfg(all(target_arch = "wasm32", not(feature = "std")))]
#[allow(unsafe_code, non_snake_case)]
#[no_mangle]
extern "C" fn ParachainHost_create_inherent(ptr: u32, len: u32) -> u64 {
    tessera_runtime::wasm::guest::query(ptr, len, |state, offer| {
        let state = core::mem::replace(state, tessera_runtime::state::State::host());
        runtime_api::create_inherent(state, offer)
    })
}
