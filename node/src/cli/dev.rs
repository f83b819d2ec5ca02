//! `tessera dev`: a single-validator development chain that authors blocks of transfers
//! between the dev accounts, serves RPC and metrics, and prints one line per block.

use super::node::{open_chain, serve, ServiceArgs};
use super::ChainArgs;
use crate::run::Authoring;
use crate::workload::{TransferGenerator, DEV_ACCOUNTS};
use anyhow::Context;
use clap::Args;
use std::path::PathBuf;
use std::time::Duration;
use tessera_relay_chain::ChainSpec;
use tessera_runtime::crypto::Pair;

/// Arguments of `tessera dev`.
#[derive(Debug, Args)]
pub struct DevArgs {
    /// Keep the chain here (default: a temporary directory removed on exit).
    #[arg(long, value_name = "PATH")]
    base_path: Option<PathBuf>,
    /// Milliseconds between blocks.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    block_time: u64,
    /// Dev transfers submitted before each block.
    #[arg(long, default_value_t = 10, value_name = "N")]
    transfers: usize,
    /// Seed of the dev transfers.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// The chain (its first validator must be a dev account: Alice for `dev`).
    #[command(flatten)]
    chain: ChainArgs,
    /// Network, RPC, metrics and `--blocks`.
    #[command(flatten)]
    service: ServiceArgs,
}

/// Runs the dev chain until Ctrl-C or `--blocks`.
pub(super) fn run(args: DevArgs) -> anyhow::Result<()> {
    let spec = ChainSpec::load(&args.chain.chain)?;
    let key = spec
        .genesis
        .validators
        .first()
        .and_then(|validator| {
            DEV_ACCOUNTS
                .iter()
                .map(|name| Pair::dev(name))
                .find(|pair| pair.public() == validator.0)
        })
        .context("the chain's first validator is not a dev account, so `dev` cannot author")?;
    let temp_dir;
    let base_path = match &args.base_path {
        Some(path) => path.clone(),
        None => {
            temp_dir = tempfile::Builder::new().prefix("tessera-dev-").tempdir()?;
            temp_dir.path().to_path_buf()
        }
    };
    let client = open_chain(&base_path, &spec)?;
    println!("Author: {}", key.public());
    let authoring = Authoring {
        key,
        block_time: Duration::from_millis(args.block_time.max(1)),
        transfers: Some((TransferGenerator::dev(args.seed), args.transfers)),
        self_finalize: spec.genesis.validators.len() == 1,
    };
    serve(client, &spec, &args.service, Some(authoring))
}
