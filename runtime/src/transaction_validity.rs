//! Whether a transaction may enter a pool, as Substrate's `TaggedTransactionQueue` (version 3)
//! answers it: what PAPI asks before it broadcasts a transaction, and again at each block it
//! does not find it in.
//!
//! The check is the executive's own ([`Executive::validate`]: signature, era, nonce, fee), on
//! the state after the block named, for the block after it; its verdict is put in Substrate's
//! terms: a nonce ahead of the account's is valid and `requires` the one before it (a pool
//! holds it until then), each transaction `provides` its signer and nonce.

use crate::executive::{ApplyError, Executive, InvalidTransaction, Runtime, ValidTransaction};
use crate::modules::system;
use crate::state::State;
use crate::{BlockNumber, Hash, OpaqueExtrinsic};
use alloc::string::String;
use alloc::vec;
use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};
use scale_info::TypeInfo;

/// Where a transaction comes from (`sp_runtime`'s `TransactionSource`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[scale_info(replace_segment("tessera_runtime", "sp_runtime"))]
pub enum TransactionSource {
    /// In a block being imported.
    InBlock,
    /// From the node itself.
    Local,
    /// From a peer or an RPC client.
    External,
}

/// A transaction a pool may keep (`sp_runtime`'s `ValidTransaction`).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[scale_info(replace_segment("tessera_runtime", "sp_runtime"))]
pub struct PoolValidity {
    /// Its order among ready transactions (higher first): the tip.
    pub priority: u64,
    /// Tags of transactions that must come first.
    pub requires: Vec<Vec<u8>>,
    /// Tags it provides.
    pub provides: Vec<Vec<u8>>,
    /// Blocks it stays valid for, counted from the block after the one checked.
    pub longevity: u64,
    /// Whether it may be gossiped.
    pub propagate: bool,
}

/// Why a transaction is invalid (`sp_runtime`'s `InvalidTransaction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[scale_info(replace_segment("tessera_runtime", "sp_runtime"))]
pub enum Invalid {
    /// The call is not allowed (or does not decode).
    Call,
    /// The fee cannot be paid.
    Payment,
    /// A nonce ahead of what the pool can take.
    Future,
    /// A nonce used already.
    Stale,
    /// The signature does not verify (a mortal transaction past its era reads as one).
    BadProof,
    /// The era's birth block is not among the chain's recent blocks.
    AncientBirthBlock,
    /// It does not fit in a block.
    ExhaustsResources,
    /// A reason of the runtime's own.
    Custom(u8),
    /// An inherent that failed.
    BadMandatory,
    /// An inherent sent as a transaction.
    MandatoryValidation,
    /// Signed by an account that may not sign.
    BadSigner,
}

/// Why the runtime cannot tell whether a transaction is valid (`sp_runtime`'s
/// `UnknownTransaction`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[scale_info(replace_segment("tessera_runtime", "sp_runtime"))]
pub enum Unknown {
    /// The signer's address names no account.
    CannotLookup,
    /// Unsigned, and nothing validates unsigned transactions.
    NoUnsignedValidator,
    /// A reason of the runtime's own.
    Custom(u8),
}

/// `sp_runtime`'s `TransactionValidityError`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, TypeInfo)]
#[scale_info(replace_segment("tessera_runtime", "sp_runtime"))]
pub enum TransactionValidityError {
    /// Invalid, and why.
    Invalid(Invalid),
    /// Not known to be valid, and why.
    Unknown(Unknown),
}

/// `TaggedTransactionQueue_validate_transaction`'s answer.
pub type TransactionValidity = Result<PoolValidity, TransactionValidityError>;

/// `TaggedTransactionQueue_validate_transaction`'s input: the source, the extrinsic and the
/// block whose state it is checked on.
pub type ValidateInput = (TransactionSource, OpaqueExtrinsic, Hash);

impl From<&InvalidTransaction> for TransactionValidityError {
    fn from(why: &InvalidTransaction) -> Self {
        use TransactionValidityError::{Invalid as I, Unknown as U};
        match why {
            InvalidTransaction::Malformed(_) => I(Invalid::Call),
            InvalidTransaction::Unsigned => U(Unknown::NoUnsignedValidator),
            InvalidTransaction::BadSignature | InvalidTransaction::Expired { .. } => {
                I(Invalid::BadProof)
            }
            InvalidTransaction::Stale { .. } => I(Invalid::Stale),
            InvalidTransaction::Future { .. } => I(Invalid::Future),
            InvalidTransaction::AncientBirthBlock { .. } => I(Invalid::AncientBirthBlock),
            InvalidTransaction::CannotLookup => U(Unknown::CannotLookup),
            InvalidTransaction::ZeroSender => I(Invalid::BadSigner),
            InvalidTransaction::Payment { .. } => I(Invalid::Payment),
            InvalidTransaction::InherentFailed(_) => I(Invalid::BadMandatory),
            InvalidTransaction::ReportRefused(_) => I(Invalid::BadProof),
            InvalidTransaction::ExhaustsResources { .. }
            | InvalidTransaction::ExhaustsLength { .. }
            | InvalidTransaction::TooManyExtrinsics { .. } => I(Invalid::ExhaustsResources),
        }
    }
}

/// A pool's tag for `signer`'s transaction with `nonce` (FRAME's `CheckNonce` tags).
fn tag(valid: &ValidTransaction, nonce: crate::Nonce) -> Vec<u8> {
    (valid.signer, nonce).encode()
}

impl PoolValidity {
    /// What a pool needs to know of `valid`, checked for block `number`.
    fn of(valid: &ValidTransaction, number: BlockNumber) -> Self {
        let requires = if valid.nonce > valid.next_nonce {
            vec![tag(valid, valid.nonce.saturating_sub(1))]
        } else {
            Vec::new()
        };
        let longevity = valid.last_valid.map_or(u64::MAX, |last| {
            u64::from(last.saturating_sub(number)).saturating_add(1)
        });
        PoolValidity {
            priority: u64::try_from(valid.tip).unwrap_or(u64::MAX),
            requires,
            provides: vec![tag(valid, valid.nonce)],
            longevity,
            propagate: true,
        }
    }
}

/// Whether `xt` may enter a pool, checked on `state` (the state after block `parent`) for the
/// block after it. An error only when the state cannot be read.
pub fn validate_transaction<R: Runtime>(
    mut state: State<'_>,
    xt: &OpaqueExtrinsic,
    parent: Hash,
) -> Result<TransactionValidity, String> {
    let read = |err: crate::Error| alloc::format!("{err}");
    let number = system::NUMBER
        .get_or_default(&mut state)
        .map_err(read)?
        .saturating_add(1);
    let mut executive = Executive::<R>::initialize(state, number, parent, None).map_err(read)?;
    match executive.validate(xt) {
        Ok(valid) => Ok(Ok(PoolValidity::of(&valid, number))),
        Err(ApplyError::Invalid(why)) => Ok(Err((&why).into())),
        Err(ApplyError::State(err)) => Err(read(err)),
    }
}
