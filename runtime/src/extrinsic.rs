//! Extrinsics in Substrate's format, version 4: calls from outside the chain, signed by an
//! account or (for inherents) unsigned. `docs/adr/008-substrate-extrinsic-format.md` records
//! the decision.
//!
//! The bytes are `version ++ [address ++ signature ++ extra] ++ call`: the version byte is 4,
//! with the top bit set when the bracketed part is there. The signer is a [`MultiAddress`] and
//! the signature a [`MultiSignature`], so polkadot.js, subxt and substrate-interface build
//! them unchanged. The extra fields are those of the signed extensions in
//! [`SIGNED_EXTENSIONS`]; the signature also covers what the chain adds on its own
//! ([`ChainContext`]: spec and transaction versions, genesis hash, the era's birth block), so a
//! transaction cannot be replayed on another chain, under another runtime version, or on a
//! fork that lacks its birth block. A block body stores each extrinsic with a length prefix
//! ([`crate::OpaqueExtrinsic`]), as Substrate does.

use crate::crypto::{AccountId, Signature};
use crate::hashing::{blake2_256, Hash};
use crate::{Balance, Nonce};
use alloc::vec::Vec;
use parity_scale_codec::{Decode, DecodeLimit, Encode, Input, Output};

/// How deep a call may nest (e.g. `sudo(sudo(...))`) before decoding refuses it.
pub const MAX_CALL_DEPTH: u32 = 32;

/// The extrinsic format version this runtime reads and writes.
pub const EXTRINSIC_FORMAT_VERSION: u8 = 4;

/// The bit of the version byte that marks a signed extrinsic.
const SIGNED_BIT: u8 = 0b1000_0000;

/// How many recent block hashes the chain keeps (Polkadot's `BlockHashCount`): a mortal
/// transaction's birth block must be among them.
pub const BLOCK_HASH_COUNT: u64 = 4096;

/// The signed extensions of every Tessera runtime, in the order their fields are encoded, with
/// what each does: the names clients look up in the metadata to know what to sign.
pub const SIGNED_EXTENSIONS: [&str; 8] = [
    // The signer is not the all-zero account (whose key nobody holds).
    "CheckNonZeroSender",
    // Signs the runtime's `spec_version`.
    "CheckSpecVersion",
    // Signs the runtime's `transaction_version`.
    "CheckTxVersion",
    // Signs the genesis hash.
    "CheckGenesis",
    // Sends the [`Era`], signs its birth block's hash.
    "CheckMortality",
    // Sends the signer's nonce (compact).
    "CheckNonce",
    // The call fits in what is left of the block's weight and length.
    "CheckWeight",
    // Sends the tip (compact); the fee and tip are taken before the call runs.
    "ChargeTransactionPayment",
];

/// Who signed: Substrate's `MultiAddress`. Tessera accounts are 32-byte public keys, so only
/// [`MultiAddress::Id`] and [`MultiAddress::Address32`] name one.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum MultiAddress {
    /// An account id.
    #[codec(index = 0)]
    Id(AccountId),
    /// An account index (Tessera has no index lookup).
    #[codec(index = 1)]
    Index(#[codec(compact)] u32),
    /// Raw bytes.
    #[codec(index = 2)]
    Raw(Vec<u8>),
    /// 32 bytes, read as an account id.
    #[codec(index = 3)]
    Address32([u8; 32]),
    /// 20 bytes (an Ethereum-style address).
    #[codec(index = 4)]
    Address20([u8; 20]),
}

/// Described as Substrate's generic `sp_runtime::multiaddress::MultiAddress<AccountId,
/// AccountIndex>`: clients find the account id type through its first type parameter.
impl scale_info::TypeInfo for MultiAddress {
    type Identity = Self;

    fn type_info() -> scale_info::Type {
        use scale_info::build::{Fields, Variants};
        use scale_info::{meta_type, TypeParameter};
        scale_info::Type::builder()
            .path(scale_info::Path::new(
                "MultiAddress",
                "sp_runtime::multiaddress",
            ))
            .type_params([
                TypeParameter::new("AccountId", Some(meta_type::<AccountId>())),
                TypeParameter::new("AccountIndex", Some(meta_type::<u32>())),
            ])
            .variant(
                Variants::new()
                    .variant("Id", |v| {
                        v.index(0).fields(
                            Fields::unnamed().field(|f| f.ty::<AccountId>().type_name("AccountId")),
                        )
                    })
                    .variant("Index", |v| {
                        v.index(1).fields(
                            Fields::unnamed()
                                .field(|f| f.compact::<u32>().type_name("AccountIndex")),
                        )
                    })
                    .variant("Raw", |v| {
                        v.index(2)
                            .fields(Fields::unnamed().field(|f| f.ty::<Vec<u8>>()))
                    })
                    .variant("Address32", |v| {
                        v.index(3)
                            .fields(Fields::unnamed().field(|f| f.ty::<[u8; 32]>()))
                    })
                    .variant("Address20", |v| {
                        v.index(4)
                            .fields(Fields::unnamed().field(|f| f.ty::<[u8; 20]>()))
                    }),
            )
    }
}

impl MultiAddress {
    /// The account named, if this chain can tell it.
    pub fn lookup(&self) -> Option<AccountId> {
        match self {
            MultiAddress::Id(account) => Some(*account),
            MultiAddress::Address32(bytes) => Some(AccountId(*bytes)),
            MultiAddress::Index(_) | MultiAddress::Raw(_) | MultiAddress::Address20(_) => None,
        }
    }
}

impl From<AccountId> for MultiAddress {
    fn from(account: AccountId) -> Self {
        MultiAddress::Id(account)
    }
}

/// A signature of one of Substrate's schemes: `MultiSignature`.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode)]
pub enum MultiSignature {
    /// ed25519: the account is the 32-byte public key.
    #[codec(index = 0)]
    Ed25519([u8; 64]),
    /// sr25519: the account is the 32-byte public key.
    #[codec(index = 1)]
    Sr25519(Signature),
    /// ECDSA over secp256k1 (65 bytes, recoverable). Tessera does not verify it: such a
    /// transaction is refused as badly signed.
    #[codec(index = 2)]
    Ecdsa([u8; 65]),
}

/// Described under Substrate's path, `sp_runtime::MultiSignature`, by which clients know it.
impl scale_info::TypeInfo for MultiSignature {
    type Identity = Self;

    fn type_info() -> scale_info::Type {
        use scale_info::build::{Fields, Variants};
        scale_info::Type::builder()
            .path(scale_info::Path::new("MultiSignature", "sp_runtime"))
            .variant(
                Variants::new()
                    .variant("Ed25519", |v| {
                        v.index(0)
                            .fields(Fields::unnamed().field(|f| f.ty::<[u8; 64]>()))
                    })
                    .variant("Sr25519", |v| {
                        v.index(1)
                            .fields(Fields::unnamed().field(|f| f.ty::<Signature>()))
                    })
                    .variant("Ecdsa", |v| {
                        v.index(2)
                            .fields(Fields::unnamed().field(|f| f.ty::<[u8; 65]>()))
                    }),
            )
    }
}

impl MultiSignature {
    /// Whether this is a valid signature of `message` by `signer`.
    pub fn verify(&self, message: &[u8], signer: &AccountId) -> bool {
        match self {
            MultiSignature::Sr25519(signature) => signer.verify(message, signature),
            MultiSignature::Ed25519(signature) => {
                crate::crypto::ed25519_verify(signature, message, signer.as_bytes())
            }
            MultiSignature::Ecdsa(_) => false,
        }
    }
}

impl From<Signature> for MultiSignature {
    fn from(signature: Signature) -> Self {
        MultiSignature::Sr25519(signature)
    }
}

/// When a transaction is valid: Substrate's `Era`, two bytes when mortal.
///
/// A mortal era is a period (a power of two from 4 to 65,536 blocks) and a phase: the
/// transaction is valid from its birth block (the last block before the current one whose
/// number is the phase modulo the period) for `period` blocks, and it signs the birth block's
/// hash, which the chain keeps for [`BLOCK_HASH_COUNT`] blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Era {
    /// Valid at any height; signs the genesis hash.
    Immortal,
    /// Valid for `period` blocks from the birth block.
    Mortal {
        /// How many blocks it lives: a power of two in 4..=65,536.
        period: u64,
        /// The birth block's number modulo `period` (quantized for periods over 4,096).
        phase: u64,
    },
}

impl Era {
    /// A mortal era of about `period` blocks (rounded up to a power of two in 4..=65,536)
    /// born at block `current`, the signer's best block (Substrate's `Era::mortal`).
    pub fn mortal(period: u64, current: u64) -> Era {
        let period = period
            .checked_next_power_of_two()
            .unwrap_or(1 << 16)
            .clamp(4, 1 << 16);
        let phase = current.checked_rem(period).unwrap_or(0);
        let quantize_factor = (period >> 12).max(1);
        Era::Mortal {
            period,
            phase: quantize(phase, quantize_factor),
        }
    }

    /// The birth block for a transaction checked in block `current`: genesis when immortal.
    pub fn birth(self, current: u64) -> u64 {
        match self {
            Era::Immortal => 0,
            Era::Mortal { period, phase } => {
                quantize(current.max(phase).saturating_sub(phase), period).saturating_add(phase)
            }
        }
    }

    /// The first block in which a transaction checked in block `current` is no longer valid.
    pub fn death(self, current: u64) -> u64 {
        match self {
            Era::Immortal => u64::MAX,
            Era::Mortal { period, .. } => self.birth(current).saturating_add(period),
        }
    }
}

/// `value` rounded down to a multiple of `step` (0 for a zero step).
fn quantize(value: u64, step: u64) -> u64 {
    value
        .checked_div(step)
        .map_or(0, |steps| steps.saturating_mul(step))
}

impl Encode for Era {
    fn size_hint(&self) -> usize {
        match self {
            Era::Immortal => 1,
            Era::Mortal { .. } => 2,
        }
    }

    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        match *self {
            Era::Immortal => dest.push_byte(0),
            Era::Mortal { period, phase } => {
                let quantize_factor = (period >> 12).max(1);
                let low = u64::from(period.trailing_zeros().saturating_sub(1).clamp(1, 15));
                let steps = phase.checked_div(quantize_factor).unwrap_or(0);
                let encoded = (low | steps.wrapping_shl(4)) as u16;
                encoded.encode_to(dest);
            }
        }
    }
}

impl Decode for Era {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        let first = input.read_byte()?;
        if first == 0 {
            return Ok(Era::Immortal);
        }
        let encoded = u64::from(first) | (u64::from(input.read_byte()?) << 8);
        let period = 2u64 << (encoded % (1 << 4));
        let quantize_factor = (period >> 12).max(1);
        let phase = (encoded >> 4).saturating_mul(quantize_factor);
        if period >= 4 && phase < period {
            Ok(Era::Mortal { period, phase })
        } else {
            Err("invalid era: period under 4 or phase not below it".into())
        }
    }
}

/// The names of Substrate's `Era` variants: `Mortal{first byte}`, the first byte being 1 to
/// 255 (0 is `Immortal`).
macro_rules! mortal_variants {
    ($($first:literal)*) => {
        [$( ($first, concat!("Mortal", $first)) ),*]
    };
}

/// Described as Substrate describes `Era`: an enum whose index is the first byte, with the
/// second byte as the field of every mortal variant.
impl scale_info::TypeInfo for Era {
    type Identity = Self;

    fn type_info() -> scale_info::Type {
        use scale_info::build::{Fields, Variants};
        let mortal: [(u8, &'static str); 255] = mortal_variants!(
        1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32
        33 34 35 36 37 38 39 40 41 42 43 44 45 46 47 48 49 50 51 52 53 54 55 56 57 58 59 60 61
        62 63 64 65 66 67 68 69 70 71 72 73 74 75 76 77 78 79 80 81 82 83 84 85 86 87 88 89 90
        91 92 93 94 95 96 97 98 99 100 101 102 103 104 105 106 107 108 109 110 111 112 113 114
        115 116 117 118 119 120 121 122 123 124 125 126 127 128 129 130 131 132 133 134 135 136
        137 138 139 140 141 142 143 144 145 146 147 148 149 150 151 152 153 154 155 156 157 158
        159 160 161 162 163 164 165 166 167 168 169 170 171 172 173 174 175 176 177 178 179 180
        181 182 183 184 185 186 187 188 189 190 191 192 193 194 195 196 197 198 199 200 201 202
        203 204 205 206 207 208 209 210 211 212 213 214 215 216 217 218 219 220 221 222 223 224
        225 226 227 228 229 230 231 232 233 234 235 236 237 238 239 240 241 242 243 244 245 246
        247 248 249 250 251 252 253 254 255
        );
        let mut variants = Variants::new().variant("Immortal", |v| v.index(0));
        for (first, name) in mortal {
            variants = variants.variant(name, |v| {
                v.index(first)
                    .fields(Fields::unnamed().field(|f| f.ty::<u8>()))
            });
        }
        scale_info::Type::builder()
            .path(scale_info::Path::new("Era", "sp_runtime::generic::era"))
            .variant(variants)
    }
}

/// The signed extensions' fields sent with a transaction, in [`SIGNED_EXTENSIONS`] order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct SignedExtra {
    /// When the transaction is valid (`CheckMortality`).
    pub era: Era,
    /// The signer's transaction index; each nonce is used once (`CheckNonce`).
    #[codec(compact)]
    pub nonce: Nonce,
    /// Paid to the block author on top of the fee; raises the transaction's priority
    /// (`ChargeTransactionPayment`).
    #[codec(compact)]
    pub tip: Balance,
}

/// What the chain adds to the signed payload without sending it, in [`SIGNED_EXTENSIONS`]
/// order (Substrate's "additional signed").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct ChainContext {
    /// The runtime's spec version (`CheckSpecVersion`).
    pub spec_version: u32,
    /// The runtime's transaction version (`CheckTxVersion`).
    pub transaction_version: u32,
    /// The chain's genesis hash (`CheckGenesis`).
    pub genesis_hash: Hash,
    /// Hash of the era's birth block, the genesis hash when immortal (`CheckMortality`).
    pub birth_hash: Hash,
}

/// Signer, signature and signed fields of a signed extrinsic.
#[derive(Clone, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
pub struct SignatureData {
    /// The signing account.
    pub address: MultiAddress,
    /// The signature over the [`signing_payload`].
    pub signature: MultiSignature,
    /// Era, nonce and tip.
    pub extra: SignedExtra,
}

/// An extrinsic of a runtime whose calls are `Call`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extrinsic<Call> {
    /// `None` for inherents, which the block author inserts and every node checks.
    pub signature: Option<SignatureData>,
    /// What to do.
    pub call: Call,
}

/// Described as Substrate's `UncheckedExtrinsic`, whose type parameters tell clients the
/// address, call, signature and signed-extension types; its bytes are opaque.
impl<Call: scale_info::TypeInfo + 'static> scale_info::TypeInfo for Extrinsic<Call> {
    type Identity = Self;

    fn type_info() -> scale_info::Type {
        use scale_info::{meta_type, TypeParameter};
        scale_info::Type::builder()
            .path(scale_info::Path::new(
                "UncheckedExtrinsic",
                "sp_runtime::generic::unchecked_extrinsic",
            ))
            .type_params([
                TypeParameter::new("Address", Some(meta_type::<MultiAddress>())),
                TypeParameter::new("Call", Some(meta_type::<Call>())),
                TypeParameter::new("Signature", Some(meta_type::<MultiSignature>())),
                TypeParameter::new("Extra", Some(meta_type::<SignedExtra>())),
            ])
            .composite(scale_info::build::Fields::unnamed().field(|f| f.ty::<Vec<u8>>()))
    }
}

impl<Call: Encode> Encode for Extrinsic<Call> {
    fn size_hint(&self) -> usize {
        self.signature
            .as_ref()
            .map_or(0, Encode::size_hint)
            .saturating_add(self.call.size_hint())
            .saturating_add(1)
    }

    fn encode_to<T: Output + ?Sized>(&self, dest: &mut T) {
        match &self.signature {
            Some(signature) => {
                dest.push_byte(EXTRINSIC_FORMAT_VERSION | SIGNED_BIT);
                signature.encode_to(dest);
            }
            None => dest.push_byte(EXTRINSIC_FORMAT_VERSION),
        }
        self.call.encode_to(dest);
    }
}

impl<Call: Decode> Decode for Extrinsic<Call> {
    fn decode<I: Input>(input: &mut I) -> Result<Self, parity_scale_codec::Error> {
        let version = input.read_byte()?;
        if version & !SIGNED_BIT != EXTRINSIC_FORMAT_VERSION {
            return Err("unsupported extrinsic format version: this chain reads version 4".into());
        }
        let signature = if version & SIGNED_BIT != 0 {
            Some(SignatureData::decode(input)?)
        } else {
            None
        };
        Ok(Extrinsic {
            signature,
            call: Call::decode(input)?,
        })
    }
}

/// The bytes a signer signs: `call ++ extra ++ chain`, or its blake2b-256 hash when it is
/// over 256 bytes, as in Substrate.
pub fn signing_payload<Call: Encode>(
    call: &Call,
    extra: &SignedExtra,
    chain: &ChainContext,
) -> Vec<u8> {
    let payload = (call, extra, chain).encode();
    if payload.len() > 256 {
        blake2_256(&payload).0.to_vec()
    } else {
        payload
    }
}

impl<Call: Encode + Decode> Extrinsic<Call> {
    /// Signs `call` with the sr25519 `pair` for the chain described by `chain`.
    #[cfg(feature = "std")]
    pub fn signed(
        pair: &crate::crypto::Pair,
        call: Call,
        extra: SignedExtra,
        chain: &ChainContext,
    ) -> Self {
        Self::signed_by(
            pair.public(),
            |payload| pair.sign(payload).into(),
            call,
            extra,
            chain,
        )
    }

    /// Signs `call` as `signer` with `sign`, which signs a payload in any scheme the account's
    /// key has.
    pub fn signed_by(
        signer: AccountId,
        sign: impl FnOnce(&[u8]) -> MultiSignature,
        call: Call,
        extra: SignedExtra,
        chain: &ChainContext,
    ) -> Self {
        let signature = sign(&signing_payload(&call, &extra, chain));
        Extrinsic {
            signature: Some(SignatureData {
                address: signer.into(),
                signature,
                extra,
            }),
            call,
        }
    }

    /// An unsigned extrinsic: an inherent.
    pub fn inherent(call: Call) -> Self {
        Extrinsic {
            signature: None,
            call,
        }
    }

    /// Decodes an extrinsic (without its length prefix) from exactly `bytes`, refusing calls
    /// nested deeper than [`MAX_CALL_DEPTH`] and trailing bytes.
    pub fn decode_exact(mut bytes: &[u8]) -> Result<Self, parity_scale_codec::Error> {
        let extrinsic = Self::decode_with_depth_limit(MAX_CALL_DEPTH, &mut bytes)?;
        if !bytes.is_empty() {
            return Err("trailing bytes after extrinsic".into());
        }
        Ok(extrinsic)
    }

    /// The extrinsic as opaque bytes for a block body or the pool.
    pub fn to_opaque(&self) -> crate::OpaqueExtrinsic {
        crate::OpaqueExtrinsic(self.encode())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn mortal(period: u64, phase: u64) -> Era {
        Era::Mortal { period, phase }
    }

    // Vectors from Substrate's `sp_runtime::generic::era` tests.
    #[test]
    fn eras_encode_as_substrate_does() {
        assert_eq!(Era::Immortal.encode(), [0]);
        assert_eq!(Era::mortal(64, 42), mortal(64, 42));
        assert_eq!(Era::mortal(64, 42).encode(), [5 + 42 % 16 * 16, 42 / 16]);
        assert_eq!(Era::mortal(32768, 20000), mortal(32768, 20000));
        assert_eq!(
            Era::mortal(32768, 20000).encode(),
            [(14 + 2500 % 16 * 16) as u8, (2500 / 16) as u8]
        );
        // Quantized: phases over 4,096-block periods round down.
        assert_eq!(Era::mortal(1 << 16, 100_005), mortal(1 << 16, 34_464));
        // Periods round up to a power of two within 4..=65,536.
        assert_eq!(Era::mortal(1, 5), mortal(4, 1));
        assert_eq!(Era::mortal(100, 5), mortal(128, 5));
        assert_eq!(Era::mortal(u64::MAX, 21), mortal(1 << 16, 16));
        // Two-byte vectors other Substrate clients test against.
        assert_eq!(
            Era::decode(&mut &[0x4e, 0x9c][..]),
            Ok(mortal(32768, 20000))
        );
        assert_eq!(Era::decode(&mut &[0xc5, 0x03][..]), Ok(mortal(64, 60)));
        assert_eq!(Era::decode(&mut &[0x85, 0x02][..]), Ok(mortal(64, 40)));
    }

    #[test]
    fn birth_and_death_follow_the_phase() {
        let era = Era::mortal(4, 6);
        for current in 6..10 {
            assert_eq!(era.birth(current), 6);
            assert_eq!(era.death(current), 10);
        }
        // Past its death, another window starts: the birth hash differs, the signature fails.
        assert_eq!(era.birth(10), 10);
        assert_eq!(Era::mortal(4, 6).birth(3), 2);
        assert_eq!(Era::Immortal.birth(1_000), 0);
        assert_eq!(Era::Immortal.death(1_000), u64::MAX);
    }

    #[test]
    fn bad_eras_and_versions_are_refused() {
        // Period 2 (low nibble 0) is below the minimum.
        assert!(Era::decode(&mut &[0x10, 0x00][..]).is_err());
        // Phase 8 in a period of 4.
        assert!(Era::decode(&mut &[0x81, 0x00][..]).is_err());
        let call = 7u8;
        let mut bytes = Extrinsic::inherent(call).encode();
        assert_eq!(bytes, [4, 7]);
        bytes[0] = 5;
        assert!(Extrinsic::<u8>::decode_exact(&bytes).is_err());
        assert!(Extrinsic::<u8>::decode_exact(&[4, 7, 0]).is_err());
    }

    #[test]
    fn only_account_addresses_look_up() {
        let account = AccountId([7; 32]);
        assert_eq!(MultiAddress::Id(account).lookup(), Some(account));
        assert_eq!(MultiAddress::Address32([7; 32]).lookup(), Some(account));
        assert_eq!(MultiAddress::Index(3).lookup(), None);
        assert_eq!(MultiAddress::Raw(vec![7; 32]).lookup(), None);
        assert_eq!(MultiAddress::Address20([7; 20]).lookup(), None);
    }

    #[test]
    fn signed_layout_is_substrates() {
        let pair = crate::crypto::Pair::from_uri("//Alice").expect("dev key");
        let extra = SignedExtra {
            era: Era::mortal(64, 100),
            nonce: 3,
            tip: 0,
        };
        let chain = ChainContext {
            spec_version: 1,
            transaction_version: 1,
            genesis_hash: Hash([1; 32]),
            birth_hash: Hash([2; 32]),
        };
        let xt = Extrinsic::signed(&pair, 9u8, extra, &chain);
        let bytes = xt.encode();
        // 0x84, MultiAddress::Id, the key, MultiSignature::Sr25519, 64 bytes, era, nonce, tip,
        // call.
        assert_eq!(bytes[0], 0x84);
        assert_eq!(bytes[1], 0);
        assert_eq!(&bytes[2..34], pair.public().as_bytes());
        assert_eq!(bytes[34], 1);
        // Era: period 64 (low nibble 5) and phase 100 % 64 = 36 as `5 | 36 << 4` in a u16.
        assert_eq!(&bytes[99..], [0x45, 0x02, 3 << 2, 0, 9]);
        assert_eq!(Extrinsic::<u8>::decode_exact(&bytes), Ok(xt.clone()));
        let Some(MultiSignature::Sr25519(signature)) =
            xt.signature.as_ref().map(|data| data.signature.clone())
        else {
            panic!("signed with sr25519");
        };
        let payload = [
            &[9u8][..],
            &bytes[99..103],
            &(1u32, 1u32).encode(),
            &[1; 32],
            &[2; 32],
        ]
        .concat();
        assert!(pair.public().verify(&payload, &signature));
    }

    proptest! {
        #[test]
        fn eras_round_trip(period in 0u64..100_000, current in any::<u32>()) {
            let era = Era::mortal(period, u64::from(current));
            prop_assert_eq!(Era::decode(&mut &era.encode()[..]), Ok(era));
            let birth = era.birth(u64::from(current));
            prop_assert!(birth <= u64::from(current));
            prop_assert!(u64::from(current) < era.death(u64::from(current)));
        }

        #[test]
        fn two_bytes_decode_and_encode_back(bytes in any::<[u8; 2]>()) {
            if let Ok(era) = Era::decode(&mut &bytes[..]) {
                let len = if bytes[0] == 0 { 1 } else { 2 };
                prop_assert_eq!(era.encode(), bytes[..len].to_vec());
            }
        }
    }
}
