//! The holding register: assets taken off the ledger while a message runs.

use crate::v5::{
    Asset, AssetFilter, AssetId, AssetInstance, Assets, Error as XcmError, Fungibility, WildAsset,
    WildFungibility,
};
use alloc::collections::{BTreeMap, BTreeSet};
use alloc::vec::Vec;

/// Most distinct assets holding may contain (Polkadot's `MaxAssetsIntoHolding` in its
/// runtimes), so that a message cannot make later instructions iterate without bound.
pub const MAX_ASSETS_IN_HOLDING: usize = 64;

/// Assets held by a running message: fungible amounts by class and non-fungible instances.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Holding {
    fungible: BTreeMap<AssetId, u128>,
    non_fungible: BTreeSet<(AssetId, AssetInstance)>,
}

impl Holding {
    /// Nothing held.
    pub fn new() -> Holding {
        Holding::default()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.fungible.is_empty() && self.non_fungible.is_empty()
    }

    /// How many distinct assets are held.
    pub fn len(&self) -> usize {
        self.fungible.len().saturating_add(self.non_fungible.len())
    }

    /// The amount of fungible `id` held.
    pub fn amount_of(&self, id: &AssetId) -> u128 {
        self.fungible.get(id).copied().unwrap_or(0)
    }

    /// Adds `asset`: fails if an amount overflows or holding would exceed
    /// [`MAX_ASSETS_IN_HOLDING`] assets.
    pub fn subsume(&mut self, asset: Asset) -> Result<(), XcmError> {
        match asset.fun {
            Fungibility::Fungible(amount) => {
                let fresh = !self.fungible.contains_key(&asset.id);
                if fresh && self.len() >= MAX_ASSETS_IN_HOLDING {
                    return Err(XcmError::HoldingWouldOverflow);
                }
                let held = self.fungible.entry(asset.id).or_insert(0);
                *held = held.checked_add(amount).ok_or(XcmError::Overflow)?;
            }
            Fungibility::NonFungible(instance) => {
                let item = (asset.id, instance);
                if !self.non_fungible.contains(&item) && self.len() >= MAX_ASSETS_IN_HOLDING {
                    return Err(XcmError::HoldingWouldOverflow);
                }
                self.non_fungible.insert(item);
            }
        }
        Ok(())
    }

    /// Adds everything in `other`.
    pub fn subsume_holding(&mut self, other: Holding) -> Result<(), XcmError> {
        other
            .into_assets()
            .into_iter()
            .try_for_each(|asset| self.subsume(asset))
    }

    /// Adds every asset of `assets`.
    pub fn subsume_assets(&mut self, assets: &Assets) -> Result<(), XcmError> {
        assets
            .inner()
            .iter()
            .try_for_each(|asset| self.subsume(asset.clone()))
    }

    /// The assets held, in Polkadot's canonical order.
    pub fn assets(&self) -> Vec<Asset> {
        let fungible = self.fungible.iter().map(|(id, amount)| Asset {
            id: id.clone(),
            fun: Fungibility::Fungible(*amount),
        });
        let non_fungible = self.non_fungible.iter().map(|(id, instance)| Asset {
            id: id.clone(),
            fun: Fungibility::NonFungible(*instance),
        });
        fungible.chain(non_fungible).collect()
    }

    /// The assets held, emptying the register.
    pub fn into_assets(self) -> Vec<Asset> {
        self.assets()
    }

    /// Takes what `filter` names, as much of it as is held.
    pub fn saturating_take(&mut self, filter: &AssetFilter) -> Holding {
        self.take(filter, false).unwrap_or_default()
    }

    /// Takes what `filter` names; fails, taking nothing, if a definite asset is not held in
    /// full.
    pub fn try_take(&mut self, filter: &AssetFilter) -> Result<Holding, XcmError> {
        self.take(filter, true)
    }

    /// What `filter` names, as much of it as is held, leaving the register as it is.
    pub fn min(&self, filter: &AssetFilter) -> Holding {
        self.clone().saturating_take(filter)
    }

    /// Whether at least `assets` are held.
    pub fn contains_assets(&self, assets: &Assets) -> bool {
        assets.inner().iter().all(|asset| match &asset.fun {
            Fungibility::Fungible(amount) => self.amount_of(&asset.id) >= *amount,
            Fungibility::NonFungible(instance) => {
                self.non_fungible.contains(&(asset.id.clone(), *instance))
            }
        })
    }

    fn take(&mut self, filter: &AssetFilter, exact: bool) -> Result<Holding, XcmError> {
        match filter {
            AssetFilter::Definite(assets) => {
                if exact && !self.contains_assets(assets) {
                    return Err(XcmError::NotHoldingFees);
                }
                let mut taken = Holding::new();
                for asset in assets.inner() {
                    match &asset.fun {
                        Fungibility::Fungible(amount) => {
                            if let Some(held) = self.fungible.get_mut(&asset.id) {
                                let part = (*amount).min(*held);
                                *held = held.saturating_sub(part);
                                if *held == 0 {
                                    self.fungible.remove(&asset.id);
                                }
                                if part > 0 {
                                    taken.fungible.insert(asset.id.clone(), part);
                                }
                            }
                        }
                        Fungibility::NonFungible(instance) => {
                            let item = (asset.id.clone(), *instance);
                            if self.non_fungible.remove(&item) {
                                taken.non_fungible.insert(item);
                            }
                        }
                    }
                }
                Ok(taken)
            }
            AssetFilter::Wild(wild) => Ok(self.take_wild(wild)),
        }
    }

    fn take_wild(&mut self, wild: &WildAsset) -> Holding {
        let (class, limit) = match wild {
            WildAsset::All => (None, usize::MAX),
            WildAsset::AllCounted(count) => (None, *count as usize),
            WildAsset::AllOf { id, fun } => (Some((id, *fun)), usize::MAX),
            WildAsset::AllOfCounted { id, fun, count } => (Some((id, *fun)), *count as usize),
        };
        let mut taken = Holding::new();
        let mut left = limit;
        let fungible_wanted = !matches!(class, Some((_, WildFungibility::NonFungible)));
        if fungible_wanted {
            let ids: Vec<AssetId> = self
                .fungible
                .keys()
                .filter(|id| class.is_none_or(|(wanted, _)| *id == wanted))
                .take(left)
                .cloned()
                .collect();
            for id in ids {
                if let Some(amount) = self.fungible.remove(&id) {
                    taken.fungible.insert(id, amount);
                    left = left.saturating_sub(1);
                }
            }
        }
        if !matches!(class, Some((_, WildFungibility::Fungible))) {
            let items: Vec<(AssetId, AssetInstance)> = self
                .non_fungible
                .iter()
                .filter(|(id, _)| class.is_none_or(|(wanted, _)| id == wanted))
                .take(left)
                .cloned()
                .collect();
            for item in items {
                self.non_fungible.remove(&item);
                taken.non_fungible.insert(item);
            }
        }
        taken
    }
}
