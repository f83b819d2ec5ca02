//! Locations: where a chain, account, pallet or body is, relative to the one speaking.

use alloc::sync::Arc;
use alloc::vec::Vec;
use parity_scale_codec::{Decode, Encode};

/// A consensus system: a network by genesis or fork, or a well-known one.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, scale_info::TypeInfo,
)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum NetworkId {
    /// The network whose genesis block hash this is.
    #[codec(index = 0)]
    ByGenesis(#[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))] [u8; 32]),
    /// The network that forked at this block.
    #[codec(index = 1)]
    ByFork {
        /// The fork block's number.
        block_number: u64,
        /// The fork block's hash.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
        block_hash: [u8; 32],
    },
    /// Polkadot.
    #[codec(index = 2)]
    Polkadot,
    /// Kusama.
    #[codec(index = 3)]
    Kusama,
    /// An Ethereum chain by chain id.
    #[codec(index = 7)]
    Ethereum {
        /// EIP-155 chain id.
        #[codec(compact)]
        chain_id: u64,
    },
    /// Bitcoin.
    #[codec(index = 8)]
    BitcoinCore,
    /// Bitcoin Cash.
    #[codec(index = 9)]
    BitcoinCash,
    /// The Polkadot Bulletin chain.
    #[codec(index = 10)]
    PolkadotBulletin,
}

/// Genesis hash of Westend, which v5 names by genesis (v3 and v4 had `Westend`).
pub const WESTEND_GENESIS_HASH: [u8; 32] = [
    0xe1, 0x43, 0xf2, 0x38, 0x03, 0xac, 0x50, 0xe8, 0xf6, 0xf8, 0xe6, 0x26, 0x95, 0xd1, 0xce, 0x9e,
    0x4e, 0x1d, 0x68, 0xaa, 0x36, 0xc1, 0xcd, 0x2c, 0xfd, 0x15, 0x34, 0x02, 0x13, 0xf3, 0x42, 0x3e,
];
/// Genesis hash of Rococo, likewise.
pub const ROCOCO_GENESIS_HASH: [u8; 32] = [
    0x64, 0x08, 0xde, 0x77, 0x37, 0xc5, 0x9c, 0x23, 0x88, 0x90, 0x53, 0x3a, 0xf2, 0x58, 0x96, 0xa2,
    0xc2, 0x06, 0x08, 0xd8, 0xb3, 0x80, 0xbb, 0x01, 0x02, 0x9a, 0xcb, 0x39, 0x27, 0x81, 0x06, 0x3e,
];

/// v5's indices; in v3 and v4 bytes, 4 to 6 (Westend, Rococo, Wococo) become `ByGenesis`, as
/// Polkadot converts them.
impl Decode for NetworkId {
    fn decode<I: parity_scale_codec::Input>(
        input: &mut I,
    ) -> Result<Self, parity_scale_codec::Error> {
        let older = crate::decoding_version() < 5;
        Ok(match input.read_byte()? {
            0 => NetworkId::ByGenesis(Decode::decode(input)?),
            1 => NetworkId::ByFork {
                block_number: Decode::decode(input)?,
                block_hash: Decode::decode(input)?,
            },
            2 => NetworkId::Polkadot,
            3 => NetworkId::Kusama,
            4 if older => NetworkId::ByGenesis(WESTEND_GENESIS_HASH),
            5 if older => NetworkId::ByGenesis(ROCOCO_GENESIS_HASH),
            6 if older => NetworkId::ByGenesis([0; 32]),
            7 => NetworkId::Ethereum {
                chain_id: parity_scale_codec::Compact::<u64>::decode(input)?.0,
            },
            8 => NetworkId::BitcoinCore,
            9 => NetworkId::BitcoinCash,
            10 => NetworkId::PolkadotBulletin,
            _ => return Err("invalid NetworkId index".into()),
        })
    }
}

/// A kind of body.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, scale_info::TypeInfo,
)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum BodyId {
    /// The only body of its kind.
    Unit,
    /// A body named by four bytes.
    Moniker(#[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))] [u8; 4]),
    /// A body by index.
    Index(#[codec(compact)] u32),
    /// The executive.
    Executive,
    /// The technical body.
    Technical,
    /// The legislature.
    Legislative,
    /// The judiciary.
    Judicial,
    /// The defense body.
    Defense,
    /// The administration.
    Administration,
    /// The treasury.
    Treasury,
}

/// A part of a body.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, scale_info::TypeInfo,
)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum BodyPart {
    /// The body's declaration.
    Voice,
    /// A number of members.
    Members {
        /// How many.
        #[codec(compact)]
        count: u32,
    },
    /// A fraction of the members.
    Fraction {
        /// Numerator.
        #[codec(compact)]
        nom: u32,
        /// Denominator.
        #[codec(compact)]
        denom: u32,
    },
    /// At least this proportion of the members.
    AtLeastProportion {
        /// Numerator.
        #[codec(compact)]
        nom: u32,
        /// Denominator.
        #[codec(compact)]
        denom: u32,
    },
    /// More than this proportion of the members.
    MoreThanProportion {
        /// Numerator.
        #[codec(compact)]
        nom: u32,
        /// Denominator.
        #[codec(compact)]
        denom: u32,
    },
}

/// One step of a location's path.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, scale_info::TypeInfo,
)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum Junction {
    /// A parachain by id.
    Parachain(#[codec(compact)] u32),
    /// A 32-byte account.
    AccountId32 {
        /// Its network, if not the context's.
        network: Option<NetworkId>,
        /// The account id.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
        id: [u8; 32],
    },
    /// An account by 64-bit index.
    AccountIndex64 {
        /// Its network, if not the context's.
        network: Option<NetworkId>,
        /// The index.
        #[codec(compact)]
        index: u64,
    },
    /// A 20-byte account (Ethereum style).
    AccountKey20 {
        /// Its network, if not the context's.
        network: Option<NetworkId>,
        /// The key.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
        key: [u8; 20],
    },
    /// A pallet by index.
    PalletInstance(u8),
    /// Something by index (an asset, for example).
    GeneralIndex(#[codec(compact)] u128),
    /// Something by key: the first `length` bytes of `data` (the length is not checked, as in
    /// Polkadot).
    GeneralKey {
        /// How many bytes of `data` are the key.
        length: u8,
        /// The key, zero-padded.
        #[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))]
        data: [u8; 32],
    },
    /// The only child of the context.
    OnlyChild,
    /// A body, or part of one.
    Plurality {
        /// Which body.
        id: BodyId,
        /// Which part of it.
        part: BodyPart,
    },
    /// A whole consensus system.
    GlobalConsensus(NetworkId),
}

/// The path of a location below its parents: up to eight junctions.
///
/// Each non-empty path is shared behind an `Arc`, which (as in Polkadot) counts one level of
/// decoding depth.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, scale_info::TypeInfo,
)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
#[allow(missing_docs)]
pub enum Junctions {
    /// No junctions: the context itself.
    Here,
    X1(Arc<[Junction; 1]>),
    X2(Arc<[Junction; 2]>),
    X3(Arc<[Junction; 3]>),
    X4(Arc<[Junction; 4]>),
    X5(Arc<[Junction; 5]>),
    X6(Arc<[Junction; 6]>),
    X7(Arc<[Junction; 7]>),
    X8(Arc<[Junction; 8]>),
}

/// Most junctions in a path.
pub const MAX_JUNCTIONS: usize = 8;

impl Junctions {
    /// The junctions, outermost first.
    pub fn as_slice(&self) -> &[Junction] {
        match self {
            Junctions::Here => &[],
            Junctions::X1(j) => &j[..],
            Junctions::X2(j) => &j[..],
            Junctions::X3(j) => &j[..],
            Junctions::X4(j) => &j[..],
            Junctions::X5(j) => &j[..],
            Junctions::X6(j) => &j[..],
            Junctions::X7(j) => &j[..],
            Junctions::X8(j) => &j[..],
        }
    }

    /// How many junctions.
    pub fn len(&self) -> usize {
        self.as_slice().len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        matches!(self, Junctions::Here)
    }

    /// The path of `junctions`, or `None` if there are more than [`MAX_JUNCTIONS`].
    pub fn from_slice(junctions: &[Junction]) -> Option<Junctions> {
        fn array<const N: usize>(junctions: &[Junction]) -> Option<Arc<[Junction; N]>> {
            <[Junction; N]>::try_from(junctions).ok().map(Arc::new)
        }
        Some(match junctions.len() {
            0 => Junctions::Here,
            1 => Junctions::X1(array(junctions)?),
            2 => Junctions::X2(array(junctions)?),
            3 => Junctions::X3(array(junctions)?),
            4 => Junctions::X4(array(junctions)?),
            5 => Junctions::X5(array(junctions)?),
            6 => Junctions::X6(array(junctions)?),
            7 => Junctions::X7(array(junctions)?),
            8 => Junctions::X8(array(junctions)?),
            _ => return None,
        })
    }

    /// This path with `junction` appended, or `None` if it is full.
    pub fn pushed(&self, junction: Junction) -> Option<Junctions> {
        let mut junctions = self.as_slice().to_vec();
        junctions.push(junction);
        Junctions::from_slice(&junctions)
    }
}

/// A location: `parents` levels up from the context, then down `interior`.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, scale_info::TypeInfo,
)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct Location {
    /// Levels up.
    pub parents: u8,
    /// The path down from there.
    pub interior: Junctions,
}

impl Location {
    /// `parents` up, then down `junctions` (at most [`MAX_JUNCTIONS`]).
    pub fn new(parents: u8, junctions: &[Junction]) -> Option<Location> {
        Some(Location {
            parents,
            interior: Junctions::from_slice(junctions)?,
        })
    }

    /// The context itself.
    pub const fn here() -> Location {
        Location {
            parents: 0,
            interior: Junctions::Here,
        }
    }

    /// The context's parent (a para's relay chain).
    pub const fn parent() -> Location {
        Location {
            parents: 1,
            interior: Junctions::Here,
        }
    }

    /// The child para `id` (as the relay chain sees it).
    pub fn child_para(id: u32) -> Location {
        Location {
            parents: 0,
            interior: Junctions::X1(Arc::new([Junction::Parachain(id)])),
        }
    }

    /// The sibling para `id` (as a para sees it).
    pub fn sibling_para(id: u32) -> Location {
        Location {
            parents: 1,
            interior: Junctions::X1(Arc::new([Junction::Parachain(id)])),
        }
    }
}

impl Location {
    /// This location seen from `target`, where `context` is the universal location of the
    /// chain both are relative to (Polkadot's `reanchored`): `None` if the context is too
    /// short to say how `target` addresses us, or the result is too long.
    pub fn reanchored(&self, target: &Location, context: &Junctions) -> Option<Location> {
        // How `target` addresses the context: up its interior, down what its parents left.
        let mut context = context.as_slice().to_vec();
        let mut down = Vec::with_capacity(usize::from(target.parents));
        for _ in 0..target.parents {
            down.push(context.pop()?);
        }
        down.reverse();
        let inverted_parents = u8::try_from(target.interior.len()).ok()?;
        let mut result = prepend(inverted_parents, &down, self)?;
        // Drop parents that lead back down into `target` itself.
        let target_interior = target.interior.as_slice();
        let parents = usize::from(result.parents);
        if parents > 0 && parents <= target_interior.len() {
            let mut junctions = result.interior.as_slice().to_vec();
            let mut parents = parents;
            while parents > 0
                && junctions.first()
                    == target_interior.get(target_interior.len().saturating_sub(parents))
            {
                junctions.remove(0);
                parents = parents.saturating_sub(1);
            }
            result = Location {
                parents: u8::try_from(parents).ok()?,
                interior: Junctions::from_slice(&junctions)?,
            };
        }
        Some(result)
    }

    /// This location with `junction` appended to its interior, or `None` if it is full.
    pub fn pushed(&self, junction: Junction) -> Option<Location> {
        Some(Location {
            parents: self.parents,
            interior: self.interior.pushed(junction)?,
        })
    }

    /// The first junction below the parents.
    pub fn first_interior(&self) -> Option<&Junction> {
        self.interior.as_slice().first()
    }
}

/// `suffix` seen from a location `prefix_parents` up then down `prefix_interior`.
fn prepend(
    prefix_parents: u8,
    prefix_interior: &[Junction],
    suffix: &Location,
) -> Option<Location> {
    let mut prefix = prefix_interior.to_vec();
    let mut parents = suffix.parents;
    while parents > 0 && prefix.pop().is_some() {
        parents = parents.saturating_sub(1);
    }
    prefix.extend_from_slice(suffix.interior.as_slice());
    Some(Location {
        parents: parents.checked_add(prefix_parents)?,
        interior: Junctions::from_slice(&prefix)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(parents: u8, junctions: &[Junction]) -> Location {
        Location::new(parents, junctions).unwrap()
    }

    #[test]
    fn reanchoring_gives_what_the_target_sees() {
        use Junction::{GeneralIndex, GlobalConsensus, Parachain};
        let para_2000 =
            Junctions::from_slice(&[GlobalConsensus(NetworkId::Polkadot), Parachain(2000)])
                .unwrap();
        // Polkadot's own case: a sibling's asset, seen from that sibling.
        let asset = location(1, &[Parachain(1000), GeneralIndex(42)]);
        assert_eq!(
            asset.reanchored(&Location::sibling_para(1000), &para_2000),
            Some(location(0, &[GeneralIndex(42)]))
        );
        // Our native token, seen from a sibling and from the relay chain.
        assert_eq!(
            Location::here().reanchored(&Location::sibling_para(1000), &para_2000),
            Some(Location::sibling_para(2000))
        );
        assert_eq!(
            Location::here().reanchored(&Location::parent(), &para_2000),
            Some(Location::child_para(2000))
        );
        // The relay token, seen from the relay chain and from a sibling.
        assert_eq!(
            Location::parent().reanchored(&Location::parent(), &para_2000),
            Some(Location::here())
        );
        assert_eq!(
            Location::parent().reanchored(&Location::sibling_para(1000), &para_2000),
            Some(Location::parent())
        );
        // Without enough context there is no answer.
        assert_eq!(
            Location::here().reanchored(&location(3, &[]), &para_2000),
            None
        );
    }
}
