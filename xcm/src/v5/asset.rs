//! Assets: fungible amounts and non-fungible instances, identified by location.

use super::{decode_bounded_len, Location};
use alloc::vec::Vec;
use core::cmp::Ordering;
use parity_scale_codec::{Compact, Decode, Encode, Error as CodecError, Input};

/// Most assets in one [`Assets`] list (Polkadot's `MAX_ITEMS_IN_ASSETS`).
pub const MAX_ITEMS_IN_ASSETS: usize = 20;

/// An asset class, by the location that defines it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, scale_info::TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct AssetId(pub Location);

/// A location; in v3 bytes, an enum whose `Concrete` (0) is the location and whose `Abstract`
/// (1) has no v5 form and is refused, as Polkadot refuses to convert it.
impl Decode for AssetId {
    fn decode<I: Input>(input: &mut I) -> Result<Self, CodecError> {
        if crate::decoding_version() == 3 {
            match input.read_byte()? {
                0 => {}
                1 => return Err("a v3 abstract asset id has no v5 form".into()),
                _ => return Err("invalid v3 AssetId index".into()),
            }
        }
        Location::decode(input).map(AssetId)
    }
}

/// One instance of a non-fungible asset class.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, scale_info::TypeInfo,
)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum AssetInstance {
    /// The only instance.
    Undefined,
    /// An instance by index.
    Index(#[codec(compact)] u128),
    /// An instance by four bytes.
    Array4(#[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))] [u8; 4]),
    /// An instance by eight bytes.
    Array8(#[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))] [u8; 8]),
    /// An instance by sixteen bytes.
    Array16(#[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))] [u8; 16]),
    /// An instance by thirty-two bytes.
    Array32(#[cfg_attr(feature = "serde", serde(with = "crate::serde_hex"))] [u8; 32]),
}

/// How much of an asset: an amount, or one instance.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, scale_info::TypeInfo,
)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum Fungibility {
    /// An amount (never zero).
    #[codec(index = 0)]
    Fungible(#[codec(compact)] u128),
    /// One instance.
    #[codec(index = 1)]
    NonFungible(AssetInstance),
}

impl Decode for Fungibility {
    fn decode<I: Input>(input: &mut I) -> Result<Self, CodecError> {
        match input.read_byte()? {
            0 => match Compact::<u128>::decode(input)?.0 {
                0 => Err("Fungible asset of zero amount is not allowed".into()),
                amount => Ok(Fungibility::Fungible(amount)),
            },
            1 => Ok(Fungibility::NonFungible(AssetInstance::decode(input)?)),
            _ => Err("Invalid Fungibility variant".into()),
        }
    }
}

/// An asset: a class and how much of it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode, scale_info::TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(feature = "serde", serde(rename_all = "camelCase"))]
pub struct Asset {
    /// The class.
    pub id: AssetId,
    /// How much.
    pub fun: Fungibility,
}

impl Asset {
    /// `amount` of the asset defined at `id`.
    pub fn fungible(id: Location, amount: u128) -> Asset {
        Asset {
            id: AssetId(id),
            fun: Fungibility::Fungible(amount),
        }
    }

    fn is_fungible(&self) -> bool {
        matches!(self.fun, Fungibility::Fungible(_))
    }
}

impl PartialOrd for Asset {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Polkadot's order: every fungible before every non-fungible, then by class and amount.
impl Ord for Asset {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self.is_fungible(), other.is_fungible()) {
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            _ => (&self.id, &self.fun).cmp(&(&other.id, &other.fun)),
        }
    }
}

/// A list of at most [`MAX_ITEMS_IN_ASSETS`] assets in Polkadot's canonical order: sorted,
/// one entry per fungible class, no repeated instance.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, Encode, scale_info::TypeInfo)]
pub struct Assets(Vec<Asset>);

/// Why a list of assets is not an [`Assets`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssetsError {
    /// More than [`MAX_ITEMS_IN_ASSETS`] once merged.
    TooMany(usize),
    /// An amount overflowed when merged.
    Overflow,
}

impl Assets {
    /// No assets.
    pub const fn new() -> Assets {
        Assets(Vec::new())
    }

    /// `assets` in canonical order: sorted, amounts of one class added, repeated instances
    /// dropped.
    pub fn from_unsorted(mut assets: Vec<Asset>) -> Result<Assets, AssetsError> {
        assets.sort();
        let mut merged: Vec<Asset> = Vec::with_capacity(assets.len());
        for asset in assets {
            match (merged.last_mut(), &asset.fun) {
                (Some(last), Fungibility::Fungible(amount)) if last.id == asset.id => {
                    if let Fungibility::Fungible(total) = &mut last.fun {
                        *total = total.checked_add(*amount).ok_or(AssetsError::Overflow)?;
                    }
                }
                (Some(last), Fungibility::NonFungible(_)) if *last == asset => {}
                _ => merged.push(asset),
            }
        }
        if merged.len() > MAX_ITEMS_IN_ASSETS {
            return Err(AssetsError::TooMany(merged.len()));
        }
        Ok(Assets(merged))
    }

    /// The assets, in order.
    pub fn inner(&self) -> &[Asset] {
        &self.0
    }

    /// How many.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Polkadot's pairwise check of a decoded list: a later asset has a greater class, or is
/// greater and one of the two is non-fungible.
fn in_order(a: &Asset, b: &Asset) -> bool {
    a.id < b.id || (a < b && (!a.is_fungible() || !b.is_fungible()))
}

#[cfg(feature = "serde")]
impl serde::Serialize for Assets {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

/// A list is accepted as written, if it could be decoded: at most [`MAX_ITEMS_IN_ASSETS`],
/// in canonical order (so that encoding it gives the bytes it stands for).
#[cfg(feature = "serde")]
impl<'de> serde::Deserialize<'de> for Assets {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        use serde::de::Error as _;
        let assets = Vec::<Asset>::deserialize(deserializer)?;
        if assets.len() > MAX_ITEMS_IN_ASSETS {
            return Err(D::Error::custom(alloc::format!(
                "{} assets exceed the limit of {MAX_ITEMS_IN_ASSETS}",
                assets.len()
            )));
        }
        if let Some(at) = assets
            .iter()
            .zip(assets.iter().skip(1))
            .position(|(a, b)| !in_order(a, b))
        {
            return Err(D::Error::custom(alloc::format!(
                "assets {at} and {} are not in canonical order (by class, fungible first)",
                at.saturating_add(1)
            )));
        }
        Ok(Assets(assets))
    }
}

impl Decode for Assets {
    fn decode<I: Input>(input: &mut I) -> Result<Self, CodecError> {
        let assets: Vec<Asset> = decode_bounded_len(input, MAX_ITEMS_IN_ASSETS)?;
        if assets
            .iter()
            .zip(assets.iter().skip(1))
            .all(|(a, b)| in_order(a, b))
        {
            Ok(Assets(assets))
        } else {
            Err("Out of order".into())
        }
    }
}

/// Whether a wildcard matches fungible or non-fungible assets.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, scale_info::TypeInfo,
)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum WildFungibility {
    /// Fungible ones.
    Fungible,
    /// Non-fungible ones.
    NonFungible,
}

/// Assets matched by a pattern rather than listed.
#[derive(
    Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Encode, Decode, scale_info::TypeInfo,
)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum WildAsset {
    /// Everything held.
    All,
    /// Everything of one class and kind.
    AllOf {
        /// The class.
        id: AssetId,
        /// The kind.
        fun: WildFungibility,
    },
    /// Everything held, at most `count` assets.
    AllCounted(#[codec(compact)] u32),
    /// Everything of one class and kind, at most `count` assets.
    AllOfCounted {
        /// The class.
        id: AssetId,
        /// The kind.
        fun: WildFungibility,
        /// Most assets matched.
        #[codec(compact)]
        count: u32,
    },
}

/// Assets, listed or matched.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode, scale_info::TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum AssetFilter {
    /// These.
    Definite(Assets),
    /// Those that match.
    Wild(WildAsset),
}

/// Assets to transfer and how (v5's `InitiateTransfer`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Encode, Decode, scale_info::TypeInfo)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[cfg_attr(
    feature = "serde",
    serde(rename_all = "camelCase", rename_all_fields = "camelCase")
)]
pub enum AssetTransferFilter {
    /// Teleported: burnt here, minted there.
    Teleport(AssetFilter),
    /// Kept here as the reserve, deposited as derivatives there.
    ReserveDeposit(AssetFilter),
    /// Derivatives burnt here, withdrawn from the reserve there.
    ReserveWithdraw(AssetFilter),
}
