//! What a transaction will cost, before it is sent: Substrate's `TransactionPaymentApi`
//! (version 4), which wallets call through `state_call` to show the fee.
//!
//! The fee is the one the executive charges ([`executive::fee`]): a base fee, a fee per unit
//! of weight and one per byte. Answering needs no state, so the node's cost per query is one
//! decode of the extrinsic.

use crate::dispatch::{Dispatch, RuntimeConfig};
use crate::executive::{self, Runtime};
use crate::extrinsic::Extrinsic;
use crate::Balance;
use alloc::string::String;
use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};
use scale_info::TypeInfo;

/// A weight in Substrate's two dimensions (`sp_weights::Weight`); Tessera meters execution
/// time only, so `proof_size` is 0.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[scale_info(replace_segment("tessera_runtime", "sp_weights"))]
#[scale_info(replace_segment("payment", "weight_v2"))]
pub struct Weight {
    /// Execution time on reference hardware, in picoseconds.
    #[codec(compact)]
    pub ref_time: u64,
    /// Bytes of proof the call adds to a para block's PoV.
    #[codec(compact)]
    pub proof_size: u64,
}

/// How a block accounts for a call (FRAME's `DispatchClass`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[scale_info(replace_segment("tessera_runtime", "frame_support"))]
#[scale_info(replace_segment("payment", "dispatch"))]
pub enum DispatchClass {
    /// A user's transaction.
    Normal,
    /// An operational transaction (Tessera has none today).
    Operational,
    /// An inherent, which a block must include.
    Mandatory,
}

/// Whether a call pays a fee (FRAME's `Pays`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[scale_info(replace_segment("tessera_runtime", "frame_support"))]
#[scale_info(replace_segment("payment", "dispatch"))]
pub enum Pays {
    /// A signed transaction pays.
    Yes,
    /// An inherent does not.
    No,
}

/// What an extrinsic weighed, in `System.ExtrinsicSuccess` and `ExtrinsicFailed` as FRAME
/// records it (FRAME's `DispatchInfo`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[scale_info(replace_segment("tessera_runtime", "frame_support"))]
#[scale_info(replace_segment("payment", "dispatch"))]
pub struct DispatchInfo {
    /// Its weight.
    pub weight: Weight,
    /// Its class.
    pub class: DispatchClass,
    /// Whether it paid a fee.
    pub pays_fee: Pays,
}

impl DispatchInfo {
    /// A signed transaction's: a normal call that pays.
    pub fn signed(weight: crate::dispatch::Weight) -> Self {
        DispatchInfo {
            weight: Weight::ref_time(weight),
            class: DispatchClass::Normal,
            pays_fee: Pays::Yes,
        }
    }

    /// An inherent's: mandatory, and free.
    pub fn inherent(weight: crate::dispatch::Weight) -> Self {
        DispatchInfo {
            weight: Weight::ref_time(weight),
            class: DispatchClass::Mandatory,
            pays_fee: Pays::No,
        }
    }

    /// An unsigned offence report's: normal, and free.
    pub fn report(weight: crate::dispatch::Weight) -> Self {
        DispatchInfo {
            weight: Weight::ref_time(weight),
            class: DispatchClass::Normal,
            pays_fee: Pays::No,
        }
    }
}

impl Weight {
    /// A weight of `ref_time` picoseconds and no proof.
    pub fn ref_time(ref_time: u64) -> Self {
        Weight {
            ref_time,
            proof_size: 0,
        }
    }
}

/// The module's name: FRAME's, whose event clients read a transaction's fee from.
pub const NAME: &str = "TransactionPayment";

/// Events of the `TransactionPayment` module (it has no calls or storage).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
pub enum Event {
    /// A transaction paid its fee.
    #[codec(index = 0)]
    TransactionFeePaid {
        /// Who paid.
        who: crate::crypto::AccountId,
        /// The fee, tip included.
        actual_fee: Balance,
        /// The tip.
        tip: Balance,
    },
}

/// `TransactionPaymentApi_query_info`'s answer.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[scale_info(replace_segment("tessera_runtime", "pallet_transaction_payment"))]
#[scale_info(replace_segment("payment", "types"))]
pub struct RuntimeDispatchInfo {
    /// The call's weight.
    pub weight: Weight,
    /// Its class.
    pub class: DispatchClass,
    /// The fee without the tip (0 for an unsigned extrinsic, which pays none).
    pub partial_fee: Balance,
}

/// The parts of a fee that inclusion costs (FRAME's `InclusionFee`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[scale_info(replace_segment("tessera_runtime", "pallet_transaction_payment"))]
#[scale_info(replace_segment("payment", "types"))]
pub struct InclusionFee {
    /// What every signed extrinsic pays.
    pub base_fee: Balance,
    /// What its length costs.
    pub len_fee: Balance,
    /// What its weight costs (Tessera does not adjust it by how full blocks are).
    pub adjusted_weight_fee: Balance,
}

/// `TransactionPaymentApi_query_fee_details`' answer.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[scale_info(replace_segment("tessera_runtime", "pallet_transaction_payment"))]
#[scale_info(replace_segment("payment", "types"))]
pub struct FeeDetails {
    /// `None` for an inherent.
    pub inclusion_fee: Option<InclusionFee>,
    /// The tip the signer offers.
    pub tip: Balance,
}

/// The extrinsic `uxt` (Substrate's `UncheckedExtrinsic` encoding: length-prefixed bytes)
/// decoded as one of runtime `R`'s.
fn decode<R: Runtime>(uxt: &[u8]) -> Result<Extrinsic<R::Call>, String> {
    Extrinsic::decode_exact(uxt).map_err(|err| alloc::format!("not an extrinsic: {err}"))
}

/// The fee parts of an extrinsic of `len` bytes whose call weighs `weight`.
fn inclusion_fee(config: &RuntimeConfig, weight: u64, len: u32) -> InclusionFee {
    InclusionFee {
        base_fee: config.base_fee,
        len_fee: config.fee_per_byte.saturating_mul(Balance::from(len)),
        adjusted_weight_fee: config.fee_per_weight.saturating_mul(Balance::from(weight)),
    }
}

/// What extrinsic `uxt` weighs and costs if it is `len` bytes long
/// (`TransactionPaymentApi_query_info`).
pub fn query_info<R: Runtime>(uxt: &[u8], len: u32) -> Result<RuntimeDispatchInfo, String> {
    let extrinsic = decode::<R>(uxt)?;
    let weight = extrinsic.call.weight();
    let (class, partial_fee) = match extrinsic.signature {
        Some(_) => (
            DispatchClass::Normal,
            executive::fee(&R::CONFIG, weight, len as usize),
        ),
        // FRAME takes the class from the call; nothing unsigned pays.
        None if extrinsic.call.is_inherent() => (DispatchClass::Mandatory, 0),
        None => (DispatchClass::Normal, 0),
    };
    Ok(RuntimeDispatchInfo {
        weight: Weight::ref_time(weight),
        class,
        partial_fee,
    })
}

/// The fee of extrinsic `uxt` of `len` bytes, part by part
/// (`TransactionPaymentApi_query_fee_details`).
pub fn query_fee_details<R: Runtime>(uxt: &[u8], len: u32) -> Result<FeeDetails, String> {
    let extrinsic = decode::<R>(uxt)?;
    Ok(match extrinsic.signature {
        Some(signature) => FeeDetails {
            inclusion_fee: Some(inclusion_fee(&R::CONFIG, extrinsic.call.weight(), len)),
            tip: signature.extra.tip,
        },
        None => FeeDetails {
            inclusion_fee: None,
            tip: 0,
        },
    })
}

/// What `weight` costs (`TransactionPaymentApi_query_weight_to_fee`).
pub fn weight_to_fee<R: Runtime>(weight: Weight) -> Balance {
    R::CONFIG
        .fee_per_weight
        .saturating_mul(Balance::from(weight.ref_time))
}

/// What `len` bytes cost (`TransactionPaymentApi_query_length_to_fee`).
pub fn length_to_fee<R: Runtime>(len: u32) -> Balance {
    R::CONFIG.fee_per_byte.saturating_mul(Balance::from(len))
}

/// The input of `query_info` and `query_fee_details`: the extrinsic as Substrate encodes an
/// `UncheckedExtrinsic` (length-prefixed) and the length to charge for.
pub type QueryInput = (Vec<u8>, u32);
