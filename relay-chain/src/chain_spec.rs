//! Chain specs: a chain's name, id, boot nodes and genesis config, as JSON.

use crate::error::SpecError;
use crate::staking::{self, GenesisRole, Perbill, StakingConfig};
use crate::{configuration, messaging, paras, session, ApprovalConfig, RelayRuntime, UNIT};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::CallError;
use tessera_runtime::executive::{build_genesis, Runtime};
use tessera_runtime::messaging::HrmpChannelId;
use tessera_runtime::modules::{balances, sudo};
use tessera_runtime::state::StateChanges;
use tessera_runtime::{AccountId, Balance, Header};

/// An account written as its SS58 address in JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Address(pub AccountId);

impl TryFrom<String> for Address {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        text.parse()
            .map(Address)
            .map_err(|e| format!("{e} (`{text}`)"))
    }
}

impl From<Address> for String {
    fn from(address: Address) -> String {
        address.0.to_string()
    }
}

/// Bytes written as `0x` hex in JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct HexBytes(pub Vec<u8>);

impl TryFrom<String> for HexBytes {
    type Error = String;

    fn try_from(text: String) -> Result<Self, String> {
        let digits = text
            .strip_prefix("0x")
            .ok_or_else(|| "expected 0x-prefixed hex".to_string())?;
        hex::decode(digits)
            .map(HexBytes)
            .map_err(|e| format!("invalid hex: {e}"))
    }
}

impl From<HexBytes> for String {
    fn from(bytes: HexBytes) -> String {
        format!("0x{}", hex::encode(bytes.0))
    }
}

/// A parachain registered in genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisPara {
    /// The para's id.
    pub id: u32,
    /// Its genesis head.
    pub head: HexBytes,
    /// Its Wasm validation code.
    pub code: HexBytes,
}

/// What kind of network a spec describes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChainType {
    /// One machine, dev keys.
    Development,
    /// A local testnet, dev keys.
    Local,
    /// A public network.
    Live,
}

/// The initial state of the relay chain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisConfig {
    /// The relay runtime's Wasm, put under `:code`: what every node executes. If absent, the
    /// runtime this build carries ([`crate::WASM_BINARY`]); `tessera build-spec` writes it, so
    /// a spec file pins its runtime whatever build reads it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<HexBytes>,
    /// Endowed accounts: `[address, balance]` pairs.
    pub balances: Vec<(Address, Balance)>,
    /// The sudo key, for dev and test chains.
    #[serde(default)]
    pub sudo: Option<Address>,
    /// The validators that author and seal blocks and vote on finality.
    pub validators: Vec<Address>,
    /// Length of an authorship slot in milliseconds (the target block time).
    #[serde(default = "default_slot_duration")]
    pub slot_duration_ms: u64,
    /// Slots per epoch (the period of the authorship randomness).
    #[serde(default = "default_epoch_length")]
    pub epoch_length: u64,
    /// Parachains registered at genesis.
    #[serde(default)]
    pub paras: Vec<GenesisPara>,
    /// HRMP channels open at genesis, between paras registered above.
    #[serde(default)]
    pub hrmp_channels: Vec<GenesisChannel>,
    /// Approval checking's parameters; the dev values for the number of validators if absent
    /// ([`ApprovalConfig::dev_for`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalConfig>,
    /// Staking's parameters and genesis stakers; without it, staking's calls are refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staking: Option<GenesisStaking>,
}

/// Staking in genesis: its parameters and the stakers bonded from the start.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisStaking {
    /// Validators each era elects.
    pub validator_count: u32,
    /// Fewest validators an election must elect for its era to be planned.
    #[serde(default = "default_minimum_validator_count")]
    pub minimum_validator_count: u32,
    /// Sessions per era.
    #[serde(default = "default_sessions_per_era")]
    pub sessions_per_era: u32,
    /// Eras unbonded funds stay reserved.
    #[serde(default = "default_bonding_duration")]
    pub bonding_duration: u32,
    /// Least active bond of a validator candidate.
    #[serde(default = "default_min_validator_bond")]
    pub min_validator_bond: Balance,
    /// Least active bond of a nominator.
    #[serde(default = "default_min_nominator_bond")]
    pub min_nominator_bond: Balance,
    /// New issuance a year paid as staking rewards, in parts per billion of the issuance
    /// (10 % by default).
    #[serde(default = "default_yearly_inflation")]
    pub yearly_inflation: u32,
    /// Eras a slash waits before it is applied, for root to cancel it (at least 2 below the
    /// bonding duration).
    #[serde(default = "default_slash_defer_duration")]
    pub slash_defer_duration: u32,
    /// Stakers bonded in genesis, validators before their nominators.
    #[serde(default)]
    pub stakers: Vec<GenesisStaker>,
}

/// A staker bonded in genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisStaker {
    /// The stash (endowed in `balances`).
    pub stash: Address,
    /// What it bonds.
    pub bond: Balance,
    /// What it does with its bond.
    pub role: GenesisStakerRole,
}

/// What a genesis staker does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub enum GenesisStakerRole {
    /// A validator candidate.
    Validator {
        /// Its commission in parts per billion.
        #[serde(default)]
        commission: u32,
    },
    /// A nominator.
    Nominator {
        /// The candidates it backs (listed before it).
        targets: Vec<Address>,
    },
    /// Bonded only.
    Idle,
}

fn default_minimum_validator_count() -> u32 {
    1
}

fn default_sessions_per_era() -> u32 {
    6
}

fn default_bonding_duration() -> u32 {
    28
}

fn default_min_validator_bond() -> Balance {
    1_000 * UNIT
}

fn default_slash_defer_duration() -> u32 {
    26
}

fn default_yearly_inflation() -> u32 {
    100_000_000
}

fn default_min_nominator_bond() -> Balance {
    10 * UNIT
}

impl GenesisStaking {
    /// Dev staking: `validators` bonded as candidates with `bond` each, electing them all.
    pub fn dev(validators: &[Address], bond: Balance) -> GenesisStaking {
        GenesisStaking {
            validator_count: validators.len() as u32,
            minimum_validator_count: default_minimum_validator_count(),
            sessions_per_era: default_sessions_per_era(),
            bonding_duration: default_bonding_duration(),
            min_validator_bond: default_min_validator_bond(),
            min_nominator_bond: default_min_nominator_bond(),
            yearly_inflation: default_yearly_inflation(),
            slash_defer_duration: default_slash_defer_duration(),
            stakers: validators
                .iter()
                .map(|stash| GenesisStaker {
                    stash: *stash,
                    bond,
                    role: GenesisStakerRole::Validator { commission: 0 },
                })
                .collect(),
        }
    }

    /// The runtime's parameters.
    pub fn config(&self) -> StakingConfig {
        StakingConfig {
            validator_count: self.validator_count,
            minimum_validator_count: self.minimum_validator_count,
            sessions_per_era: self.sessions_per_era,
            bonding_duration: self.bonding_duration,
            min_validator_bond: self.min_validator_bond,
            min_nominator_bond: self.min_nominator_bond,
            yearly_inflation: Perbill(self.yearly_inflation),
            slash_defer_duration: self.slash_defer_duration,
        }
    }

    /// Why this section cannot build, as (field, reason), given the genesis balances.
    fn problem(&self, balances: &BTreeMap<AccountId, Balance>) -> Option<(String, String)> {
        let existential_deposit = RelayRuntime::CONFIG.existential_deposit;
        if self.validator_count == 0 || self.validator_count > staking::MAX_VALIDATOR_COUNT {
            let max = staking::MAX_VALIDATOR_COUNT;
            return Some(("validatorCount".into(), format!("must be 1 to {max}")));
        }
        if self.minimum_validator_count > self.validator_count {
            let why = "above validatorCount: no election could succeed".into();
            return Some(("minimumValidatorCount".into(), why));
        }
        if self.slash_defer_duration.saturating_add(2) > self.bonding_duration {
            let why = "must be at least 2 below bondingDuration, so funds unbonded from the era \
                before a report on are still bonded when its slash lands"
                .into();
            return Some(("slashDeferDuration".into(), why));
        }
        if self.slash_defer_duration.saturating_add(2) >= staking::HISTORY_DEPTH {
            let why = format!(
                "must be below {}: a slash is measured on exposures kept {} eras",
                staking::HISTORY_DEPTH - 2,
                staking::HISTORY_DEPTH
            );
            return Some(("slashDeferDuration".into(), why));
        }
        if self.yearly_inflation > staking::PERBILL_ONE {
            return Some(("yearlyInflation".into(), "above 100 %".into()));
        }
        if self.sessions_per_era == 0 {
            return Some(("sessionsPerEra".into(), "at least one session".into()));
        }
        let mut candidates = BTreeSet::new();
        let mut bonded = BTreeSet::new();
        for (index, staker) in self.stakers.iter().enumerate() {
            let field = |name: &str| format!("stakers[{index}].{name}");
            let stash = staker.stash.0;
            if !bonded.insert(stash) {
                return Some((field("stash"), format!("{stash} is bonded twice")));
            }
            let free = balances.get(&stash).copied().unwrap_or(0);
            if staker.bond.saturating_add(existential_deposit) > free {
                let why = format!(
                    "{stash} has {free}: bonding {} must leave the existential deposit free",
                    staker.bond
                );
                return Some((field("bond"), why));
            }
            match &staker.role {
                GenesisStakerRole::Validator { commission } => {
                    if *commission > staking::PERBILL_ONE {
                        return Some((field("role"), "commission above 100 %".into()));
                    }
                    if staker.bond < self.min_validator_bond {
                        return Some((field("bond"), "below minValidatorBond".into()));
                    }
                    candidates.insert(stash);
                }
                GenesisStakerRole::Nominator { targets } => {
                    if targets.is_empty() || targets.len() > staking::MAX_NOMINATIONS {
                        let max = staking::MAX_NOMINATIONS;
                        return Some((field("role"), format!("1 to {max} targets")));
                    }
                    if let Some(target) = targets.iter().find(|t| !candidates.contains(&t.0)) {
                        let why = format!("{} is no validator listed before", target.0);
                        return Some((field("role"), why));
                    }
                    if staker.bond < self.min_nominator_bond {
                        return Some((field("bond"), "below minNominatorBond".into()));
                    }
                }
                GenesisStakerRole::Idle => {
                    if staker.bond < existential_deposit {
                        return Some((field("bond"), "below the existential deposit".into()));
                    }
                }
            }
        }
        None
    }
}

/// An HRMP channel open at genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GenesisChannel {
    /// The sending para.
    pub sender: u32,
    /// The receiving para.
    pub recipient: u32,
    /// Most messages it holds.
    #[serde(default = "default_channel_capacity")]
    pub max_capacity: u32,
    /// Largest message in bytes.
    #[serde(default = "default_channel_message_size")]
    pub max_message_size: u32,
}

fn default_channel_capacity() -> u32 {
    DEFAULT_CHANNEL_CAPACITY
}

fn default_channel_message_size() -> u32 {
    DEFAULT_CHANNEL_MESSAGE_SIZE
}

/// Capacity of a genesis channel unless the spec says otherwise (Polkadot's default).
pub const DEFAULT_CHANNEL_CAPACITY: u32 = 8;
/// Largest message of a genesis channel unless the spec says otherwise.
pub const DEFAULT_CHANNEL_MESSAGE_SIZE: u32 = 51_200;

impl GenesisConfig {
    /// The approval parameters this genesis sets: the spec's, or the dev values for its
    /// validators.
    pub fn approval_config(&self) -> ApprovalConfig {
        self.approval
            .unwrap_or_else(|| ApprovalConfig::dev_for(self.validators.len()))
    }

    /// Opens channels both ways between every two registered paras, with default limits.
    pub fn open_all_channels(&mut self) {
        let ids: Vec<u32> = self.paras.iter().map(|para| para.id).collect();
        for &sender in &ids {
            for &recipient in ids.iter().filter(|id| **id != sender) {
                let exists = self
                    .hrmp_channels
                    .iter()
                    .any(|channel| channel.sender == sender && channel.recipient == recipient);
                if !exists {
                    self.hrmp_channels.push(GenesisChannel {
                        sender,
                        recipient,
                        max_capacity: DEFAULT_CHANNEL_CAPACITY,
                        max_message_size: DEFAULT_CHANNEL_MESSAGE_SIZE,
                    });
                }
            }
        }
    }
}

/// What each dev validator bonds in the built-in specs (of its 1,000,000 units).
pub const DEV_VALIDATOR_BOND: Balance = 100_000 * UNIT;

/// Default slot length: 2 s.
pub const DEFAULT_SLOT_DURATION_MS: u64 = 2_000;
/// Default epoch length: 200 slots.
pub const DEFAULT_EPOCH_LENGTH: u64 = 200;
/// Shortest slot accepted: shorter slots leave no time to build and gossip a block.
pub const MIN_SLOT_DURATION_MS: u64 = 50;

fn default_slot_duration() -> u64 {
    DEFAULT_SLOT_DURATION_MS
}

fn default_epoch_length() -> u64 {
    DEFAULT_EPOCH_LENGTH
}

/// A chain's description: name, id, boot nodes and genesis.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ChainSpec {
    /// Human-readable name.
    pub name: String,
    /// Short id, used in the database path.
    pub id: String,
    /// Kind of network.
    pub chain_type: ChainType,
    /// libp2p multiaddresses to connect to first.
    #[serde(default)]
    pub boot_nodes: Vec<String>,
    /// The genesis config.
    pub genesis: GenesisConfig,
    /// Relay runtimes nodes run in place of the chain's own, by the block from whose state on
    /// each runs (Substrate's `codeSubstitutes`): to bring back a chain whose runtime fails
    /// every block. One runs as long as the chain's `:code` is the one it had at that block.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub code_substitutes: BTreeMap<u32, HexBytes>,
}

/// The genesis block's header and the state it commits to.
#[derive(Clone, Debug)]
pub struct Genesis {
    /// The genesis header.
    pub header: Header,
    /// The genesis state: root and trie nodes.
    pub state: StateChanges,
    /// The spec's code substitutes, by the block from whose state on each runs.
    pub code_substitutes: BTreeMap<u32, Vec<u8>>,
}

/// The well-known development accounts (`//Alice` …), funded in the dev and local specs.
pub use tessera_runtime::crypto::DEV_ACCOUNTS;

fn dev_account(name: &str) -> Address {
    Address(Pair::dev(name).public())
}

impl ChainSpec {
    /// The single-validator development chain: Alice validates and holds sudo; the six dev
    /// accounts each have a million units.
    pub fn dev() -> ChainSpec {
        Self::dev_with_validators(1)
    }

    /// A local testnet of `validators` dev validators (Alice, Bob, ...; at most six).
    pub fn dev_with_validators(validators: usize) -> ChainSpec {
        let validators = validators.clamp(1, DEV_ACCOUNTS.len());
        ChainSpec {
            name: if validators == 1 {
                "Development"
            } else {
                "Local Testnet"
            }
            .into(),
            id: if validators == 1 {
                "dev"
            } else {
                "local_testnet"
            }
            .into(),
            chain_type: if validators == 1 {
                ChainType::Development
            } else {
                ChainType::Local
            },
            boot_nodes: Vec::new(),
            genesis: GenesisConfig {
                code: None,
                balances: DEV_ACCOUNTS
                    .iter()
                    .map(|name| (dev_account(name), 1_000_000 * UNIT))
                    .collect(),
                sudo: Some(dev_account("Alice")),
                validators: DEV_ACCOUNTS
                    .iter()
                    .take(validators)
                    .map(|n| dev_account(n))
                    .collect(),
                slot_duration_ms: DEFAULT_SLOT_DURATION_MS,
                epoch_length: DEFAULT_EPOCH_LENGTH,
                paras: Vec::new(),
                hrmp_channels: Vec::new(),
                approval: Some(ApprovalConfig::dev_for(validators)),
                staking: Some(GenesisStaking::dev(
                    &DEV_ACCOUNTS
                        .iter()
                        .take(validators)
                        .map(|n| dev_account(n))
                        .collect::<Vec<_>>(),
                    DEV_VALIDATOR_BOND,
                )),
            },
            code_substitutes: BTreeMap::new(),
        }
    }

    /// A built-in spec by name (`dev`, `local`), or the spec in the JSON file at that path.
    pub fn load(chain: &str) -> Result<ChainSpec, SpecError> {
        match chain {
            "dev" | "" => Ok(Self::dev()),
            "local" => Ok(Self::dev_with_validators(4)),
            path => {
                let json = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
                    path: path.into(),
                    source,
                })?;
                Self::from_json(&json)
            }
        }
    }

    /// Parses and checks a JSON chain spec; errors name the offending field.
    pub fn from_json(json: &str) -> Result<ChainSpec, SpecError> {
        let deserializer = &mut serde_json::Deserializer::from_str(json);
        let spec: ChainSpec = serde_path_to_error::deserialize(deserializer).map_err(|err| {
            let field = err.path().to_string();
            SpecError::Json {
                field,
                message: err.into_inner().to_string(),
            }
        })?;
        spec.check()?;
        Ok(spec)
    }

    /// The spec as pretty JSON.
    pub fn to_json(&self) -> String {
        // A spec holds only strings, numbers and lists: serializing cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// This spec with its runtime written in, if it named none: what `build-spec` writes.
    pub fn with_code(mut self) -> ChainSpec {
        if self.genesis.code.is_none() {
            self.genesis.code = Some(HexBytes(crate::WASM_BINARY.to_vec()));
        }
        self
    }

    /// The relay runtime genesis puts under `:code`.
    pub fn code(&self) -> &[u8] {
        self.genesis
            .code
            .as_ref()
            .map_or(crate::WASM_BINARY, |code| &code.0)
    }

    fn check(&self) -> Result<(), SpecError> {
        let invalid = |field: String, message: String| SpecError::Invalid { field, message };
        let genesis = &self.genesis;
        if let Some(code) = &genesis.code {
            let max = tessera_runtime::modules::system::MAX_RUNTIME_CODE_SIZE;
            if code.0.len() > max {
                return Err(invalid(
                    "genesis.code".into(),
                    format!("{} bytes exceed the limit of {max}", code.0.len()),
                ));
            }
            let kind = tessera_runtime::wasm::ChainKind::Relay;
            let version = tessera_runtime::wasm::check_code(&code.0, kind)
                .map_err(|err| invalid("genesis.code".into(), format!("the runtime {err}")))?;
            let ours = RelayRuntime::VERSION.spec_name;
            if version.spec_name != ours {
                return Err(invalid(
                    "genesis.code".into(),
                    format!("runtime `{}` is not a `{ours}` runtime", version.spec_name),
                ));
            }
        }
        for (from, code) in &self.code_substitutes {
            let field = format!("codeSubstitutes.{from}");
            let max = tessera_runtime::modules::system::MAX_RUNTIME_CODE_SIZE;
            if code.0.len() > max {
                return Err(invalid(
                    field,
                    format!("{} bytes exceed the limit of {max}", code.0.len()),
                ));
            }
            let kind = tessera_runtime::wasm::ChainKind::Relay;
            let version = tessera_runtime::wasm::check_code(&code.0, kind)
                .map_err(|err| invalid(field.clone(), format!("the runtime {err}")))?;
            let ours = RelayRuntime::VERSION.spec_name;
            if version.spec_name != ours {
                return Err(invalid(
                    field,
                    format!("runtime `{}` is not a `{ours}` runtime", version.spec_name),
                ));
            }
        }
        let existential_deposit = RelayRuntime::CONFIG.existential_deposit;
        let mut seen = BTreeSet::new();
        let mut issuance: Balance = 0;
        for (index, (address, balance)) in genesis.balances.iter().enumerate() {
            if !seen.insert(*address) {
                return Err(invalid(
                    format!("genesis.balances[{index}][0]"),
                    format!("account {} is endowed twice", address.0),
                ));
            }
            if *balance < existential_deposit {
                return Err(invalid(
                    format!("genesis.balances[{index}][1]"),
                    format!("{balance} is below the existential deposit {existential_deposit}"),
                ));
            }
            issuance = issuance.checked_add(*balance).ok_or_else(|| {
                invalid(
                    format!("genesis.balances[{index}][1]"),
                    "total issuance overflows".into(),
                )
            })?;
        }
        if genesis.validators.is_empty() {
            return Err(invalid(
                "genesis.validators".into(),
                "at least one validator".into(),
            ));
        }
        if genesis.slot_duration_ms < MIN_SLOT_DURATION_MS {
            return Err(invalid(
                "genesis.slotDurationMs".into(),
                format!("at least {MIN_SLOT_DURATION_MS} ms"),
            ));
        }
        if genesis.epoch_length == 0 {
            return Err(invalid(
                "genesis.epochLength".into(),
                "at least one slot".into(),
            ));
        }
        if let Some((field, reason)) = genesis.approval.as_ref().and_then(ApprovalConfig::problem) {
            return Err(invalid(format!("genesis.approval.{field}"), reason.into()));
        }
        let mut para_ids = BTreeSet::new();
        for (index, para) in genesis.paras.iter().enumerate() {
            if !para_ids.insert(para.id) {
                return Err(invalid(
                    format!("genesis.paras[{index}].id"),
                    format!("para {} is registered twice", para.id),
                ));
            }
            if para.code.0.is_empty() || para.code.0.len() > paras::MAX_CODE_SIZE {
                return Err(invalid(
                    format!("genesis.paras[{index}].code"),
                    format!("code must be 1 to {} bytes", paras::MAX_CODE_SIZE),
                ));
            }
            if para.head.0.len() > paras::MAX_HEAD_SIZE {
                return Err(invalid(
                    format!("genesis.paras[{index}].head"),
                    format!("head must be at most {} bytes", paras::MAX_HEAD_SIZE),
                ));
            }
        }
        if let Some(staking) = &genesis.staking {
            let balances = genesis.balances.iter().map(|(a, b)| (a.0, *b)).collect();
            if let Some((field, reason)) = staking.problem(&balances) {
                return Err(invalid(format!("genesis.staking.{field}"), reason));
            }
        }
        let mut validators = BTreeSet::new();
        for (index, validator) in genesis.validators.iter().enumerate() {
            if !validators.insert(*validator) {
                return Err(invalid(
                    format!("genesis.validators[{index}]"),
                    format!("validator {} is listed twice", validator.0),
                ));
            }
        }
        Ok(())
    }

    /// Builds the genesis state and header.
    pub fn build_genesis(&self) -> Result<Genesis, SpecError> {
        self.check()?;
        let config = &self.genesis;
        let (header, state) = build_genesis::<RelayRuntime>(|ctx| {
            let code = tessera_runtime::storage::CODE_KEY.to_vec();
            ctx.state.set(code, self.code().to_vec());
            let fees = tessera_runtime::messaging::XCM_FEE_ACCOUNT;
            let existential_deposit = ctx.config.existential_deposit;
            balances::force_set_balance(ctx, &fees, existential_deposit)?;
            for (address, balance) in &config.balances {
                balances::force_set_balance(ctx, &address.0, *balance)?;
            }
            if let Some(key) = config.sudo {
                sudo::KEY.put(&mut ctx.state, &key.0);
            }
            let validators: Vec<AccountId> = config.validators.iter().map(|v| v.0).collect();
            session::genesis(&mut ctx.state, &validators);
            session::SLOT_DURATION.put(&mut ctx.state, &config.slot_duration_ms);
            session::EPOCH_LENGTH.put(&mut ctx.state, &config.epoch_length);
            configuration::APPROVAL.put(&mut ctx.state, &config.approval_config());
            crate::babe::genesis(&mut ctx.state, &validators, [0; 32]);
            if let Some(staking) = &config.staking {
                let stakers: Vec<_> = staking
                    .stakers
                    .iter()
                    .map(|staker| {
                        let role = match &staker.role {
                            GenesisStakerRole::Validator { commission } => {
                                GenesisRole::Validator(Perbill(*commission))
                            }
                            GenesisStakerRole::Nominator { targets } => {
                                GenesisRole::Nominator(targets.iter().map(|t| t.0).collect())
                            }
                            GenesisStakerRole::Idle => GenesisRole::Idle,
                        };
                        (staker.stash.0, staker.bond, role)
                    })
                    .collect();
                staking::genesis(ctx, staking.config(), &stakers)?;
            }
            for para in &config.paras {
                paras::register(
                    &mut ctx.state,
                    paras::ParaId(para.id),
                    paras::HeadData(para.head.0.clone()),
                    paras::ValidationCode(para.code.0.clone()),
                )?;
            }
            for channel in &config.hrmp_channels {
                let id = HrmpChannelId {
                    sender: paras::ParaId(channel.sender),
                    recipient: paras::ParaId(channel.recipient),
                };
                messaging::open_channel(ctx, id, channel.max_capacity, channel.max_message_size)?;
            }
            Ok::<(), CallError>(())
        })
        .map_err(|err| SpecError::Genesis(err.to_string()))?;
        let code_substitutes = self
            .code_substitutes
            .iter()
            .map(|(from, code)| (*from, code.0.clone()))
            .collect();
        Ok(Genesis {
            header,
            state,
            code_substitutes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dev_spec_round_trips_through_json() {
        let spec = ChainSpec::dev();
        let json = spec.to_json();
        assert!(json.contains("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"));
        assert_eq!(ChainSpec::from_json(&json).unwrap(), spec);
    }

    #[test]
    fn genesis_is_deterministic() {
        let a = ChainSpec::dev().build_genesis().unwrap();
        let b = ChainSpec::dev().build_genesis().unwrap();
        assert_eq!(a.header.hash(), b.header.hash());
        assert_ne!(
            a.header.hash(),
            ChainSpec::dev_with_validators(4)
                .build_genesis()
                .unwrap()
                .header
                .hash()
        );
    }

    fn error_field(json: &str) -> String {
        match ChainSpec::from_json(json).unwrap_err() {
            SpecError::Json { field, .. } | SpecError::Invalid { field, .. } => field,
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn invalid_specs_name_the_field() {
        let good = ChainSpec::dev().to_json();
        let bad_address = good.replacen(
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY",
            "5Grw",
            1,
        );
        assert_eq!(error_field(&bad_address), "genesis.balances[0][0]");

        let mut spec: serde_json::Value = serde_json::from_str(&good).unwrap();
        spec["genesis"]["balances"][1][1] = serde_json::json!(1);
        assert_eq!(error_field(&spec.to_string()), "genesis.balances[1][1]");

        let mut spec: serde_json::Value = serde_json::from_str(&good).unwrap();
        spec["genesis"]["validators"] = serde_json::json!([]);
        assert_eq!(error_field(&spec.to_string()), "genesis.validators");

        let mut spec: serde_json::Value = serde_json::from_str(&good).unwrap();
        spec["genesis"]["sudo"] = serde_json::json!(7);
        assert_eq!(error_field(&spec.to_string()), "genesis.sudo");

        let mut spec: serde_json::Value = serde_json::from_str(&good).unwrap();
        spec["chainType"] = serde_json::json!("Moon");
        assert_eq!(error_field(&spec.to_string()), "chainType");

        let mut spec: serde_json::Value = serde_json::from_str(&good).unwrap();
        spec["genesis"]["extra"] = serde_json::json!(1);
        assert_eq!(error_field(&spec.to_string()), "genesis.extra");

        let mut spec: serde_json::Value = serde_json::from_str(&good).unwrap();
        spec["genesis"]["approval"]["noShowMs"] = serde_json::json!(10);
        assert_eq!(error_field(&spec.to_string()), "genesis.approval.noShowMs");
    }

    #[test]
    fn approval_parameters_come_from_the_spec_or_the_dev_values_for_its_validators() {
        let read = |spec: &ChainSpec| {
            let genesis = spec.build_genesis().unwrap();
            let nodes: std::collections::BTreeMap<_, _> =
                genesis.state.new_nodes.into_iter().collect();
            let mut state = tessera_runtime::state::State::new(&nodes, genesis.header.state_root);
            configuration::APPROVAL.get(&mut state).unwrap().unwrap()
        };
        assert_eq!(read(&ChainSpec::dev_with_validators(4)).needed_approvals, 1);
        assert_eq!(read(&ChainSpec::dev_with_validators(6)).needed_approvals, 2);

        let mut json: serde_json::Value =
            serde_json::from_str(&ChainSpec::dev_with_validators(6).to_json()).unwrap();
        json["genesis"]["approval"]["neededApprovals"] = serde_json::json!(3);
        let spec = ChainSpec::from_json(&json.to_string()).unwrap();
        assert_eq!(read(&spec).needed_approvals, 3);

        json["genesis"].as_object_mut().unwrap().remove("approval");
        let spec = ChainSpec::from_json(&json.to_string()).unwrap();
        assert_eq!(read(&spec), ApprovalConfig::dev_for(6));
    }
}
