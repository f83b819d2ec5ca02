//! `system`: block number and parent hash, recent block hashes, account nonces and balances,
//! and the block's events.

use crate::crypto::AccountId;
use crate::dispatch::{CallResult, Context, Dispatch, Origin, Weight};
use crate::error::Result;
use crate::hashing::{blake2_256, Hash};
use crate::header::BlockNumber;
use crate::storage::{StorageMap, StorageValue};
use crate::{Balance, Nonce};
use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "System";

/// Balance data of an account, laid out as FRAME's `pallet_balances::AccountData`, which
/// wallets read (`data.free`, `data.frozen`). `reserved` holds what staking bonds (FRAME's
/// holds count there too); Tessera has no locks, so `frozen` is 0 and all of `free` is
/// transferable.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct AccountData {
    /// Spendable balance.
    pub free: Balance,
    /// Balance held for a purpose: bonded for staking.
    pub reserved: Balance,
    /// Balance that may not be transferred (none in Tessera yet).
    pub frozen: Balance,
    /// FRAME's account flags: the top bit marks its current balance logic, which wallets
    /// check to read `frozen` rather than older fields.
    pub flags: u128,
}

/// FRAME's flag for accounts under its current balance logic (`ExtraFlags::is_new_logic`).
pub const NEW_LOGIC: u128 = 1 << 127;

/// What the chain keeps per account, laid out as FRAME's `frame_system::AccountInfo`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct AccountInfo {
    /// Number of transactions the account has sent.
    pub nonce: Nonce,
    /// Modules that depend on the account existing (none in Tessera yet).
    pub consumers: u32,
    /// Modules that keep it existing: 1, its balance, while it is stored.
    pub providers: u32,
    /// Sufficient assets that keep it existing (none in Tessera yet).
    pub sufficients: u32,
    /// Its balances.
    pub data: AccountData,
}

/// Every account with a balance at or above the existential deposit.
pub static ACCOUNT: StorageMap<AccountId, AccountInfo> = StorageMap::new(NAME, "Account");
/// Height of the block being executed (or last executed).
pub static NUMBER: StorageValue<BlockNumber> = StorageValue::new(NAME, "Number");
/// Hash of the parent of the block being executed.
pub static PARENT_HASH: StorageValue<Hash> = StorageValue::new(NAME, "ParentHash");
/// The digest items of the block being executed (or last executed) that the runtime knows
/// of: the author's pre-runtime item. FRAME's `System.Digest`, through which clients also
/// learn how to decode a header's logs.
pub static DIGEST: StorageValue<crate::header::Digest> = StorageValue::new(NAME, "Digest");
/// Hashes of genesis and of the last [`crate::extrinsic::BLOCK_HASH_COUNT`] blocks.
pub static BLOCK_HASH: StorageMap<BlockNumber, Hash> = StorageMap::new(NAME, "BlockHash");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> alloc::vec::Vec<crate::metadata::StorageEntryMetadata> {
    alloc::vec![
        ACCOUNT.metadata_or_default(),
        NUMBER.metadata_or_default(),
        PARENT_HASH.metadata_or_default(),
        BLOCK_HASH.metadata(),
        DIGEST.metadata_or_default(),
    ]
}

/// Key of the events of the last block; they are encoded as `Vec<EventRecord<RuntimeEvent>>`.
pub fn events_key() -> Vec<u8> {
    crate::storage::item_prefix(NAME, "Events")
}

/// Calls of `system`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Call {
    /// Puts bytes on chain, doing nothing else.
    #[codec(index = 0)]
    Remark {
        /// The bytes.
        remark: Vec<u8>,
    },
    /// Like `Remark`, with an event carrying the remark's hash.
    #[codec(index = 1)]
    RemarkWithEvent {
        /// The bytes.
        remark: Vec<u8>,
    },
    /// Replaces the chain's runtime with `code` (root). On a para, the code goes to the relay
    /// chain with this block's candidate and the para switches when the relay chain says so
    /// (see [`crate::modules::parachain_system`]).
    #[codec(index = 2)]
    SetCode {
        /// The new runtime's Wasm.
        code: Vec<u8>,
    },
}

/// Events of `system`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Event {
    /// An extrinsic succeeded.
    #[codec(index = 0)]
    ExtrinsicSuccess {
        /// Its weight, class and whether it paid a fee.
        dispatch_info: crate::payment::DispatchInfo,
    },
    /// An extrinsic failed; its fee was still paid.
    #[codec(index = 1)]
    ExtrinsicFailed {
        /// Why.
        dispatch_error: crate::dispatch::DispatchError,
        /// Its weight, class and whether it paid a fee.
        dispatch_info: crate::payment::DispatchInfo,
    },
    /// An account was created.
    #[codec(index = 2)]
    NewAccount {
        /// The account.
        account: AccountId,
    },
    /// An account fell below the existential deposit and was removed.
    #[codec(index = 3)]
    KilledAccount {
        /// The account.
        account: AccountId,
    },
    /// A remark was made.
    #[codec(index = 4)]
    Remarked {
        /// Who made it.
        sender: AccountId,
        /// blake2b-256 of the remark.
        hash: Hash,
    },
    /// New code was accepted by `set_code` on a para; it is in force once the relay chain
    /// enacts it.
    #[codec(index = 5)]
    CodeUpdateScheduled {
        /// Its hash.
        code_hash: Hash,
    },
    /// The relay chain's runtime was replaced by `set_code`: the next block runs it
    /// (Substrate's `CodeUpdated`).
    #[codec(index = 6)]
    CodeUpdated {
        /// Its hash.
        code_hash: Hash,
    },
}

crate::module_error! {
    /// Errors of `system`: why code offered by `set_code` was refused.
    pub enum Error for NAME {
        /// The code is empty.
        EmptyCode,
        /// The code is larger than the chain accepts.
        CodeTooLarge,
        /// The running runtime's version is unknown (the call ran outside block execution).
        NoRuntimeVersion,
        /// The code is not a valid Wasm module.
        InvalidCode,
        /// The code imports a host function nodes do not provide.
        CodeImportsUnknownFunction,
        /// The code lacks an export nodes call on this chain.
        CodeLacksExports,
        /// The code has no `runtime_version` section.
        CodeHasNoVersion,
        /// The code asks for more memory than nodes give a runtime.
        CodeMemoryTooLarge,
        /// The code uses a Wasm feature nodes do not run.
        CodeUnsupported,
        /// The code is another chain's runtime (its spec name differs).
        SpecNameMismatch,
        /// The code's spec version is not above the running runtime's.
        SpecVersionNotIncreased,
    }
}

/// Largest relay runtime `set_code` accepts (Polkadot's `max_code_size` is 3 MiB).
pub const MAX_RUNTIME_CODE_SIZE: usize = 3 * 1024 * 1024;

const REMARK_BASE_WEIGHT: Weight = 1_000_000;
const REMARK_BYTE_WEIGHT: Weight = 1_000;
/// Checking a blob offered as code walks all of it: weight per byte.
const CODE_BYTE_WEIGHT: Weight = 2_000;

impl<E: From<Event>> Dispatch<E> for Call {
    fn weight(&self) -> Weight {
        match self {
            Call::Remark { remark } | Call::RemarkWithEvent { remark } => REMARK_BASE_WEIGHT
                .saturating_add(REMARK_BYTE_WEIGHT.saturating_mul(remark.len() as Weight)),
            Call::SetCode { code } => REMARK_BASE_WEIGHT
                .saturating_add(CODE_BYTE_WEIGHT.saturating_mul(code.len() as Weight)),
        }
    }

    fn dispatch(self, ctx: &mut Context<'_, E>, origin: Origin) -> CallResult {
        match self {
            Call::Remark { .. } => {
                origin.ensure_signed()?;
            }
            Call::RemarkWithEvent { remark } => {
                let sender = *origin.ensure_signed()?;
                ctx.deposit_event(Event::Remarked {
                    sender,
                    hash: blake2_256(&remark),
                });
            }
            Call::SetCode { code } => {
                origin.ensure_root()?;
                if crate::parachain::PARA_ID.get(&mut ctx.state)?.is_some() {
                    let code_hash =
                        crate::modules::parachain_system::schedule_code_upgrade(ctx, code)?;
                    ctx.deposit_event(Event::CodeUpdateScheduled { code_hash });
                } else {
                    // The relay chain: every node runs the parent's `:code`, so the next
                    // block runs this.
                    let kind = crate::wasm::ChainKind::Relay;
                    let version = check_upgrade(ctx, &code, kind, MAX_RUNTIME_CODE_SIZE)?;
                    let code_hash = blake2_256(&code);
                    crate::logging::log(
                        crate::logging::Level::Info,
                        "runtime::system",
                        &alloc::format!(
                            "code updated to {} version {} ({code_hash}): the next block runs it",
                            version.spec_name,
                            version.spec_version
                        ),
                    );
                    ctx.state.set(crate::storage::CODE_KEY.to_vec(), code);
                    ctx.deposit_event(Event::CodeUpdated { code_hash });
                }
            }
        }
        Ok(())
    }
}

/// Checks `code` offered by `set_code` as the runtime to follow the running one on a `kind`
/// chain: at most `max_size` bytes, a module every node can run with every export nodes call
/// on such a chain ([`crate::wasm::check_code`] by the host, which also instantiates a relay
/// runtime), the same spec name and a higher spec version; its version.
pub fn check_upgrade<E>(
    ctx: &mut Context<'_, E>,
    code: &[u8],
    kind: crate::wasm::ChainKind,
    max_size: usize,
) -> core::result::Result<crate::wasm::VersionInfo, Error> {
    use crate::wasm::CodeError;
    if code.is_empty() {
        return Err(Error::EmptyCode);
    }
    if code.len() > max_size {
        return Err(Error::CodeTooLarge);
    }
    let current = ctx.version.ok_or(Error::NoRuntimeVersion)?;
    let offered = crate::wasm::runtime_version_of(code, kind).map_err(|err| match err {
        CodeError::Invalid(_) => Error::InvalidCode,
        CodeError::UnknownImport(_) => Error::CodeImportsUnknownFunction,
        CodeError::MissingExport(_) => Error::CodeLacksExports,
        CodeError::NoVersion => Error::CodeHasNoVersion,
        CodeError::MemoryTooLarge => Error::CodeMemoryTooLarge,
        CodeError::Unsupported(_) => Error::CodeUnsupported,
    })?;
    if offered.spec_name != current.spec_name {
        return Err(Error::SpecNameMismatch);
    }
    if offered.spec_version <= current.spec_version {
        return Err(Error::SpecVersionNotIncreased);
    }
    Ok(offered)
}

/// The account's record; one that does not exist has no balance and the nonce an account
/// created now starts with ([`initial_nonce`]).
pub fn account<E>(ctx: &mut Context<'_, E>, who: &AccountId) -> Result<AccountInfo> {
    let stored = ACCOUNT.get(&mut ctx.state, who)?;
    Ok(stored.unwrap_or_else(|| AccountInfo {
        nonce: initial_nonce(ctx),
        ..AccountInfo::default()
    }))
}

/// Most extrinsics a block may hold, inherents included: [`initial_nonce`] needs fewer than
/// `2^16 - 1`.
pub const MAX_EXTRINSICS_PER_BLOCK: u32 = (1 << 16) - 2;

/// The nonce of an account created now: `block << 16` plus the position in the block
/// (0 while initializing, `i + 1` in extrinsic `i`, `2^16 - 1` while finalizing).
///
/// An account's nonce goes up by one per transaction it sends, at most one per extrinsic, so
/// every nonce it ever used is at most the position of the extrinsic that used it. An account
/// created again after it was reaped therefore starts above every nonce it used before, and
/// none of its old transactions, mortal or immortal, can be replayed: this is what keeps
/// replay protection across reaping without keeping anything of a reaped account.
pub fn initial_nonce<E>(ctx: &Context<'_, E>) -> crate::Nonce {
    let position = match ctx.phase() {
        crate::dispatch::Phase::Initialization => 0,
        crate::dispatch::Phase::ApplyExtrinsic(index) => u64::from(index).saturating_add(1),
        crate::dispatch::Phase::Finalization => (1 << 16) - 1,
    };
    (u64::from(ctx.block_number) << 16) | position.min((1 << 16) - 1)
}

/// The nonce of `who`'s next transaction as Substrate's `AccountNonceApi_account_nonce`
/// answers it: a `u32`, which is what Polkadot's clients decode (0 for an account that does
/// not exist). A nonce past `u32::MAX` is refused rather than cut (docs/adr/008).
pub fn account_nonce_api(
    state: &mut crate::state::State<'_>,
    who: &AccountId,
) -> core::result::Result<u32, alloc::string::String> {
    let nonce = ACCOUNT
        .get(state, who)
        .map_err(|err| alloc::format!("{err}"))?
        .map_or(0, |info| info.nonce);
    u32::try_from(nonce)
        .map_err(|_| alloc::format!("the nonce {nonce} does not fit the API's u32 (ADR 008)"))
}

/// Stores the account's record, with its balance as its provider; one without balance
/// removes it.
pub fn set_account<E>(ctx: &mut Context<'_, E>, who: &AccountId, info: &AccountInfo) {
    if info.data.free == 0 && info.data.reserved == 0 {
        ACCOUNT.remove(&mut ctx.state, who);
    } else {
        let mut stored = *info;
        stored.providers = stored.providers.max(1);
        stored.data.flags |= NEW_LOGIC;
        ACCOUNT.insert(&mut ctx.state, who, &stored);
    }
}

/// Adds a consensus log to the block's digest (the header will carry it).
pub fn deposit_log<E>(ctx: &mut Context<'_, E>, item: crate::header::DigestItem) -> Result<()> {
    let mut digest = DIGEST.get_or_default(&mut ctx.state)?;
    digest.logs.push(item);
    DIGEST.put(&mut ctx.state, &digest);
    Ok(())
}

/// Records block `number` with parent `parent_hash` as the block being executed.
pub fn initialize<E>(
    ctx: &mut Context<'_, E>,
    number: BlockNumber,
    parent_hash: Hash,
) -> Result<()> {
    NUMBER.put(&mut ctx.state, &number);
    PARENT_HASH.put(&mut ctx.state, &parent_hash);
    if let Some(parent) = number.checked_sub(1) {
        BLOCK_HASH.insert(&mut ctx.state, &parent, &parent_hash);
        // Keep genesis forever (immortal transactions sign it) and a window of recent blocks.
        if let Some(expired) = u64::from(parent).checked_sub(crate::extrinsic::BLOCK_HASH_COUNT) {
            if let Ok(expired @ 1..) = BlockNumber::try_from(expired) {
                BLOCK_HASH.remove(&mut ctx.state, &expired);
            }
        }
    }
    ctx.state.remove(events_key());
    Ok(())
}
