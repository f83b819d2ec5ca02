//! `xcm`: the runtime module that sends, receives and executes XCM on a chain built with
//! Tessera, and [`ChainConfig`], the executor configuration it runs messages with.
//!
//! A chain describes itself with [`XcmChain`] (where it is, whom it trusts, its fee account,
//! how its messages leave) and links it to its event type with [`XcmRuntime`]. The module then
//! provides:
//! - assets: the native balance (`balances`) and foreign assets keyed by their [`Location`],
//!   registered by root; accounts for locations as Polkadot derives them;
//! - calls: `send`, `transfer_assets` (reserve-backed or teleported, chosen per asset),
//!   `claim_assets`, `register_foreign_asset`;
//! - [`receive`]: runs an incoming message and records its outcome under the message's id;
//! - asset traps, query responses and version subscriptions, kept in state;
//! - events carrying the message id, and a record per id for RPC lookups.

use crate::executor::{self, barrier, BarrierRefusal, Config, Fault, Outcome, XcmHash};
use crate::v5::{
    Asset, AssetFilter, AssetId, Assets, Error as XcmError, Fungibility, Hint, Instruction,
    Junction, Junctions, Location, OriginKind, PalletInfo, Response, Weight, WeightLimit,
    WildAsset, Xcm,
};
use crate::{VersionedAssets, VersionedLocation, VersionedXcm};
use alloc::vec::Vec;
use core::marker::PhantomData;
use parity_scale_codec::{Compact, Decode, DecodeLimit, Encode};
use tessera_runtime::crypto::AccountId;
use tessera_runtime::dispatch::{
    CallError, CallResult, Context, Dispatch, DispatchError, Origin, Weight as RefTime,
};
use tessera_runtime::hashing::blake2_256;
use tessera_runtime::modules::balances::{self, Existence};
use tessera_runtime::modules::system;
use tessera_runtime::storage::{StorageMap, StorageValue};
use tessera_runtime::BlockNumber;

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "PolkadotXcm";

/// Balances of foreign assets: `(asset, account) -> amount`.
pub static FOREIGN_BALANCES: StorageMap<(AssetId, AccountId), u128> =
    StorageMap::new(NAME, "ForeignBalances");
/// Registered foreign assets and their total issuance on this chain.
pub static FOREIGN_ASSETS: StorageMap<AssetId, u128> = StorageMap::new(NAME, "ForeignAssets");
/// Trapped assets: `blake2_256((claimer, VersionedAssets))` -> how many such traps.
pub static ASSET_TRAPS: StorageMap<[u8; 32], u32> = StorageMap::new(NAME, "AssetTraps");
/// Queries this chain made, by id: who must answer, and the answer once it came.
pub static QUERIES: StorageMap<u64, QueryStatus> = StorageMap::new(NAME, "Queries");
/// The next query id.
pub static NEXT_QUERY_ID: StorageValue<u64> = StorageValue::new(NAME, "NextQueryId");
/// Locations subscribed to this chain's XCM version, with their query id.
pub static VERSION_SUBSCRIBERS: StorageMap<Location, u64> =
    StorageMap::new(NAME, "VersionSubscribers");
/// How many messages each account has sent with `send` or `transfer_assets`: the next id of
/// its messages is [`message_id_of`] this count, which a wallet can compute before submitting.
pub static SENT_COUNT: StorageMap<AccountId, u64> = StorageMap::new(NAME, "SentCount");
/// What happened to each message id on this chain, for RPC lookups, for
/// [`MESSAGE_RECORD_RETENTION`] blocks.
pub static MESSAGES: StorageMap<XcmHash, Vec<MessageRecord>> = StorageMap::new(NAME, "Messages");
/// Records written, oldest first, by position: the block and the message id. Positions
/// `first..next` of [`RECORD_LOG_BOUNDS`] are live.
pub static RECORD_LOG: StorageMap<u64, (BlockNumber, XcmHash)> = StorageMap::new(NAME, "RecordLog");
/// The live positions of [`RECORD_LOG`]: `(first, next)`.
pub static RECORD_LOG_BOUNDS: StorageValue<(u64, u64)> = StorageValue::new(NAME, "RecordLogBounds");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> alloc::vec::Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    alloc::vec![
        FOREIGN_BALANCES.metadata_or_default(),
        FOREIGN_ASSETS.metadata(),
        ASSET_TRAPS.metadata_or_default(),
        QUERIES.metadata(),
        NEXT_QUERY_ID.metadata(),
        VERSION_SUBSCRIBERS.metadata(),
        SENT_COUNT.metadata_or_default(),
        MESSAGES.metadata_or_default(),
        RECORD_LOG.metadata(),
        RECORD_LOG_BOUNDS.metadata_or_default(),
    ]
}

/// Blocks a message record is kept for (a day of 6 s blocks): long enough for a wallet to
/// follow a message, bounded so that records never pile up.
pub const MESSAGE_RECORD_RETENTION: BlockNumber = 14_400;
/// Most records one message id keeps (ids repeat only through replays).
const MAX_RECORDS_PER_MESSAGE: usize = 16;
/// Most old records each new record prunes: more than one, so that pruning always catches up
/// with recording, and few, so that each record costs a bounded, small amount.
const PRUNE_PER_RECORD: usize = 4;

/// The XCM version this chain speaks.
pub const XCM_VERSION: u32 = 5;

/// Weight of one instruction by this module's weigher.
pub const INSTRUCTION_WEIGHT: Weight = Weight::from_parts(1_000_000, 1_024);

/// Weight of `transfer_assets` and `claim_assets`, local execution included.
pub const TRANSFER_WEIGHT: RefTime = 200_000_000;
/// Weight of `send`.
pub const SEND_WEIGHT: RefTime = 50_000_000;
const REGISTER_WEIGHT: RefTime = 10_000_000;

/// A query's state.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum QueryStatus {
    /// Waiting for an answer from `responder`.
    Pending {
        /// Who must answer.
        responder: Location,
    },
    /// Answered.
    Ready {
        /// The answer.
        response: Response,
        /// When.
        at: BlockNumber,
    },
}

/// One thing that happened to a message on this chain.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum MessageRecord {
    /// Sent to `dest` at block `at`.
    Sent {
        /// The destination.
        dest: Location,
        /// The block.
        at: BlockNumber,
    },
    /// Received from `origin` and run at block `at`.
    Executed {
        /// Where it came from.
        origin: Location,
        /// What it did.
        outcome: Outcome,
        /// The block.
        at: BlockNumber,
    },
}

/// Events of `xcm`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Event {
    /// A message was queued for `dest`.
    #[codec(index = 0)]
    Sent {
        /// Its id.
        id: XcmHash,
        /// The destination.
        dest: Location,
    },
    /// A message from `origin` ran to its end.
    #[codec(index = 1)]
    Executed {
        /// Its id.
        id: XcmHash,
        /// Where it came from.
        origin: Location,
        /// Weight used.
        used: Weight,
    },
    /// A message from `origin` failed: instruction `index` (none if it never ran) with `error`.
    #[codec(index = 2)]
    Failed {
        /// Its id.
        id: XcmHash,
        /// Where it came from.
        origin: Location,
        /// The failed instruction.
        index: Option<u32>,
        /// Why.
        error: XcmError,
    },
    /// Assets left in holding were trapped; `claimer` may claim them with `ClaimAsset`.
    #[codec(index = 3)]
    AssetsTrapped {
        /// The trap's hash.
        hash: [u8; 32],
        /// Who may claim them.
        claimer: Location,
        /// What.
        assets: VersionedAssets,
        /// The message that left them.
        id: XcmHash,
    },
    /// Trapped assets were claimed.
    #[codec(index = 4)]
    AssetsClaimed {
        /// The trap's hash.
        hash: [u8; 32],
        /// Who claimed.
        origin: Location,
        /// What.
        assets: VersionedAssets,
    },
    /// A query was answered.
    #[codec(index = 5)]
    ResponseReady {
        /// The query.
        query_id: u64,
        /// The answer.
        response: Response,
    },
    /// A foreign asset was registered.
    #[codec(index = 6)]
    ForeignAssetRegistered {
        /// The asset.
        id: AssetId,
    },
    /// The relay chain announced a change to this para's HRMP channels.
    #[codec(index = 7)]
    HrmpNotification {
        /// `HrmpNewChannelOpenRequest`, `HrmpChannelAccepted` or `HrmpChannelClosing`.
        notification: Instruction,
    },
    /// A message arrived from `origin` (`Executed` or `Failed` follows).
    #[codec(index = 8)]
    Received {
        /// Its id.
        id: XcmHash,
        /// Where it came from.
        origin: Location,
    },
}

tessera_runtime::module_error! {
    /// Errors of `xcm` calls.
    pub enum Error for NAME {
        /// A location, asset list or message of an unknown version or malformed.
        BadVersion,
        /// The message cannot be delivered to that destination.
        Unroutable,
        /// No assets, too many, or a fee index outside them.
        BadAssets,
        /// The assets would take different routes (reserve or teleport) to the destination.
        MixedTransferTypes,
        /// The asset cannot be moved to that destination (no reserve or teleport relation).
        CannotTransfer,
        /// Executing the local part failed with this XCM error.
        LocalExecutionFailed(ExecutionError),
        /// The foreign asset is registered already.
        AlreadyRegistered,
        /// The sender cannot pay the delivery fee.
        FeesNotMet,
    }
}

/// An XCM error without its fields (which would not fit a module error's four bytes): its
/// variant of XCM v5's `Error`, as Polkadot's `ExecutionError` is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode)]
pub struct ExecutionError(pub u8);

impl From<&XcmError> for ExecutionError {
    fn from(error: &XcmError) -> Self {
        ExecutionError(error.encode().first().copied().unwrap_or_default())
    }
}

/// Described as XCM's `Error` with its variants' fields left out, so clients name it.
impl scale_info::TypeInfo for ExecutionError {
    type Identity = Self;

    fn type_info() -> scale_info::Type {
        use scale_info::{build::Variants, Path, Type, TypeDef};
        let mut variants = Variants::new();
        if let TypeDef::Variant(errors) = XcmError::type_info().type_def {
            for error in errors.variants {
                variants = variants.variant(error.name, |v| v.index(error.index).docs(&error.docs));
            }
        }
        Type::builder()
            .path(Path::new("ExecutionError", module_path!()))
            .variant(variants)
    }
}

/// Calls of `xcm`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Call {
    /// Sends `message` to `dest`: from root as this chain itself, from an account after a
    /// `DescendOrigin` to that account.
    #[codec(index = 0)]
    Send {
        /// The destination.
        dest: VersionedLocation,
        /// The message.
        message: VersionedXcm,
    },
    /// Moves `assets` of the signer to `beneficiary` on `dest` (reserve-backed, or teleported
    /// where trusted); `assets[fee_asset_item]` pays execution on `dest`.
    #[codec(index = 1)]
    TransferAssets {
        /// The destination chain.
        dest: VersionedLocation,
        /// Who receives the assets, as `dest` sees it.
        beneficiary: VersionedLocation,
        /// What, as this chain sees it.
        assets: VersionedAssets,
        /// Which of `assets` pays the fees.
        fee_asset_item: u32,
        /// Most weight to buy on `dest`.
        weight_limit: WeightLimit,
    },
    /// Claims assets trapped for the signer and deposits them to `beneficiary`.
    #[codec(index = 2)]
    ClaimAssets {
        /// The trapped assets.
        assets: VersionedAssets,
        /// Who receives them.
        beneficiary: VersionedLocation,
    },
    /// Registers the foreign asset `id` so that accounts may hold it (root).
    #[codec(index = 3)]
    RegisterForeignAsset {
        /// The asset, as this chain sees it.
        id: VersionedLocation,
    },
}

/// How a chain built with Tessera is placed and connected.
pub trait XcmChain {
    /// Where the chain is, e.g. `[GlobalConsensus(Polkadot), Parachain(1000)]` (a para reads
    /// its id from state).
    fn universal_location<E>(ctx: &mut Context<'_, E>) -> tessera_runtime::Result<Junctions>;

    /// The account that receives XCM execution fees.
    fn fee_account() -> AccountId;

    /// Price of one unit of `ref_time` in asset `id`; `None` if it does not pay fees. By
    /// default only the native asset pays, at `rate` per unit.
    fn fee_rate(id: &AssetId) -> Option<u128>;

    /// Whether `origin` is the reserve of `asset` here. By default: the chain an asset is
    /// defined on is its reserve.
    fn is_reserve(asset: &Asset, origin: &Location) -> bool {
        reserve_of(&asset.id).as_ref() == Some(origin)
    }

    /// Whether `asset` may be teleported between here and `location`. By default never.
    fn is_teleporter(_asset: &Asset, _location: &Location) -> bool {
        false
    }

    /// Whether foreign asset `id` may be held without registering it first (e.g. the relay
    /// token and siblings' native tokens on a para). By default every foreign asset must be
    /// registered.
    fn accepts_unregistered(_id: &AssetId) -> bool {
        false
    }

    /// Whether `origin` may dispatch calls as root (`Transact` with `Superuser`).
    fn is_superuser(origin: &Location) -> bool;

    /// Whether `origin` may run messages without paying (after `UnpaidExecution`).
    fn is_unpaid_allowed(origin: &Location) -> bool;

    /// Delivers `message` (its encoding) to `dest`, or says why it cannot.
    fn deliver<E>(ctx: &mut Context<'_, E>, dest: &Location, message: Vec<u8>)
        -> Result<(), Fault>;

    /// The fee, in the native asset, for delivering a message of `len` bytes to `dest` now;
    /// `None` if that is free. By default it is.
    fn delivery_fee<E>(
        _ctx: &mut Context<'_, E>,
        _dest: &Location,
        _len: usize,
    ) -> tessera_runtime::Result<Option<u128>> {
        Ok(None)
    }

    /// The runtime's modules, for `QueryPallet`.
    fn pallets() -> Vec<PalletInfo>;
}

/// Links a runtime's event type to its chain description and call type, so that `xcm` calls
/// dispatched in that runtime find their configuration.
pub trait XcmRuntime: Sized + From<Event> + From<balances::Event> + From<system::Event> {
    /// The chain.
    type Chain: XcmChain;
    /// The runtime's call, for `Transact`.
    type Call: Decode + Dispatch<Self>;
}

/// The executor configuration of a runtime whose events are `E`.
pub struct ChainConfig<E>(PhantomData<E>);

/// The chain that defines asset `id` (its reserve), as seen from here: the id's location up
/// to and including its first parachain or the relay chain.
pub fn reserve_of(id: &AssetId) -> Option<Location> {
    let location = &id.0;
    match location.first_interior() {
        Some(Junction::Parachain(para)) => {
            Location::new(location.parents, &[Junction::Parachain(*para)])
        }
        _ => Some(Location {
            parents: location.parents,
            interior: Junctions::Here,
        }),
    }
}

/// The account of `location` on this chain, as Polkadot derives it: a local `AccountId32`
/// is itself; the parent, sibling and child paras have their sovereign accounts; an account
/// on another chain has a hashed alias.
pub fn account_of(location: &Location) -> Option<AccountId> {
    let junctions = location.interior.as_slice();
    let preset = |prefix: &[u8]| {
        let mut raw = [0u8; 32];
        for (byte, from) in raw.iter_mut().zip(prefix) {
            *byte = *from;
        }
        AccountId(raw)
    };
    let with_para = |tag: &[u8; 4], para: u32| {
        let mut raw = [0u8; 32];
        raw[..4].copy_from_slice(tag);
        raw[4..8].copy_from_slice(&para.to_le_bytes());
        AccountId(raw)
    };
    let terminal = |junction: &Junction| match junction {
        Junction::AccountId32 { id, .. } => Some((b"AccountId32", *id).encode()),
        _ => None,
    };
    match (location.parents, junctions) {
        (0, [Junction::AccountId32 { network: None, id }]) => Some(AccountId(*id)),
        (1, []) => Some(preset(b"Parent")),
        (1, [Junction::Parachain(para)]) => Some(with_para(b"sibl", *para)),
        (0, [Junction::Parachain(para)]) => Some(with_para(b"para", *para)),
        (1, [Junction::Parachain(para), account]) => Some(AccountId(
            blake2_256(&(b"SiblingChain", Compact(*para), terminal(account)?).encode()).0,
        )),
        (0, [Junction::Parachain(para), account]) => Some(AccountId(
            blake2_256(&(b"ChildChain", Compact(*para), terminal(account)?).encode()).0,
        )),
        (1, [account]) => Some(AccountId(
            blake2_256(&(b"ParentChain", terminal(account)?).encode()).0,
        )),
        _ => None,
    }
}

/// The id of the `count`th message (from 0) sent by account `who` on the chain at
/// `chain` (its universal location, so that ids differ from chain to chain).
pub fn message_id_of(chain: &Junctions, who: &AccountId, count: u64) -> XcmHash {
    blake2_256(&(b"tessera/xcm", chain, who, count).encode()).0
}

/// The id of the next message `who` sends, counted.
fn next_message_id<E: XcmRuntime>(
    ctx: &mut Context<'_, E>,
    who: &AccountId,
) -> tessera_runtime::Result<XcmHash> {
    let chain = E::Chain::universal_location(ctx)?;
    let count = SENT_COUNT.get_or_default(&mut ctx.state, who)?;
    SENT_COUNT.insert(&mut ctx.state, who, &count.saturating_add(1));
    Ok(message_id_of(&chain, who, count))
}

/// The location of a local account.
pub fn account_location(who: &AccountId) -> Location {
    Location {
        parents: 0,
        interior: Junctions::from_slice(&[Junction::AccountId32 {
            network: None,
            id: who.0,
        }])
        .unwrap_or(Junctions::Here),
    }
}

fn is_native(id: &AssetId) -> bool {
    id.0 == Location::here()
}

fn trap_hash(claimer: &Location, assets: &Assets) -> [u8; 32] {
    blake2_256(&(claimer, VersionedAssets::V5(assets.clone())).encode()).0
}

impl MessageRecord {
    /// The block it happened in.
    pub fn at(&self) -> BlockNumber {
        match self {
            MessageRecord::Sent { at, .. } | MessageRecord::Executed { at, .. } => *at,
        }
    }
}

fn record<E>(ctx: &mut Context<'_, E>, id: XcmHash, entry: MessageRecord) -> Result<(), Fault> {
    let mut records = MESSAGES.get_or_default(&mut ctx.state, &id)?;
    if records.len() >= MAX_RECORDS_PER_MESSAGE {
        return Ok(());
    }
    records.push(entry);
    MESSAGES.insert(&mut ctx.state, &id, &records);
    log_and_prune(ctx, id)?;
    Ok(())
}

/// Notes that this block recorded `id`, and forgets up to [`PRUNE_PER_RECORD`] records older
/// than [`MESSAGE_RECORD_RETENTION`]: a fixed amount of work per record.
fn log_and_prune<E>(ctx: &mut Context<'_, E>, id: XcmHash) -> tessera_runtime::Result<()> {
    let now = ctx.block_number;
    let (mut first, next) = RECORD_LOG_BOUNDS.get_or_default(&mut ctx.state)?;
    RECORD_LOG.insert(&mut ctx.state, &next, &(now, id));
    let next = next.saturating_add(1);
    let cutoff = now.saturating_sub(MESSAGE_RECORD_RETENTION);
    for _ in 0..PRUNE_PER_RECORD {
        if first >= next {
            break;
        }
        match RECORD_LOG.get(&mut ctx.state, &first)? {
            Some((at, _)) if at > cutoff => break,
            Some((_, old)) => {
                let mut records = MESSAGES.get_or_default(&mut ctx.state, &old)?;
                // A replay recorded later keeps its own records.
                records.retain(|record| record.at() > cutoff);
                if records.is_empty() {
                    MESSAGES.remove(&mut ctx.state, &old);
                } else {
                    MESSAGES.insert(&mut ctx.state, &old, &records);
                }
            }
            None => {}
        }
        RECORD_LOG.remove(&mut ctx.state, &first);
        first = first.saturating_add(1);
    }
    RECORD_LOG_BOUNDS.put(&mut ctx.state, &(first, next));
    Ok(())
}

fn amount_of(asset: &Asset) -> Result<u128, Fault> {
    match asset.fun {
        Fungibility::Fungible(amount) => Ok(amount),
        Fungibility::NonFungible(_) => Err(XcmError::AssetNotFound.into()),
    }
}

impl<E: XcmRuntime> Config for ChainConfig<E> {
    type Event = E;

    fn universal_location(ctx: &mut Context<'_, E>) -> Result<Junctions, Fault> {
        Ok(E::Chain::universal_location(ctx)?)
    }

    fn should_execute(
        ctx: &mut Context<'_, E>,
        origin: &Location,
        message: &mut Xcm,
        max_weight: Weight,
        weight_credit: &mut Weight,
    ) -> Result<(), BarrierRefusal> {
        if barrier::take_weight_credit(weight_credit, max_weight).is_ok() {
            return Ok(());
        }
        let (origin, skipped) = barrier::computed_origin(origin, &message.0)
            .ok_or(BarrierRefusal("DescendOrigin makes a location too long"))?;
        let rest = message.0.get_mut(skipped..).unwrap_or_default();
        if barrier::is_query_response(rest) {
            let expected = match rest.first() {
                Some(Instruction::QueryResponse { query_id, .. }) => {
                    matches!(
                        QUERIES.get(&mut ctx.state, query_id),
                        Ok(Some(QueryStatus::Pending { responder })) if responder == origin
                    )
                }
                _ => false,
            };
            return if expected {
                Ok(())
            } else {
                Err(BarrierRefusal(
                    "response to no pending query of this origin",
                ))
            };
        }
        if barrier::is_version_subscription(rest)
            || (barrier::is_hrmp_notification(rest) && origin == Location::parent())
        {
            return Ok(());
        }
        if E::Chain::is_unpaid_allowed(&origin)
            && barrier::allow_explicit_unpaid_execution(rest, max_weight).is_ok()
        {
            return Ok(());
        }
        barrier::allow_paid_execution(rest, max_weight)
    }

    fn instruction_weight(instruction: &Instruction) -> Weight {
        match instruction {
            Instruction::Transact { call, .. } => {
                let call_weight = <Self as Config>::call_weight(&call.encoded).unwrap_or_default();
                Weight::from_parts(
                    INSTRUCTION_WEIGHT
                        .ref_time
                        .saturating_add(call_weight.ref_time),
                    INSTRUCTION_WEIGHT.proof_size,
                )
            }
            _ => INSTRUCTION_WEIGHT,
        }
    }

    fn weight_price(id: &AssetId, weight: Weight) -> Option<u128> {
        E::Chain::fee_rate(id).map(|rate| rate.saturating_mul(u128::from(weight.ref_time)))
    }

    fn is_reserve(asset: &Asset, origin: &Location) -> bool {
        E::Chain::is_reserve(asset, origin)
    }

    fn is_teleporter(asset: &Asset, location: &Location) -> bool {
        E::Chain::is_teleporter(asset, location)
    }

    fn is_alias(origin: &Location, target: &Location) -> bool {
        // A location may act as any location below it (Polkadot's `AliasChildLocation`).
        origin.parents == target.parents
            && target
                .interior
                .as_slice()
                .starts_with(origin.interior.as_slice())
    }

    fn is_universal_alias(_origin: &Location, _junction: &Junction) -> bool {
        false
    }

    fn deposit_asset(
        ctx: &mut Context<'_, E>,
        asset: &Asset,
        beneficiary: &Location,
    ) -> Result<(), Fault> {
        let amount = amount_of(asset)?;
        let who = account_of(beneficiary).ok_or(XcmError::LocationCannotHold)?;
        if is_native(&asset.id) {
            balances::mint(ctx, &who, amount)
                .map_err(|err| Fault::from_call(err, XcmError::FailedToTransactAsset))?;
            return Ok(());
        }
        let issuance = match FOREIGN_ASSETS.get(&mut ctx.state, &asset.id)? {
            Some(issuance) => issuance,
            None if E::Chain::accepts_unregistered(&asset.id) => 0,
            None => return Err(XcmError::AssetNotFound.into()),
        };
        let key = (asset.id.clone(), who);
        let balance = FOREIGN_BALANCES.get_or_default(&mut ctx.state, &key)?;
        let balance = balance.checked_add(amount).ok_or(XcmError::Overflow)?;
        let issuance = issuance.checked_add(amount).ok_or(XcmError::Overflow)?;
        FOREIGN_BALANCES.insert(&mut ctx.state, &key, &balance);
        FOREIGN_ASSETS.insert(&mut ctx.state, &asset.id, &issuance);
        Ok(())
    }

    fn withdraw_asset(
        ctx: &mut Context<'_, E>,
        asset: &Asset,
        who: &Location,
    ) -> Result<(), Fault> {
        let amount = amount_of(asset)?;
        let account = account_of(who).ok_or(XcmError::LocationCannotHold)?;
        if is_native(&asset.id) {
            balances::withdraw(ctx, &account, amount, Existence::AllowDeath)
                .map_err(|err| Fault::from_call(err, XcmError::FailedToTransactAsset))?;
            balances::burn(ctx, amount)
                .map_err(|err| Fault::from_call(err, XcmError::FailedToTransactAsset))?;
            return Ok(());
        }
        let issuance = FOREIGN_ASSETS
            .get(&mut ctx.state, &asset.id)?
            .ok_or(XcmError::AssetNotFound)?;
        let key = (asset.id.clone(), account);
        let balance = FOREIGN_BALANCES.get_or_default(&mut ctx.state, &key)?;
        let balance = balance
            .checked_sub(amount)
            .ok_or(XcmError::FailedToTransactAsset)?;
        if balance == 0 {
            FOREIGN_BALANCES.remove(&mut ctx.state, &key);
        } else {
            FOREIGN_BALANCES.insert(&mut ctx.state, &key, &balance);
        }
        FOREIGN_ASSETS.insert(&mut ctx.state, &asset.id, &issuance.saturating_sub(amount));
        Ok(())
    }

    fn call_weight(call: &[u8]) -> Option<Weight> {
        let call = decode_call::<E>(call)?;
        Some(Weight::from_parts(call.weight(), 0))
    }

    fn transact(
        ctx: &mut Context<'_, E>,
        origin: &Location,
        kind: OriginKind,
        call: &[u8],
    ) -> Result<Result<(), DispatchError>, Fault> {
        let dispatch_origin = match kind {
            OriginKind::SovereignAccount | OriginKind::Native => {
                Origin::Signed(account_of(origin).ok_or(XcmError::BadOrigin)?)
            }
            OriginKind::Superuser if E::Chain::is_superuser(origin) => Origin::Root,
            OriginKind::Superuser | OriginKind::Xcm => return Err(XcmError::BadOrigin.into()),
        };
        let call = decode_call::<E>(call).ok_or(XcmError::FailedToDecode)?;
        ctx.state.start_transaction();
        let events = ctx.event_count();
        match call.dispatch(ctx, dispatch_origin) {
            Ok(()) => {
                ctx.state.commit_transaction()?;
                Ok(Ok(()))
            }
            Err(CallError::Dispatch(error)) => {
                ctx.state.rollback_transaction()?;
                ctx.truncate_events(events);
                Ok(Err(error))
            }
            Err(CallError::State(error)) => {
                // The block fails; close the layer so that the caller's rollback is its own.
                let _ = ctx.state.rollback_transaction();
                Err(Fault::State(error))
            }
        }
    }

    fn delivery_fee(
        ctx: &mut Context<'_, E>,
        dest: &Location,
        message: &Xcm,
    ) -> Result<Option<Asset>, Fault> {
        // The versioned encoding adds its one-byte tag.
        let len = message.encoded_size().saturating_add(1);
        let fee = E::Chain::delivery_fee(ctx, dest, len)?;
        Ok(fee
            .filter(|amount| *amount > 0)
            .map(|amount| Asset::fungible(Location::here(), amount)))
    }

    fn send(
        ctx: &mut Context<'_, E>,
        dest: &Location,
        message: Xcm,
        id: XcmHash,
    ) -> Result<(), Fault> {
        let bytes = VersionedXcm::V5(message).encode();
        // What the destination would refuse to decode (e.g. over 100 instructions once
        // forwarded) is not sent: the instruction fails and its effects roll back.
        if VersionedXcm::decode_limited(&bytes).is_err() {
            return Err(XcmError::ExceedsMaxMessageSize.into());
        }
        E::Chain::deliver(ctx, dest, bytes)?;
        let at = ctx.block_number;
        record(
            ctx,
            id,
            MessageRecord::Sent {
                dest: dest.clone(),
                at,
            },
        )?;
        ctx.deposit_event(Event::Sent {
            id,
            dest: dest.clone(),
        });
        Ok(())
    }

    fn trap_assets(
        ctx: &mut Context<'_, E>,
        claimer: &Location,
        assets: Vec<Asset>,
        id: XcmHash,
    ) -> Result<(), Fault> {
        for chunk in assets.chunks(crate::v5::MAX_ITEMS_IN_ASSETS) {
            let assets =
                Assets::from_unsorted(chunk.to_vec()).map_err(|_| XcmError::TooManyAssets)?;
            let hash = trap_hash(claimer, &assets);
            let count = ASSET_TRAPS.get_or_default(&mut ctx.state, &hash)?;
            ASSET_TRAPS.insert(&mut ctx.state, &hash, &count.saturating_add(1));
            ctx.deposit_event(Event::AssetsTrapped {
                hash,
                claimer: claimer.clone(),
                assets: VersionedAssets::V5(assets),
                id,
            });
        }
        Ok(())
    }

    fn claim_assets(
        ctx: &mut Context<'_, E>,
        origin: &Location,
        _ticket: &Location,
        assets: &Assets,
    ) -> Result<bool, Fault> {
        let hash = trap_hash(origin, assets);
        let count = ASSET_TRAPS.get_or_default(&mut ctx.state, &hash)?;
        match count {
            0 => return Ok(false),
            1 => ASSET_TRAPS.remove(&mut ctx.state, &hash),
            more => ASSET_TRAPS.insert(&mut ctx.state, &hash, &more.saturating_sub(1)),
        }
        ctx.deposit_event(Event::AssetsClaimed {
            hash,
            origin: origin.clone(),
            assets: VersionedAssets::V5(assets.clone()),
        });
        Ok(true)
    }

    fn on_response(
        ctx: &mut Context<'_, E>,
        origin: &Location,
        query_id: u64,
        _querier: Option<&Location>,
        response: Response,
    ) -> Result<(), Fault> {
        match QUERIES.get(&mut ctx.state, &query_id)? {
            Some(QueryStatus::Pending { responder }) if responder == *origin => {
                let at = ctx.block_number;
                QUERIES.insert(
                    &mut ctx.state,
                    &query_id,
                    &QueryStatus::Ready {
                        response: response.clone(),
                        at,
                    },
                );
                ctx.deposit_event(Event::ResponseReady { query_id, response });
                Ok(())
            }
            _ => Err(XcmError::BadOrigin.into()),
        }
    }

    fn take_fees(ctx: &mut Context<'_, E>, fees: Asset) -> Result<(), Fault> {
        let collector = account_location(&E::Chain::fee_account());
        Self::deposit_asset(ctx, &fees, &collector)
    }

    fn subscribe_version(
        ctx: &mut Context<'_, E>,
        origin: &Location,
        query_id: u64,
        max_response_weight: Weight,
    ) -> Result<(), Fault> {
        VERSION_SUBSCRIBERS.insert(&mut ctx.state, origin, &query_id);
        let answer = Xcm(alloc::vec![Instruction::QueryResponse {
            query_id,
            response: Response::Version(XCM_VERSION),
            max_weight: max_response_weight,
            querier: None,
        }]);
        let id = blake2_256(&answer.encode()).0;
        let mut answer = answer;
        answer.0.push(Instruction::SetTopic(id));
        Self::send(ctx, origin, answer, id)
    }

    fn unsubscribe_version(ctx: &mut Context<'_, E>, origin: &Location) -> Result<(), Fault> {
        VERSION_SUBSCRIBERS.remove(&mut ctx.state, origin);
        Ok(())
    }

    fn pallets(module_name: &[u8]) -> Vec<PalletInfo> {
        E::Chain::pallets()
            .into_iter()
            .filter(|pallet| module_name.is_empty() || pallet.module_name.inner() == module_name)
            .collect()
    }

    fn hrmp_notification(
        ctx: &mut Context<'_, E>,
        origin: &Location,
        instruction: &Instruction,
    ) -> Result<(), Fault> {
        // Only the relay chain speaks for channels; the para's governance answers (with
        // `Transact` on the relay chain), so the notification is announced.
        if *origin != Location::parent() {
            return Err(XcmError::BadOrigin.into());
        }
        ctx.deposit_event(Event::HrmpNotification {
            notification: instruction.clone(),
        });
        Ok(())
    }
}

fn decode_call<E: XcmRuntime>(bytes: &[u8]) -> Option<E::Call> {
    E::Call::decode_all_with_depth_limit(crate::MAX_XCM_DECODE_DEPTH * 8, &mut &bytes[..]).ok()
}

/// Runs `bytes`, a message from `origin`, with at most `weight_limit`; records and announces
/// the outcome under the message's id. Malformed messages are refused without running, with a
/// `Failed` event. `Err` only when state cannot be read.
pub fn receive<E: XcmRuntime>(
    ctx: &mut Context<'_, E>,
    origin: Location,
    bytes: &[u8],
    weight_limit: Weight,
) -> Result<(XcmHash, Outcome), tessera_runtime::Error> {
    let fallback_id = blake2_256(bytes).0;
    let message = match VersionedXcm::decode_limited(bytes) {
        Ok(VersionedXcm::V5(message)) => message,
        Err(_) => {
            ctx.deposit_event(Event::Received {
                id: fallback_id,
                origin: origin.clone(),
            });
            let outcome = Outcome::Error {
                error: XcmError::FailedToDecode,
            };
            announce(ctx, fallback_id, origin, &outcome)?;
            return Ok((fallback_id, outcome));
        }
    };
    let id = executor::message_id(&message, bytes);
    ctx.deposit_event(Event::Received {
        id,
        origin: origin.clone(),
    });
    let outcome = executor::execute::<ChainConfig<E>>(
        ctx,
        origin.clone(),
        message,
        id,
        weight_limit,
        Weight::default(),
    )?;
    announce(ctx, id, origin, &outcome)?;
    Ok((id, outcome))
}

fn announce<E: XcmRuntime>(
    ctx: &mut Context<'_, E>,
    id: XcmHash,
    origin: Location,
    outcome: &Outcome,
) -> Result<(), tessera_runtime::Error> {
    let at = ctx.block_number;
    let entry = MessageRecord::Executed {
        origin: origin.clone(),
        outcome: outcome.clone(),
        at,
    };
    match record(ctx, id, entry) {
        Ok(()) | Err(Fault::Xcm(_)) => {}
        Err(Fault::State(error)) => return Err(error),
    }
    let event = match outcome {
        Outcome::Complete { used } => Event::Executed {
            id,
            origin,
            used: *used,
        },
        Outcome::Incomplete { error, index, .. } => Event::Failed {
            id,
            origin,
            index: Some(*index),
            error: *error,
        },
        Outcome::Error { error } => Event::Failed {
            id,
            origin,
            index: None,
            error: *error,
        },
    };
    ctx.deposit_event(event);
    Ok(())
}

/// Registers foreign asset `id` (genesis or root).
pub fn register_foreign_asset<E: From<Event>>(ctx: &mut Context<'_, E>, id: AssetId) -> CallResult {
    if FOREIGN_ASSETS.get(&mut ctx.state, &id)?.is_some() {
        return Err(Error::AlreadyRegistered.into());
    }
    FOREIGN_ASSETS.insert(&mut ctx.state, &id, &0);
    ctx.deposit_event(Event::ForeignAssetRegistered { id });
    Ok(())
}

/// The balance of foreign asset `id` held by `who`.
pub fn foreign_balance<E>(
    ctx: &mut Context<'_, E>,
    id: &AssetId,
    who: &AccountId,
) -> tessera_runtime::Result<u128> {
    FOREIGN_BALANCES.get_or_default(&mut ctx.state, &(id.clone(), *who))
}

/// How an asset travels to a destination.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TransferType {
    /// Burnt here, minted there (both trust each other for it).
    Teleport,
    /// This chain is the reserve: the assets move to the destination's sovereign account.
    LocalReserve,
    /// The destination is the reserve: our derivatives are burnt, the reserve releases them.
    DestinationReserve,
    /// A third chain is the reserve: released there, then deposited for the destination.
    RemoteReserve(Location),
}

fn transfer_type<C: XcmChain>(asset: &Asset, dest: &Location) -> Option<TransferType> {
    if C::is_teleporter(asset, dest) {
        return Some(TransferType::Teleport);
    }
    let reserve = reserve_of(&asset.id)?;
    if reserve == Location::here() {
        Some(TransferType::LocalReserve)
    } else if reserve == *dest {
        Some(TransferType::DestinationReserve)
    } else {
        Some(TransferType::RemoteReserve(reserve))
    }
}

/// The local program of `transfer_assets`: withdraw, then send with the remote program that
/// buys execution with the fee asset and deposits everything to `beneficiary`. Trapped assets
/// on the destination are claimable by the beneficiary.
fn transfer_program<C: XcmChain>(
    context: &Junctions,
    dest: &Location,
    beneficiary: Location,
    assets: Assets,
    fee: Asset,
    weight_limit: WeightLimit,
) -> Result<Xcm, Error> {
    let mut kinds = assets
        .inner()
        .iter()
        .map(|asset| transfer_type::<C>(asset, dest));
    let kind = kinds.next().flatten().ok_or(Error::CannotTransfer)?;
    if kinds.any(|other| other != Some(kind.clone())) {
        return Err(Error::MixedTransferTypes);
    }
    let count = assets.len() as u32;
    let all = AssetFilter::Wild(WildAsset::AllCounted(count));
    let reanchor = |asset: &Asset, target: &Location| -> Result<Asset, Error> {
        Ok(Asset {
            id: AssetId(
                asset
                    .id
                    .0
                    .reanchored(target, context)
                    .ok_or(Error::CannotTransfer)?,
            ),
            fun: asset.fun,
        })
    };
    let claimer = crate::v5::BoundedVec::new(alloc::vec![Hint::AssetClaimer {
        location: beneficiary.clone(),
    }])
    .ok_or(Error::BadAssets)?;
    let deposit_there = |fee_there: Asset| {
        Xcm(alloc::vec![
            Instruction::SetHints {
                hints: claimer.clone()
            },
            Instruction::BuyExecution {
                fees: fee_there,
                weight_limit,
            },
            Instruction::DepositAsset {
                assets: all.clone(),
                beneficiary: beneficiary.clone(),
            },
        ])
    };
    let send = match kind {
        TransferType::Teleport => Instruction::InitiateTeleport {
            assets: all.clone(),
            dest: dest.clone(),
            xcm: deposit_there(reanchor(&fee, dest)?),
        },
        TransferType::LocalReserve => Instruction::DepositReserveAsset {
            assets: all.clone(),
            dest: dest.clone(),
            xcm: deposit_there(reanchor(&fee, dest)?),
        },
        TransferType::DestinationReserve => Instruction::InitiateReserveWithdraw {
            assets: all.clone(),
            reserve: dest.clone(),
            xcm: deposit_there(reanchor(&fee, dest)?),
        },
        TransferType::RemoteReserve(reserve) => {
            // At the reserve: pay, then deposit for the destination as the reserve sees it.
            // Half the fee asset may pay at each hop (as Polkadot's `transfer_assets` does).
            let dest_from_reserve = dest
                .reanchored(&reserve, context)
                .ok_or(Error::CannotTransfer)?;
            let Fungibility::Fungible(amount @ 2..) = fee.fun else {
                // Each hop needs a non-zero half.
                return Err(Error::BadAssets);
            };
            let half = |part: u128| Asset {
                id: fee.id.clone(),
                fun: Fungibility::Fungible(part),
            };
            let at_reserve = amount.checked_div(2).unwrap_or_default();
            let fee_at_reserve = reanchor(&half(at_reserve), &reserve)?;
            let fee_at_dest = reanchor(&half(amount.saturating_sub(at_reserve)), dest)?;
            Instruction::InitiateReserveWithdraw {
                assets: all.clone(),
                reserve,
                xcm: Xcm(alloc::vec![
                    Instruction::BuyExecution {
                        fees: fee_at_reserve,
                        weight_limit,
                    },
                    Instruction::DepositReserveAsset {
                        assets: all.clone(),
                        dest: dest_from_reserve,
                        xcm: deposit_there(fee_at_dest),
                    },
                ]),
            }
        }
    };
    // Delivery fees come from the sender's account, not from the assets sent.
    Ok(Xcm(alloc::vec![
        Instruction::WithdrawAsset(assets),
        Instruction::SetFeesMode { jit_withdraw: true },
        send
    ]))
}

fn ensure_v5_location(location: VersionedLocation) -> Location {
    match location {
        VersionedLocation::V5(location) => location,
    }
}

impl<E: XcmRuntime> Dispatch<E> for Call {
    fn weight(&self) -> RefTime {
        match self {
            Call::Send { .. } => SEND_WEIGHT,
            Call::TransferAssets { .. } | Call::ClaimAssets { .. } => TRANSFER_WEIGHT,
            Call::RegisterForeignAsset { .. } => REGISTER_WEIGHT,
        }
    }

    fn dispatch(self, ctx: &mut Context<'_, E>, origin: Origin) -> CallResult {
        match self {
            Call::Send { dest, message } => {
                let dest = ensure_v5_location(dest);
                let VersionedXcm::V5(mut message) = message;
                let sender = match origin {
                    Origin::Root => None,
                    Origin::Signed(who) => Some(who),
                    Origin::None => return Err(DispatchError::BadOrigin.into()),
                };
                if let Some(who) = &sender {
                    message.0.insert(
                        0,
                        Instruction::DescendOrigin(account_location(who).interior),
                    );
                }
                let id = match (message.0.last(), &sender) {
                    (Some(Instruction::SetTopic(topic)), _) => *topic,
                    (_, Some(who)) => next_message_id(ctx, who)?,
                    (_, None) => blake2_256(&VersionedXcm::V5(message.clone()).encode()).0,
                };
                if !matches!(message.0.last(), Some(Instruction::SetTopic(_))) {
                    message.0.push(Instruction::SetTopic(id));
                }
                // A signed sender pays for delivery from its account; root sends for free.
                if let Some(who) = &sender {
                    let fee = <ChainConfig<E> as Config>::delivery_fee(ctx, &dest, &message);
                    let paid = fee.and_then(|fee| match fee {
                        Some(fee) => {
                            <ChainConfig<E> as Config>::withdraw_asset(
                                ctx,
                                &fee,
                                &account_location(who),
                            )?;
                            <ChainConfig<E> as Config>::take_fees(ctx, fee)
                        }
                        None => Ok(()),
                    });
                    match paid {
                        Ok(()) => {}
                        Err(Fault::Xcm(_)) => return Err(Error::FeesNotMet.into()),
                        Err(Fault::State(error)) => return Err(error.into()),
                    }
                }
                match <ChainConfig<E> as Config>::send(ctx, &dest, message, id) {
                    Ok(()) => Ok(()),
                    Err(Fault::Xcm(_)) => Err(Error::Unroutable.into()),
                    Err(Fault::State(error)) => Err(error.into()),
                }
            }
            Call::TransferAssets {
                dest,
                beneficiary,
                assets,
                fee_asset_item,
                weight_limit,
            } => {
                let who = *origin.ensure_signed()?;
                let dest = ensure_v5_location(dest);
                let beneficiary = ensure_v5_location(beneficiary);
                let VersionedAssets::V5(assets) = assets;
                let fee = assets
                    .inner()
                    .get(fee_asset_item as usize)
                    .cloned()
                    .ok_or(Error::BadAssets)?;
                let context = E::Chain::universal_location(ctx)?;
                let program = transfer_program::<E::Chain>(
                    &context,
                    &dest,
                    beneficiary,
                    assets,
                    fee,
                    weight_limit,
                )?;
                let id = next_message_id(ctx, &who)?;
                execute_local(ctx, &who, program, id)
            }
            Call::ClaimAssets {
                assets,
                beneficiary,
            } => {
                let who = *origin.ensure_signed()?;
                let VersionedAssets::V5(assets) = assets;
                let beneficiary = ensure_v5_location(beneficiary);
                let count = assets.len() as u32;
                let program = Xcm(alloc::vec![
                    Instruction::ClaimAsset {
                        assets,
                        ticket: Location::here(),
                    },
                    Instruction::DepositAsset {
                        assets: AssetFilter::Wild(WildAsset::AllCounted(count)),
                        beneficiary,
                    },
                ]);
                let id =
                    blake2_256(&(b"tessera/claim", who, ctx.block_number, &program).encode()).0;
                execute_local(ctx, &who, program, id)
            }
            Call::RegisterForeignAsset { id } => {
                origin.ensure_root()?;
                register_foreign_asset(ctx, AssetId(ensure_v5_location(id)))
            }
        }
    }
}

/// Runs `program` as the local account `who` with message id `id` (which the messages it sends
/// carry), its weight paid by the call; the call fails (and changes nothing) unless every
/// instruction succeeds.
fn execute_local<E: XcmRuntime>(
    ctx: &mut Context<'_, E>,
    who: &AccountId,
    program: Xcm,
    id: XcmHash,
) -> CallResult {
    let credit = Weight::from_parts(TRANSFER_WEIGHT, u64::MAX);
    let outcome = executor::execute::<ChainConfig<E>>(
        ctx,
        account_location(who),
        program,
        id,
        credit,
        credit,
    )?;
    match outcome {
        Outcome::Complete { .. } => Ok(()),
        Outcome::Incomplete { error, .. } | Outcome::Error { error } => {
            Err(Error::LocalExecutionFailed((&error).into()).into())
        }
    }
}
