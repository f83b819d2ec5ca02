//! `tessera run`: a full node, or with `--validator` a node that authors blocks and votes on
//! finality; with `--para` it also runs a node of a para (a full node with the para's RPC, or
//! with `--collator-key` its collator).

use super::node::{node_key, open_chain, serve, ServiceArgs};
use super::paras::runtime_of;
use super::StorageArgs;
use crate::malus::{Behaviour, Malus};
use crate::run::Authoring;
use anyhow::{bail, Context};
use clap::Args;
use std::net::SocketAddr;
use tessera_consensus::AuthorityKey;
use tessera_relay_chain::paras::ParaId;
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
    /// Also run a node of this para (a runtime of this binary, recognized from the code the
    /// chain registers): it follows the para and serves its JSON-RPC.
    #[arg(long, value_name = "PARA_ID")]
    para: Option<u32>,
    /// Collate the para with this secret URI, e.g. `//Ferdie` (also from
    /// TESSERA_COLLATOR_KEY); without it the para node is a full node.
    #[arg(
        long,
        requires = "para",
        env = "TESSERA_COLLATOR_KEY",
        hide_env_values = true,
        value_name = "SURI"
    )]
    collator_key: Option<String>,
    /// Testing only: make this validator hostile, to see honest ones catch it
    /// (comma-separated behaviours).
    #[arg(
        long,
        requires = "validator",
        value_enum,
        value_delimiter = ',',
        value_name = "BEHAVIOUR"
    )]
    malus: Vec<Behaviour>,
    /// Port of the para's JSON-RPC server (0 picks a free one).
    #[arg(long, default_value_t = 9945, value_name = "PORT")]
    para_rpc_port: u16,
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
                malus: Malus::of(&args.malus),
            })
        }
        _ => None,
    };
    let para = match args.para {
        Some(id) => {
            let id = ParaId(id);
            let runtime = runtime_of(&spec, id)?;
            let collator_key = args
                .collator_key
                .as_deref()
                .map(Pair::from_uri)
                .transpose()
                .context("invalid --collator-key")?;
            let addr = SocketAddr::new(args.service.rpc_addr, args.para_rpc_port);
            let node = runtime.node(id, &args.storage.base_path, &spec, collator_key)?;
            Some((node, addr))
        }
        None => None,
    };
    let client = open_chain(&args.storage.base_path, &spec)?;
    let keypair = node_key(&args.storage.base_path, &spec)?;
    serve(client, &spec, &args.service, keypair, authoring, para)
}
