//! sr25519 key pairs from secret URIs, derived exactly as Substrate derives them.
//!
//! A secret URI is `PHRASE_OR_SEED` followed by junctions (`//hard`, `/soft`) and an optional
//! `///password`; a URI that starts with a junction uses [`DEV_PHRASE`], so `//Alice` is the
//! well-known development account.

use super::{AccountId, Signature, SIGNING_CONTEXT};
use crate::error::{Error, Result};
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use parity_scale_codec::Encode;
use schnorrkel::derive::{ChainCode, Derivation};
use schnorrkel::{ExpansionMode, Keypair, MiniSecretKey, SecretKey};

/// The well-known dev accounts (`//Alice`, `//Bob`, …), endowed in dev chains.
pub const DEV_ACCOUNTS: [&str; 6] = ["Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"];

/// The phrase behind `//Alice`, `//Bob` and the other development accounts.
pub const DEV_PHRASE: &str =
    "bottom drive obey lake curtain smoke basket hold race lonely fit walk";

/// One step of a derivation path.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Junction {
    /// `//code`: the child's secret cannot be computed from the parent's public key.
    Hard([u8; 32]),
    /// `/code`: the child's public key follows from the parent's public key.
    Soft([u8; 32]),
}

impl Junction {
    fn parse(code: &str, hard: bool) -> Self {
        // Numbers are encoded as u64, anything else as a SCALE string; longer than 32 bytes is
        // hashed (Substrate's `DeriveJunction`).
        let encoded = match code.parse::<u64>() {
            Ok(number) => number.encode(),
            Err(_) => code.encode(),
        };
        let mut chain_code = [0u8; 32];
        if encoded.len() > 32 {
            chain_code = crate::hashing::blake2_256(&encoded).0;
        } else if let Some(prefix) = chain_code.get_mut(..encoded.len()) {
            prefix.copy_from_slice(&encoded);
        }
        if hard {
            Junction::Hard(chain_code)
        } else {
            Junction::Soft(chain_code)
        }
    }
}

/// A parsed secret URI: `phrase//hard/soft///password`.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretUri {
    /// The BIP39 phrase or `0x` hex seed (the dev phrase when the URI starts with `/`).
    pub phrase: String,
    junctions: Vec<Junction>,
    /// The BIP39 password, if any.
    pub password: Option<String>,
}

impl core::fmt::Debug for SecretUri {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SecretUri(<secret>)")
    }
}

impl core::str::FromStr for SecretUri {
    type Err = Error;

    fn from_str(uri: &str) -> Result<Self> {
        let (rest, password) = match uri.split_once("///") {
            Some((rest, password)) => (rest, Some(password.to_string())),
            None => (uri, None),
        };
        let path_start = rest.find('/').unwrap_or(rest.len());
        let (phrase, mut path) = rest.split_at(path_start);
        let phrase = phrase.trim();
        let phrase = if phrase.is_empty() {
            DEV_PHRASE
        } else {
            phrase
        };
        let mut junctions = Vec::new();
        while !path.is_empty() {
            let (hard, body) = match path.strip_prefix("//") {
                Some(body) => (true, body),
                None => (false, path.strip_prefix('/').unwrap_or(path)),
            };
            let end = body.find('/').unwrap_or(body.len());
            let (code, remaining) = body.split_at(end);
            if code.is_empty() {
                return Err(Error::InvalidSecretUri("empty derivation junction".into()));
            }
            junctions.push(Junction::parse(code, hard));
            path = remaining;
        }
        Ok(SecretUri {
            phrase: phrase.to_string(),
            junctions,
            password,
        })
    }
}

/// An sr25519 key pair.
#[derive(Clone)]
pub struct Pair {
    keypair: Keypair,
    /// The 32-byte mini secret, while only hard junctions were applied (Substrate's "seed").
    seed: Option<[u8; 32]>,
}

impl core::fmt::Debug for Pair {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Pair({})", self.public())
    }
}

impl Pair {
    /// The key pair of a secret URI such as `//Alice` or `"<12 words>//stash///pw"`.
    pub fn from_uri(uri: &str) -> Result<Pair> {
        Self::from_secret_uri(&uri.parse()?)
    }

    /// The key pair of a parsed [`SecretUri`].
    pub fn from_secret_uri(uri: &SecretUri) -> Result<Pair> {
        let password = uri.password.as_deref().unwrap_or("");
        let mini = if let Some(hex_seed) = uri.phrase.strip_prefix("0x") {
            let seed = hex::decode(hex_seed)
                .map_err(|_| Error::InvalidSecretUri("seed is not hex".into()))?;
            MiniSecretKey::from_bytes(&seed)
                .map_err(|_| Error::InvalidSecretUri("seed must be 32 bytes".into()))?
        } else {
            let mnemonic =
                bip39::Mnemonic::parse_in_normalized(bip39::Language::English, &uri.phrase)
                    .map_err(|e| Error::InvalidSecretUri(alloc::format!("invalid phrase: {e}")))?;
            substrate_bip39::mini_secret_from_entropy(&mnemonic.to_entropy(), password)
                .map_err(|_| Error::InvalidSecretUri("phrase entropy rejected".into()))?
        };
        let mut secret: SecretKey = mini.expand(ExpansionMode::Ed25519);
        let mut seed = Some(mini.to_bytes());
        for junction in &uri.junctions {
            match junction {
                Junction::Soft(code) => {
                    secret = secret.derived_key_simple(ChainCode(*code), []).0;
                    seed = None;
                }
                Junction::Hard(code) => {
                    let child = secret
                        .hard_derive_mini_secret_key(Some(ChainCode(*code)), b"")
                        .0;
                    secret = child.expand(ExpansionMode::Ed25519);
                    seed = seed.map(|_| child.to_bytes());
                }
            }
        }
        Ok(Pair {
            keypair: secret.to_keypair(),
            seed,
        })
    }

    /// A fresh random pair with its BIP39 phrase of `words` words (12, 15, 18, 21 or 24).
    pub fn generate(words: usize) -> Result<(Pair, String)> {
        let entropy_len = match words {
            12 => 16,
            15 => 20,
            18 => 24,
            21 => 28,
            24 => 32,
            _ => {
                return Err(Error::InvalidSecretUri(
                    "word count must be 12, 15, 18, 21 or 24".into(),
                ))
            }
        };
        let mut entropy = [0u8; 32];
        let entropy = entropy.get_mut(..entropy_len).unwrap_or_default();
        getrandom::getrandom(entropy)
            .map_err(|_| Error::InvalidSecretUri("no OS random source".into()))?;
        let phrase = bip39::Mnemonic::from_entropy(entropy)
            .map_err(|e| Error::InvalidSecretUri(alloc::format!("{e}")))?
            .to_string();
        Ok((Self::from_uri(&phrase)?, phrase))
    }

    /// The well-known development pair `//name`, e.g. `Pair::dev("Alice")`.
    pub fn dev(name: &str) -> Pair {
        // The dev phrase is a valid constant; only the junction varies and every name parses.
        Self::from_uri(&alloc::format!("//{name}")).unwrap_or_else(|_| unreachable_dev_key())
    }

    /// The account (public key) of this pair.
    pub fn public(&self) -> AccountId {
        AccountId(self.keypair.public.to_bytes())
    }

    /// The 32-byte secret seed, when the path had only hard junctions.
    pub fn seed(&self) -> Option<[u8; 32]> {
        self.seed
    }

    /// The schnorrkel key pair, for what this type does not wrap (VRF, deterministic signing).
    pub fn schnorrkel(&self) -> &Keypair {
        &self.keypair
    }

    /// Signs `message` with the Substrate signing context.
    pub fn sign(&self, message: &[u8]) -> Signature {
        let context = schnorrkel::signing_context(SIGNING_CONTEXT);
        Signature(self.keypair.sign(context.bytes(message)).to_bytes())
    }
}

#[allow(clippy::panic)]
fn unreachable_dev_key() -> Pair {
    panic!("the development phrase is a valid BIP39 phrase")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_known_dev_accounts() {
        assert_eq!(
            Pair::dev("Alice").public().to_string(),
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
        );
        assert_eq!(
            Pair::dev("Bob").public().to_string(),
            "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty"
        );
        // The stash of Alice: two hard junctions.
        assert_eq!(
            Pair::from_uri("//Alice//stash")
                .unwrap()
                .public()
                .to_string(),
            "5GNJqTPyNqANBkUVMN1LPPrxXnFouWXoe2wNSmmEoLctxiZY"
        );
    }

    #[test]
    fn dev_phrase_root_and_soft_junction() {
        // subkey inspect "bottom drive ... walk"
        assert_eq!(
            Pair::from_uri(DEV_PHRASE).unwrap().public().to_string(),
            "5DfhGyQdFobKM8NsWvEeAKk5EQQgYe9AydgJ7rMB6E1EqRzV"
        );
        let soft = Pair::from_uri("//Alice/0").unwrap();
        assert_ne!(soft.public(), Pair::dev("Alice").public());
        assert_eq!(soft.seed(), None);
    }

    #[test]
    fn signatures_verify_and_bind_the_message() {
        let alice = Pair::dev("Alice");
        let signature = alice.sign(b"hello");
        assert!(alice.public().verify(b"hello", &signature));
        assert!(!alice.public().verify(b"hellO", &signature));
        assert!(!Pair::dev("Bob").public().verify(b"hello", &signature));
    }

    #[test]
    fn generated_phrase_reproduces_its_pair() {
        let (pair, phrase) = Pair::generate(12).unwrap();
        assert_eq!(phrase.split(' ').count(), 12);
        assert_eq!(Pair::from_uri(&phrase).unwrap().public(), pair.public());
    }

    #[test]
    fn bad_uris_are_rejected() {
        assert!(Pair::from_uri("not a valid phrase at all").is_err());
        assert!(Pair::from_uri("0x1234").is_err());
        assert!(Pair::from_uri("//Alice//").is_err());
    }
}
