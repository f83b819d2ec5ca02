//! What `tessera dev` and `tessera run` share: open the chain, start RPC, metrics and the
//! network, print one line per block, stop on Ctrl-C or after N finalized blocks.

use super::database_path;
use crate::client::Client;
use crate::metrics;
use crate::network::{NetworkConfig, NetworkLimits};
use crate::parachains::collator::Collate;
use crate::rpc;
use crate::run::{Authoring, Node};
use crate::service::{ChainEvent, Shared};
use crate::store::RocksDb;
use anyhow::Context;
use clap::Args;
use jsonrpsee::server::ServerHandle;
use libp2p::{identity, Multiaddr};
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use tessera_relay_chain::{ChainSpec, UNIT};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

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
    /// Exit with status 0 once this many blocks are finalized.
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

/// The node's libp2p identity, kept under the base path so its peer id survives restarts.
pub(crate) fn node_key(base_path: &Path, spec: &ChainSpec) -> anyhow::Result<identity::Keypair> {
    let dir = base_path.join("chains").join(&spec.id).join("network");
    let path = dir.join("secret_ed25519");
    match std::fs::read(&path) {
        Ok(mut bytes) => identity::Keypair::ed25519_from_bytes(&mut bytes)
            .with_context(|| format!("invalid node key in {}", path.display())),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            let keypair = identity::ed25519::Keypair::generate();
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            write_secret(&path, keypair.secret().as_ref())?;
            Ok(keypair.into())
        }
        Err(err) => Err(err).with_context(|| format!("cannot read {}", path.display())),
    }
}

fn write_secret(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

fn short(hash: &str) -> String {
    format!(
        "{}…{}",
        &hash[..8.min(hash.len())],
        &hash[hash.len().saturating_sub(4)..]
    )
}

/// How a node with an empty store catches up with the chain (`--sync`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SyncMode {
    /// Every block from genesis, each executed and each set change checked.
    #[default]
    Full,
    /// A peer's warp proof of the finalized chain, checked from the genesis validators, and
    /// the state of the block it leads to; the blocks below it are not fetched.
    Warp,
}

/// A node with its RPC and metrics servers, ready to run.
pub(crate) struct Started {
    pub(crate) shared: Arc<Shared>,
    pub(crate) node: Node,
    pub(crate) listening: Option<Multiaddr>,
    pub(crate) rpc: SocketAddr,
    rpc_handle: ServerHandle,
    metrics_task: tokio::task::JoinHandle<()>,
}

impl Started {
    /// Runs the node until `stop` turns true, then stops the servers.
    pub(crate) async fn run(self, mut stop: watch::Receiver<bool>) -> anyhow::Result<()> {
        let stopped = async move {
            // An error means the sender is gone: stop too.
            let _ = stop.wait_for(|stop| *stop).await;
        };
        let result = self.node.run(stopped).await;
        let _already = self.rpc_handle.stop();
        self.rpc_handle.stopped().await;
        self.metrics_task.abort();
        Ok(result?)
    }
}

/// Starts RPC, metrics and the network for `client` (inside a tokio runtime).
pub(crate) async fn start(
    client: Client,
    spec: &ChainSpec,
    args: &ServiceArgs,
    keypair: identity::Keypair,
    authoring: Option<Authoring>,
    keystore: Option<Arc<crate::keystore::Keystore>>,
    sync: SyncMode,
) -> anyhow::Result<Started> {
    let genesis = client.info()?.genesis;
    let shared = Arc::new(Shared::new(client, spec.name.clone()));
    shared.allow_unsafe_rpc(args.rpc_addr.is_loopback());
    // Before the engines start: both hold the session keys from the first slot and round.
    if let Some(keystore) = keystore {
        shared.set_keystore(keystore);
    }
    let (rpc, rpc_handle) = rpc::start(
        SocketAddr::new(args.rpc_addr, args.rpc_port),
        shared.clone(),
    )
    .await?;
    let metrics_addr = SocketAddr::new(args.rpc_addr, args.prometheus_port);
    let (metrics_bound, metrics_task) =
        metrics::serve(metrics_addr, shared.metrics.clone()).await?;
    tracing::info!(%metrics_bound, "prometheus metrics");
    let network = NetworkConfig {
        keypair,
        listen: args.listen_addr.clone(),
        bootnodes: args.bootnodes.clone(),
        chain: genesis.to_string(),
        limits: NetworkLimits::default(),
    };
    let mut node = Node::start(shared.clone(), network, authoring)?;
    if sync == SyncMode::Warp {
        node.warp_sync()?;
    }
    let listening = node.listening().await;
    Ok(Started {
        shared,
        node,
        listening,
        rpc,
        rpc_handle,
        metrics_task,
    })
}

/// Prints one line per block imported by `shared`'s node until `finalized_target` blocks are
/// finalized (forever without a target).
pub(crate) async fn print_blocks(shared: Arc<Shared>, finalized_target: Option<u32>) {
    let mut events = shared.subscribe();
    loop {
        match events.recv().await {
            Ok(ChainEvent::Imported {
                header,
                extrinsics,
                best,
            }) => {
                let (finalized, issuance, paras) = {
                    let client = shared.client();
                    let meta = client.info().ok();
                    let issuance = client.total_issuance(&header.hash()).unwrap_or_default();
                    let approved = crate::parachains::approval::best_approved(&shared.approval);
                    let paras =
                        crate::parachains::para_statuses(&client, approved).unwrap_or_default();
                    (meta.map_or(0, |m| m.finalized_number), issuance, paras)
                };
                let number = |head: Option<crate::parachains::ParaHead>| {
                    head.and_then(|h| h.number)
                        .map_or("-".to_string(), |n| format!("#{n}"))
                };
                let paras: String = paras
                    .iter()
                    .map(|p| {
                        format!(
                            " · para {} {} (approved {}, final {})",
                            p.id.0,
                            number(Some(p.included)),
                            number(p.approved),
                            number(p.finalized)
                        )
                    })
                    .collect();
                println!(
                    "#{:<5} {} {}· finalized #{} · {} txs · pool {} · peers {} · issuance {} UNIT{}",
                    header.number,
                    short(&header.hash().to_string()),
                    if best { "" } else { "(fork) " },
                    finalized,
                    extrinsics.len(),
                    shared.pool().len(),
                    shared.metrics.peers.get(),
                    issuance / UNIT,
                    paras,
                );
            }
            Ok(ChainEvent::Finalized(header)) => {
                if finalized_target.is_some_and(|n| header.number >= n) {
                    println!("finalized #{}: done", header.number);
                    return;
                }
            }
            Ok(ChainEvent::TxReplaced { .. } | ChainEvent::TxDropped { .. })
            | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return,
        }
    }
}

/// A multi-threaded tokio runtime sized for this machine's two cores.
pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?)
}

/// Stops when Ctrl-C is pressed or `done` completes; tells every node through the channel.
pub(crate) async fn stop_on(
    done: impl std::future::Future<Output = ()>,
    stop: watch::Sender<bool>,
) {
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {
            println!("Ctrl-C: stopping; every block reported as imported is saved.");
        }
        () = done => {}
    }
    let _none_listening = stop.send(true);
}

/// What a `tessera run` node does besides following the relay chain, and how it catches up.
pub(super) struct Roles {
    /// Authoring and finality voting, for a validator.
    pub(super) authoring: Option<Authoring>,
    /// A para node, and the address of its RPC.
    pub(super) para: Option<(Box<dyn Collate>, SocketAddr)>,
    /// The validator's session keys.
    pub(super) keystore: Option<Arc<crate::keystore::Keystore>>,
    /// How it catches up from an empty store.
    pub(super) sync: SyncMode,
}

/// Serves `client` and runs the node in its `roles` (a para node with its RPC if one is
/// given) until Ctrl-C or `--blocks`.
pub(super) fn serve(
    client: Client,
    spec: &ChainSpec,
    args: &ServiceArgs,
    keypair: identity::Keypair,
    roles: Roles,
) -> anyhow::Result<()> {
    let Roles {
        authoring,
        para,
        keystore,
        sync,
    } = roles;
    let meta = client.info()?;
    println!(
        "Tessera `{}` · genesis {} · best #{} · finalized #{}",
        spec.name, meta.genesis, meta.best_number, meta.finalized_number
    );
    runtime()?.block_on(async {
        let mut started = start(client, spec, args, keypair, authoring, keystore, sync).await?;
        println!("JSON-RPC: http://{0} and ws://{0}", started.rpc);
        if let Some(addr) = &started.listening {
            println!("libp2p: {addr}");
        }
        let mut para_rpc = None;
        if let Some((node, addr)) = para {
            let (id, collating) = (node.para().0, node.is_collating());
            let (bound, handle) = super::paras::serve_para(&mut started, node, addr).await?;
            let role = if collating { "collator" } else { "full node" };
            println!("para {id} {role}: JSON-RPC http://{bound}");
            para_rpc = Some(handle);
        }
        let (stop_tx, stop_rx) = watch::channel(false);
        let printer = print_blocks(started.shared.clone(), args.blocks);
        let node = tokio::spawn(started.run(stop_rx));
        stop_on(printer, stop_tx).await;
        if let Some(handle) = para_rpc {
            let _already = handle.stop();
        }
        node.await?
    })
}
