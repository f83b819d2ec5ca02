//! `tessera export-blocks` and `import-blocks`.

use super::node::open_chain;
use super::StorageArgs;
use crate::blocks::{write_block, BlockReader};
use crate::client::{Client, ImportOutcome};
use anyhow::Context;
use clap::Args;
use std::io::{BufReader, BufWriter, Write};
use std::path::PathBuf;
use tessera_relay_chain::ChainSpec;

/// Arguments of `export-blocks`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The node's storage.
    #[command(flatten)]
    storage: StorageArgs,
    /// First block to export.
    #[arg(long, default_value_t = 1)]
    from: u32,
    /// Last block to export (default: the best block).
    #[arg(long)]
    to: Option<u32>,
    /// Output file.
    output: PathBuf,
}

/// Arguments of `import-blocks`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The node's storage.
    #[command(flatten)]
    storage: StorageArgs,
    /// Input file.
    input: PathBuf,
}

/// Opens the chain of `storage` on RocksDB.
fn open_client(storage: &StorageArgs) -> anyhow::Result<Client> {
    let spec = ChainSpec::load(&storage.chain.chain)?;
    storage.keep_compiled_code()?;
    open_chain(&storage.base_path, &spec)
}

/// Runs `export-blocks`.
pub(super) fn export(args: ExportArgs) -> anyhow::Result<()> {
    let client = open_client(&args.storage)?;
    let best = client.info()?.best_number;
    let to = args.to.unwrap_or(best).min(best);
    let file = std::fs::File::create(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let mut out = BufWriter::new(file);
    for number in args.from..=to {
        let hash = client
            .store()
            .canonical_hash(number)?
            .context("canonical block missing")?;
        let block = client.block(&hash)?.context("block missing")?;
        write_block(&mut out, &block)?;
    }
    out.flush()?;
    eprintln!(
        "exported blocks #{}..=#{to} to {}",
        args.from,
        args.output.display()
    );
    Ok(())
}

/// Runs `import-blocks`, printing one line per block as it is committed.
pub(super) fn import(args: ImportArgs) -> anyhow::Result<()> {
    let mut client = open_client(&args.storage)?;
    let file = std::fs::File::open(&args.input)
        .with_context(|| format!("cannot open {}", args.input.display()))?;
    let stdout = std::io::stdout();
    let (mut imported, mut known) = (0u32, 0u32);
    for block in BlockReader::new(BufReader::new(file)) {
        let block = block?;
        let number = block.header.number;
        let hash = block.hash();
        match client
            .import_block(&block)
            .with_context(|| format!("block #{number} ({hash})"))?
        {
            ImportOutcome::Imported { .. } => {
                imported = imported.saturating_add(1);
                writeln!(stdout.lock(), "imported #{number} {hash}")?;
            }
            ImportOutcome::AlreadyKnown => {
                known = known.saturating_add(1);
                writeln!(stdout.lock(), "known #{number} {hash}")?;
            }
        }
    }
    let meta = client.info()?;
    eprintln!(
        "imported {imported} blocks ({known} already known); best #{} {}",
        meta.best_number, meta.best_hash
    );
    Ok(())
}
