//! The relay chain's runtime and chain specs.
//!
//! [`RelayRuntime`] composes the shared modules of `tessera-runtime` — `system`, `balances`,
//! `sudo` — with the relay's own [`session`] (the validator set), [`paras`] (the parachain
//! registry) and [`inclusion`] (candidates from backed to included, through the parachains
//! inherent). Its [`Call`] and [`Event`]
//! enums wrap the modules' and dispatch with a `match`. A chain starts from a [`ChainSpec`]
//! (JSON), whose genesis config builds the genesis state and header. [`availability`] erasure-codes
//! PoVs into per-validator chunks with Merkle proofs.
//!
//! ```
//! use tessera_relay_chain::ChainSpec;
//! let spec = ChainSpec::dev();
//! let genesis = spec.build_genesis().unwrap();
//! assert_eq!(genesis.header.number, 0);
//! ```
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod availability;
mod chain_spec;
mod error;
pub mod inclusion;
pub mod paras;
pub mod scheduler;
pub mod session;

pub use chain_spec::{
    Address, ChainSpec, ChainType, Genesis, GenesisConfig, GenesisPara, HexBytes,
    DEFAULT_EPOCH_LENGTH, DEFAULT_SLOT_DURATION_MS, DEV_ACCOUNTS, MIN_SLOT_DURATION_MS,
};
pub use error::SpecError;

use parity_scale_codec::{Decode, Encode};
use tessera_runtime::dispatch::{CallResult, Context, Dispatch, Origin, RuntimeConfig, Weight};
use tessera_runtime::executive::Runtime;
use tessera_runtime::extrinsic::Extrinsic;
use tessera_runtime::modules::{balances, sudo, system};
use tessera_runtime::{Balance, RuntimeVersion};

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
        spec_version: 1,
    };
    const CONFIG: RuntimeConfig = RuntimeConfig {
        existential_deposit: UNIT / 100,
        base_fee: UNIT / 1_000,
        fee_per_weight: 1,
        fee_per_byte: UNIT / 1_000_000,
        // Two seconds of reference execution per block.
        max_block_weight: 2_000_000_000_000,
    };
}

/// A relay-chain extrinsic.
pub type RelayExtrinsic = Extrinsic<Call>;

/// Every call of the relay runtime.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Call {
    /// `system`.
    #[codec(index = 0)]
    System(system::Call),
    /// `balances`.
    #[codec(index = 1)]
    Balances(balances::Call),
    /// `sudo`.
    #[codec(index = 2)]
    Sudo(sudo::Call<Call>),
    /// `paras`.
    #[codec(index = 3)]
    Paras(paras::Call),
    /// `inclusion` (the parachains inherent).
    #[codec(index = 4)]
    Inclusion(inclusion::Call),
}

/// Every event of the relay runtime.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum Event {
    /// `system`.
    #[codec(index = 0)]
    System(system::Event),
    /// `balances`.
    #[codec(index = 1)]
    Balances(balances::Event),
    /// `sudo`.
    #[codec(index = 2)]
    Sudo(sudo::Event),
    /// `paras`.
    #[codec(index = 3)]
    Paras(paras::Event),
    /// `inclusion`.
    #[codec(index = 4)]
    Inclusion(inclusion::Event),
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

impl From<sudo::Event> for Event {
    fn from(event: sudo::Event) -> Self {
        Event::Sudo(event)
    }
}

impl From<paras::Event> for Event {
    fn from(event: paras::Event) -> Self {
        Event::Paras(event)
    }
}

impl From<inclusion::Event> for Event {
    fn from(event: inclusion::Event) -> Self {
        Event::Inclusion(event)
    }
}

impl Dispatch<Event> for Call {
    fn weight(&self) -> Weight {
        match self {
            Call::System(call) => Dispatch::<Event>::weight(call),
            Call::Balances(call) => Dispatch::<Event>::weight(call),
            Call::Sudo(call) => Dispatch::<Event>::weight(call),
            Call::Paras(call) => Dispatch::<Event>::weight(call),
            Call::Inclusion(call) => Dispatch::<Event>::weight(call),
        }
    }

    fn dispatch(self, ctx: &mut Context<'_, Event>, origin: Origin) -> CallResult {
        match self {
            Call::System(call) => call.dispatch(ctx, origin),
            Call::Balances(call) => call.dispatch(ctx, origin),
            Call::Sudo(call) => call.dispatch(ctx, origin),
            Call::Paras(call) => call.dispatch(ctx, origin),
            Call::Inclusion(call) => call.dispatch(ctx, origin),
        }
    }

    fn is_inherent(&self) -> bool {
        matches!(self, Call::Inclusion(_))
    }
}
