//! `configuration`: the parameters of the parachain validity protocol, set in the chain spec and
//! kept in state so every validator reads the same ones (Polkadot's host configuration).

use parity_scale_codec::{Decode, Encode};
#[cfg(feature = "std")]
use serde::{Deserialize, Serialize};
use tessera_runtime::storage::StorageValue;

/// The module's name, the prefix of its storage keys.
pub const NAME: &str = "Configuration";

/// Most cores a validator may draw in tranche 0 (each costs every peer a VRF check).
pub const MAX_SAMPLES: u32 = 64;

/// The approval parameters, written at genesis.
pub static APPROVAL: StorageValue<ApprovalConfig> = StorageValue::new(NAME, "Approval");

/// This module's storage items, described for clients.
pub fn storage_metadata() -> alloc::vec::Vec<tessera_runtime::metadata::StorageEntryMetadata> {
    alloc::vec![APPROVAL.metadata(),]
}

/// How many checkers a candidate needs, how they are drawn, and how long they have.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Encode, Decode, scale_info::TypeInfo)]
#[cfg_attr(feature = "std", derive(Serialize, Deserialize))]
#[cfg_attr(feature = "std", serde(rename_all = "camelCase", deny_unknown_fields))]
pub struct ApprovalConfig {
    /// Approvals a candidate needs from assigned checkers (more when some do not show).
    pub needed_approvals: u32,
    /// Cores each validator draws for tranche 0 (Polkadot's `relay_vrf_modulo_samples`).
    pub relay_vrf_modulo_samples: u32,
    /// Delay tranches after tranche 0 a validator's delay assignment may fall in.
    pub n_delay_tranches: u32,
    /// Delay assignments folded into tranche 0: a wider zeroth tranche takes more checkers at
    /// once.
    pub zeroth_delay_tranche_width: u32,
    /// Length of one tranche, in milliseconds.
    pub tranche_ms: u64,
    /// How long an assigned checker has to approve before it counts as a no-show and later
    /// tranches cover it, in milliseconds.
    pub no_show_ms: u64,
}

impl ApprovalConfig {
    /// For a development network of 4 to 6 validators and a few paras: every candidate needs
    /// two checkers, about one per validator and core in tranche 0, and a no-show is covered
    /// after two 2-second relay slots.
    pub const fn dev() -> Self {
        ApprovalConfig {
            needed_approvals: 2,
            relay_vrf_modulo_samples: 1,
            n_delay_tranches: 16,
            zeroth_delay_tranche_width: 0,
            tranche_ms: 250,
            no_show_ms: 4_000,
        }
    }

    /// The dev values for a network of `validators`: one checker per candidate when the
    /// backing groups leave only two validators to check (4 validators in 2 groups), so one of
    /// them may fail without stopping approval.
    pub const fn dev_for(validators: usize) -> Self {
        let dev = Self::dev();
        ApprovalConfig {
            needed_approvals: if validators <= 4 {
                1
            } else {
                dev.needed_approvals
            },
            ..dev
        }
    }

    /// What is wrong with these parameters, as (field, reason), if anything.
    pub fn problem(&self) -> Option<(&'static str, &'static str)> {
        if self.needed_approvals == 0 {
            return Some(("neededApprovals", "at least one approval"));
        }
        if !(1..=MAX_SAMPLES).contains(&self.relay_vrf_modulo_samples) {
            return Some(("relayVrfModuloSamples", "1 to 64 samples"));
        }
        if self.tranche_ms == 0 {
            return Some(("trancheMs", "at least 1 ms"));
        }
        if self.no_show_ms < self.tranche_ms {
            return Some(("noShowMs", "at least one tranche"));
        }
        None
    }

    /// Polkadot's production values (30 checkers, 6 samples, 89 delay tranches of half a
    /// second, no-shows after two 6-second slots).
    pub const fn polkadot() -> Self {
        ApprovalConfig {
            needed_approvals: 30,
            relay_vrf_modulo_samples: 6,
            n_delay_tranches: 89,
            zeroth_delay_tranche_width: 0,
            tranche_ms: 500,
            no_show_ms: 12_000,
        }
    }
}

impl Default for ApprovalConfig {
    fn default() -> Self {
        Self::dev()
    }
}
