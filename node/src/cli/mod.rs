//! The `tessera` command line.

mod blocks;
mod dev;
mod key;
mod node;
pub mod para;
mod paras;
mod run;
mod set_code;
mod submit;
pub mod xcm;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use std::path::{Path, PathBuf};

pub use dev::DevArgs;
pub use key::KeyCommand;
pub use node::ServiceArgs;
pub use run::RunArgs;

/// Tessera: a relay chain, its parachains and XCM.
#[derive(Debug, Parser)]
#[command(name = "tessera", version, about, propagate_version = true)]
pub struct Cli {
    /// Log filter, e.g. `info` or `tessera=debug` (tracing's EnvFilter syntax).
    #[arg(long, global = true, default_value = "info", value_name = "FILTER")]
    pub log: String,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs a local development chain that authors blocks of transfers (Ctrl-C stops it).
    Dev(DevArgs),
    /// Runs a node: a full node that follows the chain, or a validator with `--validator`.
    Run(RunArgs),
    /// Key tools: generate, inspect, sign, verify (Substrate-compatible sr25519).
    #[command(subcommand)]
    Key(KeyCommand),
    /// Prints a chain spec as JSON: the relay chain's, or with `--para-wasm` a para's.
    BuildSpec(BuildSpecArgs),
    /// Writes blocks of the best chain to a file.
    ExportBlocks(blocks::ExportArgs),
    /// Imports blocks from a file written by export-blocks, checking each one fully.
    ImportBlocks(blocks::ImportArgs),
    /// XCM tools: decode and encode messages, locations and assets.
    #[command(subcommand)]
    Xcm(xcm::XcmCommand),
    /// Registers paras on a running relay chain through the registrar (no root needed).
    #[command(subcommand)]
    Para(para::ParaCommand),
    /// Replaces a chain's runtime as its sudo key (the relay chain, or a para built from the
    /// template through its node's RPC) and waits until the chain runs it.
    SetCode(set_code::SetCodeArgs),
}

/// Which chain.
#[derive(Debug, Clone, Args)]
pub struct ChainArgs {
    /// `dev`, `local` (4 validators), or the path of a chain spec JSON file.
    #[arg(long, default_value = "dev", value_name = "CHAIN")]
    pub chain: String,
}

/// Arguments of `tessera build-spec`.
#[derive(Debug, Clone, Args)]
pub struct BuildSpecArgs {
    /// Which relay chain (without `--para-wasm`).
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Print instead the chain spec of a para running this Wasm runtime (built from the
    /// template, or any runtime with its API), with a dev genesis: the dev accounts endowed,
    /// Alice sudo.
    #[arg(long, value_name = "FILE", requires = "para_id")]
    pub para_wasm: Option<PathBuf>,
    /// The para's id (with `--para-wasm`).
    #[arg(long, value_name = "ID", requires = "para_wasm")]
    pub para_id: Option<u32>,
}

/// Where the node keeps its data.
#[derive(Debug, Clone, Args)]
pub struct StorageArgs {
    /// Directory for the node's databases (`<base-path>/chains/<chain id>/db`).
    #[arg(long, value_name = "PATH")]
    pub base_path: PathBuf,
    /// Which chain.
    #[command(flatten)]
    pub chain: ChainArgs,
    /// Directory for compiled Wasm kept between runs (default `<base-path>/wasm-cache`); nodes
    /// of one operator may share one. What is in it runs as native code: trust it as the
    /// database.
    #[arg(long, env = "TESSERA_WASM_CACHE", value_name = "PATH")]
    pub wasm_cache: Option<PathBuf>,
}

impl StorageArgs {
    /// Keeps the code this process compiles in the Wasm cache directory.
    pub fn keep_compiled_code(&self) -> anyhow::Result<()> {
        keep_compiled_code(&self.base_path, self.wasm_cache.as_deref())
    }
}

/// Keeps the code this process compiles in `wasm_cache`, or `<base_path>/wasm-cache`.
pub(crate) fn keep_compiled_code(
    base_path: &Path,
    wasm_cache: Option<&Path>,
) -> anyhow::Result<()> {
    let dir = wasm_cache.map_or_else(|| base_path.join("wasm-cache"), Path::to_path_buf);
    crate::validation::set_artifact_dir(&dir)
        .with_context(|| format!("cannot use {} for compiled Wasm", dir.display()))
}

/// The database directory of chain `id` under `base_path`.
pub fn database_path(base_path: &Path, chain_id: &str) -> PathBuf {
    base_path.join("chains").join(chain_id).join("db")
}

/// Runs a parsed command line.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Dev(args) => dev::run(args),
        Command::Run(args) => run::run(args),
        Command::Key(command) => key::run(command),
        Command::BuildSpec(args) => {
            let json = match (args.para_wasm, args.para_id) {
                (Some(path), Some(id)) => {
                    let code = std::fs::read(&path)
                        .with_context(|| format!("cannot read {}", path.display()))?;
                    let spec = tessera_relay_chain::ParaChainSpec::dev(id, code);
                    // Checked as a node will load it, and its runtime must build its genesis.
                    let json = spec.to_json();
                    tessera_relay_chain::ParaChainSpec::from_json(&json)?;
                    paras::genesis_of(&spec)?;
                    json
                }
                // The runtime written in: the file names the runtime its chain starts with.
                _ => tessera_relay_chain::ChainSpec::load(&args.chain.chain)?
                    .with_code()
                    .to_json(),
            };
            println!("{json}");
            Ok(())
        }
        Command::ExportBlocks(args) => blocks::export(args),
        Command::ImportBlocks(args) => blocks::import(args),
        Command::Xcm(command) => xcm::run(command),
        Command::Para(command) => para::run(command),
        Command::SetCode(args) => set_code::run(args),
    }
}
