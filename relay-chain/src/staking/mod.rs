//! `staking`: nominated proof of stake on the relay chain, as FRAME's `pallet_staking`.
//!
//! A stash account bonds funds ([`Call::Bond`]): they move to its reserved balance, where no
//! transfer or fee reaches them (FRAME's staking holds them the same way). With its bond it
//! declares itself a validator candidate ([`Call::Validate`], with a commission) or nominates
//! up to [`MAX_NOMINATIONS`] candidates ([`Call::Nominate`]), and [`Call::Chill`] stops either.
//! Unbonded funds ([`Call::Unbond`]) stay reserved for [`StakingConfig::bonding_duration`]
//! eras, during which [`Call::Rebond`] can take them back, and [`Call::WithdrawUnbonded`] frees
//! them after.
//!
//! Time runs in sessions ([`crate::session`]) and eras of [`StakingConfig::sessions_per_era`]
//! sessions. At the start of an era's last session the next era is planned: a sequential
//! Phragmén election ([`crate::election`]) over the candidates (each voting for itself with its
//! own bond) and the nominators chooses [`StakingConfig::validator_count`] validators, and each
//! one's exposure (its own stake and each nominator's share, in pages of
//! [`EXPOSURE_PAGE_SIZE`]) is recorded for that era. The planned era becomes active at the
//! next session. An election that elects fewer than
//! [`StakingConfig::minimum_validator_count`] plans nothing, and is tried again a session later.
//!
//! The election runs in the block that starts the session, inside the parachains inherent,
//! and that block counts its weight (so it carries fewer transactions). Its cost is bounded by [`MAX_VALIDATOR_CANDIDATES`] candidates and [`MAX_NOMINATORS`]
//! nominators of at most [`MAX_NOMINATIONS`] targets each, and by the minimum bonds; `cargo
//! bench -p tessera-relay-chain --bench election` measures it at those bounds.
//!
//! Validators earn points for authoring and backing, and each ended era's inflation is paid to
//! its validators and nominators by their exposure ([`rewards`]). Offenders (validators that
//! backed a candidate a dispute concluded invalid) are chilled and slashed, with their
//! nominators, after a deferral root can cancel ([`slashing`]).
//!
//! Candidates and nominators are kept in two linked lists in storage, so an election walks
//! them without the runtime iterating storage keys, and joining or leaving touches only a
//! node and its neighbours.

use crate::prelude::*;

pub mod rewards;
pub mod slashing;

use crate::election::{self, VoteWeight, Voter};
use parity_scale_codec::{Decode, Encode};
use tessera_runtime::dispatch::{
    CallError, CallResult, Context, Dispatch, DispatchError, Origin, Weight,
};
use tessera_runtime::extrinsic::MultiAddress;
use tessera_runtime::modules::{balances, system};
use tessera_runtime::state::State;
use tessera_runtime::storage::{StorageMap, StorageValue};
use tessera_runtime::{AccountId, Balance, BlockNumber};

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "Staking";

/// An era's index.
pub type EraIndex = u32;

/// Most candidates one nominator backs (Polkadot's `MaxNominations`).
pub const MAX_NOMINATIONS: usize = 16;
/// Most unbonding chunks a ledger holds at once (Polkadot's `MaxUnlockingChunks`).
pub const MAX_UNLOCKING_CHUNKS: usize = 32;
/// Nominators per page of an era's exposure (Polkadot's `MaxExposurePageSize`).
pub const EXPOSURE_PAGE_SIZE: usize = 512;
/// Eras of exposures kept (Polkadot's `HistoryDepth`).
pub const HISTORY_DEPTH: EraIndex = 84;
/// Most validator candidates at once: a bound on the election's work.
pub const MAX_VALIDATOR_CANDIDATES: u32 = 1_000;
/// Most nominators at once: a bound on the election's work.
pub const MAX_NOMINATORS: u32 = 20_000;
/// Most validators an era may elect.
pub const MAX_VALIDATOR_COUNT: u32 = 1_000;
/// 100 % as a [`Perbill`].
pub const PERBILL_ONE: u32 = 1_000_000_000;

/// Parts per billion (FRAME's `Perbill`): a validator's commission.
#[derive(
    Clone,
    Copy,
    Debug,
    Default,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Encode,
    Decode,
    parity_scale_codec::CompactAs,
    scale_info::TypeInfo,
)]
pub struct Perbill(pub u32);

/// Staking's parameters, from the chain spec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct StakingConfig {
    /// Validators each era elects.
    pub validator_count: u32,
    /// Fewest validators an election must elect for its era to be planned.
    pub minimum_validator_count: u32,
    /// Sessions per era.
    pub sessions_per_era: u32,
    /// Eras unbonded funds stay reserved.
    pub bonding_duration: EraIndex,
    /// Least active bond of a validator candidate.
    pub min_validator_bond: Balance,
    /// Least active bond of a nominator.
    pub min_nominator_bond: Balance,
    /// New issuance a year, paid to validators and nominators, as a share of the issuance.
    pub yearly_inflation: Perbill,
    /// Eras a slash waits before it is applied (less than the bonding duration).
    pub slash_defer_duration: EraIndex,
}

/// Part of a ledger being unbonded: `value` becomes withdrawable in era `era`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct UnlockChunk {
    /// Amount.
    #[codec(compact)]
    pub value: Balance,
    /// The era from which it can be withdrawn.
    #[codec(compact)]
    pub era: EraIndex,
}

/// A stash's bond (FRAME's `StakingLedger`): all of it, the part at stake, and what unbonds.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct StakingLedger {
    /// The stash.
    pub stash: AccountId,
    /// All bonded funds, active and unbonding (all of it reserved).
    #[codec(compact)]
    pub total: Balance,
    /// The part at stake in elections.
    #[codec(compact)]
    pub active: Balance,
    /// Unbonding chunks, oldest first.
    pub unlocking: Vec<UnlockChunk>,
}

impl StakingLedger {
    /// Takes up to `amount` out of the unbonding chunks, latest first; returns what it took.
    fn take_unlocking(&mut self, amount: Balance) -> Balance {
        let mut left = amount;
        while left > 0 {
            let Some(chunk) = self.unlocking.last_mut() else {
                break;
            };
            let taken = chunk.value.min(left);
            chunk.value = chunk.value.saturating_sub(taken);
            left = left.saturating_sub(taken);
            if chunk.value == 0 {
                self.unlocking.pop();
            }
        }
        amount.saturating_sub(left)
    }
}

/// Where a stash's rewards go.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum RewardDestination {
    /// Added to the bond.
    #[default]
    #[codec(index = 0)]
    Staked,
    /// Paid to the stash, free.
    #[codec(index = 1)]
    Stash,
    /// FRAME's deprecated controller account: refused (stash and controller are one).
    #[codec(index = 2)]
    Controller,
    /// Paid to another account.
    #[codec(index = 3)]
    Account(AccountId),
    /// Not paid.
    #[codec(index = 4)]
    None,
}

/// A candidate's terms (FRAME's `ValidatorPrefs`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct ValidatorPrefs {
    /// Its cut of rewards before nominators share the rest.
    #[codec(compact)]
    pub commission: Perbill,
    /// Whether it refuses new nominations.
    pub blocked: bool,
}

/// A nominator's choice.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct Nominations {
    /// The candidates it backs.
    pub targets: Vec<AccountId>,
    /// The era it nominated in.
    pub submitted_in: EraIndex,
    /// Whether a slash suppressed it (always false until slashing comes).
    pub suppressed: bool,
}

/// The era being rewarded now and the block it started in.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct ActiveEraInfo {
    /// Its index.
    pub index: EraIndex,
    /// The block it started in.
    pub start_block: BlockNumber,
}

/// A validator's exposure in an era, without the nominators (FRAME's
/// `PagedExposureMetadata`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct PagedExposureMetadata {
    /// Its own stake and its nominators'.
    #[codec(compact)]
    pub total: Balance,
    /// Its own stake.
    #[codec(compact)]
    pub own: Balance,
    /// Nominators backing it.
    pub nominator_count: u32,
    /// Pages of [`ExposurePage`].
    pub page_count: u32,
}

/// One nominator's part of an exposure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct IndividualExposure {
    /// The nominator.
    pub who: AccountId,
    /// Its stake behind the validator.
    #[codec(compact)]
    pub value: Balance,
}

/// A page of a validator's nominators in an era (FRAME's `ExposurePage`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct ExposurePage {
    /// The stake on this page.
    #[codec(compact)]
    pub page_total: Balance,
    /// The nominators on it, largest stake first.
    pub others: Vec<IndividualExposure>,
}

/// A node of a [`StakerList`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct ListNode {
    /// The one before.
    pub prev: Option<AccountId>,
    /// The one after.
    pub next: Option<AccountId>,
}

/// Staking's parameters.
pub static CONFIG: StorageValue<StakingConfig> = StorageValue::new(NAME, "Config");
/// The controller of each bonded stash: the stash itself (FRAME's `Bonded`, which wallets read
/// to find whether an account is bonded).
pub static BONDED: StorageMap<AccountId, AccountId> = StorageMap::new(NAME, "Bonded");
/// Bonds by stash.
pub static LEDGER: StorageMap<AccountId, StakingLedger> = StorageMap::new(NAME, "Ledger");
/// Reward destinations by stash.
pub static PAYEE: StorageMap<AccountId, RewardDestination> = StorageMap::new(NAME, "Payee");
/// Validator candidates and their terms.
pub static VALIDATORS: StorageMap<AccountId, ValidatorPrefs> = StorageMap::new(NAME, "Validators");
/// Nominators and their choices.
pub static NOMINATORS: StorageMap<AccountId, Nominations> = StorageMap::new(NAME, "Nominators");
/// The latest planned era (the active one, or the one after it once elected).
pub static CURRENT_ERA: StorageValue<EraIndex> = StorageValue::new(NAME, "CurrentEra");
/// The active era.
pub static ACTIVE_ERA: StorageValue<ActiveEraInfo> = StorageValue::new(NAME, "ActiveEra");
/// The session each planned era starts in.
pub static ERAS_START_SESSION_INDEX: StorageMap<EraIndex, u32> =
    StorageMap::new(NAME, "ErasStartSessionIndex");
/// The validators each era elected, in election order.
pub static ERAS_ELECTED: StorageMap<EraIndex, Vec<AccountId>> =
    StorageMap::new(NAME, "ErasElected");
/// Each elected validator's exposure in an era, without the nominators.
pub static ERAS_STAKERS_OVERVIEW: StorageMap<(EraIndex, AccountId), PagedExposureMetadata> =
    StorageMap::new(NAME, "ErasStakersOverview");
/// Whether `stash` was elected in era `era` (it has an exposure there).
pub fn is_exposed(
    state: &mut tessera_runtime::state::State<'_>,
    era: EraIndex,
    stash: &AccountId,
) -> tessera_runtime::Result<bool> {
    Ok(ERAS_STAKERS_OVERVIEW.get(state, &(era, *stash))?.is_some())
}

/// Each elected validator's nominators in an era, by page.
pub static ERAS_STAKERS_PAGED: StorageMap<(EraIndex, AccountId, u32), ExposurePage> =
    StorageMap::new(NAME, "ErasStakersPaged");
/// Each elected validator's terms as they were when its era was planned.
pub static ERAS_VALIDATOR_PREFS: StorageMap<(EraIndex, AccountId), ValidatorPrefs> =
    StorageMap::new(NAME, "ErasValidatorPrefs");
/// All stake behind an era's validators.
pub static ERAS_TOTAL_STAKE: StorageMap<EraIndex, Balance> =
    StorageMap::new(NAME, "ErasTotalStake");
/// Whether root asked for a new era at the next session.
pub static FORCE_NEW_ERA: StorageValue<bool> = StorageValue::new(NAME, "ForceNewEra");
/// Validator candidates, as a list in storage.
pub static CANDIDATE_LIST: StakerList = StakerList::new([
    "CandidateListHead",
    "CandidateListTail",
    "CandidateListCount",
    "CandidateListNodes",
]);
/// Nominators, as a list in storage.
pub static NOMINATOR_LIST: StakerList = StakerList::new([
    "NominatorListHead",
    "NominatorListTail",
    "NominatorListCount",
    "NominatorListNodes",
]);

/// This module's storage items, described for clients.
pub fn storage_metadata() -> alloc::vec::Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    let mut items = alloc::vec![
        CONFIG.metadata(),
        BONDED.metadata(),
        LEDGER.metadata(),
        PAYEE.metadata(),
        VALIDATORS.metadata(),
        NOMINATORS.metadata(),
        CURRENT_ERA.metadata(),
        ACTIVE_ERA.metadata(),
        ERAS_START_SESSION_INDEX.metadata(),
        ERAS_ELECTED.metadata_or_default(),
        ERAS_STAKERS_OVERVIEW.metadata(),
        ERAS_STAKERS_PAGED.metadata(),
        ERAS_VALIDATOR_PREFS.metadata_or_default(),
        ERAS_TOTAL_STAKE.metadata_or_default(),
        FORCE_NEW_ERA.metadata_or_default(),
        rewards::ERAS_REWARD_POINTS.metadata_or_default(),
        rewards::ERAS_VALIDATOR_REWARD.metadata(),
        rewards::CLAIMED_REWARDS.metadata_or_default(),
        slashing::UNAPPLIED_SLASHES.metadata_or_default(),
        slashing::VALIDATOR_SLASH_IN_ERA.metadata(),
        slashing::LAST_SLASHED.metadata(),
        slashing::SLASHING_SPANS.metadata(),
    ];
    items.extend(CANDIDATE_LIST.metadata());
    items.extend(NOMINATOR_LIST.metadata());
    items
}

/// A list of stashes in storage: insertion order, O(1) insert and remove, walked from the head.
pub struct StakerList {
    head: StorageValue<AccountId>,
    tail: StorageValue<AccountId>,
    count: StorageValue<u32>,
    nodes: StorageMap<AccountId, ListNode>,
}

impl StakerList {
    /// A list whose head, tail, count and nodes are stored under these item names.
    const fn new(items: [&'static str; 4]) -> Self {
        let [head, tail, count, nodes] = items;
        StakerList {
            head: StorageValue::new(NAME, head),
            tail: StorageValue::new(NAME, tail),
            count: StorageValue::new(NAME, count),
            nodes: StorageMap::new(NAME, nodes),
        }
    }

    fn metadata(&self) -> [tessera_runtime::metadata::StorageEntryMetadata; 4] {
        [
            self.head.metadata(),
            self.tail.metadata(),
            self.count.metadata_or_default(),
            self.nodes.metadata(),
        ]
    }

    /// How many stashes it holds.
    pub fn count(&self, state: &mut State<'_>) -> tessera_runtime::Result<u32> {
        self.count.get_or_default(state)
    }

    /// Whether `who` is in it.
    pub fn contains(
        &self,
        state: &mut State<'_>,
        who: &AccountId,
    ) -> tessera_runtime::Result<bool> {
        Ok(self.nodes.get(state, who)?.is_some())
    }

    /// Appends `who` (nothing if it is in already).
    fn insert(&self, state: &mut State<'_>, who: &AccountId) -> tessera_runtime::Result<()> {
        if self.contains(state, who)? {
            return Ok(());
        }
        let tail = self.tail.get(state)?;
        if let Some(tail) = tail {
            let mut last = self.nodes.get_or_default(state, &tail)?;
            last.next = Some(*who);
            self.nodes.insert(state, &tail, &last);
        } else {
            self.head.put(state, who);
        }
        self.tail.put(state, who);
        let node = ListNode {
            prev: tail,
            next: None,
        };
        self.nodes.insert(state, who, &node);
        let count = self.count(state)?.saturating_add(1);
        self.count.put(state, &count);
        Ok(())
    }

    /// Takes `who` out (nothing if it is not in).
    fn remove(&self, state: &mut State<'_>, who: &AccountId) -> tessera_runtime::Result<()> {
        let Some(node) = self.nodes.get(state, who)? else {
            return Ok(());
        };
        match node.prev {
            Some(prev) => {
                let mut before = self.nodes.get_or_default(state, &prev)?;
                before.next = node.next;
                self.nodes.insert(state, &prev, &before);
            }
            None => match node.next {
                Some(next) => self.head.put(state, &next),
                None => self.head.kill(state),
            },
        }
        match node.next {
            Some(next) => {
                let mut after = self.nodes.get_or_default(state, &next)?;
                after.prev = node.prev;
                self.nodes.insert(state, &next, &after);
            }
            None => match node.prev {
                Some(prev) => self.tail.put(state, &prev),
                None => self.tail.kill(state),
            },
        }
        self.nodes.remove(state, who);
        let count = self.count(state)?.saturating_sub(1);
        self.count.put(state, &count);
        Ok(())
    }

    /// Every stash in it, from the head (at most `limit`).
    pub fn all(
        &self,
        state: &mut State<'_>,
        limit: u32,
    ) -> tessera_runtime::Result<Vec<AccountId>> {
        let mut out = Vec::new();
        let mut cursor = self.head.get(state)?;
        while let Some(who) = cursor {
            if out.len() >= limit as usize {
                break;
            }
            cursor = self.nodes.get(state, &who)?.and_then(|node| node.next);
            out.push(who);
        }
        Ok(out)
    }
}

/// Calls of `staking` (FRAME's indices; signed by the stash, but for root's).
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Call {
    /// Bonds `value` of the caller's free balance, which becomes its stash.
    #[codec(index = 0)]
    Bond {
        /// Amount.
        #[codec(compact)]
        value: Balance,
        /// Where its rewards go.
        payee: RewardDestination,
    },
    /// Bonds up to `max_additional` more (what the free balance allows above the existential
    /// deposit).
    #[codec(index = 1)]
    BondExtra {
        /// Most to add.
        #[codec(compact)]
        max_additional: Balance,
    },
    /// Starts unbonding `value` of the active bond (all of it if less would stay than the
    /// existential deposit, which also chills the stash); it can be withdrawn after the
    /// bonding duration. What stays active must meet the stash's role's minimum bond.
    #[codec(index = 2)]
    Unbond {
        /// Amount.
        #[codec(compact)]
        value: Balance,
    },
    /// Frees the unbonded chunks whose era has come; with nothing left bonded, the stash stops
    /// staking altogether.
    #[codec(index = 3)]
    WithdrawUnbonded {
        /// FRAME's slashing-span count, for its weight (unused until slashing comes).
        num_slashing_spans: u32,
    },
    /// Declares the stash a validator candidate on these terms.
    #[codec(index = 4)]
    Validate {
        /// Commission and whether it takes new nominations.
        prefs: ValidatorPrefs,
    },
    /// Backs these candidates with the stash's active bond.
    #[codec(index = 5)]
    Nominate {
        /// 1 to [`MAX_NOMINATIONS`] candidates.
        targets: Vec<MultiAddress>,
    },
    /// Stops validating or nominating (from the next election on).
    #[codec(index = 6)]
    Chill,
    /// Sets where the stash's rewards go.
    #[codec(index = 7)]
    SetPayee {
        /// The destination.
        payee: RewardDestination,
    },
    /// Sets how many validators each era elects (root).
    #[codec(index = 9)]
    SetValidatorCount {
        /// The number.
        #[codec(compact)]
        new: u32,
    },
    /// Plans a new era at the next session, whatever the era's length (root).
    #[codec(index = 13)]
    ForceNewEra,
    /// Cancels the slashes at these positions among those waiting for era `era` (root).
    #[codec(index = 17)]
    CancelDeferredSlash {
        /// The era they wait for.
        era: EraIndex,
        /// Their positions in [`slashing::UNAPPLIED_SLASHES`].
        slash_indices: Vec<u32>,
    },
    /// Pays the next unpaid exposure page of `validator_stash`'s reward for ended era `era`
    /// (anyone may; see [`rewards`]).
    #[codec(index = 18)]
    PayoutStakers {
        /// The validator.
        validator_stash: AccountId,
        /// The era.
        era: EraIndex,
    },
    /// Takes up to `value` of the unbonding funds back into the active bond, latest first.
    #[codec(index = 19)]
    Rebond {
        /// Amount.
        #[codec(compact)]
        value: Balance,
    },
    /// Sets the least active bonds of candidates and nominators (root): stakers below them
    /// can then be chilled by anyone ([`Call::ChillOther`]).
    #[codec(index = 22)]
    SetStakingConfigs {
        /// Least active bond of a nominator.
        min_nominator_bond: Balance,
        /// Least active bond of a validator candidate.
        min_validator_bond: Balance,
    },
    /// Chills `stash`, whose active bond is below its role's minimum (anyone may): what
    /// frees the bounded candidate and nominator places from stakers who took them cheaply.
    #[codec(index = 23)]
    ChillOther {
        /// The stash.
        stash: AccountId,
    },
}

/// Events of `staking`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub enum Event {
    /// An era ended and its payout was fixed.
    #[codec(index = 0)]
    EraPaid {
        /// The era.
        era_index: EraIndex,
        /// What its validators and nominators share.
        validator_payout: Balance,
        /// What went elsewhere (nothing: there is no treasury).
        remainder: Balance,
    },
    /// A staker's bond was slashed (burnt).
    #[codec(index = 2)]
    Slashed {
        /// The staker.
        staker: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// An offence was reported: the slash is deferred.
    #[codec(index = 3)]
    SlashReported {
        /// The offender.
        validator: AccountId,
        /// The share of its exposure slashed.
        fraction: Perbill,
        /// The era whose exposure it is measured on.
        slash_era: EraIndex,
    },
    /// Root cancelled a deferred slash.
    #[codec(index = 22)]
    SlashCancelled {
        /// The era it waited for.
        slash_era: EraIndex,
        /// The offender.
        validator: AccountId,
    },
    /// A staker was paid.
    #[codec(index = 1)]
    Rewarded {
        /// The stash.
        stash: AccountId,
        /// Where the reward went.
        dest: RewardDestination,
        /// Amount.
        amount: Balance,
    },
    /// An era's validators were elected: `era_index` starts at the next session.
    #[codec(index = 5)]
    StakersElected {
        /// The era planned.
        era_index: EraIndex,
        /// How many were elected.
        validators: u32,
    },
    /// Funds were bonded (or rebonded).
    #[codec(index = 6)]
    Bonded {
        /// The stash.
        stash: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// Funds started unbonding.
    #[codec(index = 7)]
    Unbonded {
        /// The stash.
        stash: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// Unbonded funds were freed.
    #[codec(index = 8)]
    Withdrawn {
        /// The stash.
        stash: AccountId,
        /// Amount.
        amount: Balance,
    },
    /// An election elected too few validators: no era was planned; the next session tries
    /// again.
    #[codec(index = 10)]
    StakingElectionFailed,
    /// A stash stopped validating or nominating.
    #[codec(index = 11)]
    Chilled {
        /// The stash.
        stash: AccountId,
    },
    /// A candidate set its terms.
    #[codec(index = 13)]
    ValidatorPrefsSet {
        /// The stash.
        stash: AccountId,
        /// Its terms.
        prefs: ValidatorPrefs,
    },
    /// A planned era became the active one.
    #[codec(index = 20)]
    EraStarted {
        /// The era.
        era_index: EraIndex,
    },
    /// A stash nominated.
    #[codec(index = 21)]
    Nominated {
        /// The stash.
        stash: AccountId,
        /// The candidates.
        targets: Vec<AccountId>,
    },
}

tessera_runtime::module_error! {
    /// Errors of `staking`.
    pub enum Error for NAME {
        /// The account is not a bonded stash.
        NotStash,
        /// The account is bonded already.
        AlreadyBonded,
        /// The bond would be below the least allowed (the existential deposit, or the role's
        /// minimum bond).
        InsufficientBond,
        /// The ledger holds [`MAX_UNLOCKING_CHUNKS`] unbonding chunks: withdraw first.
        NoMoreChunks,
        /// Nothing is unbonding.
        NoUnlockChunk,
        /// A nomination names no candidate.
        EmptyTargets,
        /// A nomination names more than [`MAX_NOMINATIONS`] candidates.
        TooManyTargets,
        /// A nominated account is not a candidate, or takes no new nominations.
        BadTarget,
        /// There are [`MAX_VALIDATOR_CANDIDATES`] candidates already.
        TooManyValidators,
        /// There are [`MAX_NOMINATORS`] nominators already.
        TooManyNominators,
        /// A commission above 100 %.
        CommissionTooHigh,
        /// A validator count above [`MAX_VALIDATOR_COUNT`].
        TooManyElected,
        /// Staking is not configured on this chain.
        NotConfigured,
        /// Rewards cannot go to a controller account: stash and controller are one.
        ControllerDeprecated,
        /// The stash's active bond meets its role's minimum: it cannot be chilled by another.
        CannotChillOther,
        /// A validator count below the minimum the elections need.
        TooFewElected,
        /// The era has not ended, or is older than the history kept.
        InvalidEraToReward,
        /// The validator was not elected in that era.
        NotElected,
        /// Every page of that reward is paid already.
        AlreadyClaimed,
        /// [`slashing::MAX_UNAPPLIED_PER_ERA`] slashes wait for that era already.
        TooManySlashes,
        /// No deferred slash at that position.
        InvalidSlashIndex,
    }
}

fn error(error: Error) -> CallError {
    error.into()
}

/// What staking's events need of the runtime's event type.
pub trait Events: From<Event> + From<balances::Event> + From<system::Event> {}
impl<E: From<Event> + From<balances::Event> + From<system::Event>> Events for E {}

const BASE_WEIGHT: Weight = 60_000_000;
/// Weight per nominated target (a read of each candidate).
const WEIGHT_PER_TARGET: Weight = 5_000_000;
/// Weight per staker a payout pays.
const WEIGHT_PER_PAYMENT: Weight = 40_000_000;
/// Weight of an era's election per voter (its ledger and nominations read, its list node, its
/// edges in the election, its exposure entry written): 875 ms of relay Wasm for 21,000 voters
/// in `cargo bench -p tessera-node --bench election`, with a margin.
pub const ELECTION_WEIGHT_PER_VOTER: Weight = 50_000_000;
/// Weight of an era's election per candidate beyond its vote (prefs, overview and pages).
pub const ELECTION_WEIGHT_PER_CANDIDATE: Weight = 100_000_000;

impl<E: Events> Dispatch<E> for Call {
    fn weight(&self) -> Weight {
        let per_item = match self {
            Call::Nominate { targets } => WEIGHT_PER_TARGET.saturating_mul(targets.len() as Weight),
            // A full page of nominators, each paid (a mint, a ledger and a reserve).
            Call::PayoutStakers { .. } => {
                WEIGHT_PER_PAYMENT.saturating_mul(EXPOSURE_PAGE_SIZE.saturating_add(1) as Weight)
            }
            _ => 0,
        };
        BASE_WEIGHT.saturating_add(per_item)
    }

    fn dispatch(self, ctx: &mut Context<'_, E>, origin: Origin) -> CallResult {
        match self {
            Call::SetValidatorCount { new } => {
                origin.ensure_root()?;
                set_validator_count(ctx, new)
            }
            Call::ForceNewEra => {
                origin.ensure_root()?;
                FORCE_NEW_ERA.put(&mut ctx.state, &true);
                Ok(())
            }
            Call::CancelDeferredSlash { era, slash_indices } => {
                origin.ensure_root()?;
                slashing::cancel(ctx, era, &slash_indices)
            }
            Call::SetStakingConfigs {
                min_nominator_bond,
                min_validator_bond,
            } => {
                origin.ensure_root()?;
                let mut config = config(ctx)?;
                config.min_nominator_bond = min_nominator_bond;
                config.min_validator_bond = min_validator_bond;
                CONFIG.put(&mut ctx.state, &config);
                Ok(())
            }
            call => {
                let stash = *origin.ensure_signed()?;
                match call {
                    Call::Bond { value, payee } => bond(ctx, &stash, value, payee),
                    Call::BondExtra { max_additional } => bond_extra(ctx, &stash, max_additional),
                    Call::Unbond { value } => unbond(ctx, &stash, value),
                    Call::WithdrawUnbonded { .. } => withdraw_unbonded(ctx, &stash),
                    Call::Validate { prefs } => validate(ctx, &stash, prefs),
                    Call::Nominate { targets } => nominate(ctx, &stash, &targets),
                    Call::Chill => {
                        ledger(ctx, &stash)?;
                        chill(ctx, &stash)
                    }
                    Call::SetPayee { payee } => {
                        ledger(ctx, &stash)?;
                        check_payee(payee)?;
                        PAYEE.insert(&mut ctx.state, &stash, &payee);
                        Ok(())
                    }
                    Call::Rebond { value } => rebond(ctx, &stash, value),
                    Call::ChillOther { stash: other } => chill_other(ctx, &other),
                    Call::PayoutStakers {
                        validator_stash,
                        era,
                    } => rewards::payout_stakers(ctx, &validator_stash, era),
                    Call::SetValidatorCount { .. }
                    | Call::CancelDeferredSlash { .. }
                    | Call::ForceNewEra
                    | Call::SetStakingConfigs { .. } => Err(DispatchError::BadOrigin.into()),
                }
            }
        }
    }
}

fn config<E>(ctx: &mut Context<'_, E>) -> Result<StakingConfig, CallError> {
    CONFIG
        .get(&mut ctx.state)?
        .ok_or_else(|| error(Error::NotConfigured))
}

fn check_payee(payee: RewardDestination) -> CallResult {
    if payee == RewardDestination::Controller {
        return Err(error(Error::ControllerDeprecated));
    }
    Ok(())
}

fn chill_other<E: Events>(ctx: &mut Context<'_, E>, stash: &AccountId) -> CallResult {
    let config = config(ctx)?;
    let ledger = ledger(ctx, stash)?;
    let minimum = role_minimum(ctx, &config, stash)?;
    if minimum == 0 || ledger.active >= minimum {
        return Err(error(Error::CannotChillOther));
    }
    chill(ctx, stash)
}

fn ledger<E>(ctx: &mut Context<'_, E>, stash: &AccountId) -> Result<StakingLedger, CallError> {
    LEDGER
        .get(&mut ctx.state, stash)?
        .ok_or_else(|| error(Error::NotStash))
}

/// Bonds `value` of `stash`'s free balance (genesis stakers too).
pub fn bond<E: Events>(
    ctx: &mut Context<'_, E>,
    stash: &AccountId,
    value: Balance,
    payee: RewardDestination,
) -> CallResult {
    config(ctx)?;
    check_payee(payee)?;
    if LEDGER.get(&mut ctx.state, stash)?.is_some() {
        return Err(error(Error::AlreadyBonded));
    }
    if value < ctx.config.existential_deposit {
        return Err(error(Error::InsufficientBond));
    }
    balances::reserve(ctx, stash, value)?;
    let ledger = StakingLedger {
        stash: *stash,
        total: value,
        active: value,
        unlocking: Vec::new(),
    };
    LEDGER.insert(&mut ctx.state, stash, &ledger);
    BONDED.insert(&mut ctx.state, stash, stash);
    PAYEE.insert(&mut ctx.state, stash, &payee);
    ctx.deposit_event(Event::Bonded {
        stash: *stash,
        amount: value,
    });
    Ok(())
}

fn bond_extra<E: Events>(
    ctx: &mut Context<'_, E>,
    stash: &AccountId,
    max_additional: Balance,
) -> CallResult {
    let mut ledger = ledger(ctx, stash)?;
    let free = balances::free_balance(ctx, stash)?;
    let spare = free.saturating_sub(ctx.config.existential_deposit);
    let extra = max_additional.min(spare);
    if extra == 0 {
        return Ok(());
    }
    if ledger.active.saturating_add(extra) < ctx.config.existential_deposit {
        return Err(error(Error::InsufficientBond));
    }
    balances::reserve(ctx, stash, extra)?;
    ledger.total = ledger.total.saturating_add(extra);
    ledger.active = ledger.active.saturating_add(extra);
    LEDGER.insert(&mut ctx.state, stash, &ledger);
    ctx.deposit_event(Event::Bonded {
        stash: *stash,
        amount: extra,
    });
    Ok(())
}

/// The least active bond `stash`'s role asks for (0 with no role).
fn role_minimum<E>(
    ctx: &mut Context<'_, E>,
    config: &StakingConfig,
    stash: &AccountId,
) -> tessera_runtime::Result<Balance> {
    Ok(if VALIDATORS.get(&mut ctx.state, stash)?.is_some() {
        config.min_validator_bond
    } else if NOMINATORS.get(&mut ctx.state, stash)?.is_some() {
        config.min_nominator_bond
    } else {
        0
    })
}

fn unbond<E: Events>(ctx: &mut Context<'_, E>, stash: &AccountId, value: Balance) -> CallResult {
    let config = config(ctx)?;
    let mut ledger = ledger(ctx, stash)?;
    let mut value = value.min(ledger.active);
    if value == 0 {
        return Ok(());
    }
    let mut active = ledger.active.saturating_sub(value);
    // Dust is not left at stake.
    if active < ctx.config.existential_deposit {
        value = value.saturating_add(active);
        active = 0;
    }
    if active == 0 {
        // Unbonding it all ends the stash's role.
        chill(ctx, stash)?;
    } else if active < role_minimum(ctx, &config, stash)? {
        return Err(error(Error::InsufficientBond));
    }
    let era = CURRENT_ERA
        .get_or_default(&mut ctx.state)?
        .saturating_add(config.bonding_duration);
    match ledger.unlocking.last_mut() {
        Some(chunk) if chunk.era == era => chunk.value = chunk.value.saturating_add(value),
        _ => {
            if ledger.unlocking.len() >= MAX_UNLOCKING_CHUNKS {
                return Err(error(Error::NoMoreChunks));
            }
            ledger.unlocking.push(UnlockChunk { value, era });
        }
    }
    ledger.active = active;
    LEDGER.insert(&mut ctx.state, stash, &ledger);
    ctx.deposit_event(Event::Unbonded {
        stash: *stash,
        amount: value,
    });
    Ok(())
}

fn withdraw_unbonded<E: Events>(ctx: &mut Context<'_, E>, stash: &AccountId) -> CallResult {
    let mut ledger = ledger(ctx, stash)?;
    let now = ACTIVE_ERA.get_or_default(&mut ctx.state)?.index;
    let mut freed: Balance = 0;
    ledger.unlocking.retain(|chunk| {
        let due = chunk.era <= now;
        if due {
            freed = freed.saturating_add(chunk.value);
        }
        !due
    });
    ledger.total = ledger.total.saturating_sub(freed);
    balances::unreserve(ctx, stash, freed)?;
    if ledger.total == 0 {
        stop_staking(ctx, stash)?;
    } else {
        LEDGER.insert(&mut ctx.state, stash, &ledger);
    }
    if freed > 0 {
        ctx.deposit_event(Event::Withdrawn {
            stash: *stash,
            amount: freed,
        });
    }
    Ok(())
}

/// Forgets a stash with nothing bonded: its role, ledger, controller and payee.
fn stop_staking<E: Events>(ctx: &mut Context<'_, E>, stash: &AccountId) -> CallResult {
    chill(ctx, stash)?;
    LEDGER.remove(&mut ctx.state, stash);
    BONDED.remove(&mut ctx.state, stash);
    PAYEE.remove(&mut ctx.state, stash);
    slashing::SLASHING_SPANS.remove(&mut ctx.state, stash);
    Ok(())
}

fn rebond<E: Events>(ctx: &mut Context<'_, E>, stash: &AccountId, value: Balance) -> CallResult {
    let mut ledger = ledger(ctx, stash)?;
    if ledger.unlocking.is_empty() {
        return Err(error(Error::NoUnlockChunk));
    }
    let rebonded = ledger.take_unlocking(value);
    let active = ledger.active.saturating_add(rebonded);
    if active < ctx.config.existential_deposit {
        return Err(error(Error::InsufficientBond));
    }
    ledger.active = active;
    LEDGER.insert(&mut ctx.state, stash, &ledger);
    ctx.deposit_event(Event::Bonded {
        stash: *stash,
        amount: rebonded,
    });
    Ok(())
}

/// Declares `stash` a validator candidate (genesis stakers too).
pub fn validate<E: Events>(
    ctx: &mut Context<'_, E>,
    stash: &AccountId,
    prefs: ValidatorPrefs,
) -> CallResult {
    let config = config(ctx)?;
    let ledger = ledger(ctx, stash)?;
    if ledger.active < config.min_validator_bond {
        return Err(error(Error::InsufficientBond));
    }
    if prefs.commission.0 > PERBILL_ONE {
        return Err(error(Error::CommissionTooHigh));
    }
    if !CANDIDATE_LIST.contains(&mut ctx.state, stash)?
        && CANDIDATE_LIST.count(&mut ctx.state)? >= MAX_VALIDATOR_CANDIDATES
    {
        return Err(error(Error::TooManyValidators));
    }
    if NOMINATORS.get(&mut ctx.state, stash)?.is_some() {
        NOMINATORS.remove(&mut ctx.state, stash);
        NOMINATOR_LIST.remove(&mut ctx.state, stash)?;
    }
    VALIDATORS.insert(&mut ctx.state, stash, &prefs);
    CANDIDATE_LIST.insert(&mut ctx.state, stash)?;
    ctx.deposit_event(Event::ValidatorPrefsSet {
        stash: *stash,
        prefs,
    });
    Ok(())
}

/// Makes `stash` back `targets` (genesis stakers too).
pub fn nominate<E: Events>(
    ctx: &mut Context<'_, E>,
    stash: &AccountId,
    targets: &[MultiAddress],
) -> CallResult {
    let config = config(ctx)?;
    let ledger = ledger(ctx, stash)?;
    if ledger.active < config.min_nominator_bond {
        return Err(error(Error::InsufficientBond));
    }
    if targets.is_empty() {
        return Err(error(Error::EmptyTargets));
    }
    if targets.len() > MAX_NOMINATIONS {
        return Err(error(Error::TooManyTargets));
    }
    let previous = NOMINATORS.get(&mut ctx.state, stash)?;
    let mut chosen: Vec<AccountId> = Vec::with_capacity(targets.len());
    for target in targets {
        let target = target.lookup().ok_or(DispatchError::CannotLookup)?;
        if chosen.contains(&target) {
            continue;
        }
        let prefs = VALIDATORS
            .get(&mut ctx.state, &target)?
            .ok_or_else(|| error(Error::BadTarget))?;
        // A candidate that blocks new nominations keeps those it had.
        let kept = previous
            .as_ref()
            .is_some_and(|old| old.targets.contains(&target));
        if prefs.blocked && !kept {
            return Err(error(Error::BadTarget));
        }
        chosen.push(target);
    }
    if previous.is_none() && NOMINATOR_LIST.count(&mut ctx.state)? >= MAX_NOMINATORS {
        return Err(error(Error::TooManyNominators));
    }
    if VALIDATORS.get(&mut ctx.state, stash)?.is_some() {
        VALIDATORS.remove(&mut ctx.state, stash);
        CANDIDATE_LIST.remove(&mut ctx.state, stash)?;
    }
    let nominations = Nominations {
        targets: chosen.clone(),
        submitted_in: CURRENT_ERA.get_or_default(&mut ctx.state)?,
        suppressed: false,
    };
    NOMINATORS.insert(&mut ctx.state, stash, &nominations);
    NOMINATOR_LIST.insert(&mut ctx.state, stash)?;
    ctx.deposit_event(Event::Nominated {
        stash: *stash,
        targets: chosen,
    });
    Ok(())
}

fn chill<E: Events>(ctx: &mut Context<'_, E>, stash: &AccountId) -> CallResult {
    let validator = VALIDATORS.get(&mut ctx.state, stash)?.is_some();
    let nominator = NOMINATORS.get(&mut ctx.state, stash)?.is_some();
    if validator {
        VALIDATORS.remove(&mut ctx.state, stash);
        CANDIDATE_LIST.remove(&mut ctx.state, stash)?;
    }
    if nominator {
        NOMINATORS.remove(&mut ctx.state, stash);
        NOMINATOR_LIST.remove(&mut ctx.state, stash)?;
    }
    if validator || nominator {
        ctx.deposit_event(Event::Chilled { stash: *stash });
    }
    Ok(())
}

fn set_validator_count<E>(ctx: &mut Context<'_, E>, new: u32) -> CallResult {
    if new > MAX_VALIDATOR_COUNT {
        return Err(error(Error::TooManyElected));
    }
    let mut config = config(ctx)?;
    if new < config.minimum_validator_count.max(1) {
        return Err(error(Error::TooFewElected));
    }
    config.validator_count = new;
    CONFIG.put(&mut ctx.state, &config);
    Ok(())
}

/// A balance as an election weight: scaled down by `issuance / u64::MAX + 1`, so all the stake
/// there is fits in a `u64` (as Substrate's `CurrencyToVote` does).
pub fn to_vote(stake: Balance, issuance: Balance) -> VoteWeight {
    let factor = issuance
        .checked_div(u128::from(u64::MAX))
        .unwrap_or(0)
        .saturating_add(1);
    VoteWeight::try_from(stake.checked_div(factor).unwrap_or(stake)).unwrap_or(VoteWeight::MAX)
}

/// Called by [`crate::session`] at the start of session `session`: makes a planned era that
/// starts now the active one, and plans the next era in the active era's last session (or
/// when root forced one).
pub fn new_session<E: Events>(ctx: &mut Context<'_, E>, session: u32) -> CallResult {
    let Some(config) = CONFIG.get(&mut ctx.state)? else {
        return Ok(());
    };
    let mut active = ACTIVE_ERA.get_or_default(&mut ctx.state)?;
    let current = CURRENT_ERA.get_or_default(&mut ctx.state)?;
    if current > active.index
        && ERAS_START_SESSION_INDEX.get(&mut ctx.state, &current)? == Some(session)
    {
        let blocks = ctx.block_number.saturating_sub(active.start_block);
        let slot_ms = crate::session::SLOT_DURATION.get_or_default(&mut ctx.state)?;
        let inflation = config.yearly_inflation.0;
        rewards::end_era(ctx, active.index, blocks, slot_ms, inflation)?;
        active = ActiveEraInfo {
            index: current,
            start_block: ctx.block_number,
        };
        ACTIVE_ERA.put(&mut ctx.state, &active);
        ctx.deposit_event(Event::EraStarted { era_index: current });
        slashing::apply_due(ctx, current)?;
    }
    if current != active.index {
        // Planned already; it starts at the next session.
        return Ok(());
    }
    let era_start = ERAS_START_SESSION_INDEX
        .get(&mut ctx.state, &active.index)?
        .unwrap_or(0);
    let next_session = session.saturating_add(1);
    let era_over = next_session.saturating_sub(era_start) >= config.sessions_per_era;
    let forced = FORCE_NEW_ERA.get_or_default(&mut ctx.state)?;
    if era_over || forced {
        plan_era(ctx, &config, current.saturating_add(1), next_session)?;
    }
    Ok(())
}

/// The validators staking elected for session `session`: the planned era's once it starts
/// by then, else the active era's (`None` without staking).
pub fn validators_for_session(
    state: &mut State<'_>,
    session: u32,
) -> tessera_runtime::Result<Option<Vec<AccountId>>> {
    if CONFIG.get(state)?.is_none() {
        return Ok(None);
    }
    let current = CURRENT_ERA.get_or_default(state)?;
    let planned_from = ERAS_START_SESSION_INDEX.get(state, &current)?;
    let era = if planned_from.is_some_and(|start| start <= session) {
        current
    } else {
        ACTIVE_ERA.get_or_default(state)?.index
    };
    ERAS_ELECTED.get(state, &era)
}

/// Elects era `era`'s validators, to start at session `start_session`, and records their
/// exposures; too few elected plans nothing.
pub fn plan_era<E: Events>(
    ctx: &mut Context<'_, E>,
    config: &StakingConfig,
    era: EraIndex,
    start_session: u32,
) -> CallResult {
    let elected = elect(ctx, config)?;
    if elected.winners.len() < config.minimum_validator_count.max(1) as usize {
        ctx.deposit_event(Event::StakingElectionFailed);
        return Ok(());
    }
    record_exposures(ctx, era, &elected)?;
    CURRENT_ERA.put(&mut ctx.state, &era);
    ERAS_START_SESSION_INDEX.insert(&mut ctx.state, &era, &start_session);
    FORCE_NEW_ERA.kill(&mut ctx.state);
    if let Some(old) = era.checked_sub(HISTORY_DEPTH) {
        prune_era(ctx, old)?;
    }
    ctx.deposit_event(Event::StakersElected {
        era_index: era,
        validators: elected.winners.len() as u32,
    });
    Ok(())
}

/// What an era's election found, with each voter's active stake.
pub struct Elected {
    /// The winners in election order.
    pub winners: Vec<AccountId>,
    /// Each winner's backers and what each puts behind it (its own stake included).
    pub supports: alloc::collections::BTreeMap<AccountId, election::Support<AccountId>>,
}

/// Runs the election over the candidates and nominators in state.
pub fn elect<E>(ctx: &mut Context<'_, E>, config: &StakingConfig) -> Result<Elected, CallError> {
    let issuance = balances::total_issuance(ctx)?;
    let candidates = CANDIDATE_LIST.all(&mut ctx.state, MAX_VALIDATOR_CANDIDATES)?;
    let nominators = NOMINATOR_LIST.all(&mut ctx.state, MAX_NOMINATORS)?;
    let mut stakes = alloc::collections::BTreeMap::new();
    let mut voters = Vec::with_capacity(candidates.len().saturating_add(nominators.len()));
    for candidate in &candidates {
        let active = LEDGER
            .get(&mut ctx.state, candidate)?
            .map_or(0, |ledger| ledger.active);
        stakes.insert(*candidate, active);
        voters.push(Voter {
            who: *candidate,
            weight: to_vote(active, issuance),
            targets: vec![*candidate],
        });
    }
    // Nominations made before their target was last slashed do not count.
    let mut slashed_in = alloc::collections::BTreeMap::new();
    for candidate in &candidates {
        if let Some(era) = slashing::LAST_SLASHED.get(&mut ctx.state, candidate)? {
            slashed_in.insert(*candidate, era);
        }
    }
    for nominator in &nominators {
        let Some(mut nominations) = NOMINATORS.get(&mut ctx.state, nominator)? else {
            continue;
        };
        let submitted = nominations.submitted_in;
        nominations
            .targets
            .retain(|target| slashed_in.get(target).is_none_or(|era| submitted > *era));
        let active = LEDGER
            .get(&mut ctx.state, nominator)?
            .map_or(0, |ledger| ledger.active);
        stakes.insert(*nominator, active);
        voters.push(Voter {
            who: *nominator,
            weight: to_vote(active, issuance),
            targets: nominations.targets,
        });
    }
    // The block that runs the election counts its work.
    let work = ELECTION_WEIGHT_PER_VOTER
        .saturating_mul(voters.len() as Weight)
        .saturating_add(ELECTION_WEIGHT_PER_CANDIDATE.saturating_mul(candidates.len() as Weight));
    ctx.consume_weight(work);
    let result = election::seq_phragmen(config.validator_count as usize, &candidates, &voters);
    let supports = election::supports(&result, |who| stakes.get(who).copied().unwrap_or(0));
    Ok(Elected {
        winners: result.winners.into_iter().map(|(who, _)| who).collect(),
        supports,
    })
}

fn record_exposures<E>(ctx: &mut Context<'_, E>, era: EraIndex, elected: &Elected) -> CallResult {
    let mut era_total: Balance = 0;
    for validator in &elected.winners {
        let Some(support) = elected.supports.get(validator) else {
            continue;
        };
        let mut own: Balance = 0;
        let mut others: Vec<IndividualExposure> = Vec::with_capacity(support.voters.len());
        for &(who, value) in &support.voters {
            if who == *validator {
                own = own.saturating_add(value);
            } else if value > 0 {
                others.push(IndividualExposure { who, value });
            }
        }
        others.sort_by(|a, b| b.value.cmp(&a.value).then(a.who.cmp(&b.who)));
        let pages: Vec<&[IndividualExposure]> = others.chunks(EXPOSURE_PAGE_SIZE).collect();
        let overview = PagedExposureMetadata {
            total: support.total,
            own,
            nominator_count: others.len() as u32,
            page_count: pages.len() as u32,
        };
        for (index, page) in pages.iter().enumerate() {
            let page_total = page
                .iter()
                .fold(0u128, |sum, exposure| sum.saturating_add(exposure.value));
            let page = ExposurePage {
                page_total,
                others: page.to_vec(),
            };
            ERAS_STAKERS_PAGED.insert(&mut ctx.state, &(era, *validator, index as u32), &page);
        }
        ERAS_STAKERS_OVERVIEW.insert(&mut ctx.state, &(era, *validator), &overview);
        let prefs = VALIDATORS.get_or_default(&mut ctx.state, validator)?;
        ERAS_VALIDATOR_PREFS.insert(&mut ctx.state, &(era, *validator), &prefs);
        era_total = era_total.saturating_add(support.total);
    }
    ERAS_ELECTED.insert(&mut ctx.state, &era, &elected.winners);
    ERAS_TOTAL_STAKE.insert(&mut ctx.state, &era, &era_total);
    Ok(())
}

/// Removes what staking kept of era `era`.
fn prune_era<E>(ctx: &mut Context<'_, E>, era: EraIndex) -> CallResult {
    let elected = ERAS_ELECTED.get_or_default(&mut ctx.state, &era)?;
    rewards::prune(ctx, era, &elected)?;
    for validator in elected {
        slashing::VALIDATOR_SLASH_IN_ERA.remove(&mut ctx.state, &(era, validator));
        let key = (era, validator);
        let pages = ERAS_STAKERS_OVERVIEW
            .get(&mut ctx.state, &key)?
            .map_or(0, |overview| overview.page_count);
        for page in 0..pages {
            ERAS_STAKERS_PAGED.remove(&mut ctx.state, &(era, validator, page));
        }
        ERAS_STAKERS_OVERVIEW.remove(&mut ctx.state, &key);
        ERAS_VALIDATOR_PREFS.remove(&mut ctx.state, &key);
    }
    ERAS_ELECTED.remove(&mut ctx.state, &era);
    ERAS_TOTAL_STAKE.remove(&mut ctx.state, &era);
    ERAS_START_SESSION_INDEX.remove(&mut ctx.state, &era);
    Ok(())
}

/// A staker in genesis.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum GenesisRole {
    /// A validator candidate with this commission.
    Validator(Perbill),
    /// A nominator of these candidates.
    Nominator(Vec<AccountId>),
    /// Bonded only.
    Idle,
}

/// Sets staking up in genesis: the parameters, the stakers' bonds and roles, and era 0's
/// election (the validators of the first era).
pub fn genesis<E: Events>(
    ctx: &mut Context<'_, E>,
    config: StakingConfig,
    stakers: &[(AccountId, Balance, GenesisRole)],
) -> CallResult {
    CONFIG.put(&mut ctx.state, &config);
    for (stash, bonded, role) in stakers {
        bond(ctx, stash, *bonded, RewardDestination::Staked)?;
        match role {
            GenesisRole::Validator(commission) => {
                let prefs = ValidatorPrefs {
                    commission: *commission,
                    blocked: false,
                };
                validate(ctx, stash, prefs)?;
            }
            GenesisRole::Nominator(targets) => {
                let targets: Vec<MultiAddress> =
                    targets.iter().map(|t| MultiAddress::Id(*t)).collect();
                nominate(ctx, stash, &targets)?;
            }
            GenesisRole::Idle => {}
        }
    }
    let elected = elect(ctx, &config)?;
    record_exposures(ctx, 0, &elected)?;
    CURRENT_ERA.put(&mut ctx.state, &0);
    ACTIVE_ERA.put(&mut ctx.state, &ActiveEraInfo::default());
    ERAS_START_SESSION_INDEX.insert(&mut ctx.state, &0, &0);
    // Session 0 starts in genesis, where no session hook runs: an era of one session plans
    // its successor here.
    if config.sessions_per_era <= 1 {
        plan_era(ctx, &config, 1, 1)?;
    }
    Ok(())
}
