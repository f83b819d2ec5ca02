//! `tessera dev`: a local network of validators on loopback (4 by default), each its own
//! libp2p peer with its own RocksDB, authoring in BABE slots and finalizing with GRANDPA; the
//! first one submits dev transfers, serves RPC at 127.0.0.1:9944 and prints one line per block.

use super::node::{
    node_key, open_chain, print_blocks, runtime, start, stop_on, ServiceArgs, SyncMode,
};
use super::paras::{serve_para, ParaRuntime};
use super::ChainArgs;
use crate::run::Authoring;
use crate::workload::{TransferGenerator, DEV_ACCOUNTS};
use anyhow::{bail, Context};
use clap::Args;
use parity_scale_codec::Encode;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use tessera_consensus::AuthorityKey;
use tessera_relay_chain::paras::ParaId;
use tessera_relay_chain::{ChainSpec, GenesisPara, HexBytes};
use tessera_runtime::crypto::Pair;
use tokio::sync::watch;

/// Arguments of `tessera dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Keep the chains here, one directory per validator (default: a temporary directory
    /// removed on exit).
    #[arg(long, value_name = "PATH")]
    base_path: Option<PathBuf>,
    /// Directory for compiled Wasm kept between runs (default `<base-path>/wasm-cache`).
    #[arg(long, env = "TESSERA_WASM_CACHE", value_name = "PATH")]
    wasm_cache: Option<PathBuf>,
    /// Validators to run (dev accounts Alice, Bob, …, at most 6).
    #[arg(long, default_value_t = 4, value_name = "N",
          value_parser = clap::value_parser!(u8).range(1..=6))]
    validators: u8,
    /// Milliseconds per slot, the target block time (built-in `dev` chain only; a spec file
    /// sets its own).
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    block_time: u64,
    /// Dev transfers submitted before each block the first validator authors.
    #[arg(long, default_value_t = 10, value_name = "N")]
    transfers: usize,
    /// Seed of the dev transfers.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Parachains to register and collate (ids 1000, 1001, …; built-in `dev` chain only).
    #[arg(long, default_value_t = 2, value_name = "N",
          value_parser = clap::value_parser!(u8).range(0..=2))]
    parachains: u8,
    /// Dev transfers each collator puts in each para block.
    #[arg(long, default_value_t = 5, value_name = "N")]
    para_transfers: usize,
    /// The chain: `dev` (built with `--validators` and `--block-time`), `local`, or a spec
    /// file whose validators are dev accounts.
    #[command(flatten)]
    chain: ChainArgs,
    /// Network, RPC and metrics of the first validator, and `--blocks`.
    #[command(flatten)]
    service: ServiceArgs,
}

/// The paras of the dev network: the template as 1000 and the example as 1001.
fn dev_paras(count: u8) -> Vec<(ParaId, ParaRuntime)> {
    [
        (ParaId(1000), ParaRuntime::Template),
        (ParaId(1001), ParaRuntime::Example),
    ]
    .into_iter()
    .take(usize::from(count))
    .collect()
}

/// The chain `dev` runs and the dev keys of the validators it runs.
fn chain_and_keys(args: &DevArgs) -> anyhow::Result<(ChainSpec, Vec<(String, Pair)>)> {
    let spec = if args.chain.chain == "dev" {
        let mut spec = ChainSpec::dev_with_validators(usize::from(args.validators));
        spec.genesis.slot_duration_ms = args.block_time;
        for (id, runtime) in dev_paras(args.parachains) {
            spec.genesis.paras.push(GenesisPara {
                id: id.0,
                head: HexBytes(runtime.genesis(id)?.0.encode()),
                code: HexBytes(runtime.code().to_vec()),
            });
        }
        // Dev paras can message each other from the first block.
        spec.genesis.open_all_channels();
        spec
    } else {
        ChainSpec::load(&args.chain.chain)?
    };
    let keys: Vec<(String, Pair)> = spec
        .genesis
        .validators
        .iter()
        .filter_map(|validator| {
            DEV_ACCOUNTS
                .iter()
                .map(|name| (name.to_lowercase(), Pair::dev(name)))
                .find(|(_, pair)| pair.public() == validator.0)
        })
        .take(usize::from(args.validators))
        .collect();
    if keys.is_empty() {
        bail!("none of the chain's validators is a dev account, so `dev` cannot run one");
    }
    Ok((spec, keys))
}

/// Runs the dev network until Ctrl-C or `--blocks` finalized blocks.
pub(super) fn run(args: DevArgs) -> anyhow::Result<()> {
    let (spec, keys) = chain_and_keys(&args)?;
    let temp_dir;
    let base_path = match &args.base_path {
        Some(path) => path.clone(),
        None => {
            temp_dir = tempfile::Builder::new().prefix("tessera-dev-").tempdir()?;
            temp_dir.path().to_path_buf()
        }
    };
    super::keep_compiled_code(&base_path, args.wasm_cache.as_deref())?;
    println!(
        "Tessera `{}` · {} validators · {} ms slots · data in {}",
        spec.name,
        keys.len(),
        spec.genesis.slot_duration_ms,
        base_path.display()
    );
    runtime()?.block_on(async {
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut bootnodes = args.service.bootnodes.clone();
        let mut nodes = Vec::new();
        let mut para_rpc = Vec::new();
        let mut first = None;
        for (index, (name, pair)) in keys.iter().enumerate() {
            let path = base_path.join(name);
            let client = open_chain(&path, &spec)?;
            let keypair = node_key(&path, &spec)?;
            let mut service = args.service.clone();
            service.bootnodes = bootnodes.clone();
            if index > 0 {
                // Only the first validator takes the well-known ports.
                service.listen_addr = "/ip4/127.0.0.1/tcp/0".parse()?;
                service.rpc_addr = IpAddr::V4(Ipv4Addr::LOCALHOST);
                service.rpc_port = 0;
                service.prometheus_port = 0;
            }
            let authoring = Authoring {
                key: AuthorityKey::from_pair(pair),
                transfers: (index == 0 && args.transfers > 0)
                    .then(|| (TransferGenerator::dev(args.seed), args.transfers)),
                malus: Default::default(),
            };
            let started = start(
                client,
                &spec,
                &service,
                keypair,
                Some(authoring),
                None,
                SyncMode::Full,
            )
            .await
            .with_context(|| format!("starting validator {name}"))?;
            let addr = started.listening.clone();
            println!(
                "validator {name:<8} {}  rpc http://{}  libp2p {}",
                pair.public(),
                started.rpc,
                addr.as_ref().map_or("-".into(), ToString::to_string)
            );
            bootnodes.extend(addr);
            if first.is_none() {
                first = Some(started.shared.clone());
            }
            nodes.push(tokio::spawn(started.run(stop_rx.clone())));
        }
        let Some(first) = first else {
            bail!("no validator started");
        };
        let paras = dev_paras(args.parachains);
        if args.chain.chain == "dev" && !paras.is_empty() {
            // The collators run on a relay full node of their own, as a real collator would.
            let path = base_path.join("collator");
            let client = open_chain(&path, &spec)?;
            let keypair = node_key(&path, &spec)?;
            let mut service = args.service.clone();
            service.bootnodes = bootnodes.clone();
            service.listen_addr = "/ip4/127.0.0.1/tcp/0".parse()?;
            service.rpc_addr = IpAddr::V4(Ipv4Addr::LOCALHOST);
            service.rpc_port = 0;
            service.prometheus_port = 0;
            let mut started = start(client, &spec, &service, keypair, None, None, SyncMode::Full)
                .await
                .context("starting the collator node")?;
            // A relay node that does not author: what a dapp submits to in production.
            println!(
                "full     collators' relay node  rpc http://{}  libp2p {}",
                started.rpc,
                started
                    .listening
                    .as_ref()
                    .map_or("-".into(), ToString::to_string)
            );
            bootnodes.extend(started.listening.clone());
            for (index, (id, runtime)) in paras.into_iter().enumerate() {
                let mut collator = runtime.node(id, &path, &spec, Some(Pair::dev("Ferdie")))?;
                collator.set_dev_transfers(args.para_transfers);
                // Para RPC next to the relay's well-known port (9945, 9946, …), or any port.
                let port = match args.service.rpc_port {
                    0 => 0,
                    relay => relay.saturating_add(1).saturating_add(index as u16),
                };
                let addr = SocketAddr::new(args.service.rpc_addr, port);
                let (bound, handle) = serve_para(&mut started, collator, addr).await?;
                para_rpc.push(handle);
                println!(
                    "para     {:<8} {} · rpc http://{bound} · collator Ferdie",
                    id.0,
                    runtime.name()
                );
            }
            nodes.push(tokio::spawn(started.run(stop_rx.clone())));
            // Everything another node needs to join: the spec, with the paras, and peers.
            let spec_path = base_path.join("dev-spec.json");
            std::fs::write(&spec_path, spec.clone().with_code().to_json())
                .with_context(|| format!("cannot write {}", spec_path.display()))?;
            let peers: Vec<String> = bootnodes.iter().map(ToString::to_string).collect();
            println!(
                "join     tessera run --chain {} --base-path PATH --para 1000 --bootnodes {}",
                spec_path.display(),
                peers.join(",")
            );
        }
        stop_on(print_blocks(first, args.service.blocks), stop_tx).await;
        for handle in para_rpc {
            let _already = handle.stop();
        }
        for node in nodes {
            node.await??;
        }
        anyhow::Ok(())
    })
}
