//! `tessera key`: Substrate-compatible sr25519 key tools.

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use tessera_runtime::crypto::{Pair, Ss58};
use tessera_runtime::{AccountId, Signature};

/// Key subcommands.
#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Generates a new random key and prints its phrase and addresses.
    Generate {
        /// Number of words in the phrase (12, 15, 18, 21 or 24).
        #[arg(long, default_value_t = 12)]
        words: usize,
        /// SS58 network prefix of the printed address.
        #[arg(long, default_value_t = Ss58::DEFAULT_PREFIX)]
        network: u16,
    },
    /// Shows the keys of a secret URI (`//Alice`, a phrase with `//hard/soft///password`, a
    /// 0x seed) or of a public SS58 address / hex key with `--public`.
    Inspect {
        /// The secret URI, or the address with `--public`.
        uri: String,
        /// Treat the input as a public address or key.
        #[arg(long)]
        public: bool,
        /// SS58 network prefix of the printed address.
        #[arg(long, default_value_t = Ss58::DEFAULT_PREFIX)]
        network: u16,
    },
    /// Signs a message and prints the signature as hex.
    Sign {
        /// The signer's secret URI.
        #[arg(long)]
        suri: String,
        /// The message.
        #[command(flatten)]
        message: MessageArgs,
    },
    /// Checks a signature; exits 0 if it verifies, 1 if not.
    Verify {
        /// The signature, 64 bytes in hex.
        signature: String,
        /// The signer: SS58 address or 0x public key.
        public: String,
        /// The message.
        #[command(flatten)]
        message: MessageArgs,
    },
}

/// Where the message comes from.
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
pub struct MessageArgs {
    /// The message as text.
    #[arg(long)]
    message: Option<String>,
    /// The message as hex (with or without 0x).
    #[arg(long)]
    hex: Option<String>,
    /// The message is the contents of this file.
    #[arg(long)]
    file: Option<PathBuf>,
}

impl MessageArgs {
    fn bytes(&self) -> anyhow::Result<Vec<u8>> {
        if let Some(text) = &self.message {
            return Ok(text.as_bytes().to_vec());
        }
        if let Some(hex_text) = &self.hex {
            let digits = hex_text.strip_prefix("0x").unwrap_or(hex_text);
            return hex::decode(digits).context("--hex is not valid hex");
        }
        if let Some(path) = &self.file {
            return std::fs::read(path).with_context(|| format!("cannot read {}", path.display()));
        }
        bail!("give the message with --message, --hex or --file")
    }
}

fn print_public(account: &AccountId, network: u16) {
    println!("Network ID:        {network}");
    println!("Public key (hex):  0x{}", hex::encode(account.0));
    println!("Account ID:        0x{}", hex::encode(account.0));
    println!("Public key (SS58): {}", account.to_ss58(network));
    println!("SS58 Address:      {}", account.to_ss58(network));
}

/// Runs a key subcommand.
pub(super) fn run(command: KeyCommand) -> anyhow::Result<()> {
    match command {
        KeyCommand::Generate { words, network } => {
            let (pair, phrase) = Pair::generate(words)?;
            println!("Secret phrase:     {phrase}");
            if let Some(seed) = pair.seed() {
                println!("Secret seed:       0x{}", hex::encode(seed));
            }
            print_public(&pair.public(), network);
        }
        KeyCommand::Inspect {
            uri,
            public,
            network,
        } => {
            if public {
                let account: AccountId = uri
                    .parse()
                    .context("not an SS58 address or 0x public key")?;
                print_public(&account, network);
                return Ok(());
            }
            let pair = Pair::from_uri(&uri)?;
            println!("Secret Key URI `{uri}` is account:");
            if let Some(seed) = pair.seed() {
                println!("Secret seed:       0x{}", hex::encode(seed));
            }
            print_public(&pair.public(), network);
        }
        KeyCommand::Sign { suri, message } => {
            let pair = Pair::from_uri(&suri)?;
            println!("0x{}", hex::encode(pair.sign(&message.bytes()?).0));
        }
        KeyCommand::Verify {
            signature,
            public,
            message,
        } => {
            let digits = signature.strip_prefix("0x").unwrap_or(&signature);
            let bytes: [u8; 64] = hex::decode(digits)
                .context("signature is not hex")?
                .try_into()
                .map_err(|_| anyhow::anyhow!("signature must be 64 bytes"))?;
            let account: AccountId = public
                .parse()
                .context("not an SS58 address or 0x public key")?;
            if account.verify(&message.bytes()?, &Signature(bytes)) {
                println!("Signature verifies correctly.");
            } else {
                eprintln!("Signature invalid.");
                std::process::exit(1);
            }
        }
    }
    Ok(())
}
