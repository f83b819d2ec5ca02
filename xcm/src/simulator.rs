//! An in-memory network of a relay chain and paras running the [`module`](crate::module), for
//! tests, fuzzing and benchmarks of the executor (in the spirit of Polkadot's
//! `xcm-simulator`). Each chain keeps its own trie state; a message a chain sends is delivered
//! to its destination at once, in a block of its own there. The relay and paras transport of
//! the node is not involved: this is the executor and the module, chain to chain.

use crate::executor::{Fault, Outcome};
use crate::module::{self, XcmChain, XcmRuntime};
use crate::v5::{
    Asset, AssetId, Error as XcmError, Instruction, Junction, Junctions, Location, NetworkId,
    PalletInfo, Weight,
};
use alloc::collections::BTreeMap;
use alloc::vec::Vec;
use core::cell::RefCell;
use tessera_runtime::crypto::AccountId;
use tessera_runtime::dispatch::{CallResult, Context, Dispatch, Origin, RuntimeConfig};
use tessera_runtime::modules::{balances, system};
use tessera_runtime::state::State;
use tessera_runtime::{Balance, Hash};

/// One unit of every chain's token: 12 decimals.
pub const UNIT: Balance = 1_000_000_000_000;

/// Constants of every simulated chain.
pub const CONFIG: RuntimeConfig = RuntimeConfig {
    existential_deposit: UNIT / 100,
    base_fee: 0,
    fee_per_weight: 1,
    fee_per_byte: 0,
    max_block_weight: u64::MAX,
    max_block_length: u32::MAX,
};

/// Most weight one delivered message may use.
pub const MESSAGE_WEIGHT_LIMIT: Weight = Weight::from_parts(10_000_000_000, 1 << 20);

/// Most messages one [`Network::dispatch`] delivers before it stops (message loops).
pub const MAX_DELIVERIES: usize = 64;

/// The account that collects XCM fees on every simulated chain.
pub const FEE_ACCOUNT: AccountId = tessera_runtime::messaging::XCM_FEE_ACCOUNT;

/// The para that the relay chain trusts with teleports of its token (and that trusts it).
pub const TELEPORTING_PARA: u32 = 1002;

/// The simulated consensus system.
pub const NETWORK: NetworkId = NetworkId::Polkadot;

tessera_runtime::compose_runtime! {
    modules {
        /// Blocks, accounts and events.
        0 => System {
            call: system::Call,
            event: system::Event,
            error: system::Error,
            storage: system::storage_metadata,
        },
        /// Balances and transfers.
        1 => Balances {
            call: balances::Call,
            event: balances::Event,
            error: balances::Error,
            storage: balances::storage_metadata,
        },
        /// Sending, receiving and executing XCM.
        2 => PolkadotXcm {
            call: module::Call,
            event: module::Event,
            error: module::Error,
            storage: module::storage_metadata,
        },
        /// The fee each transaction paid.
        3 => TransactionPayment { event: tessera_runtime::payment::Event, },
    }
    inherents {}
}

std::thread_local! {
    /// The chain executing now (the simulator runs one at a time).
    static CURRENT: RefCell<Junctions> = const { RefCell::new(Junctions::Here) };
    /// Messages sent and not yet delivered: sender, destination, bytes.
    static OUTBOX: RefCell<Vec<(Junctions, Location, Vec<u8>)>> = const { RefCell::new(Vec::new()) };
}

/// Where the simulated chain running now is.
fn current() -> Junctions {
    CURRENT.with(|current| current.borrow().clone())
}

/// Any simulated chain: the relay chain or a para, told apart by [`current`].
pub struct SimChain;

impl XcmChain for SimChain {
    fn universal_location<E>(_ctx: &mut Context<'_, E>) -> tessera_runtime::Result<Junctions> {
        Ok(current())
    }

    fn fee_account() -> AccountId {
        FEE_ACCOUNT
    }

    fn fee_rate(id: &AssetId) -> Option<u128> {
        // The native token and every chain's token in the network pay, one for one.
        let location = &id.0;
        match (location.parents, location.interior.as_slice()) {
            (0, []) | (1, []) | (1, [Junction::Parachain(_)]) | (0, [Junction::Parachain(_)]) => {
                Some(1)
            }
            _ => None,
        }
    }

    fn is_superuser(origin: &Location) -> bool {
        // The relay chain governs its paras.
        *origin == Location::parent() && current().len() > 1
    }

    fn is_unpaid_allowed(origin: &Location) -> bool {
        *origin == Location::parent()
    }

    /// The relay token moves by teleport between the relay chain and para [`TELEPORTING_PARA`]
    /// (as between Polkadot and its system paras); everything else by reserve.
    fn is_teleporter(asset: &Asset, location: &Location) -> bool {
        let here = current();
        let on_relay = here.len() == 1;
        let on_teleporting_para =
            here.as_slice().last() == Some(&Junction::Parachain(TELEPORTING_PARA));
        let relay_token = if on_relay {
            Location::here()
        } else {
            Location::parent()
        };
        asset.id.0 == relay_token
            && ((on_relay && *location == Location::child_para(TELEPORTING_PARA))
                || (on_teleporting_para && *location == Location::parent()))
    }

    fn deliver<E>(
        _ctx: &mut Context<'_, E>,
        dest: &Location,
        message: Vec<u8>,
    ) -> Result<(), Fault> {
        let from = current();
        if resolve(&from, dest).is_none() {
            return Err(XcmError::Unroutable.into());
        }
        OUTBOX.with(|outbox| outbox.borrow_mut().push((from, dest.clone(), message)));
        Ok(())
    }

    fn pallets() -> Vec<PalletInfo> {
        ["System", "Balances", "PolkadotXcm"]
            .iter()
            .zip(0u32..)
            .filter_map(|(name, index)| {
                let name = crate::v5::BoundedVec::new(name.as_bytes().to_vec())?;
                Some(PalletInfo {
                    index,
                    name: name.clone(),
                    module_name: name,
                    major: 0,
                    minor: 1,
                    patch: 0,
                })
            })
            .collect()
    }
}

impl XcmRuntime for Event {
    type Chain = SimChain;
    type Call = Call;
}

/// The absolute location of `dest` seen from `from`, if it is a chain of this network:
/// the relay chain or one of its paras.
fn resolve(from: &Junctions, dest: &Location) -> Option<Junctions> {
    let mut absolute = from.as_slice().to_vec();
    for _ in 0..dest.parents {
        absolute.pop()?;
    }
    absolute.extend_from_slice(dest.interior.as_slice());
    match absolute.as_slice() {
        [Junction::GlobalConsensus(NETWORK)]
        | [Junction::GlobalConsensus(NETWORK), Junction::Parachain(_)] => {
            Junctions::from_slice(&absolute)
        }
        _ => None,
    }
}

/// A simulated chain: its place, trie state and events.
#[derive(Clone)]
pub struct Chain {
    /// Where it is.
    pub location: Junctions,
    store: BTreeMap<Hash, Vec<u8>>,
    root: Hash,
    number: u32,
    /// Every event so far, oldest first.
    pub events: Vec<Event>,
}

impl Chain {
    fn genesis(
        location: Junctions,
        build: impl FnOnce(&mut Context<'_, Event>) -> CallResult,
    ) -> Chain {
        let mut chain = Chain {
            location,
            store: BTreeMap::new(),
            root: tessera_runtime::trie::empty_root(),
            number: 0,
            events: Vec::new(),
        };
        let built = chain.block(build);
        assert!(
            matches!(built, Ok(Ok(()))),
            "invalid simulator genesis: {built:?}"
        );
        chain
    }

    /// Runs `f` in a new block of this chain and commits its changes.
    fn block<R>(
        &mut self,
        f: impl FnOnce(&mut Context<'_, Event>) -> R,
    ) -> tessera_runtime::Result<R> {
        CURRENT.with(|current| *current.borrow_mut() = self.location.clone());
        self.number += 1;
        let state = State::new(&self.store, self.root);
        let mut ctx = Context::new(state, self.number, CONFIG);
        let result = f(&mut ctx);
        let (state, events) = ctx.into_parts();
        let changes = state.commit()?;
        self.store.extend(changes.new_nodes);
        self.root = changes.root;
        self.events
            .extend(events.into_iter().map(|record| record.event));
        Ok(result)
    }

    /// Reads this chain's state with `f` (changes are dropped).
    pub fn read<R>(&self, f: impl FnOnce(&mut Context<'_, Event>) -> R) -> R {
        CURRENT.with(|current| *current.borrow_mut() = self.location.clone());
        let state = State::new(&self.store, self.root);
        let mut ctx = Context::new(state, self.number, CONFIG);
        f(&mut ctx)
    }

    /// The native balance of `who`.
    pub fn balance(&self, who: &AccountId) -> Balance {
        self.read(|ctx| balances::free_balance(ctx, who))
            .unwrap_or(0)
    }

    /// The balance of foreign asset `id` held by `who`.
    pub fn foreign_balance(&self, id: &Location, who: &AccountId) -> u128 {
        self.read(|ctx| module::foreign_balance(ctx, &AssetId(id.clone()), who))
            .unwrap_or(0)
    }

    /// The native total issuance.
    pub fn total_issuance(&self) -> Balance {
        self.read(balances::total_issuance).unwrap_or(0)
    }

    /// The total issuance here of foreign asset `id`.
    pub fn foreign_issuance(&self, id: &Location) -> u128 {
        self.read(|ctx| module::FOREIGN_ASSETS.get(&mut ctx.state, &AssetId(id.clone())))
            .ok()
            .flatten()
            .unwrap_or(0)
    }

    /// The `xcm` events so far.
    pub fn xcm_events(&self) -> Vec<module::Event> {
        self.events
            .iter()
            .filter_map(|event| match event {
                Event::PolkadotXcm(event) => Some(event.clone()),
                _ => None,
            })
            .collect()
    }
}

/// Which chain.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum ChainId {
    /// The relay chain.
    Relay,
    /// A para.
    Para(u32),
}

/// A relay chain and its paras, every account of `accounts` holding `endowment` of each
/// chain's native token; each para registers the relay token and its siblings' tokens.
#[derive(Clone)]
pub struct Network {
    chains: BTreeMap<ChainId, Chain>,
    /// What each delivered message did: receiver, message id and outcome.
    pub delivered: Vec<(ChainId, [u8; 32], Outcome)>,
}

impl Network {
    /// A network of the relay chain and `paras`.
    pub fn new(paras: &[u32], accounts: &[AccountId], endowment: Balance) -> Network {
        let relay =
            Junctions::from_slice(&[Junction::GlobalConsensus(NETWORK)]).unwrap_or(Junctions::Here);
        let endow = |ctx: &mut Context<'_, Event>| -> CallResult {
            for who in accounts {
                balances::force_set_balance(ctx, who, endowment)?;
            }
            // Fees below the existential deposit would be burnt into a fresh account.
            balances::force_set_balance(ctx, &FEE_ACCOUNT, UNIT)?;
            Ok(())
        };
        let mut chains = BTreeMap::new();
        chains.insert(ChainId::Relay, Chain::genesis(relay.clone(), endow));
        for &id in paras {
            let location = relay
                .pushed(Junction::Parachain(id))
                .unwrap_or(Junctions::Here);
            let chain = Chain::genesis(location, |ctx| {
                endow(ctx)?;
                module::register_foreign_asset(ctx, AssetId(Location::parent()))?;
                for &sibling in paras.iter().filter(|sibling| **sibling != id) {
                    module::register_foreign_asset(ctx, AssetId(Location::sibling_para(sibling)))?;
                }
                Ok(())
            });
            chains.insert(ChainId::Para(id), chain);
        }
        Network {
            chains,
            delivered: Vec::new(),
        }
    }

    /// The chain `id`.
    pub fn chain(&self, id: ChainId) -> &Chain {
        &self.chains[&id]
    }

    /// Dispatches `call` from `origin` on chain `on` in a block of its own (rolled back if it
    /// fails), then delivers every message that follows from it.
    pub fn dispatch(&mut self, on: ChainId, origin: Origin, call: Call) -> CallResult {
        let chain = self.chains.get_mut(&on).expect("a chain of this network");
        let result = chain.block(|ctx| {
            ctx.state.start_transaction();
            let result = call.dispatch(ctx, origin);
            match &result {
                Ok(()) => ctx.state.commit_transaction()?,
                Err(_) => {
                    ctx.state.rollback_transaction()?;
                    OUTBOX.with(|outbox| outbox.borrow_mut().clear());
                }
            }
            Ok::<_, tessera_runtime::Error>(result)
        })??;
        if result.is_ok() {
            self.deliver_all();
        }
        result
    }

    /// Runs `f` in a block of chain `on` (e.g. to set state up), then delivers what follows.
    pub fn with<R>(&mut self, on: ChainId, f: impl FnOnce(&mut Context<'_, Event>) -> R) -> R {
        let chain = self.chains.get_mut(&on).expect("a chain of this network");
        let result = chain.block(f).expect("the simulator's state is in memory");
        self.deliver_all();
        result
    }

    /// Moves chain `on` forward `count` empty blocks.
    pub fn skip_blocks(&mut self, on: ChainId, count: u32) {
        let chain = self.chains.get_mut(&on).expect("a chain of this network");
        chain.number = chain.number.saturating_add(count);
    }

    /// Runs raw `bytes` on chain `on` as a message from `origin`, then delivers what follows.
    pub fn receive(&mut self, on: ChainId, origin: Location, bytes: &[u8]) -> ([u8; 32], Outcome) {
        let chain = self.chains.get_mut(&on).expect("a chain of this network");
        let result = chain
            .block(|ctx| module::receive(ctx, origin, bytes, MESSAGE_WEIGHT_LIMIT))
            .and_then(|result| result)
            .expect("the simulator's state is in memory");
        self.delivered.push((on, result.0, result.1.clone()));
        self.deliver_all();
        result
    }

    /// Delivers queued messages (and those they cause) up to [`MAX_DELIVERIES`].
    fn deliver_all(&mut self) {
        for _ in 0..MAX_DELIVERIES {
            let Some((from, dest, bytes)) = OUTBOX.with(|outbox| {
                let mut outbox = outbox.borrow_mut();
                (!outbox.is_empty()).then(|| outbox.remove(0))
            }) else {
                return;
            };
            let Some(target) = resolve(&from, &dest) else {
                continue;
            };
            let Some((&id, _)) = self
                .chains
                .iter()
                .find(|(_, chain)| chain.location == target)
            else {
                continue;
            };
            let Some(origin) = Location::here().reanchored(&dest, &from) else {
                continue;
            };
            let chain = self.chains.get_mut(&id).expect("found above");
            if let Ok(Ok(result)) =
                chain.block(|ctx| module::receive(ctx, origin, &bytes, MESSAGE_WEIGHT_LIMIT))
            {
                self.delivered.push((id, result.0, result.1));
            }
        }
        OUTBOX.with(|outbox| outbox.borrow_mut().clear());
    }
}

/// The location of account `who` on the chain that sees it.
pub fn account(who: &AccountId) -> Location {
    module::account_location(who)
}

/// `instruction` alone, for building messages in tests.
pub fn one(instruction: Instruction) -> crate::v5::Xcm {
    crate::v5::Xcm(alloc::vec![instruction])
}
