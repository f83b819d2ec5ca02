//! `tessera xcm`: XCM messages, locations and asset lists between their SCALE bytes (as chains
//! carry them, Polkadot's layout) and JSON (as people read and write them).

use anyhow::{anyhow, bail, Context};
use clap::{Subcommand, ValueEnum};
use parity_scale_codec::Encode;
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::io::Read;
use tessera_xcm::{VersionedAssets, VersionedLocation, VersionedXcm};

/// What the bytes or JSON are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum XcmType {
    /// A `VersionedXcm` message.
    Xcm,
    /// A `VersionedLocation`.
    Location,
    /// A `VersionedAssets` list.
    Assets,
}

/// `tessera xcm` subcommands.
#[derive(Debug, Subcommand)]
pub enum XcmCommand {
    /// Prints SCALE hex (0x-prefixed or not) as JSON.
    Decode {
        /// The bytes, in hex.
        hex: String,
        /// What they encode.
        #[arg(long = "type", value_enum, default_value = "xcm")]
        kind: XcmType,
    },
    /// Prints JSON (as `decode` writes it; `-` reads standard input) as SCALE hex.
    Encode {
        /// The JSON text, or `-`.
        json: String,
        /// What it describes.
        #[arg(long = "type", value_enum, default_value = "xcm")]
        kind: XcmType,
    },
}

/// Runs an `xcm` subcommand.
pub(super) fn run(command: XcmCommand) -> anyhow::Result<()> {
    match command {
        XcmCommand::Decode { hex, kind } => {
            println!("{}", decode(&hex, kind)?);
            Ok(())
        }
        XcmCommand::Encode { json, kind } => {
            let json = if json == "-" {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .context("reading standard input")?;
                text
            } else {
                json
            };
            println!("{}", encode(&json, kind)?);
            Ok(())
        }
    }
}

/// The JSON of `hex` read as `kind`, with Polkadot's decoding limits.
pub fn decode(hex: &str, kind: XcmType) -> anyhow::Result<String> {
    let digits = hex.trim().trim_start_matches("0x");
    let bytes = hex::decode(digits).map_err(|err| anyhow!("not hex: {err}"))?;
    let json = match kind {
        XcmType::Xcm => to_json(&VersionedXcm::decode_limited(&bytes))?,
        XcmType::Location => to_json(&VersionedLocation::decode_limited(&bytes))?,
        XcmType::Assets => to_json(&VersionedAssets::decode_limited(&bytes))?,
    };
    Ok(json)
}

fn to_json<T: Serialize>(decoded: &Result<T, tessera_xcm::DecodeError>) -> anyhow::Result<String> {
    match decoded {
        Ok(value) => Ok(serde_json::to_string_pretty(value)?),
        Err(err) => bail!("cannot decode: {err}"),
    }
}

/// The SCALE hex of `json` read as `kind`; refuses what a chain would refuse to decode.
pub fn encode(json: &str, kind: XcmType) -> anyhow::Result<String> {
    let bytes = match kind {
        XcmType::Xcm => from_json::<VersionedXcm>(json)?.encode(),
        XcmType::Location => from_json::<VersionedLocation>(json)?.encode(),
        XcmType::Assets => from_json::<VersionedAssets>(json)?.encode(),
    };
    // Limits JSON cannot express (nesting, instruction count) are checked as a chain would.
    let checked = match kind {
        XcmType::Xcm => VersionedXcm::decode_limited(&bytes).map(drop),
        XcmType::Location => VersionedLocation::decode_limited(&bytes).map(drop),
        XcmType::Assets => VersionedAssets::decode_limited(&bytes).map(drop),
    };
    checked.map_err(|err| anyhow!("a chain would refuse these bytes: {err}"))?;
    Ok(format!("0x{}", hex::encode(bytes)))
}

fn from_json<T: DeserializeOwned>(json: &str) -> anyhow::Result<T> {
    let mut deserializer = serde_json::Deserializer::from_str(json);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
        let path = err.path().to_string();
        anyhow!("invalid JSON at `{path}`: {}", err.into_inner())
    })?;
    deserializer
        .end()
        .map_err(|err| anyhow!("trailing characters after the JSON value: {err}"))?;
    Ok(value)
}
