//! `balances`: transfers, the existential deposit with account reaping, and an exact total
//! issuance.
//!
//! Invariant: the sum of all free and reserved balances equals [`TOTAL_ISSUANCE`]. Dust removed
//! with a reaped account is burnt from the issuance, so the invariant holds after every call.
//!
//! A reserve (FRAME's hold, which its staking uses for bonds) takes funds out of `free` into
//! `reserved`, where no transfer or fee can reach them; only [`unreserve`] gives them back and
//! [`slash_reserved`] burns them. An account with a reserve is never reaped, whatever its free
//! balance; [`reserve`] leaves it the existential deposit free, for fees.

use super::system::{self, AccountInfo};
use crate::crypto::AccountId;
use crate::dispatch::{CallError, CallResult, Context, Dispatch, DispatchError, Origin, Weight};
use crate::extrinsic::MultiAddress;
use crate::storage::StorageValue;
use crate::Balance;
use parity_scale_codec::{Decode, Encode};

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "Balances";

/// Sum of all balances.
pub static TOTAL_ISSUANCE: StorageValue<Balance> = StorageValue::new(NAME, "TotalIssuance");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> alloc::vec::Vec<crate::metadata::StorageEntryMetadata> {
    alloc::vec![TOTAL_ISSUANCE.metadata_or_default(),]
}

/// Calls of `balances`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Call {
    /// Moves `value` to `dest`; the sender's account is removed if what remains is below the
    /// existential deposit.
    #[codec(index = 0)]
    Transfer {
        /// Recipient.
        dest: MultiAddress,
        /// Amount.
        #[codec(compact)]
        value: Balance,
    },
    /// Sets an account's free balance (root only), adjusting the total issuance.
    #[codec(index = 1)]
    ForceSetBalance {
        /// The account.
        who: MultiAddress,
        /// Its new balance.
        #[codec(compact)]
        free: Balance,
    },
    /// Like `Transfer`, but fails rather than remove the sender's account.
    #[codec(index = 3)]
    TransferKeepAlive {
        /// Recipient.
        dest: MultiAddress,
        /// Amount.
        #[codec(compact)]
        value: Balance,
    },
}

/// Events of `balances`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Event {
    /// An account was created with this balance.
    #[codec(index = 0)]
    Endowed {
        /// The account.
        account: AccountId,
        /// Its first balance.
        free: Balance,
    },
    /// An account was removed; `amount` below the existential deposit was burnt.
    #[codec(index = 1)]
    DustLost {
        /// The account.
        account: AccountId,
        /// The burnt dust.
        amount: Balance,
    },
    /// A transfer.
    #[codec(index = 2)]
    Transfer {
        /// Sender.
        from: AccountId,
        /// Recipient.
        to: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// Root set a balance.
    #[codec(index = 3)]
    BalanceSet {
        /// The account.
        who: AccountId,
        /// Its new balance.
        free: Balance,
    },
    /// A fee (or tip) was taken from an account.
    #[codec(index = 4)]
    Withdraw {
        /// The payer.
        who: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// Fees were paid to an account (the block author).
    #[codec(index = 5)]
    Deposit {
        /// The payee.
        who: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// Funds moved from free to reserved (bonded, for staking).
    #[codec(index = 6)]
    Reserved {
        /// The account.
        who: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// Funds moved from reserved back to free.
    #[codec(index = 7)]
    Unreserved {
        /// The account.
        who: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// Reserved funds were slashed (burnt from the issuance).
    #[codec(index = 8)]
    Slashed {
        /// The account.
        who: AccountId,
        /// Amount.
        amount: Balance,
    },
}

crate::module_error! {
    /// Errors of `balances`.
    #[derive(thiserror::Error)]
    pub enum Error for NAME {
        /// The sender has less than the amount.
        #[error("InsufficientBalance")]
        InsufficientBalance,
        /// The recipient's new balance would be below the existential deposit.
        #[error("ExistentialDeposit")]
        ExistentialDeposit,
        /// The sender's account would be removed by a keep-alive transfer, or a reserve would
        /// leave less than the existential deposit free.
        #[error("KeepAlive")]
        KeepAlive,
        /// Less is reserved than the amount.
        #[error("InsufficientReserve")]
        InsufficientReserve,
    }
}

/// Weight of a transfer, measured by `cargo bench -p tessera-node --bench import`.
pub const TRANSFER_WEIGHT: Weight = 50_000_000;
const FORCE_SET_BALANCE_WEIGHT: Weight = 20_000_000;

/// Whether an account may be removed when its balance falls below the existential deposit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Existence {
    /// Removing the account is fine.
    AllowDeath,
    /// Fail instead.
    KeepAlive,
}

impl<E: From<Event> + From<system::Event>> Dispatch<E> for Call {
    fn weight(&self) -> Weight {
        match self {
            Call::Transfer { .. } | Call::TransferKeepAlive { .. } => TRANSFER_WEIGHT,
            Call::ForceSetBalance { .. } => FORCE_SET_BALANCE_WEIGHT,
        }
    }

    fn dispatch(self, ctx: &mut Context<'_, E>, origin: Origin) -> CallResult {
        match self {
            Call::Transfer { dest, value } => transfer(
                ctx,
                origin.ensure_signed()?,
                &lookup(&dest)?,
                value,
                Existence::AllowDeath,
            ),
            Call::TransferKeepAlive { dest, value } => transfer(
                ctx,
                origin.ensure_signed()?,
                &lookup(&dest)?,
                value,
                Existence::KeepAlive,
            ),
            Call::ForceSetBalance { who, free } => {
                origin.ensure_root()?;
                force_set_balance(ctx, &lookup(&who)?, free)
            }
        }
    }
}

/// The account `address` names, or [`DispatchError::CannotLookup`].
fn lookup(address: &MultiAddress) -> Result<AccountId, DispatchError> {
    address.lookup().ok_or(DispatchError::CannotLookup)
}

/// The spendable balance of `who`.
pub fn free_balance<E>(ctx: &mut Context<'_, E>, who: &AccountId) -> crate::Result<Balance> {
    Ok(system::account(ctx, who)?.data.free)
}

/// The total issuance.
pub fn total_issuance<E>(ctx: &mut Context<'_, E>) -> crate::Result<Balance> {
    TOTAL_ISSUANCE.get_or_default(&mut ctx.state)
}

/// Moves `value` from `from` to `to`.
pub fn transfer<E: From<Event> + From<system::Event>>(
    ctx: &mut Context<'_, E>,
    from: &AccountId,
    to: &AccountId,
    value: Balance,
    existence: Existence,
) -> CallResult {
    if from == to || value == 0 {
        return Ok(());
    }
    let mut sender = system::account(ctx, from)?;
    let remaining = sender
        .data
        .free
        .checked_sub(value)
        .ok_or(Error::InsufficientBalance)?;
    let mut recipient = system::account(ctx, to)?;
    let received = recipient
        .data
        .free
        .checked_add(value)
        .ok_or(DispatchError::OVERFLOW)?;
    if received < ctx.config.existential_deposit {
        return Err(Error::ExistentialDeposit.into());
    }
    if existence == Existence::KeepAlive && remaining < ctx.config.existential_deposit {
        return Err(Error::KeepAlive.into());
    }
    let created = recipient.data.free == 0;
    recipient.data.free = received;
    sender.data.free = remaining;
    system::set_account(ctx, to, &recipient);
    if created {
        ctx.deposit_event(system::Event::NewAccount { account: *to });
        ctx.deposit_event(Event::Endowed {
            account: *to,
            free: received,
        });
    }
    ctx.deposit_event(Event::Transfer {
        from: *from,
        to: *to,
        amount: value,
    });
    settle(ctx, from, sender)
}

/// Takes `amount` from `who` (for fees), removing the account if it falls below the
/// existential deposit and `existence` allows it. The caller must credit `amount` elsewhere
/// (or burn it with [`burn`]) to keep the issuance exact.
pub fn withdraw<E: From<Event> + From<system::Event>>(
    ctx: &mut Context<'_, E>,
    who: &AccountId,
    amount: Balance,
    existence: Existence,
) -> CallResult {
    if amount == 0 {
        return Ok(());
    }
    let account = system::account(ctx, who)?;
    withdraw_from(ctx, who, account, amount, existence)
}

/// [`withdraw`] from an account record the caller already read (and may have changed, e.g.
/// its nonce); the record is written back once.
pub fn withdraw_from<E: From<Event> + From<system::Event>>(
    ctx: &mut Context<'_, E>,
    who: &AccountId,
    mut account: AccountInfo,
    amount: Balance,
    existence: Existence,
) -> CallResult {
    let remaining = account
        .data
        .free
        .checked_sub(amount)
        .ok_or(Error::InsufficientBalance)?;
    if existence == Existence::KeepAlive && remaining < ctx.config.existential_deposit {
        return Err(Error::KeepAlive.into());
    }
    account.data.free = remaining;
    if amount > 0 {
        ctx.deposit_event(Event::Withdraw { who: *who, amount });
    }
    settle(ctx, who, account)
}

/// Credits `amount` to `who`; if that would create an account below the existential deposit,
/// the amount is burnt instead. Returns whether it was credited.
pub fn deposit<E: From<Event> + From<system::Event>>(
    ctx: &mut Context<'_, E>,
    who: &AccountId,
    amount: Balance,
) -> Result<bool, CallError> {
    if amount == 0 {
        return Ok(true);
    }
    let mut account = system::account(ctx, who)?;
    let credited = account
        .data
        .free
        .checked_add(amount)
        .ok_or(DispatchError::OVERFLOW)?;
    if credited < ctx.config.existential_deposit {
        burn(ctx, amount)?;
        return Ok(false);
    }
    let created = account.data.free == 0;
    account.data.free = credited;
    system::set_account(ctx, who, &account);
    if created {
        ctx.deposit_event(system::Event::NewAccount { account: *who });
        ctx.deposit_event(Event::Endowed {
            account: *who,
            free: credited,
        });
    }
    ctx.deposit_event(Event::Deposit { who: *who, amount });
    Ok(true)
}

/// Creates `amount` for `who`, adding it to the total issuance (e.g. assets arriving from
/// another chain). Returns whether it was credited; below the existential deposit it is burnt
/// again, leaving the issuance as it was.
pub fn mint<E: From<Event> + From<system::Event>>(
    ctx: &mut Context<'_, E>,
    who: &AccountId,
    amount: Balance,
) -> Result<bool, CallError> {
    let issuance = total_issuance(ctx)?
        .checked_add(amount)
        .ok_or(DispatchError::OVERFLOW)?;
    TOTAL_ISSUANCE.put(&mut ctx.state, &issuance);
    deposit(ctx, who, amount)
}

/// Removes `amount` from the total issuance (it left every account).
pub fn burn<E>(ctx: &mut Context<'_, E>, amount: Balance) -> CallResult {
    let issuance = total_issuance(ctx)?;
    let reduced = issuance
        .checked_sub(amount)
        .ok_or(DispatchError::OVERFLOW)?;
    TOTAL_ISSUANCE.put(&mut ctx.state, &reduced);
    Ok(())
}

/// Sets the balance of `who` to `free`, adjusting the issuance (genesis and root).
pub fn force_set_balance<E: From<Event> + From<system::Event>>(
    ctx: &mut Context<'_, E>,
    who: &AccountId,
    free: Balance,
) -> CallResult {
    let mut account = system::account(ctx, who)?;
    let old = account.data.free;
    let issuance = total_issuance(ctx)?;
    let free = if free < ctx.config.existential_deposit {
        0
    } else {
        free
    };
    let issuance = issuance
        .checked_sub(old)
        .and_then(|rest| rest.checked_add(free))
        .ok_or(DispatchError::OVERFLOW)?;
    TOTAL_ISSUANCE.put(&mut ctx.state, &issuance);
    if old == 0 && free > 0 {
        ctx.deposit_event(system::Event::NewAccount { account: *who });
        ctx.deposit_event(Event::Endowed {
            account: *who,
            free,
        });
    }
    account.data.free = free;
    ctx.deposit_event(Event::BalanceSet { who: *who, free });
    // An account with a reserve stays, whatever root sets its free balance to.
    if free == 0 && account.data.reserved == 0 {
        if old > 0 {
            reap(ctx, who);
        }
        return Ok(());
    }
    system::set_account(ctx, who, &account);
    Ok(())
}

/// Stores `account` for `who`, or removes it (burning the dust) below the existential deposit;
/// an account holding a reserve is never removed.
fn settle<E: From<Event> + From<system::Event>>(
    ctx: &mut Context<'_, E>,
    who: &AccountId,
    account: AccountInfo,
) -> CallResult {
    if account.data.free >= ctx.config.existential_deposit {
        system::set_account(ctx, who, &account);
        return Ok(());
    }
    if account.data.reserved > 0 {
        // The reserve keeps the account (as FRAME's holds do): it can pay fees down to less
        // than the existential deposit and still unbond.
        system::set_account(ctx, who, &account);
        return Ok(());
    }
    let dust = account.data.free;
    burn(ctx, dust)?;
    if dust > 0 {
        ctx.deposit_event(Event::DustLost {
            account: *who,
            amount: dust,
        });
    }
    reap(ctx, who);
    Ok(())
}

/// The reserved balance of `who`.
pub fn reserved_balance<E>(ctx: &mut Context<'_, E>, who: &AccountId) -> crate::Result<Balance> {
    Ok(system::account(ctx, who)?.data.reserved)
}

/// Moves `amount` of `who`'s free balance to reserved, leaving at least the existential
/// deposit free.
pub fn reserve<E: From<Event> + From<system::Event>>(
    ctx: &mut Context<'_, E>,
    who: &AccountId,
    amount: Balance,
) -> CallResult {
    if amount == 0 {
        return Ok(());
    }
    let mut account = system::account(ctx, who)?;
    let remaining = account
        .data
        .free
        .checked_sub(amount)
        .ok_or(Error::InsufficientBalance)?;
    if remaining < ctx.config.existential_deposit {
        return Err(Error::KeepAlive.into());
    }
    account.data.free = remaining;
    account.data.reserved = account
        .data
        .reserved
        .checked_add(amount)
        .ok_or(DispatchError::OVERFLOW)?;
    system::set_account(ctx, who, &account);
    ctx.deposit_event(Event::Reserved { who: *who, amount });
    Ok(())
}

/// Moves `amount` of `who`'s reserved balance back to free.
pub fn unreserve<E: From<Event> + From<system::Event>>(
    ctx: &mut Context<'_, E>,
    who: &AccountId,
    amount: Balance,
) -> CallResult {
    if amount == 0 {
        return Ok(());
    }
    let mut account = system::account(ctx, who)?;
    account.data.reserved = account
        .data
        .reserved
        .checked_sub(amount)
        .ok_or(Error::InsufficientReserve)?;
    account.data.free = account
        .data
        .free
        .checked_add(amount)
        .ok_or(DispatchError::OVERFLOW)?;
    system::set_account(ctx, who, &account);
    ctx.deposit_event(Event::Unreserved { who: *who, amount });
    Ok(())
}

/// Burns up to `amount` of `who`'s reserved balance, taking it from the issuance; returns what
/// was burnt (less when less is reserved).
pub fn slash_reserved<E: From<Event> + From<system::Event>>(
    ctx: &mut Context<'_, E>,
    who: &AccountId,
    amount: Balance,
) -> Result<Balance, CallError> {
    let mut account = system::account(ctx, who)?;
    let slashed = amount.min(account.data.reserved);
    if slashed == 0 {
        return Ok(0);
    }
    account.data.reserved = account.data.reserved.saturating_sub(slashed);
    burn(ctx, slashed)?;
    system::set_account(ctx, who, &account);
    ctx.deposit_event(Event::Slashed {
        who: *who,
        amount: slashed,
    });
    Ok(slashed)
}

fn reap<E: From<system::Event>>(ctx: &mut Context<'_, E>, who: &AccountId) {
    system::ACCOUNT.remove(&mut ctx.state, who);
    ctx.deposit_event(system::Event::KilledAccount { account: *who });
}
