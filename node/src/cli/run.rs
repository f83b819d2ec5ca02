//! `tessera run`: a full node, or with `--validator` a node that authors blocks and votes on
//! finality; with `--para` it also runs a node of a para (a full node with the para's RPC, or
//! with `--collator-key` its collator).

use super::node::{node_key, open_chain, serve, Roles, ServiceArgs, SyncMode};
use super::paras::{runtime_of, spec_node};
use super::StorageArgs;
use crate::malus::{Behaviour, Malus};
use crate::run::Authoring;
use anyhow::Context;
use clap::Args;
use std::net::SocketAddr;
use std::path::PathBuf;
use tessera_consensus::AuthorityKey;
use tessera_relay_chain::paras::ParaId;
use tessera_relay_chain::{ChainSpec, ParaChainSpec};
use tessera_runtime::crypto::Pair;

/// Arguments of `tessera run`.
#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("para_or_spec").args(["para", "para_spec"])))]
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
    #[arg(long, value_name = "PARA_ID", conflicts_with = "para_spec")]
    para: Option<u32>,
    /// Also run a node of the para this chain spec describes (`tessera build-spec
    /// --para-wasm`): any para, run from its Wasm. It follows the para once the relay chain
    /// has onboarded it, and serves its JSON-RPC.
    #[arg(long, value_name = "FILE")]
    para_spec: Option<PathBuf>,
    /// Collate the para with this secret URI, e.g. `//Ferdie` (also from
    /// TESSERA_COLLATOR_KEY); without it the para node is a full node.
    #[arg(
        long,
        requires = "para_or_spec",
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
    /// How a new node catches up: `full` imports every block from genesis; `warp` starts
    /// above the finalized block a peer's warp proof leads to, with that block's state
    /// (checked against its header), without the blocks below it. A store with blocks
    /// syncs on from them either way.
    #[arg(long, value_enum, default_value_t = SyncMode::Full, value_name = "MODE")]
    sync: SyncMode,
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
                println!(
                    "{} is not a genesis validator of `{}`: as the validator's stash (named \
                     in its blocks), it authors and votes once staking elects it with session \
                     keys this node holds (author_rotateKeys)",
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
    let collator_key = args
        .collator_key
        .as_deref()
        .map(Pair::from_uri)
        .transpose()
        .context("invalid --collator-key")?;
    args.storage.keep_compiled_code()?;
    let base_path = &args.storage.base_path;
    let para_node = match (args.para, &args.para_spec) {
        (Some(id), _) => {
            let id = ParaId(id);
            Some(runtime_of(&spec, id)?.node(id, base_path, &spec, collator_key)?)
        }
        (None, Some(path)) => {
            let para = ParaChainSpec::load(&path.to_string_lossy())?;
            Some(spec_node(&para, base_path, &spec, collator_key)?)
        }
        (None, None) => None,
    };
    let para = para_node.map(|node| {
        let addr = SocketAddr::new(args.service.rpc_addr, args.para_rpc_port);
        (node, addr)
    });
    let client = open_chain(&args.storage.base_path, &spec)?;
    let keypair = node_key(&args.storage.base_path, &spec)?;
    // A validator keeps the session keys `author_rotateKeys` makes beside its chain.
    let keystore = match &authoring {
        Some(_) => {
            let dir = base_path.join("chains").join(&spec.id).join("keystore");
            Some(std::sync::Arc::new(crate::keystore::Keystore::open(&dir)?))
        }
        None => None,
    };
    serve(
        client,
        &spec,
        &args.service,
        keypair,
        Roles {
            authoring,
            para,
            keystore,
            sync: args.sync,
        },
    )
}
