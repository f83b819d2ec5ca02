//! What `tessera dev` and `tessera run` share: open the chain, start RPC, metrics and the
//! network, print one line per block, stop on Ctrl-C or after N blocks.

use super::database_path;
use crate::client::Client;
use crate::metrics;
use crate::network::NetworkConfig;
use crate::rpc;
use crate::run::{Authoring, Node};
use crate::service::{ChainEvent, Shared};
use crate::store::RocksDb;
use anyhow::Context;
use clap::Args;
use libp2p::{identity, Multiaddr};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use tessera_relay_chain::{ChainSpec, UNIT};
use tokio::sync::broadcast::error::RecvError;

/// Network, RPC and metrics options.
#[derive(Debug, Clone, Args)]
pub struct ServiceArgs {
    /// libp2p listen address (`/tcp/0` picks a port).
    #[arg(
        long,
        default_value = "/ip4/127.0.0.1/tcp/30333",
        value_name = "MULTIADDR"
    )]
    pub listen_addr: Multiaddr,
    /// Peers to connect to: `/ip4/…/tcp/…/p2p/<peer id>` (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', value_name = "MULTIADDR")]
    pub bootnodes: Vec<Multiaddr>,
    /// Interface of the JSON-RPC and metrics servers.
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    pub rpc_addr: IpAddr,
    /// Port of the JSON-RPC server, HTTP and WebSocket (0 picks a free one).
    #[arg(long, default_value_t = 9944, value_name = "PORT")]
    pub rpc_port: u16,
    /// Port of the Prometheus endpoint `/metrics` (0 picks a free one).
    #[arg(long, default_value_t = 9615, value_name = "PORT")]
    pub prometheus_port: u16,
    /// Exit with status 0 once the best block reaches this number.
    #[arg(long, value_name = "N")]
    pub blocks: Option<u32>,
}

/// Opens (or creates) the chain database of `spec` under `base_path`.
pub(crate) fn open_chain(base_path: &Path, spec: &ChainSpec) -> anyhow::Result<Client> {
    let genesis = spec.build_genesis()?;
    let path = database_path(base_path, &spec.id);
    std::fs::create_dir_all(&path).with_context(|| format!("cannot create {}", path.display()))?;
    let db =
        RocksDb::open(&path).with_context(|| format!("cannot open database {}", path.display()))?;
    tracing::info!(database = %path.display(), "chain opened");
    Ok(Client::open(Box::new(db), &genesis)?)
}

fn short(hash: &str) -> String {
    format!(
        "{}…{}",
        &hash[..8.min(hash.len())],
        &hash[hash.len().saturating_sub(4)..]
    )
}

/// Serves `client` and runs the node until Ctrl-C or `--blocks`.
pub(super) fn serve(
    client: Client,
    spec: &ChainSpec,
    args: &ServiceArgs,
    authoring: Option<Authoring>,
) -> anyhow::Result<()> {
    let meta = client.info()?;
    let genesis = meta.genesis;
    println!(
        "Tessera `{}` · genesis {} · best #{}",
        spec.name, meta.genesis, meta.best_number
    );
    let shared = Arc::new(Shared::new(client, spec.name.clone()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let (rpc_bound, rpc) = rpc::start(SocketAddr::new(args.rpc_addr, args.rpc_port), shared.clone()).await?;
        println!("JSON-RPC: http://{rpc_bound} and ws://{rpc_bound}");
        let metrics_addr = SocketAddr::new(args.rpc_addr, args.prometheus_port);
        let (metrics_bound, metrics_task) = metrics::serve(metrics_addr, shared.metrics.clone()).await?;
        println!("Prometheus: http://{metrics_bound}/metrics");
        let network = NetworkConfig {
            keypair: identity::Keypair::generate_ed25519(),
            listen: args.listen_addr.clone(),
            bootnodes: args.bootnodes.clone(),
            chain: genesis.to_string(),
        };
        let mut node = Node::start(shared.clone(), network, authoring)?;
        if let Some(addr) = node.listening().await {
            println!("libp2p: {addr}");
        }

        let mut events = shared.subscribe();
        let target = args.blocks;
        let printer = {
            let shared = shared.clone();
            async move {
                loop {
                    match events.recv().await {
                        Ok(ChainEvent::Imported { header, extrinsics, best }) => {
                            let (finalized, issuance) = {
                                let client = shared.client();
                                let meta = client.info().ok();
                                let issuance = client.total_issuance(&header.hash()).unwrap_or_default();
                                (meta.map_or(0, |m| m.finalized_number), issuance)
                            };
                            println!(
                                "#{:<5} {} {}· finalized #{} · {} txs · pool {} · peers {} · issuance {} UNIT",
                                header.number,
                                short(&header.hash().to_string()),
                                if best { "" } else { "(fork) " },
                                finalized,
                                extrinsics.len(),
                                shared.pool().len(),
                                shared.metrics.peers.get(),
                                issuance / UNIT,
                            );
                            if target.is_some_and(|n| best && header.number >= n) {
                                return;
                            }
                        }
                        Ok(ChainEvent::Finalized(_)) | Err(RecvError::Lagged(_)) => {}
                        Err(RecvError::Closed) => return,
                    }
                }
            }
        };
        let stop = async move {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => println!("Ctrl-C: stopping; the chain is saved up to the last block printed."),
                () = printer => {}
            }
        };
        node.run(stop).await?;
        rpc.stop()?;
        rpc.stopped().await;
        metrics_task.abort();
        anyhow::Ok(())
    })
}
