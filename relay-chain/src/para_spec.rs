//! A para's chain spec: everything a node needs to run a para with no code of that para
//! compiled in — its runtime (the Wasm blob, which builds the genesis state and executes every
//! block) and the genesis config that runtime builds from.

use crate::chain_spec::{Address, HexBytes};
use crate::error::SpecError;
use crate::paras::{ParaId, MAX_CODE_SIZE};
use serde::{Deserialize, Serialize};
use tessera_runtime::parachain::ParaGenesis;
use tessera_runtime::Balance;

/// A para's chain spec (`tessera build-spec --para-wasm FILE --para-id N` writes one).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParaChainSpec {
    /// Human-readable name.
    pub name: String,
    /// Short id, e.g. `my-para`.
    pub id: String,
    /// The para's id on the relay chain.
    pub para_id: u32,
    /// What the runtime builds the genesis state from.
    pub genesis: ParaGenesisConfig,
    /// The runtime: the Wasm blob the relay chain registers as the para's validation code.
    pub code: HexBytes,
}

/// A para's genesis config.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ParaGenesisConfig {
    /// Endowed accounts: `[address, balance]` pairs.
    pub balances: Vec<(Address, Balance)>,
    /// The sudo key, if the runtime has `sudo`.
    #[serde(default)]
    pub sudo: Option<Address>,
}

impl ParaChainSpec {
    /// The dev spec of the para `para_id` running `code`: every dev account holds a million
    /// units (of 12 decimals), Alice is sudo.
    pub fn dev(para_id: u32, code: Vec<u8>) -> ParaChainSpec {
        let genesis = ParaGenesis::dev(ParaId(para_id));
        ParaChainSpec {
            name: format!("Para {para_id}"),
            id: format!("para-{para_id}"),
            para_id,
            genesis: ParaGenesisConfig {
                balances: genesis
                    .balances
                    .into_iter()
                    .map(|(who, balance)| (Address(who), balance))
                    .collect(),
                sudo: genesis.sudo.map(Address),
            },
            code: HexBytes(code),
        }
    }

    /// The spec in the JSON file at `path`.
    pub fn load(path: &str) -> Result<ParaChainSpec, SpecError> {
        let json = std::fs::read_to_string(path).map_err(|source| SpecError::Io {
            path: path.into(),
            source,
        })?;
        Self::from_json(&json)
    }

    /// Parses and checks a JSON para chain spec; errors name the offending field.
    pub fn from_json(json: &str) -> Result<ParaChainSpec, SpecError> {
        let deserializer = &mut serde_json::Deserializer::from_str(json);
        let spec: ParaChainSpec =
            serde_path_to_error::deserialize(deserializer).map_err(|err| SpecError::Json {
                field: err.path().to_string(),
                message: err.into_inner().to_string(),
            })?;
        if spec.code.0.is_empty() || spec.code.0.len() > MAX_CODE_SIZE {
            return Err(SpecError::Invalid {
                field: "code".into(),
                message: format!("code must be 1 to {MAX_CODE_SIZE} bytes"),
            });
        }
        Ok(spec)
    }

    /// The spec as pretty JSON.
    pub fn to_json(&self) -> String {
        // A spec holds only strings, numbers and lists: serializing cannot fail.
        serde_json::to_string_pretty(self).unwrap_or_default()
    }

    /// The para's id.
    pub fn para(&self) -> ParaId {
        ParaId(self.para_id)
    }

    /// The genesis config the runtime builds from.
    pub fn genesis_config(&self) -> ParaGenesis {
        ParaGenesis {
            para_id: self.para(),
            balances: self
                .genesis
                .balances
                .iter()
                .map(|(who, balance)| (who.0, *balance))
                .collect(),
            sudo: self.genesis.sudo.as_ref().map(|who| who.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spec_survives_json_and_bad_ones_name_their_field() {
        let spec = ParaChainSpec::dev(2000, vec![0, 0x61, 0x73, 0x6d]);
        let back = ParaChainSpec::from_json(&spec.to_json()).unwrap();
        assert_eq!(back, spec);
        assert_eq!(back.genesis_config(), ParaGenesis::dev(ParaId(2000)));

        let no_code = spec.to_json().replace("\"0x0061736d\"", "\"0x\"");
        let err = ParaChainSpec::from_json(&no_code).unwrap_err().to_string();
        assert!(err.contains("`code`"), "{err}");
        let bad_address = spec.to_json().replacen("\"5", "\"x5", 1);
        let err = ParaChainSpec::from_json(&bad_address)
            .unwrap_err()
            .to_string();
        assert!(err.contains("genesis.balances"), "{err}");
    }
}
