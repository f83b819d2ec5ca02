//! A relay chain in memory for tests on real blocks: blocks built with the parachains inherent
//! and signed calls from dev accounts, their events decoded.

#![allow(dead_code)]

use parity_scale_codec::Decode;
use std::collections::BTreeMap;
use tessera_relay_chain::disputes::DisputeStatementSet;
use tessera_relay_chain::{inclusion, session, Call, ChainSpec, Event, RelayRuntime};
use tessera_runtime::consensus::PreDigest;
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::{DispatchError, EventRecord};
use tessera_runtime::executive::InvalidTransaction;
use tessera_runtime::extrinsic::Extrinsic;
use tessera_runtime::modules::{balances, system};
use tessera_runtime::parachain::{build_block_with_digest, sign};
use tessera_runtime::state::State;
use tessera_runtime::{AccountId, Balance, Hash, Header, OpaqueExtrinsic};

/// The chain: its trie nodes, head and the nonces its dev accounts used.
pub(crate) struct Relay {
    /// Every trie node so far.
    pub(crate) nodes: BTreeMap<Hash, Vec<u8>>,
    /// The best block.
    pub(crate) head: Header,
    /// The genesis hash.
    pub(crate) genesis_hash: Hash,
    nonces: BTreeMap<AccountId, tessera_runtime::Nonce>,
    /// Fees paid so far: with no author to pay, blocks burn them.
    pub(crate) fees: Balance,
    /// The author of the blocks built from now on (none: fees are burnt).
    pub(crate) author: Option<AccountId>,
    /// The weight of the last block built.
    pub(crate) last_weight: u64,
}

impl Relay {
    /// The 4-validator local chain.
    pub(crate) fn new() -> Self {
        Self::from_spec(&ChainSpec::dev_with_validators(4))
    }

    /// The chain `spec` starts.
    pub(crate) fn from_spec(spec: &ChainSpec) -> Self {
        let genesis = spec.build_genesis().unwrap();
        Relay {
            nodes: genesis.state.new_nodes.into_iter().collect(),
            genesis_hash: genesis.header.hash(),
            head: genesis.header,
            nonces: BTreeMap::new(),
            fees: 0,
            author: None,
            last_weight: 0,
        }
    }

    /// The best block's state.
    pub(crate) fn state(&self) -> State<'_> {
        State::new(&self.nodes, self.head.state_root)
    }

    /// The total issuance.
    pub(crate) fn issuance(&self) -> Balance {
        balances::TOTAL_ISSUANCE
            .get(&mut self.state())
            .unwrap()
            .unwrap()
    }

    /// `who`'s free balance.
    pub(crate) fn free(&self, who: &AccountId) -> Balance {
        system::ACCOUNT
            .get(&mut self.state(), who)
            .unwrap()
            .unwrap_or_default()
            .data
            .free
    }

    /// `call` signed by dev account `name`, with its next nonce (the state's, the first time:
    /// an account created after genesis does not start at 0).
    pub(crate) fn signed(&mut self, name: &str, call: Call) -> OpaqueExtrinsic {
        let pair = Pair::dev(name);
        let in_state = system::ACCOUNT
            .get(&mut self.state(), &pair.public())
            .unwrap()
            .map_or(0, |account| account.nonce);
        let nonce = self.nonces.entry(pair.public()).or_insert(in_state);
        let xt = sign::<RelayRuntime>(&pair, call, *nonce, self.genesis_hash);
        *nonce += 1;
        xt
    }

    /// The next block with the (empty) parachains inherent and `extrinsics`; its events.
    pub(crate) fn block(&mut self, extrinsics: Vec<OpaqueExtrinsic>) -> Vec<Event> {
        self.block_with_disputes(vec![], extrinsics)
    }

    /// The next block with these concluded disputes in its parachains inherent, and
    /// `extrinsics`; its events.
    pub(crate) fn block_with_disputes(
        &mut self,
        disputes: Vec<DisputeStatementSet>,
        extrinsics: Vec<OpaqueExtrinsic>,
    ) -> Vec<Event> {
        let enter = inclusion::Call::Enter {
            parent_header: self.head.clone(),
            bitfields: vec![],
            backed: vec![],
            disputes,
            pvf_checks: vec![],
        };
        self.try_block(enter, extrinsics).unwrap()
    }

    /// Why the next block leaves the unsigned `report` out (the chain stays where it was).
    pub(crate) fn refused(&mut self, report: OpaqueExtrinsic) -> InvalidTransaction {
        let enter = inclusion::Call::Enter {
            parent_header: self.head.clone(),
            bitfields: vec![],
            backed: vec![],
            disputes: vec![],
            pvf_checks: vec![],
        };
        self.try_block(enter, vec![report]).unwrap_err()
    }

    /// The next block with `enter` as its parachains inherent, and `extrinsics`: its events,
    /// or why the inherent failed (then the chain stays where it was).
    pub(crate) fn try_block(
        &mut self,
        enter: inclusion::Call,
        extrinsics: Vec<OpaqueExtrinsic>,
    ) -> Result<Vec<Event>, InvalidTransaction> {
        let inherent = Extrinsic::<Call> {
            signature: None,
            call: Call::ParaInclusion(enter),
        }
        .to_opaque();
        let all: Vec<_> = std::iter::once(inherent).chain(extrinsics).collect();
        // One block per slot: slot n holds block n, so epochs (and sessions) are counted in
        // blocks here, `epochLength` of them from block 1 on.
        // The author (if any) claims the slot, at its place among the session's validators.
        let validators = session::validators(&mut self.state()).unwrap();
        let authority_index = self
            .author
            .and_then(|author| validators.iter().position(|v| *v == author))
            .unwrap_or(0) as u32;
        let claim = PreDigest::Secondary {
            authority_index,
            slot: u64::from(self.head.number) + 1,
        };
        let built = build_block_with_digest::<RelayRuntime>(
            State::new(&self.nodes, self.head.state_root),
            &self.head,
            &all,
            vec![claim.to_digest_item()],
            self.author,
            &mut || false,
        )
        .unwrap();
        if let Some((_, reason)) = built.rejected.into_iter().next() {
            return Err(reason);
        }
        self.last_weight = built.weight;
        self.nodes.extend(built.changes.new_nodes);
        self.head = built.block.header;
        let events = self.state().get(&system::events_key()).unwrap().unwrap();
        let events: Vec<Event> = Vec::<EventRecord<Event>>::decode(&mut &events[..])
            .unwrap()
            .into_iter()
            .map(|record| record.event)
            .collect();
        for event in &events {
            if let Event::Balances(balances::Event::Withdraw { amount, .. }) = event {
                self.fees += amount;
            }
        }
        Ok(events)
    }

    /// Applies `call` signed by `name` in a block of its own: its events, or the error it
    /// failed with.
    pub(crate) fn dispatch(&mut self, name: &str, call: Call) -> Result<Vec<Event>, DispatchError> {
        let xt = self.signed(name, call);
        let events = self.block(vec![xt]);
        if let Some(error) = events.iter().find_map(|event| match event {
            Event::System(system::Event::ExtrinsicFailed {
                dispatch_error: error,
                ..
            }) => Some(*error),
            _ => None,
        }) {
            return Err(error);
        }
        Ok(events)
    }

    /// The fee `who` paid in the last block.
    pub(crate) fn fee_paid(&self, who: &AccountId) -> Balance {
        let events = self.state().get(&system::events_key()).unwrap().unwrap();
        Vec::<EventRecord<Event>>::decode(&mut &events[..])
            .unwrap()
            .into_iter()
            .filter_map(|record| match record.event {
                Event::Balances(balances::Event::Withdraw { who: payer, amount })
                    if payer == *who =>
                {
                    Some(amount)
                }
                _ => None,
            })
            .sum()
    }
}

/// How the runtime refuses a report that fails with `error`.
pub(crate) fn report_refused(error: impl Into<DispatchError>) -> InvalidTransaction {
    InvalidTransaction::ReportRefused(tessera_relay_chain::dispatch_error(error))
}
