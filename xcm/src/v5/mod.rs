//! XCM version 5: instructions and the types they carry, with Polkadot's indices and layout.

mod asset;
mod location;

pub use asset::{
    Asset, AssetFilter, AssetId, AssetInstance, AssetTransferFilter, Assets, AssetsError,
    Fungibility, WildAsset, WildFungibility, MAX_ITEMS_IN_ASSETS,
};
pub use location::{
    BodyId, BodyPart, Junction, Junctions, Location, NetworkId, MAX_JUNCTIONS, ROCOCO_GENESIS_HASH,
    WESTEND_GENESIS_HASH,
};

use crate::MAX_INSTRUCTIONS_TO_DECODE;
use alloc::vec::Vec;
use parity_scale_codec::{
    decode_vec_with_len, Compact, Decode, Encode, Error as CodecError, Input,
};

/// Decodes a length-prefixed list of at most `max` items, refusing a longer one before reading
/// its items (one level of depth, as a `Vec` of non-bytes).
pub(crate) fn decode_bounded_len<T: Decode, I: Input>(
    input: &mut I,
    max: usize,
) -> Result<Vec<T>, CodecError> {
    let len = Compact::<u32>::decode(input)?.0 as usize;
    if len > max {
        return Err("BoundedVec exceeds its limit".into());
    }
    decode_vec_with_len(input, len)
}

/// A list of at most `N` items (Polkadot's `BoundedVec`, same bytes as a `Vec`).
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, scale_info::TypeInfo,
)]
pub struct BoundedVec<T, const N: usize>(Vec<T>);

impl<T, const N: usize> BoundedVec<T, N> {
    /// `items`, or `None` if there are more than `N`.
    pub fn new(items: Vec<T>) -> Option<Self> {
        (items.len() <= N).then_some(BoundedVec(items))
    }

    /// The items.
    pub fn inner(&self) -> &[T] {
        &self.0
    }
}

impl<T, const N: usize> AsRef<[T]> for BoundedVec<T, N> {
    fn as_ref(&self) -> &[T] {
        &self.0
    }
}

/// Why a list is not a [`BoundedVec`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TooLong {
    /// Its length.
    pub len: usize,
    /// The limit.
    pub max: usize,
}

impl core::fmt::Display for TooLong {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{} items exceed the limit of {}", self.len, self.max)
    }
}

impl<T, const N: usize> TryFrom<Vec<T>> for BoundedVec<T, N> {
    type Error = TooLong;

    fn try_from(items: Vec<T>) -> Result<Self, TooLong> {
        let len = items.len();
        BoundedVec::new(items).ok_or(TooLong { len, max: N })
    }
}

#[cfg(feature = "serde")]
impl<T: serde::Serialize, const N: usize> serde::Serialize for BoundedVec<T, N> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

#[cfg(feature = "serde")]
impl<'de, T: serde::Deserialize<'de>, const N: usize> serde::Deserialize<'de> for BoundedVec<T, N> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let items = Vec::<T>::deserialize(deserializer)?;
        BoundedVec::try_from(items).map_err(serde::de::Error::custom)
    }
}

impl<T: Decode, const N: usize> Decode for BoundedVec<T, N> {
    fn decode<I: Input>(input: &mut I) -> Result<Self, CodecError> {
        decode_bounded_len(input, N).map(BoundedVec)
    }
}

/// Weight: computation time and proof size.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Encode,
    Decode,
    scale_info::TypeInfo,
)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct Weight {
    /// Picoseconds of reference computation.
    #[codec(compact)]
    pub ref_time: u64,
    /// Bytes of proof.
    #[codec(compact)]
    pub proof_size: u64,
}

impl Weight {
    /// The largest weight.
    pub const MAX: Weight = Weight {
        ref_time: u64::MAX,
        proof_size: u64::MAX,
    };

    /// `ref_time` and `proof_size`.
    pub const fn from_parts(ref_time: u64, proof_size: u64) -> Weight {
        Weight {
            ref_time,
            proof_size,
        }
    }
}

/// How much weight execution may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, scale_info::TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum WeightLimit {
    /// No limit.
    Unlimited,
    /// At most this.
    Limited(Weight),
}

/// How a `Transact`'s origin is turned into a call's origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, Decode, scale_info::TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum OriginKind {
    /// The origin's native meaning (a para is a para origin).
    Native,
    /// The origin's sovereign account, signed.
    SovereignAccount,
    /// Root.
    Superuser,
    /// An XCM origin.
    Xcm,
}

/// Largest dispatch error carried in a message.
pub const MAX_DISPATCH_ERROR_LEN: usize = 128;
/// Longest pallet name in a response.
pub const MAX_PALLET_NAME_LEN: usize = 48;
/// Most pallets in a response.
pub const MAX_PALLETS_INFO: usize = 64;
/// Most asset filters in one `InitiateTransfer`.
pub const MAX_ASSET_TRANSFER_FILTERS: usize = 6;
/// Most hints in one `SetHints` (one per kind of hint).
pub const MAX_HINTS: usize = 1;

/// The outcome of a dispatched call, as reported back.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode, scale_info::TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum MaybeErrorCode {
    /// It succeeded.
    Success,
    /// It failed with this encoded error.
    Error(
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
        BoundedVec<u8, MAX_DISPATCH_ERROR_LEN>,
    ),
    /// It failed with this error, cut short.
    TruncatedError(
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
        BoundedVec<u8, MAX_DISPATCH_ERROR_LEN>,
    ),
}

/// A pallet as `QueryPallet` reports it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode, scale_info::TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct PalletInfo {
    /// Its index in the runtime.
    #[codec(compact)]
    pub index: u32,
    /// Its name.
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
    pub name: BoundedVec<u8, MAX_PALLET_NAME_LEN>,
    /// Its module's name.
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
    pub module_name: BoundedVec<u8, MAX_PALLET_NAME_LEN>,
    /// Crate major version.
    #[codec(compact)]
    pub major: u32,
    /// Crate minor version.
    #[codec(compact)]
    pub minor: u32,
    /// Crate patch version.
    #[codec(compact)]
    pub patch: u32,
}

/// Why executing a message failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Encode, scale_info::TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
#[allow(missing_docs)]
pub enum Error {
    #[codec(index = 0)]
    Overflow,
    #[codec(index = 1)]
    Unimplemented,
    #[codec(index = 2)]
    UntrustedReserveLocation,
    #[codec(index = 3)]
    UntrustedTeleportLocation,
    #[codec(index = 4)]
    LocationFull,
    #[codec(index = 5)]
    LocationNotInvertible,
    #[codec(index = 6)]
    BadOrigin,
    #[codec(index = 7)]
    InvalidLocation,
    #[codec(index = 8)]
    AssetNotFound,
    /// Polkadot carries a local reason that is not sent.
    #[codec(index = 9)]
    FailedToTransactAsset,
    #[codec(index = 10)]
    NotWithdrawable,
    #[codec(index = 11)]
    LocationCannotHold,
    #[codec(index = 12)]
    ExceedsMaxMessageSize,
    #[codec(index = 13)]
    DestinationUnsupported,
    /// Polkadot carries a local reason that is not sent.
    #[codec(index = 14)]
    Transport,
    #[codec(index = 15)]
    Unroutable,
    #[codec(index = 16)]
    UnknownClaim,
    #[codec(index = 17)]
    FailedToDecode,
    #[codec(index = 18)]
    MaxWeightInvalid,
    #[codec(index = 19)]
    NotHoldingFees,
    #[codec(index = 20)]
    TooExpensive,
    /// The `Trap` instruction ran with this code (8 bytes, not compact).
    #[codec(index = 21)]
    Trap(u64),
    #[codec(index = 22)]
    ExpectationFalse,
    #[codec(index = 23)]
    PalletNotFound,
    #[codec(index = 24)]
    NameMismatch,
    #[codec(index = 25)]
    VersionIncompatible,
    #[codec(index = 26)]
    HoldingWouldOverflow,
    #[codec(index = 27)]
    ExportError,
    #[codec(index = 28)]
    ReanchorFailed,
    #[codec(index = 29)]
    NoDeal,
    #[codec(index = 30)]
    FeesNotMet,
    #[codec(index = 31)]
    LockError,
    #[codec(index = 32)]
    NoPermission,
    #[codec(index = 33)]
    Unanchored,
    #[codec(index = 34)]
    NotDepositable,
    #[codec(index = 35)]
    TooManyAssets,
    #[codec(index = 36)]
    UnhandledXcmVersion,
    #[codec(index = 37)]
    WeightLimitReached(Weight),
    #[codec(index = 38)]
    Barrier,
    #[codec(index = 39)]
    WeightNotComputable,
    #[codec(index = 40)]
    ExceedsStackLimit,
}

/// The errors without a payload, by their v5 index (21 and 37 carry one).
const UNIT_ERRORS: [Option<Error>; 41] = {
    use Error::*;
    [
        Some(Overflow),
        Some(Unimplemented),
        Some(UntrustedReserveLocation),
        Some(UntrustedTeleportLocation),
        Some(LocationFull),
        Some(LocationNotInvertible),
        Some(BadOrigin),
        Some(InvalidLocation),
        Some(AssetNotFound),
        Some(FailedToTransactAsset),
        Some(NotWithdrawable),
        Some(LocationCannotHold),
        Some(ExceedsMaxMessageSize),
        Some(DestinationUnsupported),
        Some(Transport),
        Some(Unroutable),
        Some(UnknownClaim),
        Some(FailedToDecode),
        Some(MaxWeightInvalid),
        Some(NotHoldingFees),
        Some(TooExpensive),
        None,
        Some(ExpectationFalse),
        Some(PalletNotFound),
        Some(NameMismatch),
        Some(VersionIncompatible),
        Some(HoldingWouldOverflow),
        Some(ExportError),
        Some(ReanchorFailed),
        Some(NoDeal),
        Some(FeesNotMet),
        Some(LockError),
        Some(NoPermission),
        Some(Unanchored),
        Some(NotDepositable),
        Some(TooManyAssets),
        Some(UnhandledXcmVersion),
        None,
        Some(Barrier),
        Some(WeightNotComputable),
        Some(ExceedsStackLimit),
    ]
};

/// v5's indices; v3 and v4 have no `TooManyAssets` (35), so their trailing errors sit one
/// index lower (`docs/xcm-v5-wire.md`, section 5.1).
impl Decode for Error {
    fn decode<I: Input>(input: &mut I) -> Result<Self, CodecError> {
        let mut index = input.read_byte()?;
        if crate::decoding_version() < 5 {
            index = match index {
                0..=34 => index,
                35..=39 => index.saturating_add(1),
                _ => return Err("invalid v4 Error index".into()),
            };
        }
        match index {
            21 => Ok(Error::Trap(u64::decode(input)?)),
            37 => Ok(Error::WeightLimitReached(Weight::decode(input)?)),
            other => UNIT_ERRORS
                .get(usize::from(other))
                .copied()
                .flatten()
                .ok_or_else(|| "invalid Error index".into()),
        }
    }
}

/// An answer to a query.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode, scale_info::TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum Response {
    /// Nothing.
    Null,
    /// Assets held.
    Assets(Assets),
    /// The result of execution: the failing instruction's index and the error, if any.
    ExecutionResult(Option<(u32, Error)>),
    /// An XCM version.
    Version(u32),
    /// Pallets.
    PalletsInfo(BoundedVec<PalletInfo, MAX_PALLETS_INFO>),
    /// A dispatch's outcome.
    DispatchResult(MaybeErrorCode),
}

/// Where and how to send an answer.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode, scale_info::TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct QueryResponseInfo {
    /// Who gets it.
    pub destination: Location,
    /// The query it answers.
    #[codec(compact)]
    pub query_id: u64,
    /// Most weight its handling may use.
    pub max_weight: Weight,
}

/// A hint for the executor (`SetHints`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode, scale_info::TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum Hint {
    /// Who may claim assets trapped by this message.
    AssetClaimer {
        /// The claimer.
        location: Location,
    },
}

/// A call's bytes, decoded only by the chain that runs it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Encode, Decode, scale_info::TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct DoubleEncoded {
    /// The encoded call.
    #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
    pub encoded: Vec<u8>,
}

/// One XCM instruction, with Polkadot's v5 index (its position here).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode, scale_info::TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
#[allow(missing_docs)]
pub enum Instruction {
    WithdrawAsset(Assets),
    ReserveAssetDeposited(Assets),
    ReceiveTeleportedAsset(Assets),
    QueryResponse {
        #[codec(compact)]
        query_id: u64,
        response: Response,
        max_weight: Weight,
        querier: Option<Location>,
    },
    TransferAsset {
        assets: Assets,
        beneficiary: Location,
    },
    TransferReserveAsset {
        assets: Assets,
        dest: Location,
        xcm: Xcm,
    },
    Transact {
        origin_kind: OriginKind,
        fallback_max_weight: Option<Weight>,
        call: DoubleEncoded,
    },
    HrmpNewChannelOpenRequest {
        #[codec(compact)]
        sender: u32,
        #[codec(compact)]
        max_message_size: u32,
        #[codec(compact)]
        max_capacity: u32,
    },
    HrmpChannelAccepted {
        #[codec(compact)]
        recipient: u32,
    },
    HrmpChannelClosing {
        #[codec(compact)]
        initiator: u32,
        #[codec(compact)]
        sender: u32,
        #[codec(compact)]
        recipient: u32,
    },
    ClearOrigin,
    DescendOrigin(Junctions),
    ReportError(QueryResponseInfo),
    DepositAsset {
        assets: AssetFilter,
        beneficiary: Location,
    },
    DepositReserveAsset {
        assets: AssetFilter,
        dest: Location,
        xcm: Xcm,
    },
    ExchangeAsset {
        give: AssetFilter,
        want: Assets,
        maximal: bool,
    },
    InitiateReserveWithdraw {
        assets: AssetFilter,
        reserve: Location,
        xcm: Xcm,
    },
    InitiateTeleport {
        assets: AssetFilter,
        dest: Location,
        xcm: Xcm,
    },
    ReportHolding {
        response_info: QueryResponseInfo,
        assets: AssetFilter,
    },
    BuyExecution {
        fees: Asset,
        weight_limit: WeightLimit,
    },
    RefundSurplus,
    SetErrorHandler(Xcm),
    SetAppendix(Xcm),
    ClearError,
    ClaimAsset {
        assets: Assets,
        ticket: Location,
    },
    Trap(#[codec(compact)] u64),
    SubscribeVersion {
        #[codec(compact)]
        query_id: u64,
        max_response_weight: Weight,
    },
    UnsubscribeVersion,
    BurnAsset(Assets),
    ExpectAsset(Assets),
    ExpectOrigin(Option<Location>),
    ExpectError(Option<(u32, Error)>),
    ExpectTransactStatus(MaybeErrorCode),
    QueryPallet {
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
        module_name: Vec<u8>,
        response_info: QueryResponseInfo,
    },
    ExpectPallet {
        #[codec(compact)]
        index: u32,
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
        name: Vec<u8>,
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
        module_name: Vec<u8>,
        #[codec(compact)]
        crate_major: u32,
        #[codec(compact)]
        min_crate_minor: u32,
    },
    ReportTransactStatus(QueryResponseInfo),
    ClearTransactStatus,
    UniversalOrigin(Junction),
    ExportMessage {
        network: NetworkId,
        destination: Junctions,
        xcm: Xcm,
    },
    LockAsset {
        asset: Asset,
        unlocker: Location,
    },
    UnlockAsset {
        asset: Asset,
        target: Location,
    },
    NoteUnlockable {
        asset: Asset,
        owner: Location,
    },
    RequestUnlock {
        asset: Asset,
        locker: Location,
    },
    SetFeesMode {
        jit_withdraw: bool,
    },
    SetTopic(#[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))] [u8; 32]),
    ClearTopic,
    AliasOrigin(Location),
    UnpaidExecution {
        weight_limit: WeightLimit,
        check_origin: Option<Location>,
    },
    PayFees {
        asset: Asset,
    },
    InitiateTransfer {
        destination: Location,
        remote_fees: Option<AssetTransferFilter>,
        preserve_origin: bool,
        assets: BoundedVec<AssetTransferFilter, MAX_ASSET_TRANSFER_FILTERS>,
        remote_xcm: Xcm,
    },
    ExecuteWithOrigin {
        descendant_origin: Option<Junctions>,
        xcm: Xcm,
    },
    SetHints {
        hints: BoundedVec<Hint, MAX_HINTS>,
    },
}

/// A message: instructions run in order.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Encode, scale_info::TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct Xcm(pub Vec<Instruction>);

environmental::environmental!(instructions_decoded: u32);

/// Counts the instructions of every message nested in one decode, as Polkadot does, so that
/// nesting cannot multiply the budget.
impl Decode for Xcm {
    fn decode<I: Input>(input: &mut I) -> Result<Self, CodecError> {
        instructions_decoded::using_once(&mut 0, || {
            let len = Compact::<u32>::decode(input)?.0;
            instructions_decoded::with(|count| {
                *count = count.saturating_add(len);
                if *count > MAX_INSTRUCTIONS_TO_DECODE {
                    Err(CodecError::from("Max instructions exceeded"))
                } else {
                    Ok(())
                }
            })
            .unwrap_or(Ok(()))?;
            if crate::decoding_version() < 5 {
                return decode_older_instructions(input, len).map(Xcm);
            }
            decode_vec_with_len(input, len as usize).map(Xcm)
        })
    }
}

/// Index of `Transact`, whose v3 and v4 form differs from v5's.
const TRANSACT_INDEX: u8 = 6;
/// First index that only v5 has (`PayFees`).
const FIRST_V5_ONLY_INDEX: u8 = 48;

/// `len` v3 or v4 instructions as v5 ones: the same bytes, except that `Transact` carries a
/// required weight (which becomes the fallback weight) and indices from 48 do not exist.
fn decode_older_instructions<I: Input>(
    input: &mut I,
    len: u32,
) -> Result<Vec<Instruction>, CodecError> {
    input.descend_ref()?;
    let mut instructions = Vec::new();
    for _ in 0..len {
        let index = input.read_byte()?;
        let instruction = match index {
            TRANSACT_INDEX => Instruction::Transact {
                origin_kind: OriginKind::decode(input)?,
                fallback_max_weight: Some(Weight::decode(input)?),
                call: DoubleEncoded::decode(input)?,
            },
            FIRST_V5_ONLY_INDEX.. => return Err("instruction index not in XCM v3 or v4".into()),
            _ => {
                // Through a trait object: a generic wrapper would nest without end, since an
                // instruction may hold a message whose instructions are read the same way.
                let input: &mut dyn Input = input;
                Instruction::decode(&mut Replay {
                    first: Some(index),
                    input,
                })?
            }
        };
        instructions.push(instruction);
    }
    input.ascend_ref();
    Ok(instructions)
}

/// An input with one byte read ahead put back in front.
struct Replay<'a> {
    first: Option<u8>,
    input: &'a mut dyn Input,
}

impl Input for Replay<'_> {
    fn remaining_len(&mut self) -> Result<Option<usize>, CodecError> {
        let rest = self.input.remaining_len()?;
        Ok(rest.map(|rest| rest.saturating_add(usize::from(self.first.is_some()))))
    }

    fn read(&mut self, into: &mut [u8]) -> Result<(), CodecError> {
        let Some((head, tail)) = into.split_first_mut() else {
            return Ok(());
        };
        match self.first.take() {
            Some(byte) => {
                *head = byte;
                self.input.read(tail)
            }
            None => self.input.read(into),
        }
    }

    fn descend_ref(&mut self) -> Result<(), CodecError> {
        self.input.descend_ref()
    }

    fn ascend_ref(&mut self) {
        self.input.ascend_ref()
    }

    fn on_before_alloc_mem(&mut self, size: usize) -> Result<(), CodecError> {
        self.input.on_before_alloc_mem(size)
    }
}
