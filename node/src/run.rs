//! A running node: network events, block authoring (for a validator) and status gossip in
//! one loop, until told to stop.

use crate::client::AuthorError;
use crate::network::{self, NetworkConfig, NetworkError, NetworkEvent, NetworkHandle};
use crate::service::{ChainEvent, NetworkStatus, Shared};
use crate::sync::ChainSync;
use crate::workload::TransferGenerator;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tessera_runtime::crypto::Pair;
use tokio::sync::mpsc::Receiver;

/// How often a node tells peers its best block.
const STATUS_INTERVAL: Duration = Duration::from_secs(2);

/// Block production of a validator.
pub struct Authoring {
    /// The validator's key (an authority of the chain).
    pub key: Pair,
    /// Time between blocks.
    pub block_time: Duration,
    /// Dev load: signed transfers added before each block, and how many.
    pub transfers: Option<(TransferGenerator, usize)>,
    /// Mark own blocks final (single-authority dev chains only, until GRANDPA is wired in).
    pub self_finalize: bool,
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
    /// Reading the chain failed.
    #[error("chain: {0}")]
    Chain(String),
}

/// A node joined to the network.
pub struct Node {
    shared: Arc<Shared>,
    network: NetworkHandle,
    events: Receiver<NetworkEvent>,
    sync: ChainSync,
    authoring: Option<Authoring>,
    should_have_peers: bool,
}

impl Node {
    /// Starts the network for the node whose state is `shared`.
    pub fn start(
        shared: Arc<Shared>,
        network: NetworkConfig,
        authoring: Option<Authoring>,
    ) -> Result<Node, RunError> {
        let should_have_peers = !network.bootnodes.is_empty();
        let (handle, events) = network::start(network)?;
        let sync = ChainSync::new(shared.clone(), handle.clone());
        shared.set_network_status(NetworkStatus {
            should_have_peers,
            ..NetworkStatus::default()
        });
        Ok(Node {
            shared,
            network: handle,
            events,
            sync,
            authoring,
            should_have_peers,
        })
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
                other => self.sync.on_event(other).await,
            }
        }
        None
    }

    /// Runs until `stop` completes.
    pub async fn run(mut self, stop: impl Future<Output = ()>) -> Result<(), RunError> {
        tokio::pin!(stop);
        let block_time = self
            .authoring
            .as_ref()
            .map_or(Duration::from_secs(3600), |a| a.block_time);
        let mut author_tick = tokio::time::interval(block_time.max(Duration::from_millis(1)));
        let mut status_tick = tokio::time::interval(STATUS_INTERVAL);
        loop {
            tokio::select! {
                () = &mut stop => return Ok(()),
                event = self.events.recv() => match event {
                    Some(NetworkEvent::Listening(addr)) => tracing::info!(%addr, "listening"),
                    Some(event) => {
                        self.sync.on_event(event).await;
                        self.update_network_status().await;
                    }
                    None => return Err(NetworkError::Stopped.into()),
                },
                _ = author_tick.tick(), if self.authoring.is_some() && !self.sync.is_syncing() => {
                    self.author().await?;
                }
                _ = status_tick.tick() => self.sync.announce_status().await,
            }
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
            syncing: self.sync.is_syncing(),
            should_have_peers: self.should_have_peers,
        });
    }

    async fn author(&mut self) -> Result<(), RunError> {
        let Some(authoring) = self.authoring.as_mut() else {
            return Ok(());
        };
        let started = std::time::Instant::now();
        let (authored, pool_len) = {
            let mut client = self.shared.client();
            let mut pool = self.shared.pool();
            if let Some((generator, count)) = authoring.transfers.as_mut() {
                let batch = generator
                    .next_batch(&client, *count)
                    .map_err(|e| RunError::Chain(e.to_string()))?;
                for xt in batch {
                    if let Err(err) = client.submit(&mut pool, xt) {
                        tracing::debug!(%err, "dev transfer refused");
                        generator.reset_nonces();
                    }
                }
            }
            let authored =
                client.author_block(&authoring.key, &mut pool, authoring.self_finalize)?;
            (authored, pool.len())
        };
        for (hash, reason) in &authored.dropped {
            tracing::info!(%hash, %reason, "dropped transaction");
        }
        let block = authored.block;
        let header = &block.header;
        self.shared.publish(ChainEvent::Imported {
            header: header.clone(),
            extrinsics: block.extrinsics.iter().map(|xt| xt.hash()).collect(),
            best: true,
        });
        let finalized = authoring.self_finalize.then_some(header.number);
        if authoring.self_finalize {
            self.shared.publish(ChainEvent::Finalized(header.clone()));
        }
        self.shared.metrics.block(
            header.number,
            block.extrinsics.len(),
            started.elapsed(),
            finalized,
        );
        self.shared.metrics.pool_size.set(pool_len as i64);
        self.sync.announce_block(&block).await;
        Ok(())
    }
}
