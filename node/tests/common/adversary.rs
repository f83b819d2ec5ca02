//! A hostile libp2p peer driven by a test: it joins a chain's network with a fresh identity
//! and sends what honest nodes never do, on every protocol (forged statuses and blocks, votes
//! of future and past rounds with bad signatures, forged commits, junk collations, statements,
//! bitfields and transactions, floods of requests). It never answers requests.

use libp2p::{Multiaddr, PeerId};
use parity_scale_codec::{Decode, Encode};
use std::time::{Duration, Instant};
use tessera_consensus::finality::{
    FinalityMessage, Justification, SignedTarget, SignedVote, Target, Vote,
};
use tessera_node::collation::{Collation, CollatorDeclaration, DeclaredCollation};
use tessera_node::network::{
    self, AvailableDataRequest, BlockAnnounce, ChunkRequest, NetworkConfig, NetworkEvents,
    NetworkHandle, SyncRequest, Topic,
};
use tessera_node::parachains::collator::ParaTransactions;
use tessera_node::parachains::{ParachainMessage, Statement, ValidatorIdentity};
use tessera_relay_chain::inclusion::{SignedBitfield, ValidityVote};
use tessera_relay_chain::paras::ParaId;
use tessera_runtime::crypto::Pair;
use tessera_runtime::crypto::{AccountId, Signature};
use tessera_runtime::{Block, Hash, Header, OpaqueExtrinsic};

/// What one attacker sent, by kind.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Sent {
    pub(crate) gossip: usize,
    pub(crate) requests: usize,
    pub(crate) collations: usize,
}

/// One hostile identity connected to `targets`.
pub(crate) struct Adversary {
    handle: NetworkHandle,
    events: NetworkEvents,
    targets: Vec<PeerId>,
}

impl Adversary {
    /// Joins the network of `chain` (its topic name) through `targets`' addresses.
    pub(crate) async fn join(chain: &str, targets: &[Multiaddr]) -> Adversary {
        let config = NetworkConfig::loopback(chain, targets.to_vec());
        let (handle, events) = network::start(config).expect("the attacker's network");
        let peers = targets
            .iter()
            .filter_map(|addr| {
                addr.iter().find_map(|p| match p {
                    libp2p::multiaddr::Protocol::P2p(peer) => Some(peer),
                    _ => None,
                })
            })
            .collect();
        Adversary {
            handle,
            events,
            targets: peers,
        }
    }

    /// This attacker's peer id.
    pub(crate) fn id(&self) -> PeerId {
        self.handle.local_peer_id()
    }

    /// How many targets still keep it connected (drains its events).
    pub(crate) async fn connected(&mut self) -> usize {
        while let Ok(Some(event)) =
            tokio::time::timeout(Duration::from_millis(1), self.events.recv()).await
        {
            drop(event);
        }
        let peers = self.handle.peers().await.unwrap_or_default();
        self.targets.iter().filter(|t| peers.contains(t)).count()
    }

    async fn gossip(&self, topic: Topic, data: Vec<u8>, sent: &mut Sent) {
        if self.handle.publish(topic, data).await.is_ok() {
            sent.gossip += 1;
        }
    }

    /// One round of every attack, aimed at the chain whose best header is `best`.
    pub(crate) async fn attack(&mut self, best: &Header, paras: &[ParaId]) -> Sent {
        let mut sent = Sent::default();
        let garbage_signature = Signature([7; 64]);
        let voter = AccountId([1; 32]);
        let far = Header {
            number: 4_000_000_000,
            ..best.clone()
        };
        // A claimed chain far above everyone's, sealed by no one.
        let status = BlockAnnounce::Status {
            best: far.clone(),
            finalized: far.number,
        };
        self.gossip(Topic::Blocks, status.encode(), &mut sent).await;
        // Blocks: one numbered beyond any slot, one on the best block without a seal.
        let junk = Block {
            header: far,
            extrinsics: Vec::new(),
        };
        self.gossip(
            Topic::Blocks,
            BlockAnnounce::Block(junk).encode(),
            &mut sent,
        )
        .await;
        let child = Block {
            header: Header {
                parent_hash: best.hash(),
                number: best.number + 1,
                digest: Default::default(),
                ..best.clone()
            },
            extrinsics: vec![OpaqueExtrinsic(vec![0xff; 64])],
        };
        self.gossip(
            Topic::Blocks,
            BlockAnnounce::Block(child).encode(),
            &mut sent,
        )
        .await;
        // Votes of a round far ahead and of round 0, badly signed.
        let target = Target {
            hash: best.hash(),
            number: best.number,
        };
        for round in [0, 1_000_000] {
            let vote = SignedVote {
                vote: Vote::Prevote(target),
                round,
                set_id: 0,
                id: voter,
                signature: garbage_signature,
            };
            let message = FinalityMessage::Vote(vote);
            self.gossip(Topic::Finality, message.encode(), &mut sent)
                .await;
        }
        // A commit for the best block whose precommits are forged.
        let commit = FinalityMessage::Commit {
            set_id: 0,
            justification: Justification {
                round: 1,
                target,
                precommits: vec![
                    SignedTarget {
                        target,
                        id: voter,
                        signature: garbage_signature,
                    };
                    3
                ],
                ancestry: Vec::new(),
            },
        };
        self.gossip(Topic::Finality, commit.encode(), &mut sent)
            .await;
        // Parachain gossip: a junk collation, a badly signed statement, an over-long bitfield.
        for para in paras {
            let collation = junk_collation(*para, best.hash());
            let statement = ParachainMessage::Statement(Statement {
                candidate: collation.candidate.clone(),
                vote: ValidityVote {
                    validator: 0,
                    signature: garbage_signature,
                },
            });
            self.gossip(Topic::Parachains, statement.encode(), &mut sent)
                .await;
            // Declared by a collator key of its own for this peer (so the per relay parent
            // limits hold it), and gossiped with a declaration made for another peer.
            let key = Pair::dev(&format!("Mallory{}", self.id()));
            let mut collation = collation;
            collation.candidate.descriptor.collator = key.public();
            let declared = DeclaredCollation {
                declaration: CollatorDeclaration::sign(&key, *para, &self.id()),
                collation,
            };
            let mut replayed = declared.clone();
            replayed.declaration = CollatorDeclaration::sign(&key, *para, &PeerId::random());
            let message = ParachainMessage::Collation(replayed);
            self.gossip(Topic::Parachains, message.encode(), &mut sent)
                .await;
            for target in self.targets.clone() {
                for _ in 0..3 {
                    if self.handle.send_collation(target, declared.clone()).is_ok() {
                        sent.collations += 1;
                    }
                }
            }
            let transactions = ParaTransactions {
                para: *para,
                transactions: vec![OpaqueExtrinsic(vec![0x42; 128]); 16],
            };
            self.gossip(Topic::ParaTransactions, transactions.encode(), &mut sent)
                .await;
        }
        let bitfield = ParachainMessage::Bitfield {
            relay_parent: best.hash(),
            bitfield: SignedBitfield {
                validator: 1,
                bits: vec![true; 4096],
                signature: garbage_signature,
            },
        };
        self.gossip(Topic::Parachains, bitfield.encode(), &mut sent)
            .await;
        // Alice's identity naming this peer, which her key never signed: were it believed,
        // collations and chunk requests for her would come here.
        let identity = ParachainMessage::Identity(ValidatorIdentity {
            validator: Pair::dev("Alice").public(),
            peer: self.id().to_bytes(),
            issued_ms: tessera_node::client::unix_time_ms(),
            signature: garbage_signature,
        });
        self.gossip(Topic::Parachains, identity.encode(), &mut sent)
            .await;
        // Requests over every rate.
        for target in self.targets.clone() {
            for _ in 0..30 {
                let request = SyncRequest::Blocks {
                    from: 0,
                    count: 128,
                };
                if self.handle.request(target, request).await.is_ok() {
                    sent.requests += 1;
                }
                let chunk = ChunkRequest {
                    candidate_hash: Hash([3; 32]),
                    index: 0,
                };
                if self.handle.request_chunk(target, chunk).is_ok() {
                    sent.requests += 1;
                }
                let whole = AvailableDataRequest {
                    candidate_hash: Hash([3; 32]),
                };
                if self.handle.request_available_data(target, whole).is_ok() {
                    sent.requests += 1;
                }
            }
        }
        sent
    }

    /// Attacks for `until` or until every target has banned it; what it sent.
    pub(crate) async fn attack_until(
        &mut self,
        until: Instant,
        best: Header,
        paras: &[ParaId],
    ) -> Sent {
        let mut total = Sent::default();
        // Wait for the targets to take its subscriptions (gossipsub heartbeats).
        tokio::time::sleep(Duration::from_millis(600)).await;
        while Instant::now() < until {
            let sent = self.attack(&best, paras).await;
            total.gossip += sent.gossip;
            total.requests += sent.requests;
            total.collations += sent.collations;
            if self.connected().await == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        total
    }
}

/// A collation of `para` on `relay_parent` that is garbage everywhere else.
fn junk_collation(para: ParaId, relay_parent: Hash) -> Collation {
    let zeros = vec![0u8; 4096];
    let mut collation = Collation::decode(&mut &zeros[..]).expect("zeros decode as a collation");
    collation.candidate.descriptor.para_id = para;
    collation.candidate.descriptor.relay_parent = relay_parent;
    collation.pov.block_data.0 = vec![0xab; 64 * 1024];
    collation
}
