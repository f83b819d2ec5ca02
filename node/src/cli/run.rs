//! `tessera run`: a full node, or with `--validator` a node that authors blocks and votes on
//! finality.

use super::node::{node_key, open_chain, serve, ServiceArgs};
use super::StorageArgs;
use crate::run::Authoring;
use anyhow::{bail, Context};
use clap::Args;
use tessera_consensus::AuthorityKey;
use tessera_relay_chain::ChainSpec;
use tessera_runtime::crypto::Pair;

/// Arguments of `tessera run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Where the chain is kept, and which chain.
    #[command(flatten)]
    storage: StorageArgs,
    /// Author blocks in the slots the key claims and vote on finality (needs `--key`).
    #[arg(long, requires = "key")]
    validator: bool,
    /// The validator's secret URI, e.g. `//Alice` or a phrase (also from TESSERA_KEY).
    #[arg(long, env = "TESSERA_KEY", hide_env_values = true, value_name = "SURI")]
    key: Option<String>,
    /// Network, RPC, metrics and `--blocks`.
    #[command(flatten)]
    service: ServiceArgs,
}

/// Runs the node until Ctrl-C or `--blocks`.
pub(super) fn run(args: RunArgs) -> anyhow::Result<()> {
    let spec = ChainSpec::load(&args.storage.chain.chain)?;
    let authoring = match (&args.key, args.validator) {
        (Some(uri), true) => {
            let key = Pair::from_uri(uri).context("invalid --key")?;
            if !spec.genesis.validators.iter().any(|v| v.0 == key.public()) {
                bail!(
                    "--key {} is not a validator of chain `{}`",
                    key.public(),
                    spec.id
                );
            }
            Some(Authoring {
                key: AuthorityKey::from_pair(&key),
                transfers: None,
            })
        }
        _ => None,
    };
    let client = open_chain(&args.storage.base_path, &spec)?;
    let keypair = node_key(&args.storage.base_path, &spec)?;
    serve(client, &spec, &args.service, keypair, authoring)
}
