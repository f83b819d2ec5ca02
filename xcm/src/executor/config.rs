//! What a chain tells the executor: where it is, whom it trusts, how it weighs and prices
//! execution, and how assets, calls, messages and claims reach its state.

use crate::v5::{
    Asset, AssetId, Assets, Error as XcmError, Instruction, Junctions, Location, OriginKind,
    PalletInfo, Response, Weight, Xcm,
};
use alloc::vec::Vec;
use tessera_runtime::dispatch::{CallError, Context, DispatchError};

/// Why an executor step stopped: an XCM error (the message fails, the block goes on) or state
/// that could not be read (the block itself cannot be executed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// The message's error.
    Xcm(XcmError),
    /// Reading or writing state failed.
    State(tessera_runtime::Error),
}

impl From<XcmError> for Fault {
    fn from(error: XcmError) -> Self {
        Fault::Xcm(error)
    }
}

impl From<tessera_runtime::Error> for Fault {
    fn from(error: tessera_runtime::Error) -> Self {
        Fault::State(error)
    }
}

impl Fault {
    /// A failed call of a ledger module as an XCM error `as_error`, keeping state errors.
    pub fn from_call(error: CallError, as_error: XcmError) -> Fault {
        match error {
            CallError::Dispatch(_) => Fault::Xcm(as_error),
            CallError::State(error) => Fault::State(error),
        }
    }
}

/// Why the barrier refused a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BarrierRefusal(pub &'static str);

/// A chain's XCM configuration. Functions that touch state take the runtime's context, so the
/// executor runs inside the block like any call, and its changes commit or roll back with it.
pub trait Config {
    /// The runtime's event type.
    type Event;

    /// Where this chain is in the consensus universe, e.g. `[GlobalConsensus(Polkadot),
    /// Parachain(1000)]`; locations are reanchored against it. A para reads its id from state.
    fn universal_location(ctx: &mut Context<'_, Self::Event>) -> Result<Junctions, Fault>;

    /// Whether `message` from `origin`, weighing `max_weight`, may run at all (the barrier). It
    /// may use `weight_credit` (weight paid for elsewhere) and may narrow an unlimited
    /// `BuyExecution` to `max_weight`.
    fn should_execute(
        ctx: &mut Context<'_, Self::Event>,
        origin: &Location,
        message: &mut Xcm,
        max_weight: Weight,
        weight_credit: &mut Weight,
    ) -> Result<(), BarrierRefusal>;

    /// Weight of one instruction, nested messages aside (the executor adds theirs).
    fn instruction_weight(instruction: &Instruction) -> Weight;

    /// What `weight` of execution costs in asset `id`, or `None` if `id` does not pay fees.
    fn weight_price(id: &AssetId, weight: Weight) -> Option<u128>;

    /// Whether `origin` is trusted as the reserve of `asset` (it may say it deposited it).
    fn is_reserve(asset: &Asset, origin: &Location) -> bool;

    /// Whether `asset` may be teleported to or from `location`.
    fn is_teleporter(asset: &Asset, location: &Location) -> bool;

    /// Whether `origin` may act as `target` (`AliasOrigin`).
    fn is_alias(origin: &Location, target: &Location) -> bool;

    /// Whether `origin` may claim to be in the global consensus of `junction`
    /// (`UniversalOrigin`).
    fn is_universal_alias(origin: &Location, junction: &crate::v5::Junction) -> bool;

    /// Credits `asset` to the account of `beneficiary`, creating it out of holding.
    fn deposit_asset(
        ctx: &mut Context<'_, Self::Event>,
        asset: &Asset,
        beneficiary: &Location,
    ) -> Result<(), Fault>;

    /// Takes `asset` from the account of `who` into holding.
    fn withdraw_asset(
        ctx: &mut Context<'_, Self::Event>,
        asset: &Asset,
        who: &Location,
    ) -> Result<(), Fault>;

    /// Weight of the call in `call`, or `None` if it does not decode.
    fn call_weight(call: &[u8]) -> Option<Weight>;

    /// Decodes `call` and dispatches it as `origin` seen as `kind`. The outer error fails the
    /// instruction (the call does not decode, or the origin cannot make calls this way); the
    /// inner result is the call's own outcome, reported by `ReportTransactStatus`.
    fn transact(
        ctx: &mut Context<'_, Self::Event>,
        origin: &Location,
        kind: OriginKind,
        call: &[u8],
    ) -> Result<Result<(), DispatchError>, Fault>;

    /// What delivering `message` to `dest` costs, taken by the executor before it sends;
    /// `None` if delivery is free. By default it is.
    fn delivery_fee(
        _ctx: &mut Context<'_, Self::Event>,
        _dest: &Location,
        _message: &Xcm,
    ) -> Result<Option<Asset>, Fault> {
        Ok(None)
    }

    /// Queues `message` (which ends with its `SetTopic`) for delivery to `dest`.
    fn send(
        ctx: &mut Context<'_, Self::Event>,
        dest: &Location,
        message: Xcm,
        id: [u8; 32],
    ) -> Result<(), Fault>;

    /// Keeps `assets` left in holding when a message ends, claimable by `claimer` with
    /// `ClaimAsset`.
    fn trap_assets(
        ctx: &mut Context<'_, Self::Event>,
        claimer: &Location,
        assets: Vec<Asset>,
        id: [u8; 32],
    ) -> Result<(), Fault>;

    /// Releases trapped `assets` to `origin` if it may claim them (with `ticket`); `false` if
    /// there is no such trap.
    fn claim_assets(
        ctx: &mut Context<'_, Self::Event>,
        origin: &Location,
        ticket: &Location,
        assets: &Assets,
    ) -> Result<bool, Fault>;

    /// Delivers a response to a query this chain made.
    fn on_response(
        ctx: &mut Context<'_, Self::Event>,
        origin: &Location,
        query_id: u64,
        querier: Option<&Location>,
        response: Response,
    ) -> Result<(), Fault>;

    /// Keeps `fees` paid for execution (e.g. credits them to a fee account), so that issuance
    /// is conserved.
    fn take_fees(ctx: &mut Context<'_, Self::Event>, fees: Asset) -> Result<(), Fault>;

    /// Records `origin`'s subscription to this chain's XCM version and answers it.
    fn subscribe_version(
        ctx: &mut Context<'_, Self::Event>,
        origin: &Location,
        query_id: u64,
        max_response_weight: Weight,
    ) -> Result<(), Fault>;

    /// Forgets `origin`'s subscription.
    fn unsubscribe_version(
        ctx: &mut Context<'_, Self::Event>,
        origin: &Location,
    ) -> Result<(), Fault>;

    /// The modules named `module_name` (all, when empty) for `QueryPallet` and `ExpectPallet`.
    fn pallets(module_name: &[u8]) -> Vec<PalletInfo>;

    /// Handles an HRMP notification from the relay chain (`HrmpNewChannelOpenRequest`,
    /// `HrmpChannelAccepted`, `HrmpChannelClosing`).
    fn hrmp_notification(
        ctx: &mut Context<'_, Self::Event>,
        origin: &Location,
        instruction: &Instruction,
    ) -> Result<(), Fault>;
}
