//! Sequences of messages from four peers into one validator, judged as the node judges them.
//!
//! Peer 0 is honest: each of its turns delivers the next block of a chain its validator
//! authored. Peers 1 to 3 send whatever the fuzzer makes, each message on one of the node's
//! gossip topics: blocks, finality, parachains (collations with their declaration, statements,
//! bitfields, identities). Every message, the honest peer's too, goes through the node's
//! checks and verdict functions (identities are checked for their signature only: the
//! service's newer-only and validator-set rules need its state); a rejection charges the peer
//! that sent it in a reputation table, with 50 ms passing per message so that scores decay as
//! on a live node. No honest block may be refused, whatever the others sent before it, and
//! each run must end with the honest peer never banned and every honest block it delivered
//! imported; what the node keeps (blocks, votes, statements) stays bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use parachain_template_runtime::TemplateRuntime;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};
use tessera_consensus::finality::{
    AuthoritySet, FinalityConfig, FinalityEngine, FinalityMessage, Input,
};
use tessera_consensus::{AuthorityKey, PeerId as EnginePeer};
use tessera_node::client::Client;
use tessera_node::network::{decode_exact, BlockAnnounce, Misbehaviour, Reputations, Verdict};
use tessera_node::parachains::service::verdict_of;
use tessera_node::parachains::{ParachainHost, ParachainMessage};
use tessera_node::pool::Pool;
use tessera_node::store::MemoryDb;
use tessera_node::validation::{ValidationHost, ValidationLimits};
use tessera_relay_chain::{ChainSpec, Genesis, GenesisPara, HexBytes};
use tessera_runtime::crypto::Pair;
use tessera_runtime::parachain::{ParaGenesis, ParaId};
use tessera_runtime::Block;

/// Blocks the honest peer has to deliver.
const HONEST_BLOCKS: usize = 24;
/// Most messages one run sends (libFuzzer's inputs are short anyway).
const MAX_MESSAGES: usize = 256;

fn genesis() -> &'static Genesis {
    static GENESIS: OnceLock<Genesis> = OnceLock::new();
    GENESIS.get_or_init(|| {
        let mut spec = ChainSpec::dev();
        let head = ParaGenesis::dev(ParaId(1000))
            .head::<TemplateRuntime>()
            .expect("para genesis");
        spec.genesis.paras.push(GenesisPara {
            id: 1000,
            head: HexBytes(head.0),
            code: HexBytes(parachain_template_runtime::WASM_BINARY.to_vec()),
        });
        spec.build_genesis().expect("dev genesis")
    })
}

fn alice() -> AuthorityKey {
    AuthorityKey::from_pair(&Pair::dev("Alice"))
}

/// The honest chain: blocks Alice authored on the dev chain, in order.
fn honest_chain() -> &'static Vec<Block> {
    static CHAIN: OnceLock<Vec<Block>> = OnceLock::new();
    CHAIN.get_or_init(|| {
        let mut client = Client::open(Box::new(MemoryDb::default()), genesis()).expect("store");
        client.set_author(alice()).expect("author");
        let mut pool = Pool::default();
        (0..HONEST_BLOCKS)
            .map(|_| client.author_next(&mut pool).expect("authored").block)
            .collect()
    })
}

fn validation() -> Arc<ValidationHost> {
    static HOST: OnceLock<Arc<ValidationHost>> = OnceLock::new();
    HOST.get_or_init(|| {
        Arc::new(ValidationHost::new(ValidationLimits::default()).expect("wasmtime"))
    })
    .clone()
}

/// One validator (Alice, the dev chain's only authority) as the peers see it.
struct Node {
    client: Client,
    voter: FinalityEngine,
    host: ParachainHost,
    reputations: Reputations,
    peers: [libp2p::PeerId; 4],
}

impl Node {
    fn new() -> Node {
        let client = Client::open(Box::new(MemoryDb::default()), genesis()).expect("store");
        let set = AuthoritySet::equal(0, [alice().public()]).expect("set");
        let voter = FinalityEngine::new(
            FinalityConfig::default(),
            set,
            genesis().header.clone(),
            Some(alice()),
        );
        Node {
            client,
            voter,
            host: ParachainHost::new(Some(alice()), validation()),
            reputations: Reputations::default(),
            peers: std::array::from_fn(|_| libp2p::PeerId::random()),
        }
    }

    /// Judges one message of `peer` on `topic` as the node does, charging its sender; the
    /// verdict.
    fn receive(&mut self, peer: usize, topic: u8, data: &[u8], now: Instant) -> Verdict {
        let Some(&sender) = self.peers.get(peer) else {
            return Verdict::Ignore;
        };
        let verdict = match topic % 3 {
            0 => self.block(data),
            1 => self.finality(peer, sender, data),
            _ => self.parachains(sender, data),
        };
        if let Verdict::Reject(what) = verdict {
            self.reputations.report(sender, what, now);
        }
        verdict
    }

    fn block(&mut self, data: &[u8]) -> Verdict {
        match decode_exact::<BlockAnnounce>(data) {
            Ok(BlockAnnounce::Block(block)) => match self.client.import_block(&block) {
                Ok(_) => {
                    self.voter.handle(Input::BlockImported(block.header));
                    Verdict::Accept
                }
                Err(err) => tessera_node::sync::import_failure_verdict(&err),
            },
            Ok(BlockAnnounce::Status { best, .. }) => {
                tessera_node::sync::claim_verdict(&self.client.check_claim(&best))
            }
            Err(_) => Verdict::Reject(Misbehaviour::Malformed),
        }
    }

    fn finality(&mut self, peer: usize, sender: libp2p::PeerId, data: &[u8]) -> Verdict {
        let Ok(message) = FinalityMessage::decode_bounded(data) else {
            return Verdict::Reject(Misbehaviour::Malformed);
        };
        let id = EnginePeer(peer as u64);
        let outputs = self.voter.handle(Input::Messages(vec![(id, message)]));
        tessera_node::finality::verdict(&outputs, id, sender)
    }

    fn parachains(&mut self, sender: libp2p::PeerId, data: &[u8]) -> Verdict {
        let Ok(message) = decode_exact::<ParachainMessage>(data) else {
            return Verdict::Reject(Misbehaviour::Malformed);
        };
        let result = match message {
            ParachainMessage::Collation(declared) => {
                if declared.check(&sender).is_err() {
                    return Verdict::Reject(Misbehaviour::Invalid);
                }
                self.host
                    .on_collation(&self.client, &declared.collation)
                    .map(|_| true)
            }
            ParachainMessage::Statement(statement) => {
                self.host.on_statement(&self.client, statement)
            }
            ParachainMessage::Bitfield {
                relay_parent,
                bitfield,
            } => self.host.on_bitfield(&self.client, relay_parent, bitfield),
            ParachainMessage::Identity(identity) => {
                return match identity.verified_peer() {
                    Ok(_) => Verdict::Accept,
                    Err(_) => Verdict::Reject(Misbehaviour::Invalid),
                };
            }
            // Judged by the approval engine (its own tests and simulator); not here.
            ParachainMessage::Approval(_) | ParachainMessage::Dispute(_) => {
                return Verdict::Ignore
            }
        };
        match result {
            Ok(true) => Verdict::Accept,
            Ok(false) => Verdict::Ignore,
            Err(err) => verdict_of(&err),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let honest = honest_chain();
    let mut node = Node::new();
    let start = Instant::now();
    let mut delivered = 0usize;
    let mut rest = data;
    for step in 0..MAX_MESSAGES {
        let now = start + Duration::from_millis(50 * step as u64);
        // Each message: a header byte (peer, topic), a length byte, then its bytes.
        let Some((&header, tail)) = rest.split_first() else {
            break;
        };
        let peer = usize::from(header & 3);
        let topic = header >> 2;
        if peer == 0 {
            if let Some(block) = honest.get(delivered) {
                let announce = BlockAnnounce::Block(block.clone());
                let data = parity_scale_codec::Encode::encode(&announce);
                let verdict = node.receive(0, 0, &data, now);
                assert_eq!(verdict, Verdict::Accept, "an honest block was refused");
                delivered += 1;
            }
            rest = tail;
            continue;
        }
        let Some((&len, tail)) = tail.split_first() else {
            break;
        };
        let len = usize::from(len).min(tail.len());
        let (message, tail) = tail.split_at(len);
        let _verdict = node.receive(peer, topic, message, now);
        rest = tail;
        assert!(
            !node.reputations.is_banned(&node.peers[0], now),
            "the honest peer was banned"
        );
    }
    let best = node.client.info().expect("meta").best_number as usize;
    assert!(
        best >= delivered,
        "honest blocks not imported: {best} < {delivered}"
    );
});
