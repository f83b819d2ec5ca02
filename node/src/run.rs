//! A running node: network events, block authoring in claimed slots (for a validator),
//! finality voting and status gossip in one loop, until told to stop.

use crate::client::{unix_time_ms, AuthorError, OpenError};
use crate::finality::{FinalityError, FinalityOutcome, FinalityService};
use crate::malus::Malus;
use crate::network::{
    self, Misbehaviour, NetworkConfig, NetworkError, NetworkEvent, NetworkHandle, Topic, Verdict,
};
use crate::parachains::collator::Collate;
use crate::parachains::nodes::ParaNodes;
use crate::parachains::ParachainService;
use crate::pool::PoolError;
use crate::service::{ChainEvent, NetworkStatus, Shared};
use crate::sync::{ChainSync, SyncOutcome};
use crate::validation::{ValidationHost, ValidationLimits};
use crate::warp_sync::WarpSync;
use crate::workload::TransferGenerator;
use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_consensus::finality::AuthoritySet;
use tessera_consensus::AuthorityKey;
use tessera_runtime::executive::InvalidTransaction;
use tessera_runtime::{Hash, OpaqueExtrinsic};

/// How often a node tells peers its best block.
const STATUS_INTERVAL: Duration = Duration::from_secs(2);
/// How far (in blocks) a peer may be ahead before this node stops authoring to catch up.
const AUTHOR_WHEN_BEHIND_BY_AT_MOST: u32 = 2;

/// Block production and finality voting of a validator.
pub struct Authoring {
    /// The validator's key (an authority of the chain).
    pub key: AuthorityKey,
    /// Dev load: signed transfers added before each block, and how many.
    pub transfers: Option<(TransferGenerator, usize)>,
    /// Hostile behaviours, to test honest validators against (none on a real network).
    pub malus: Malus,
}

/// Why a node stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// The network failed.
    #[error(transparent)]
    Network(#[from] NetworkError),
    /// Authoring a block failed.
    #[error("authoring: {0}")]
    Author(#[from] AuthorError),
    /// The key cannot author on this chain.
    #[error(transparent)]
    Key(#[from] OpenError),
    /// The finality voter could not start.
    #[error("finality: {0}")]
    Finality(#[from] FinalityError),
    /// Reading the chain failed.
    #[error("chain: {0}")]
    Chain(String),
    /// The Wasm validation host could not start.
    #[error(transparent)]
    Validation(#[from] crate::validation::HostStartError),
}

/// A loopback network of validators for tests and benches: one node per dev account in
/// `names` (each a validator of the chain `client` opens), each booting from those before it.
/// Their shared states, listen addresses and running nodes, in order.
pub async fn spawn_loopback_validators(
    chain: &str,
    names: &[&str],
    client: impl Fn() -> crate::client::Client,
) -> Result<(Vec<Arc<Shared>>, Vec<libp2p::Multiaddr>, Vec<RunningNode>), RunError> {
    let (mut shareds, mut addrs, mut running) = (Vec::new(), Vec::new(), Vec::new());
    for name in names {
        let shared = Arc::new(Shared::new(client(), chain.to_string()));
        let authoring = Authoring {
            key: AuthorityKey::from_pair(&tessera_runtime::crypto::Pair::dev(name)),
            transfers: None,
            malus: Malus::default(),
        };
        let config = NetworkConfig::loopback(chain, addrs.clone());
        let mut node = Node::start(shared.clone(), config, Some(authoring))?;
        let addr = node.listening().await.ok_or(NetworkError::Stopped)?;
        addrs.push(addr);
        shareds.push(shared);
        running.push(node.spawn());
    }
    Ok((shareds, addrs, running))
}

/// A relay node on loopback that runs `collator` (a para collator or full node), booting from
/// `bootnodes` and added to them; its shared state and running node.
pub async fn spawn_loopback_collator(
    chain: &str,
    client: crate::client::Client,
    bootnodes: &mut Vec<libp2p::Multiaddr>,
    collator: Box<dyn crate::parachains::collator::Collate>,
) -> Result<(Arc<Shared>, RunningNode), RunError> {
    let shared = Arc::new(Shared::new(client, chain.to_string()));
    let config = NetworkConfig::loopback(chain, bootnodes.clone());
    let mut node = Node::start(shared.clone(), config, None)?;
    bootnodes.push(node.listening().await.ok_or(NetworkError::Stopped)?);
    node.add_collator(collator);
    Ok((shared, node.spawn()))
}

/// A node running in its own task.
pub struct RunningNode {
    stop: tokio::sync::oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), RunError>>,
}

impl RunningNode {
    /// Stops the node and waits for it; what it stopped with.
    pub async fn stop(self) -> Result<(), RunError> {
        let _already_stopped = self.stop.send(());
        self.task
            .await
            .map_err(|e| RunError::Chain(format!("node task failed: {e}")))?
    }
}

/// A node joined to the network.
pub struct Node {
    shared: Arc<Shared>,
    network: NetworkHandle,
    events: network::NetworkEvents,
    sync: ChainSync,
    finality: FinalityService,
    parachains: ParachainService,
    para_nodes: ParaNodes,
    transactions: crate::transactions::TransactionGossip,
    authoring: Option<Authoring>,
    should_have_peers: bool,
    /// A warp sync under way: until it ends the node only serves peers and follows it.
    warp: Option<WarpSync>,
    /// When the warp sync's progress was last logged.
    warp_logged: Instant,
}

impl Node {
    /// Starts the network for the node whose state is `shared`; with `authoring`, the node
    /// authors in the slots its key claims and votes on finality.
    pub fn start(
        shared: Arc<Shared>,
        network: NetworkConfig,
        authoring: Option<Authoring>,
    ) -> Result<Node, RunError> {
        let key = authoring.as_ref().map(|a| a.key.clone());
        if let Some(key) = &key {
            shared.client().set_author(key.clone())?;
        }
        let should_have_peers = !network.bootnodes.is_empty();
        let (handle, events) = network::start(network)?;
        let sync = ChainSync::new(shared.clone(), handle.clone());
        let malus = authoring.as_ref().map(|a| a.malus).unwrap_or_default();
        let finality =
            FinalityService::new(shared.clone(), handle.clone(), key.clone())?.with_malus(malus);
        let validation = Arc::new(ValidationHost::new(ValidationLimits::default())?);
        let parachains =
            ParachainService::new(shared.clone(), handle.clone(), key, validation, malus);
        shared.set_network_status(NetworkStatus {
            should_have_peers,
            ..NetworkStatus::default()
        });
        Ok(Node {
            transactions: crate::transactions::TransactionGossip::new(
                shared.clone(),
                handle.clone(),
            ),
            shared,
            para_nodes: ParaNodes::new(handle.clone()),
            network: handle,
            events,
            sync,
            finality,
            parachains,
            authoring,
            should_have_peers,
            warp: None,
            warp_logged: Instant::now(),
        })
    }

    /// Warp-syncs before anything else if the store holds only genesis
    /// ([`crate::warp_sync`]): the node starts above the finalized block a peer's checked
    /// warp proof leads to, with its state downloaded and checked. A store with blocks syncs
    /// on from them as usual.
    pub fn warp_sync(&mut self) -> Result<(), RunError> {
        let client = self.shared.client();
        let meta = client.info().map_err(|e| RunError::Chain(e.to_string()))?;
        if meta.best_number > 0 {
            tracing::info!(
                best = meta.best_number,
                "warp sync not needed: the store has blocks, syncing on from them"
            );
            return Ok(());
        }
        if let Some(from) = client.unlearned_substitutes().first() {
            return Err(RunError::Chain(format!(
                "warp sync cannot start: the chain spec substitutes code from block #{from}, and \
                 which code it replaces is learned from that block, which a warped node never \
                 holds; run with `--sync full`"
            )));
        }
        let genesis_set = AuthoritySet::equal(0, client.authorities().iter().copied())
            .map_err(|e| RunError::Chain(format!("the genesis validators: {e}")))?;
        drop(client);
        tracing::info!("warp sync: asking peers for the finalized chain's warp proof");
        self.warp = Some(WarpSync::new(genesis_set));
        Ok(())
    }

    /// A network event while warp-syncing: its answers go to it, peers' requests are served,
    /// gossip is let pass unjudged (nothing can be checked without the chain), and what else
    /// comes is left (the services start with the chain, after the warp).
    async fn on_warp_event(&mut self, event: NetworkEvent) -> Result<(), RunError> {
        let Some(warp) = &mut self.warp else {
            return Ok(());
        };
        match event {
            NetworkEvent::SyncResponse {
                peer,
                request,
                response,
            } if warp.owns(&request) => {
                let store = self.shared.client().store().clone();
                warp.on_response(peer, request, response, &self.network, &store)
                    .map_err(|e| RunError::Chain(format!("warp sync: {e}")))?;
                self.finish_warp()?;
            }
            NetworkEvent::Gossip {
                peer, source, id, ..
            } => {
                let _stopped = self.network.validated(id, peer, source, Verdict::Ignore);
            }
            event @ NetworkEvent::SyncRequest { .. } => {
                let outcome = self.sync.on_event(event).await;
                self.synced(outcome).await;
            }
            NetworkEvent::PeerConnected(peer) => {
                warp.on_peer(peer, true);
                self.parachains.on_peer_connected(peer);
                self.update_network_status().await;
            }
            NetworkEvent::PeerDisconnected(peer) | NetworkEvent::Banned(peer) => {
                warp.on_peer(peer, false);
                self.parachains.on_peer_disconnected(&peer);
                self.update_network_status().await;
            }
            _ => {}
        }
        Ok(())
    }

    /// The warp sync ended: the services start above the block it reached.
    fn warped(&mut self, warped: crate::warp_sync::WarpOutcome) -> Result<(), RunError> {
        tracing::info!(
            number = warped.header.number,
            hash = %warped.header.hash(),
            set_id = warped.set_id,
            nodes = warped.fetched_nodes,
            bytes = warped.fetched_bytes,
            reused = warped.reused,
            "warp sync: done, the node starts above the finalized block"
        );
        self.warp = None;
        let key = self.authoring.as_ref().map(|a| a.key.clone());
        let malus = self.authoring.as_ref().map(|a| a.malus).unwrap_or_default();
        self.finality =
            FinalityService::new(self.shared.clone(), self.network.clone(), key)?.with_malus(malus);
        self.sync = ChainSync::new(self.shared.clone(), self.network.clone());
        self.shared
            .publish(ChainEvent::Finalized(warped.header.clone()));
        Ok(())
    }

    async fn warp_tick(&mut self) -> Result<(), RunError> {
        let Some(warp) = &mut self.warp else {
            return Ok(());
        };
        let store = self.shared.client().store().clone();
        warp.tick(&self.network, &store)
            .await
            .map_err(|e| RunError::Chain(format!("warp sync: {e}")))?;
        if self.warp_logged.elapsed() >= STATUS_INTERVAL {
            self.warp_logged = Instant::now();
            tracing::info!(progress = %warp.progress(), "warp sync");
        }
        self.finish_warp()
    }

    /// Ends the warp sync if its state is complete.
    fn finish_warp(&mut self) -> Result<(), RunError> {
        let Some(warp) = &mut self.warp else {
            return Ok(());
        };
        let store = self.shared.client().store().clone();
        if !warp.state_complete(&store) {
            return Ok(());
        }
        let done = warp.finish(&mut self.shared.client());
        match done.map_err(|e| RunError::Chain(format!("warp sync: {e}")))? {
            Some(warped) => self.warped(warped),
            None => Ok(()),
        }
    }

    /// Runs a para node on this node's relay chain: it follows its para's included chain and,
    /// if it is a collator, builds the para's blocks, which the node gossips to backing groups.
    pub fn add_collator(&mut self, collator: Box<dyn Collate>) {
        self.para_nodes.add(collator);
    }

    /// The para nodes (collators and full nodes) running on this node.
    pub fn collators(&self) -> &[Box<dyn Collate>] {
        self.para_nodes.nodes()
    }

    /// The network handle (peer id, peers).
    pub fn network(&self) -> &NetworkHandle {
        &self.network
    }

    /// The next network event that is not handled internally: the listen address.
    pub async fn listening(&mut self) -> Option<libp2p::Multiaddr> {
        while let Some(event) = self.events.recv().await {
            match event {
                NetworkEvent::Listening(addr) => return Some(addr),
                other if self.warp.is_some() => {
                    if let Err(err) = self.on_warp_event(other).await {
                        tracing::error!(%err, "warp sync");
                    }
                }
                other => self.on_event(other).await,
            }
        }
        None
    }

    /// Runs on the current tokio runtime until [`RunningNode::stop`].
    pub fn spawn(self) -> RunningNode {
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(self.run(async {
            let _sender_gone = stopped.await;
        }));
        RunningNode { stop, task }
    }

    /// Runs until `stop` completes.
    pub async fn run(mut self, stop: impl Future<Output = ()>) -> Result<(), RunError> {
        tokio::pin!(stop);
        let slot = self.shared.client().slot_duration();
        // A few ticks per slot: slots are claimed on time and rounds advance promptly.
        let tick_every = (slot / 8).clamp(Duration::from_millis(10), Duration::from_millis(100));
        let mut tick = tokio::time::interval(tick_every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut status_tick = tokio::time::interval(STATUS_INTERVAL);
        loop {
            tokio::select! {
                () = &mut stop => return Ok(()),
                event = self.events.recv() => match event {
                    Some(NetworkEvent::Listening(addr)) => tracing::info!(%addr, "listening"),
                    Some(event) if self.warp.is_some() => self.on_warp_event(event).await?,
                    Some(event) => self.on_event(event).await,
                    None => return Err(NetworkError::Stopped.into()),
                },
                _ = tick.tick() => {
                    if self.warp.is_some() {
                        self.warp_tick().await?;
                    } else {
                        self.parachains.tick().await;
                        self.transactions.announce().await;
                        self.collate().await;
                        self.author().await?;
                        let outcome = self.finality.tick().await;
                        self.want(outcome).await;
                        self.sync.fetch_wanted().await;
                        self.requeue_retracted();
                    }
                }
                Some(finished) = self.parachains.next_check(), if self.parachains.is_checking() => {
                    if let Some(collation) = self.parachains.finish_check(finished).await {
                        self.para_nodes.on_collation(&collation);
                    }
                }
                _ = status_tick.tick() => {
                    self.sync.announce_status().await;
                    self.update_network_status().await;
                }
            }
        }
    }

    /// Puts the transactions of blocks that lost a fork back in the pool (those the new best
    /// chain already holds are refused as stale and dropped). Called after imports and on each
    /// tick (which picks up reorgs made by finality).
    fn requeue_retracted(&self) {
        let mut client = self.shared.client();
        let retracted = client.take_retracted();
        if retracted.is_empty() {
            return;
        }
        let mut pool = self.shared.pool();
        let mut requeued = 0;
        let mut refused = Vec::new();
        let hashes: Vec<Hash> = retracted.iter().map(OpaqueExtrinsic::hash).collect();
        // Signatures too: one covers its birth block's hash, which may have left the chain
        // with the fork, and the runtime version, which the fork may have changed.
        let outcomes = client.submit_all(&mut pool, retracted, true);
        for (hash, outcome) in hashes.into_iter().zip(outcomes) {
            match outcome {
                Ok(_) => requeued += 1,
                // In the new best chain (or its nonce taken there, which watchers find out),
                // or still pooled: not dropped here.
                Err(
                    PoolError::Invalid(InvalidTransaction::Stale { .. })
                    | PoolError::AlreadyImported(_),
                ) => {}
                Err(err) => refused.push((hash, err)),
            }
        }
        drop((client, pool));
        for (hash, err) in refused {
            self.shared.publish(ChainEvent::TxDropped {
                hash,
                reason: format!("its block was retracted, and the pool refused it again: {err}"),
            });
        }
        if requeued > 0 {
            tracing::info!(
                requeued,
                "transactions of a retracted fork back in the pool"
            );
        }
    }

    async fn on_event(&mut self, event: NetworkEvent) {
        match event {
            NetworkEvent::Gossip {
                peer,
                source,
                topic: Topic::Finality,
                id,
                data,
            } => {
                let (verdict, outcome) = self.finality.on_gossip(peer, &data).await;
                let _stopped = self.network.validated(id, peer, source, verdict);
                self.want(outcome).await;
            }
            NetworkEvent::Direct {
                peer,
                topic: Topic::Finality,
                data,
            } => {
                let outcome = self.finality.on_direct(peer, &data).await;
                self.want(outcome).await;
            }
            NetworkEvent::Direct {
                peer,
                topic: Topic::Parachains,
                data,
            } => self.parachains.on_direct(peer, &data),
            NetworkEvent::Direct { peer, .. } => {
                // No other kind of message is sent to one peer alone.
                let _stopped = self.network.report(peer, Misbehaviour::Malformed);
            }
            NetworkEvent::Gossip {
                peer,
                source,
                topic: Topic::Parachains,
                id,
                data,
            } => {
                if let Some(collation) = self.parachains.on_gossip(peer, source, id, &data).await {
                    self.para_nodes.on_collation(&collation);
                }
            }
            NetworkEvent::Gossip {
                peer,
                source,
                topic: Topic::ParaTransactions,
                id,
                data,
            } => {
                let verdict = self.para_nodes.on_transactions(&data);
                let _stopped = self.network.validated(id, peer, source, verdict);
            }
            NetworkEvent::Gossip {
                peer,
                source,
                topic: Topic::Transactions,
                id,
                data,
            } => self.transactions.on_gossip(peer, source, id, &data),
            NetworkEvent::ChunkRequest {
                request, channel, ..
            } => self.parachains.on_chunk_request(request, channel),
            NetworkEvent::Collation {
                peer,
                collation,
                channel,
            } => {
                let passed = self
                    .parachains
                    .on_direct_collation(peer, *collation, channel);
                if let Some(collation) = passed {
                    self.para_nodes.on_collation(&collation);
                }
            }
            NetworkEvent::CollationResponse {
                peer,
                candidate,
                response,
            } => self
                .parachains
                .on_collation_response(peer, candidate, response),
            NetworkEvent::AvailableDataRequest {
                peer,
                request,
                channel,
            } => self
                .parachains
                .on_available_data_request(peer, request, channel),
            NetworkEvent::AvailableDataResponse {
                peer,
                request,
                response,
            } => self
                .parachains
                .on_available_data_response(peer, request, response),
            NetworkEvent::ParaBlocksRequest {
                request, channel, ..
            } => self.para_nodes.on_blocks_request(request, channel),
            NetworkEvent::ParaBlocksResponse {
                peer,
                request,
                response,
            } => self.para_nodes.on_blocks_response(peer, request, response),
            NetworkEvent::ChunkResponse {
                peer,
                request,
                response,
            } => self.parachains.on_chunk_response(peer, request, response),
            event => {
                match &event {
                    NetworkEvent::PeerConnected(peer) => self.parachains.on_peer_connected(*peer),
                    NetworkEvent::PeerDisconnected(peer) | NetworkEvent::Banned(peer) => {
                        self.parachains.on_peer_disconnected(peer)
                    }
                    _ => {}
                }
                let connectivity = matches!(
                    event,
                    NetworkEvent::PeerConnected(_)
                        | NetworkEvent::PeerDisconnected(_)
                        | NetworkEvent::Banned(_)
                );
                let outcome = self.sync.on_event(event).await;
                self.synced(outcome).await;
                if connectivity {
                    self.update_network_status().await;
                }
            }
        }
    }

    /// Hands what sync imported (blocks, justifications) to the finality voter.
    async fn synced(&mut self, outcome: SyncOutcome) {
        if !outcome.imported.is_empty() {
            self.requeue_retracted();
        }
        for (header, best) in outcome.imported {
            let wanted = self.finality.block_imported(header, best).await;
            self.want(wanted).await;
        }
        for (peer, justification) in outcome.justifications {
            let wanted = self.finality.on_justification(peer, &justification).await;
            self.want(wanted).await;
        }
    }

    /// Fetches blocks the voter heard of but this node lacks.
    async fn want(&mut self, outcome: FinalityOutcome) {
        for (peer, target) in outcome.wanted {
            self.sync.want_block(peer, target).await;
        }
    }

    async fn update_network_status(&self) {
        let Ok(connected) = self.network.peers().await else {
            return;
        };
        let bests: std::collections::BTreeMap<_, _> = self.sync.peer_bests().into_iter().collect();
        self.shared.set_network_status(NetworkStatus {
            peers: connected
                .iter()
                .map(|peer| {
                    (
                        peer.to_string(),
                        bests.get(peer).copied().unwrap_or_default(),
                    )
                })
                .collect(),
            syncing: self.warp.is_some() || self.sync.is_syncing(),
            should_have_peers: self.should_have_peers,
        });
    }

    /// Para nodes follow their paras and collate; their candidates are published.
    async fn collate(&mut self) {
        for collation in self.para_nodes.tick(&self.shared).await {
            self.parachains.publish_collation(collation).await;
        }
    }

    /// Authors a block if this validator may claim the current slot and is not catching up.
    async fn author(&mut self) -> Result<(), RunError> {
        let Some(authoring) = self.authoring.as_mut() else {
            return Ok(());
        };
        if self.sync.is_behind(AUTHOR_WHEN_BEHIND_BY_AT_MOST) {
            return Ok(());
        }
        let started = std::time::Instant::now();
        let (authored, pool_len, best) = {
            let mut client = self.shared.client();
            let Some(claim) = client.claim_slot(unix_time_ms()) else {
                return Ok(());
            };
            let mut pool = self.shared.pool();
            if let Some((generator, count)) = authoring.transfers.as_mut() {
                // The dev workload is not worth stopping the node for: a batch it cannot make
                // (the runtime busy, say) is skipped.
                let batch = generator.next_batch(&client, *count).unwrap_or_else(|err| {
                    tracing::warn!(%err, "no dev transfers this slot");
                    Vec::new()
                });
                let refused = client
                    .submit_all(&mut pool, batch, true)
                    .into_iter()
                    .filter_map(Result::err);
                for err in refused {
                    tracing::debug!(%err, "dev transfer refused");
                    generator.reset_nonces();
                }
            }
            let parent = client
                .header(&claim.parent)
                .map_err(|e| RunError::Chain(e.to_string()))?;
            let inherents = parent
                .and_then(|parent| self.parachains.inherent(&client, &parent))
                .into_iter()
                .collect();
            // Until a third into the slot (at least a twentieth of a slot from now, if the
            // node came late to it): the block must still reach and be imported by every
            // peer, and backers need the rest of the slot for the next candidates.
            let slot = client.slot_duration();
            let slot_ms = u64::try_from(slot.as_millis()).unwrap_or(u64::MAX);
            let third_in = claim
                .slot
                .saturating_mul(slot_ms)
                .saturating_add(slot_ms / 3);
            let left = Duration::from_millis(third_in.saturating_sub(unix_time_ms()));
            let deadline = Instant::now() + left.max(slot / 20);
            let authored =
                match client.author_block_until(&mut pool, claim, inherents, Some(deadline)) {
                    Ok(authored) => authored,
                    // The runtime could not build this block (its instance pool busy, or it
                    // failed on what it was given): skip the slot, not the node.
                    Err(AuthorError::Runtime(err)) => {
                        tracing::warn!(%err, "the runtime could not build a block: slot skipped");
                        return Ok(());
                    }
                    Err(err) => return Err(err.into()),
                };
            let best = client.info().map_or(0, |m| m.best_number);
            (authored, pool.len(), best)
        };
        for (hash, reason) in &authored.dropped {
            tracing::info!(%hash, %reason, "dropped transaction");
            self.shared.publish(ChainEvent::TxDropped {
                hash: *hash,
                reason: reason.clone(),
            });
        }
        let block = authored.block;
        let header = &block.header;
        tracing::info!(
            number = header.number,
            hash = %header.hash(),
            extrinsics = block.extrinsics.len(),
            pool = pool_len,
            ms = started.elapsed().as_millis() as u64,
            "authored block"
        );
        self.shared.publish(ChainEvent::Imported {
            header: header.clone(),
            extrinsics: block.extrinsics.iter().map(|xt| xt.hash()).collect(),
            best: true,
        });
        self.shared
            .metrics
            .block(best, block.extrinsics.len(), started.elapsed());
        self.shared.metrics.pool_size.set(pool_len as i64);
        self.sync.announce_block(&block).await;
        let wanted = self.finality.block_imported(header.clone(), true).await;
        self.want(wanted).await;
        Ok(())
    }
}
