//! The XCM executor: runs a message's instructions against a chain's [`Config`].
//!
//! A message first passes the weigher (its weight must fit the limit) and the barrier (the
//! chain's rule on who may run what unpaid), then runs instruction by instruction. Each
//! instruction is atomic: if it fails, its state changes and its effect on holding are undone,
//! the error handler runs, then the appendix. Whatever is left in holding at the end is
//! trapped for its owner to claim with `ClaimAsset`; the fees bought go to
//! [`Config::take_fees`]. Nothing here panics on a peer's message: every failure is an
//! [`Outcome`] with the error and the index of the instruction.

pub mod barrier;
mod config;
mod holding;

pub use config::{BarrierRefusal, Config, Fault};
pub use holding::{Holding, MAX_ASSETS_IN_HOLDING};

use crate::v5::{
    Asset, AssetFilter, AssetId, AssetTransferFilter, Assets, Error as XcmError, Fungibility, Hint,
    Instruction, Junctions, Location, MaybeErrorCode, QueryResponseInfo, Response, Weight,
    WeightLimit, Xcm, MAX_DISPATCH_ERROR_LEN,
};
use crate::MAX_INSTRUCTIONS_TO_DECODE;
use alloc::vec::Vec;
use core::marker::PhantomData;
use parity_scale_codec::Encode;
use tessera_runtime::dispatch::Context;

/// A message's id: its topic (`SetTopic`) or the hash of its encoding.
pub type XcmHash = [u8; 32];

/// Deepest nesting of `ExecuteWithOrigin` the executor follows (Polkadot's recursion limit).
pub const MAX_RECURSION: u32 = 10;

/// What running a message did.
#[derive(
    Clone,
    Debug,
    PartialEq,
    Eq,
    parity_scale_codec::Encode,
    parity_scale_codec::Decode,
    scale_info::TypeInfo,
)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum Outcome {
    /// Every instruction ran.
    Complete {
        /// Weight used.
        used: Weight,
    },
    /// Instruction `index` failed with `error`; those before it took effect.
    Incomplete {
        /// Weight used.
        used: Weight,
        /// The error.
        error: XcmError,
        /// The failed instruction.
        index: u32,
    },
    /// Nothing ran: the message is too heavy or the barrier refused it.
    Error {
        /// Why.
        error: XcmError,
    },
}

impl Outcome {
    /// Weight used.
    pub fn used(&self) -> Weight {
        match self {
            Outcome::Complete { used } | Outcome::Incomplete { used, .. } => *used,
            Outcome::Error { .. } => Weight::default(),
        }
    }

    /// The error, if any.
    pub fn error(&self) -> Option<XcmError> {
        match self {
            Outcome::Complete { .. } => None,
            Outcome::Incomplete { error, .. } | Outcome::Error { error } => Some(*error),
        }
    }
}

/// The id of `message`: the topic of its last `SetTopic`, or `blake2_256(encoded)`.
pub fn message_id(message: &Xcm, encoded: &[u8]) -> XcmHash {
    match message.0.last() {
        Some(Instruction::SetTopic(topic)) => *topic,
        _ => tessera_runtime::hashing::blake2_256(encoded).0,
    }
}

/// The weight of `message` by `C`'s weigher, nested messages included; `None` if it holds
/// more than [`MAX_INSTRUCTIONS_TO_DECODE`] instructions in all.
pub fn weigh<C: Config>(message: &Xcm) -> Option<Weight> {
    let mut budget = MAX_INSTRUCTIONS_TO_DECODE;
    weigh_within::<C>(message, &mut budget)
}

fn weigh_within<C: Config>(message: &Xcm, budget: &mut u32) -> Option<Weight> {
    let mut total = Weight::default();
    for instruction in &message.0 {
        *budget = budget.checked_sub(1)?;
        let nested = match instruction {
            Instruction::SetErrorHandler(inner)
            | Instruction::SetAppendix(inner)
            | Instruction::ExecuteWithOrigin { xcm: inner, .. } => {
                weigh_within::<C>(inner, budget)?
            }
            _ => Weight::default(),
        };
        total = add(add(total, C::instruction_weight(instruction)), nested);
    }
    Some(total)
}

fn add(a: Weight, b: Weight) -> Weight {
    Weight::from_parts(
        a.ref_time.saturating_add(b.ref_time),
        a.proof_size.saturating_add(b.proof_size),
    )
}

fn sub(a: Weight, b: Weight) -> Weight {
    Weight::from_parts(
        a.ref_time.saturating_sub(b.ref_time),
        a.proof_size.saturating_sub(b.proof_size),
    )
}

fn min(a: Weight, b: Weight) -> Weight {
    Weight::from_parts(a.ref_time.min(b.ref_time), a.proof_size.min(b.proof_size))
}

fn exceeds(a: Weight, limit: Weight) -> bool {
    a.ref_time > limit.ref_time || a.proof_size > limit.proof_size
}

/// Runs `message` from `origin` with id `id`, using at most `weight_limit`; `weight_credit`
/// is weight already paid for (e.g. by a local extrinsic), which the barrier may accept.
///
/// `Err` only when state cannot be read (the block cannot be executed); every failure of the
/// message itself is an [`Outcome`].
pub fn execute<C: Config>(
    ctx: &mut Context<'_, C::Event>,
    origin: Location,
    mut message: Xcm,
    id: XcmHash,
    weight_limit: Weight,
    mut weight_credit: Weight,
) -> Result<Outcome, tessera_runtime::Error> {
    let Some(weight) = weigh::<C>(&message) else {
        return Ok(Outcome::Error {
            error: XcmError::WeightNotComputable,
        });
    };
    if exceeds(weight, weight_limit) {
        return Ok(Outcome::Error {
            error: XcmError::WeightLimitReached(weight),
        });
    }
    let universal = match C::universal_location(ctx) {
        Ok(universal) => universal,
        Err(Fault::Xcm(error)) => return Ok(Outcome::Error { error }),
        Err(Fault::State(error)) => return Err(error),
    };
    if C::should_execute(ctx, &origin, &mut message, weight, &mut weight_credit).is_err() {
        return Ok(Outcome::Error {
            error: XcmError::Barrier,
        });
    }
    let mut vm = Executor::<C> {
        holding: Holding::new(),
        fees: Holding::new(),
        origin: Some(origin.clone()),
        original_origin: origin,
        trader: Trader::default(),
        error: None,
        total_surplus: Weight::default(),
        total_refunded: Weight::default(),
        error_handler: Xcm::default(),
        error_handler_weight: Weight::default(),
        appendix: Xcm::default(),
        appendix_weight: Weight::default(),
        transact_status: MaybeErrorCode::Success,
        topic: None,
        id,
        message_weight: weight,
        already_paid_fees: false,
        jit_withdraw: false,
        asset_claimer: None,
        recursion: 0,
        universal,
        _config: PhantomData,
    };
    while !message.0.is_empty() {
        message = match vm.process(ctx, message) {
            Ok(()) => {
                vm.drop_error_handler();
                vm.take_appendix()
            }
            Err(Stop::State(error)) => return Err(error),
            Err(Stop::Xcm {
                index,
                error,
                surplus,
            }) => {
                vm.total_surplus = add(vm.total_surplus, surplus);
                vm.error = Some((index, error));
                let handler = vm.take_error_handler();
                if handler.0.is_empty() {
                    vm.take_appendix()
                } else {
                    handler
                }
            }
        };
    }
    vm.finish(ctx, weight)
}

/// Why processing a message stopped.
enum Stop {
    /// Instruction `index` failed; `surplus` is the weight of those not run.
    Xcm {
        index: u32,
        error: XcmError,
        surplus: Weight,
    },
    /// State could not be read.
    State(tessera_runtime::Error),
}

/// Fees bought with one asset.
#[derive(Clone, Default)]
struct Trader {
    paid: Option<(AssetId, u128)>,
    weight: Weight,
}

impl Trader {
    /// Buys `weight` with some of `payment`; returns what is left of it.
    fn buy<C: Config>(
        &mut self,
        weight: Weight,
        mut payment: Holding,
    ) -> Result<Holding, XcmError> {
        if weight == Weight::default() {
            return Ok(payment);
        }
        let candidates: Vec<Asset> = payment.assets();
        for asset in candidates {
            let Fungibility::Fungible(held) = asset.fun else {
                continue;
            };
            if matches!(&self.paid, Some((id, _)) if *id != asset.id) {
                continue;
            }
            let Some(price) = C::weight_price(&asset.id, weight) else {
                continue;
            };
            if price > held {
                return Err(XcmError::TooExpensive);
            }
            let fee = Asset {
                id: asset.id.clone(),
                fun: Fungibility::Fungible(price),
            };
            if price > 0 {
                payment.try_take(&AssetFilter::Definite(single(fee)))?;
            }
            let paid = self.paid.get_or_insert((asset.id, 0));
            paid.1 = paid.1.saturating_add(price);
            self.weight = add(self.weight, weight);
            return Ok(payment);
        }
        Err(XcmError::TooExpensive)
    }

    /// Gives back what `weight` cost, up to what was paid.
    fn refund<C: Config>(&mut self, weight: Weight) -> Option<Asset> {
        let weight = min(weight, self.weight);
        let (id, paid) = self.paid.as_mut()?;
        let amount = C::weight_price(id, weight)?.min(*paid);
        *paid = paid.saturating_sub(amount);
        self.weight = sub(self.weight, weight);
        (amount > 0).then(|| Asset {
            id: id.clone(),
            fun: Fungibility::Fungible(amount),
        })
    }
}

fn single(asset: Asset) -> Assets {
    // One asset is always a valid list.
    Assets::from_unsorted(alloc::vec![asset]).unwrap_or_default()
}

/// The registers of a running message.
struct Executor<C: Config> {
    holding: Holding,
    /// What `PayFees` left after buying execution, kept for delivery fees of sent messages.
    fees: Holding,
    origin: Option<Location>,
    original_origin: Location,
    trader: Trader,
    error: Option<(u32, XcmError)>,
    total_surplus: Weight,
    total_refunded: Weight,
    error_handler: Xcm,
    error_handler_weight: Weight,
    appendix: Xcm,
    appendix_weight: Weight,
    transact_status: MaybeErrorCode,
    topic: Option<XcmHash>,
    id: XcmHash,
    message_weight: Weight,
    already_paid_fees: bool,
    /// Whether delivery fees come from the origin's account rather than the registers
    /// (`SetFeesMode { jit_withdraw: true }`).
    jit_withdraw: bool,
    asset_claimer: Option<Location>,
    recursion: u32,
    /// Where this chain is.
    universal: Junctions,
    _config: PhantomData<C>,
}

impl<C: Config> Executor<C> {
    fn process(&mut self, ctx: &mut Context<'_, C::Event>, message: Xcm) -> Result<(), Stop> {
        let mut instructions = message.0.into_iter().enumerate();
        while let Some((index, instruction)) = instructions.next() {
            let index = index as u32;
            // Everything an instruction may spend or buy comes back if it fails: holding, the
            // fees register and what the trader was paid (else a failed nested purchase would
            // be paid out as fees although its assets returned to holding).
            let holding = self.holding.clone();
            let fees = self.fees.clone();
            let trader = self.trader.clone();
            let already_paid_fees = self.already_paid_fees;
            let events = ctx.event_count();
            ctx.state.start_transaction();
            let result = self.run(ctx, instruction);
            match result {
                Ok(()) => ctx.state.commit_transaction().map_err(Stop::State)?,
                Err(fault) => {
                    ctx.state.rollback_transaction().map_err(Stop::State)?;
                    ctx.truncate_events(events);
                    self.holding = holding;
                    self.fees = fees;
                    self.trader = trader;
                    self.already_paid_fees = already_paid_fees;
                    let error = match fault {
                        Fault::Xcm(error) => error,
                        Fault::State(error) => return Err(Stop::State(error)),
                    };
                    let surplus = instructions.fold(Weight::default(), |total, (_, rest)| {
                        add(total, weigh_instruction::<C>(&rest))
                    });
                    return Err(Stop::Xcm {
                        index,
                        error,
                        surplus,
                    });
                }
            }
        }
        Ok(())
    }

    fn origin(&self) -> Result<&Location, Fault> {
        self.origin.as_ref().ok_or(Fault::Xcm(XcmError::BadOrigin))
    }

    fn run(
        &mut self,
        ctx: &mut Context<'_, C::Event>,
        instruction: Instruction,
    ) -> Result<(), Fault> {
        use Instruction::*;
        match instruction {
            WithdrawAsset(assets) => {
                let origin = self.origin()?.clone();
                for asset in assets.inner() {
                    C::withdraw_asset(ctx, asset, &origin)?;
                    self.holding.subsume(asset.clone())?;
                }
            }
            ReserveAssetDeposited(assets) => {
                let origin = self.origin()?;
                for asset in assets.inner() {
                    if !C::is_reserve(asset, origin) {
                        return Err(XcmError::UntrustedReserveLocation.into());
                    }
                }
                self.holding.subsume_assets(&assets)?;
            }
            ReceiveTeleportedAsset(assets) => {
                let origin = self.origin()?;
                for asset in assets.inner() {
                    if !C::is_teleporter(asset, origin) {
                        return Err(XcmError::UntrustedTeleportLocation.into());
                    }
                }
                self.holding.subsume_assets(&assets)?;
            }
            QueryResponse {
                query_id,
                response,
                querier,
                ..
            } => {
                let origin = self.origin()?.clone();
                C::on_response(ctx, &origin, query_id, querier.as_ref(), response)?;
            }
            TransferAsset {
                assets,
                beneficiary,
            } => {
                let origin = self.origin()?.clone();
                for asset in assets.inner() {
                    C::withdraw_asset(ctx, asset, &origin)?;
                    C::deposit_asset(ctx, asset, &beneficiary)?;
                }
            }
            TransferReserveAsset { assets, dest, xcm } => {
                let origin = self.origin()?.clone();
                for asset in assets.inner() {
                    C::withdraw_asset(ctx, asset, &origin)?;
                    C::deposit_asset(ctx, asset, &dest)?;
                }
                let reanchored = reanchor_assets(&self.universal, assets.inner().to_vec(), &dest)?;
                let mut message = alloc::vec![ReserveAssetDeposited(reanchored), ClearOrigin];
                message.extend(xcm.0);
                self.send(ctx, &dest, Xcm(message))?;
            }
            Transact {
                origin_kind, call, ..
            } => {
                let origin = self.origin()?.clone();
                let outcome = C::transact(ctx, &origin, origin_kind, &call.encoded)?;
                self.transact_status = match outcome {
                    Ok(()) => MaybeErrorCode::Success,
                    Err(error) => {
                        let mut bytes = error.encode();
                        let truncated = bytes.len() > MAX_DISPATCH_ERROR_LEN;
                        bytes.truncate(MAX_DISPATCH_ERROR_LEN);
                        let bytes = crate::v5::BoundedVec::new(bytes).unwrap_or_default();
                        if truncated {
                            MaybeErrorCode::TruncatedError(bytes)
                        } else {
                            MaybeErrorCode::Error(bytes)
                        }
                    }
                };
            }
            instruction @ (HrmpNewChannelOpenRequest { .. }
            | HrmpChannelAccepted { .. }
            | HrmpChannelClosing { .. }) => {
                let origin = self.origin()?.clone();
                C::hrmp_notification(ctx, &origin, &instruction)?;
            }
            ClearOrigin => self.origin = None,
            DescendOrigin(junctions) => {
                let mut origin = self.origin()?.clone();
                for junction in junctions.as_slice() {
                    origin = origin.pushed(*junction).ok_or(XcmError::LocationFull)?;
                }
                self.origin = Some(origin);
            }
            ReportError(info) => {
                let response = Response::ExecutionResult(self.error);
                self.respond(ctx, info, response)?;
            }
            DepositAsset {
                assets,
                beneficiary,
            } => {
                let taken = self.holding.saturating_take(&assets);
                for asset in taken.into_assets() {
                    C::deposit_asset(ctx, &asset, &beneficiary)?;
                }
            }
            DepositReserveAsset { assets, dest, xcm } => {
                let taken = self.holding.saturating_take(&assets).into_assets();
                for asset in &taken {
                    C::deposit_asset(ctx, asset, &dest)?;
                }
                let reanchored = reanchor_assets(&self.universal, taken, &dest)?;
                let mut message = alloc::vec![ReserveAssetDeposited(reanchored), ClearOrigin];
                message.extend(xcm.0);
                self.send(ctx, &dest, Xcm(message))?;
            }
            // No exchange is configured (Polkadot's `AssetExchanger = ()`).
            ExchangeAsset { .. } => return Err(XcmError::NoDeal.into()),
            InitiateReserveWithdraw {
                assets,
                reserve,
                xcm,
            } => {
                let taken = self.holding.saturating_take(&assets).into_assets();
                let reanchored = reanchor_assets(&self.universal, taken, &reserve)?;
                let mut message = alloc::vec![WithdrawAsset(reanchored), ClearOrigin];
                message.extend(xcm.0);
                self.send(ctx, &reserve, Xcm(message))?;
            }
            InitiateTeleport { assets, dest, xcm } => {
                let taken = self.holding.saturating_take(&assets).into_assets();
                check_teleport_out::<C>(&taken, &dest)?;
                let reanchored = reanchor_assets(&self.universal, taken, &dest)?;
                let mut message = alloc::vec![ReceiveTeleportedAsset(reanchored), ClearOrigin];
                message.extend(xcm.0);
                self.send(ctx, &dest, Xcm(message))?;
            }
            ReportHolding {
                response_info,
                assets,
            } => {
                let held = self.holding.min(&assets).into_assets();
                let reanchored =
                    reanchor_assets(&self.universal, held, &response_info.destination)?;
                self.respond(ctx, response_info, Response::Assets(reanchored))?;
            }
            BuyExecution { fees, weight_limit } => {
                let WeightLimit::Limited(limit) = weight_limit else {
                    // Unlimited buys nothing here: the barrier narrows it for paid messages.
                    return Ok(());
                };
                let weight = min(limit, self.message_weight);
                let payment = self
                    .holding
                    .try_take(&AssetFilter::Definite(single(fees)))
                    .map_err(|_| XcmError::NotHoldingFees)?;
                let unspent = self.trader.buy::<C>(weight, payment)?;
                self.holding.subsume_holding(unspent)?;
            }
            PayFees { asset } => {
                if self.already_paid_fees {
                    return Ok(());
                }
                let payment = self
                    .holding
                    .try_take(&AssetFilter::Definite(single(asset)))
                    .map_err(|_| XcmError::NotHoldingFees)?;
                let unspent = self.trader.buy::<C>(self.message_weight, payment)?;
                self.fees.subsume_holding(unspent)?;
                self.already_paid_fees = true;
            }
            RefundSurplus => {
                // What `PayFees` left unspent returns to holding, as in Polkadot.
                let unspent = core::mem::take(&mut self.fees);
                self.holding.subsume_holding(unspent)?;
                let surplus = sub(self.total_surplus, self.total_refunded);
                if surplus != Weight::default() {
                    if let Some(refund) = self.trader.refund::<C>(surplus) {
                        self.holding.subsume(refund)?;
                    }
                    self.total_refunded = add(self.total_refunded, surplus);
                }
            }
            SetErrorHandler(handler) => {
                let weight = weigh::<C>(&handler).ok_or(XcmError::WeightNotComputable)?;
                self.total_surplus = add(self.total_surplus, self.error_handler_weight);
                self.error_handler = handler;
                self.error_handler_weight = weight;
            }
            SetAppendix(appendix) => {
                let weight = weigh::<C>(&appendix).ok_or(XcmError::WeightNotComputable)?;
                self.total_surplus = add(self.total_surplus, self.appendix_weight);
                self.appendix = appendix;
                self.appendix_weight = weight;
            }
            ClearError => self.error = None,
            ClaimAsset { assets, ticket } => {
                let origin = self.origin()?.clone();
                if !C::claim_assets(ctx, &origin, &ticket, &assets)? {
                    return Err(XcmError::UnknownClaim.into());
                }
                self.holding.subsume_assets(&assets)?;
            }
            Trap(code) => return Err(XcmError::Trap(code).into()),
            SubscribeVersion {
                query_id,
                max_response_weight,
            } => {
                let origin = self.origin()?.clone();
                C::subscribe_version(ctx, &origin, query_id, max_response_weight)?;
            }
            UnsubscribeVersion => {
                let origin = self.origin()?.clone();
                C::unsubscribe_version(ctx, &origin)?;
            }
            BurnAsset(assets) => {
                self.holding.saturating_take(&AssetFilter::Definite(assets));
            }
            ExpectAsset(assets) => {
                if !self.holding.contains_assets(&assets) {
                    return Err(XcmError::ExpectationFalse.into());
                }
            }
            ExpectOrigin(origin) => {
                if self.origin != origin {
                    return Err(XcmError::ExpectationFalse.into());
                }
            }
            ExpectError(error) => {
                if self.error != error {
                    return Err(XcmError::ExpectationFalse.into());
                }
            }
            ExpectTransactStatus(status) => {
                if self.transact_status != status {
                    return Err(XcmError::ExpectationFalse.into());
                }
            }
            QueryPallet {
                module_name,
                response_info,
            } => {
                let pallets = C::pallets(&module_name);
                let pallets = crate::v5::BoundedVec::new(pallets).ok_or(XcmError::Overflow)?;
                self.respond(ctx, response_info, Response::PalletsInfo(pallets))?;
            }
            ExpectPallet {
                index,
                name,
                module_name,
                crate_major,
                min_crate_minor,
            } => {
                let pallet = C::pallets(&[])
                    .into_iter()
                    .find(|pallet| pallet.index == index)
                    .ok_or(XcmError::PalletNotFound)?;
                if pallet.name.inner() != name.as_slice()
                    || pallet.module_name.inner() != module_name.as_slice()
                {
                    return Err(XcmError::NameMismatch.into());
                }
                if pallet.major != crate_major || pallet.minor < min_crate_minor {
                    return Err(XcmError::VersionIncompatible.into());
                }
            }
            ReportTransactStatus(info) => {
                let response = Response::DispatchResult(self.transact_status.clone());
                self.respond(ctx, info, response)?;
            }
            ClearTransactStatus => self.transact_status = MaybeErrorCode::Success,
            UniversalOrigin(junction) => {
                let origin = self.origin()?;
                if !C::is_universal_alias(origin, &junction) {
                    return Err(XcmError::InvalidLocation.into());
                }
                let parents =
                    u8::try_from(self.universal.len()).map_err(|_| XcmError::LocationFull)?;
                self.origin =
                    Some(Location::new(parents, &[junction]).ok_or(XcmError::LocationFull)?);
            }
            // No bridge is configured (Polkadot's `MessageExporter = ()`).
            ExportMessage { .. } => return Err(XcmError::Unroutable.into()),
            // No asset locking is configured (Polkadot's `AssetLocker = ()`).
            LockAsset { .. }
            | UnlockAsset { .. }
            | NoteUnlockable { .. }
            | RequestUnlock { .. } => return Err(XcmError::LockError.into()),
            SetFeesMode { jit_withdraw } => self.jit_withdraw = jit_withdraw,
            SetTopic(topic) => self.topic = Some(topic),
            ClearTopic => self.topic = None,
            AliasOrigin(target) => {
                let origin = self.origin()?;
                if !C::is_alias(origin, &target) {
                    return Err(XcmError::NoPermission.into());
                }
                self.origin = Some(target);
            }
            UnpaidExecution { check_origin, .. } => {
                if check_origin.is_some() && check_origin != self.origin {
                    return Err(XcmError::BadOrigin.into());
                }
            }
            InitiateTransfer {
                destination,
                remote_fees,
                preserve_origin,
                assets,
                remote_xcm,
            } => {
                let mut message = Vec::with_capacity(remote_xcm.0.len().saturating_add(4));
                if let Some(remote_fees) = remote_fees {
                    let taken = match &remote_fees {
                        AssetTransferFilter::Teleport(filter)
                        | AssetTransferFilter::ReserveDeposit(filter)
                        | AssetTransferFilter::ReserveWithdraw(filter) => self
                            .holding
                            .try_take(filter)
                            .map_err(|_| XcmError::NotHoldingFees)?,
                    };
                    let fees = self.transfer_out(ctx, &remote_fees, taken, &destination)?;
                    let [fee] = <[Asset; 1]>::try_from(fees.inner().to_vec())
                        .map_err(|_| XcmError::TooManyAssets)?;
                    message.push(transfer_instruction(&remote_fees, single(fee.clone())));
                    message.push(PayFees { asset: fee });
                } else {
                    message.push(UnpaidExecution {
                        weight_limit: WeightLimit::Unlimited,
                        check_origin: None,
                    });
                }
                for filter in assets.inner() {
                    let inner = match filter {
                        AssetTransferFilter::Teleport(inner)
                        | AssetTransferFilter::ReserveDeposit(inner)
                        | AssetTransferFilter::ReserveWithdraw(inner) => inner,
                    };
                    let taken = self.holding.saturating_take(inner);
                    if taken.is_empty() {
                        continue;
                    }
                    let sent = self.transfer_out(ctx, filter, taken, &destination)?;
                    message.push(transfer_instruction(filter, sent));
                }
                if preserve_origin {
                    let origin = self
                        .origin()?
                        .reanchored(&destination, &self.universal)
                        .ok_or(XcmError::BadOrigin)?;
                    message.push(AliasOrigin(origin));
                } else {
                    message.push(ClearOrigin);
                }
                message.extend(remote_xcm.0);
                self.send(ctx, &destination, Xcm(message))?;
            }
            ExecuteWithOrigin {
                descendant_origin,
                xcm,
            } => {
                if self.recursion >= MAX_RECURSION {
                    return Err(XcmError::ExceedsStackLimit.into());
                }
                let saved = self.origin.clone();
                match descendant_origin {
                    Some(junctions) => {
                        let mut origin = self.origin()?.clone();
                        for junction in junctions.as_slice() {
                            origin = origin.pushed(*junction).ok_or(XcmError::LocationFull)?;
                        }
                        self.origin = Some(origin);
                    }
                    None => self.origin = None,
                }
                self.recursion = self.recursion.saturating_add(1);
                let result = self.process(ctx, xcm);
                self.recursion = self.recursion.saturating_sub(1);
                self.origin = saved;
                match result {
                    Ok(()) => {}
                    Err(Stop::State(error)) => return Err(Fault::State(error)),
                    Err(Stop::Xcm { error, surplus, .. }) => {
                        self.total_surplus = add(self.total_surplus, surplus);
                        return Err(error.into());
                    }
                }
            }
            SetHints { hints } => {
                for hint in hints.inner() {
                    let Hint::AssetClaimer { location } = hint;
                    self.asset_claimer = Some(location.clone());
                }
            }
        }
        Ok(())
    }

    /// Moves `assets` out of holding towards `dest` as `filter` says: deposited into `dest`'s
    /// sovereign account (reserve deposit), or just let go (teleport, reserve withdraw, whose
    /// assets left the ledger when they were withdrawn). Returns them as `dest` sees them.
    fn transfer_out(
        &mut self,
        ctx: &mut Context<'_, C::Event>,
        filter: &AssetTransferFilter,
        assets: Holding,
        dest: &Location,
    ) -> Result<Assets, Fault> {
        let assets = assets.into_assets();
        match filter {
            AssetTransferFilter::ReserveDeposit(_) => {
                for asset in &assets {
                    C::deposit_asset(ctx, asset, dest)?;
                }
            }
            AssetTransferFilter::Teleport(_) => check_teleport_out::<C>(&assets, dest)?,
            AssetTransferFilter::ReserveWithdraw(_) => {}
        }
        reanchor_assets(&self.universal, assets, dest)
    }

    /// Sends `message` to `dest`, tagged with this message's topic (or id) so that it can be
    /// followed across chains.
    fn send(
        &mut self,
        ctx: &mut Context<'_, C::Event>,
        dest: &Location,
        mut message: Xcm,
    ) -> Result<(), Fault> {
        let id = self.topic.unwrap_or(self.id);
        if !matches!(message.0.last(), Some(Instruction::SetTopic(_))) {
            message.0.push(Instruction::SetTopic(id));
        }
        if let Some(fee) = C::delivery_fee(ctx, dest, &message)? {
            self.pay_delivery(ctx, fee)?;
        }
        C::send(ctx, dest, message, id)
    }

    /// Pays a delivery fee: from the origin's account after `SetFeesMode { jit_withdraw }`
    /// (a local account that cannot pay fails the send), else from the fees register, else
    /// from holding. A message from another chain that holds nothing left to pay with (a
    /// reserve transfer that moved all it held) is delivered unpaid: its chain paid for its
    /// execution, and sends at most a candidate's few messages a block. (Polkadot takes the
    /// fee out of the assets moved instead.)
    fn pay_delivery(&mut self, ctx: &mut Context<'_, C::Event>, fee: Asset) -> Result<(), Fault> {
        if self.jit_withdraw {
            let origin = self.origin()?.clone();
            C::withdraw_asset(ctx, &fee, &origin).map_err(|fault| match fault {
                Fault::Xcm(_) => Fault::Xcm(XcmError::NotHoldingFees),
                state => state,
            })?;
        } else {
            let filter = AssetFilter::Definite(single(fee.clone()));
            let paid =
                self.fees.try_take(&filter).is_ok() || self.holding.try_take(&filter).is_ok();
            if !paid {
                return Ok(());
            }
        }
        C::take_fees(ctx, fee)
    }

    /// Sends `response` to the query described by `info`.
    fn respond(
        &mut self,
        ctx: &mut Context<'_, C::Event>,
        info: QueryResponseInfo,
        response: Response,
    ) -> Result<(), Fault> {
        let querier = match &self.origin {
            Some(origin) => Some(
                origin
                    .reanchored(&info.destination, &self.universal)
                    .ok_or(XcmError::ReanchorFailed)?,
            ),
            None => None,
        };
        let message = Xcm(alloc::vec![Instruction::QueryResponse {
            query_id: info.query_id,
            response,
            max_weight: info.max_weight,
            querier,
        }]);
        self.send(ctx, &info.destination, message)
    }

    fn take_error_handler(&mut self) -> Xcm {
        self.error_handler_weight = Weight::default();
        core::mem::take(&mut self.error_handler)
    }

    fn drop_error_handler(&mut self) {
        self.total_surplus = add(self.total_surplus, self.error_handler_weight);
        self.error_handler_weight = Weight::default();
        self.error_handler = Xcm::default();
    }

    fn take_appendix(&mut self) -> Xcm {
        self.appendix_weight = Weight::default();
        core::mem::take(&mut self.appendix)
    }

    /// Traps what is left, pays the fees and says what happened.
    fn finish(
        mut self,
        ctx: &mut Context<'_, C::Event>,
        weight: Weight,
    ) -> Result<Outcome, tessera_runtime::Error> {
        let fees = core::mem::take(&mut self.fees);
        let left = core::mem::take(&mut self.holding);
        let mut merged = left.clone();
        if merged.subsume_holding(fees.clone()).is_ok() {
            self.trap(ctx, merged)?;
        } else {
            // Too many assets for one trap: keep the fees register in a trap of its own.
            self.trap(ctx, left)?;
            self.trap(ctx, fees)?;
        }
        if let Some((id, amount)) = self.trader.paid.take() {
            if amount > 0 {
                let fee = Asset {
                    id,
                    fun: Fungibility::Fungible(amount),
                };
                match C::take_fees(ctx, fee) {
                    Ok(()) | Err(Fault::Xcm(_)) => {}
                    Err(Fault::State(error)) => return Err(error),
                }
            }
        }
        let used = sub(weight, self.total_surplus);
        Ok(match self.error {
            None => Outcome::Complete { used },
            Some((index, error)) => Outcome::Incomplete { used, error, index },
        })
    }

    fn trap(
        &self,
        ctx: &mut Context<'_, C::Event>,
        assets: Holding,
    ) -> Result<(), tessera_runtime::Error> {
        if assets.is_empty() {
            return Ok(());
        }
        let assets = assets.into_assets();
        // The hinted claimer, else the origin as it stands (a user after `DescendOrigin`),
        // else the original origin, as in Polkadot.
        let claimer = self
            .asset_claimer
            .as_ref()
            .or(self.origin.as_ref())
            .unwrap_or(&self.original_origin);
        match C::trap_assets(ctx, claimer, assets, self.topic.unwrap_or(self.id)) {
            Ok(()) | Err(Fault::Xcm(_)) => Ok(()),
            Err(Fault::State(error)) => Err(error),
        }
    }
}

fn weigh_instruction<C: Config>(instruction: &Instruction) -> Weight {
    let message = Xcm(alloc::vec![instruction.clone()]);
    weigh::<C>(&message).unwrap_or(Weight::MAX)
}

/// The instruction that makes `assets` arrive at the destination as `filter` moved them.
fn transfer_instruction(filter: &AssetTransferFilter, assets: Assets) -> Instruction {
    match filter {
        AssetTransferFilter::Teleport(_) => Instruction::ReceiveTeleportedAsset(assets),
        AssetTransferFilter::ReserveDeposit(_) => Instruction::ReserveAssetDeposited(assets),
        AssetTransferFilter::ReserveWithdraw(_) => Instruction::WithdrawAsset(assets),
    }
}

fn check_teleport_out<C: Config>(assets: &[Asset], dest: &Location) -> Result<(), Fault> {
    if assets.iter().all(|asset| C::is_teleporter(asset, dest)) {
        Ok(())
    } else {
        Err(XcmError::UntrustedTeleportLocation.into())
    }
}

/// `assets` as `dest` sees them, in canonical order, from a chain at `context`.
fn reanchor_assets(
    context: &Junctions,
    assets: Vec<Asset>,
    dest: &Location,
) -> Result<Assets, Fault> {
    let reanchored = assets
        .into_iter()
        .map(|asset| {
            let id = asset
                .id
                .0
                .reanchored(dest, context)
                .ok_or(XcmError::ReanchorFailed)?;
            Ok(Asset {
                id: AssetId(id),
                fun: asset.fun,
            })
        })
        .collect::<Result<Vec<_>, XcmError>>()?;
    Assets::from_unsorted(reanchored).map_err(|_| XcmError::TooManyAssets.into())
}
