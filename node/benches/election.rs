//! The era election at Polkadot's scale: 1,000 validator candidates and 20,000 nominators of
//! 16 targets each, electing 300 and 600 validators.
//!
//! `cargo bench -p tessera-node --bench election`. Sequential Phragmén alone, native
//! (`election::seq_phragmen` and the stake split); then the whole era planning as a block
//! runs it, through the parachains inherent of a block that starts an era's last session on a
//! chain whose genesis bonded all those stakers (the walk over the staker lists, the ledger
//! reads, the election and the exposures written), natively and through the relay runtime's
//! Wasm as nodes import it. Stakes and nominations come from a seeded generator.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_node::validation::{with_runtime_at, CodeSubstitutes};
use tessera_relay_chain::election::{self, Voter};
use tessera_relay_chain::staking::{self, MAX_NOMINATIONS};
use tessera_relay_chain::{
    inclusion, Address, Call, ChainSpec, GenesisStaker, GenesisStakerRole, RelayRuntime, UNIT,
};
use tessera_runtime::consensus::PreDigest;
use tessera_runtime::executive::execute_block;
use tessera_runtime::extrinsic::Extrinsic;
use tessera_runtime::parachain::{build_block_with_digest, BuiltBlock};
use tessera_runtime::state::State;
use tessera_runtime::{AccountId, Balance, Hash, Header};

const CANDIDATES: usize = 1_000;
const NOMINATORS: usize = 20_000;

struct Stakers {
    candidates: Vec<(AccountId, Balance)>,
    nominators: Vec<(AccountId, Balance, Vec<AccountId>)>,
}

fn account(index: usize) -> AccountId {
    let mut bytes = [0u8; 32];
    bytes[..8].copy_from_slice(&(index as u64 + 1).to_le_bytes());
    bytes[31] = 0x57;
    AccountId(bytes)
}

/// SplitMix64: enough randomness for stakes and nominations, and no dependency.
struct Seeded(u64);

impl Seeded {
    fn below(&mut self, bound: u64) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        (z ^ (z >> 31)) % bound
    }

    fn between(&mut self, low: u64, high: u64) -> Balance {
        Balance::from(low + self.below(high - low))
    }
}

fn stakers() -> Stakers {
    let mut rng = Seeded(17);
    let candidates = (0..CANDIDATES)
        .map(|i| (account(i), rng.between(1_000, 100_000) * UNIT))
        .collect::<Vec<_>>();
    let nominators = (0..NOMINATORS)
        .map(|i| {
            let mut targets = Vec::with_capacity(MAX_NOMINATIONS);
            while targets.len() < MAX_NOMINATIONS {
                let target = candidates[rng.below(CANDIDATES as u64) as usize].0;
                if !targets.contains(&target) {
                    targets.push(target);
                }
            }
            let stake = rng.between(10, 10_000) * UNIT;
            (account(CANDIDATES + i), stake, targets)
        })
        .collect();
    Stakers {
        candidates,
        nominators,
    }
}

fn median(mut op: impl FnMut(), runs: usize) -> Duration {
    let mut times: Vec<Duration> = (0..runs)
        .map(|_| {
            let started = Instant::now();
            op();
            started.elapsed()
        })
        .collect();
    times.sort();
    times[times.len() / 2]
}

fn phragmen_alone(stakers: &Stakers, seats: usize) -> Duration {
    let issuance: Balance = stakers.candidates.iter().map(|c| c.1).sum::<Balance>()
        + stakers.nominators.iter().map(|n| n.1).sum::<Balance>();
    let candidates: Vec<AccountId> = stakers.candidates.iter().map(|c| c.0).collect();
    let mut stakes = BTreeMap::new();
    let mut voters = Vec::new();
    for (who, stake) in &stakers.candidates {
        stakes.insert(*who, *stake);
        voters.push(Voter {
            who: *who,
            weight: staking::to_vote(*stake, issuance),
            targets: vec![*who],
        });
    }
    for (who, stake, targets) in &stakers.nominators {
        stakes.insert(*who, *stake);
        voters.push(Voter {
            who: *who,
            weight: staking::to_vote(*stake, issuance),
            targets: targets.clone(),
        });
    }
    median(
        || {
            let result = election::seq_phragmen(seats, &candidates, &voters);
            let supports = election::supports(&result, |who| stakes[who]);
            assert_eq!(supports.len(), seats);
        },
        5,
    )
}

/// A chain whose genesis bonded every staker, and whose every slot is an epoch, so each block
/// after the first starts a session that plans an era.
fn chain_spec(stakers: &Stakers, seats: u32) -> ChainSpec {
    let mut spec = ChainSpec::dev_with_validators(4);
    spec.genesis.epoch_length = 1;
    let staking = spec.genesis.staking.as_mut().expect("dev staking");
    staking.validator_count = seats;
    staking.sessions_per_era = 1;
    staking.min_validator_bond = UNIT;
    staking.min_nominator_bond = UNIT;
    staking.stakers.clear();
    for (who, stake) in &stakers.candidates {
        spec.genesis.balances.push((Address(*who), stake + UNIT));
        staking.stakers.push(GenesisStaker {
            stash: Address(*who),
            bond: *stake,
            role: GenesisStakerRole::Validator { commission: 0 },
        });
    }
    for (who, stake, targets) in &stakers.nominators {
        spec.genesis.balances.push((Address(*who), stake + UNIT));
        staking.stakers.push(GenesisStaker {
            stash: Address(*who),
            bond: *stake,
            role: GenesisStakerRole::Nominator {
                targets: targets.iter().map(|t| Address(*t)).collect(),
            },
        });
    }
    spec
}

/// The block after `parent` in `slot`, with the empty parachains inherent.
fn build(nodes: &BTreeMap<Hash, Vec<u8>>, parent: &Header, slot: u64) -> BuiltBlock {
    let inherent = Extrinsic::<Call> {
        signature: None,
        call: Call::ParaInclusion(inclusion::Call::Enter {
            parent_header: parent.clone(),
            bitfields: vec![],
            backed: vec![],
            disputes: vec![],
            pvf_checks: vec![],
        }),
    }
    .to_opaque();
    let claim = PreDigest::Secondary {
        authority_index: 0,
        slot,
    };
    let built = build_block_with_digest::<RelayRuntime>(
        State::new(nodes, parent.state_root),
        parent,
        std::slice::from_ref(&inherent),
        vec![claim.to_digest_item()],
        None,
        &mut || false,
    )
    .expect("the block");
    assert!(built.rejected.is_empty());
    built
}

fn main() {
    let stakers = stakers();
    println!(
        "era election: {CANDIDATES} candidates, {NOMINATORS} nominators x {MAX_NOMINATIONS} targets"
    );
    for seats in [300u32, 600] {
        let alone = phragmen_alone(&stakers, seats as usize);
        let started = Instant::now();
        let genesis = chain_spec(&stakers, seats)
            .build_genesis()
            .expect("genesis with the stakers");
        let genesis_time = started.elapsed();
        let mut nodes: BTreeMap<Hash, Vec<u8>> = genesis.state.new_nodes.into_iter().collect();
        // Block #1 starts epoch 0 (and the chain); block #2, in the next slot's epoch, starts
        // session 1, which activates the era genesis planned and plans the next.
        let first = build(&nodes, &genesis.header, 1);
        nodes.extend(first.changes.new_nodes);
        let built = build(&nodes, &first.block.header, 2);
        let block = built.block;
        let root = first.block.header.state_root;
        let native = median(
            || drop(execute_block::<RelayRuntime>(&nodes, root, &block, false).unwrap()),
            3,
        );
        let store = Arc::new(nodes.clone());
        let wasm = median(
            || {
                with_runtime_at(
                    store.clone(),
                    root,
                    &CodeSubstitutes::NONE,
                    |host, code_hash, code, nodes| {
                        host.execute_block(code_hash, code, nodes, root, &block, false)
                    },
                )
                .expect("the era's block through the Wasm");
            },
            3,
        );
        println!(
            "  {seats} seats: seq-Phragmén alone {:.0} ms; the block that plans the era: \
             native {:.0} ms, relay Wasm {:.0} ms; genesis (bonds, lists, era 0's election) \
             {:.1} s",
            alone.as_secs_f64() * 1e3,
            native.as_secs_f64() * 1e3,
            wasm.as_secs_f64() * 1e3,
            genesis_time.as_secs_f64(),
        );
    }
}
