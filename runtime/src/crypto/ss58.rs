//! SS58 addresses: base58 of `prefix ++ public key ++ checksum`, as Substrate writes them.

use super::AccountId;
use crate::error::{Error, Result};
use crate::hashing::blake2_512;
use alloc::string::String;
use alloc::vec::Vec;

/// SS58 address formats.
pub struct Ss58;

impl Ss58 {
    /// The generic Substrate prefix (42), whose addresses start with `5`.
    pub const DEFAULT_PREFIX: u16 = 42;
}

const CHECKSUM_LEN: usize = 2;
const CHECKSUM_PREAMBLE: &[u8] = b"SS58PRE";

fn checksum(data: &[u8]) -> [u8; 64] {
    let mut input = Vec::with_capacity(CHECKSUM_PREAMBLE.len().saturating_add(data.len()));
    input.extend_from_slice(CHECKSUM_PREAMBLE);
    input.extend_from_slice(data);
    blake2_512(&input)
}

fn encode_prefix(prefix: u16) -> Vec<u8> {
    match prefix {
        0..=63 => alloc::vec![prefix as u8],
        // Two-byte form: 14 bits of prefix spread as Substrate's `Ss58Codec` does.
        _ => {
            let ident = prefix & 0b0011_1111_1111_1111;
            let first = (((ident & 0b0000_0000_1111_1100) as u8) >> 2) | 0b0100_0000;
            let second = ((ident >> 8) as u8) | (((ident & 0b0000_0000_0000_0011) as u8) << 6);
            alloc::vec![first, second]
        }
    }
}

impl AccountId {
    /// This account as an SS58 address with the given network prefix (0..=16383).
    pub fn to_ss58(&self, prefix: u16) -> String {
        let mut data = encode_prefix(prefix);
        data.extend_from_slice(&self.0);
        let hash = checksum(&data);
        data.extend_from_slice(hash.get(..CHECKSUM_LEN).unwrap_or_default());
        bs58::encode(data).into_string()
    }

    /// Parses an SS58 address, returning the account and its network prefix.
    pub fn from_ss58(address: &str) -> Result<(AccountId, u16)> {
        let data = bs58::decode(address)
            .into_vec()
            .map_err(|_| Error::InvalidSs58("not base58"))?;
        let (prefix_len, prefix) = match data.first() {
            Some(&first @ 0..=63) => (1, u16::from(first)),
            Some(&first @ 64..=127) => {
                let second = *data.get(1).ok_or(Error::InvalidSs58("too short"))?;
                let lower = (first << 2) | (second >> 6);
                let upper = second & 0b0011_1111;
                (2, u16::from(lower) | (u16::from(upper) << 8))
            }
            Some(_) => return Err(Error::InvalidSs58("reserved prefix")),
            None => return Err(Error::InvalidSs58("empty")),
        };
        let body_len = 32usize.saturating_add(prefix_len);
        if data.len() != body_len.saturating_add(CHECKSUM_LEN) {
            return Err(Error::InvalidSs58("wrong length for a 32-byte account"));
        }
        let (body, check) = data.split_at(body_len);
        if checksum(body).get(..CHECKSUM_LEN) != Some(check) {
            return Err(Error::InvalidSs58("bad checksum"));
        }
        let mut account = [0u8; 32];
        account.copy_from_slice(
            body.get(prefix_len..)
                .ok_or(Error::InvalidSs58("too short"))?,
        );
        Ok((AccountId(account), prefix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn alice_address_is_substrates() {
        let alice = hex::decode("d43593c715fdd31c61141abd04a99fd6822c8558854ccde39a5684e7a56da27d")
            .unwrap();
        let account = AccountId(alice.try_into().unwrap());
        assert_eq!(
            account.to_ss58(Ss58::DEFAULT_PREFIX),
            "5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQY"
        );
        // Polkadot's prefix 0.
        assert_eq!(
            account.to_ss58(0),
            "15oF4uVJwmo4TdGW7VfQxNLavjCXviqxT9S1MgbjMNHr6Sp5"
        );
    }

    #[test]
    fn corrupted_address_is_rejected() {
        let err =
            AccountId::from_ss58("5GrwvaEF5zXb26Fz9rcQpDWS57CtERHpNehXCPcNoHGKutQZ").unwrap_err();
        assert_eq!(err, Error::InvalidSs58("bad checksum"));
        assert!(AccountId::from_ss58("0OIl").is_err());
        assert!(AccountId::from_ss58("").is_err());
    }

    proptest! {
        #[test]
        fn ss58_round_trips(bytes in any::<[u8; 32]>(), prefix in 0u16..16384) {
            let account = AccountId(bytes);
            let text = account.to_ss58(prefix);
            prop_assert_eq!(AccountId::from_ss58(&text).unwrap(), (account, prefix));
        }
    }
}
