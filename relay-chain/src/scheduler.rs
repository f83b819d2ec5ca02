//! Which validators back which para: validators split into one group per core (one core per
//! para for now), and groups rotating across cores every few blocks, so no group keeps a para
//! for long.

use crate::prelude::*;

use tessera_runtime::BlockNumber;

/// Blocks a group stays on a core before moving to the next one.
pub const GROUP_ROTATION_FREQUENCY: BlockNumber = 10;

/// Validator indices split into `groups` groups of sizes differing by at most one, in index
/// order (at least one group; no more groups than validators).
pub fn validator_groups(validators: u32, groups: usize) -> Vec<Vec<u32>> {
    let groups = groups.clamp(1, (validators as usize).max(1));
    // groups >= 1 after the clamp.
    let base = (validators as usize).checked_div(groups).unwrap_or(0);
    let larger = (validators as usize).checked_rem(groups).unwrap_or(0);
    let mut next = 0u32;
    (0..groups)
        .map(|group| {
            let size = base.saturating_add(usize::from(group < larger));
            let members = (next..next.saturating_add(size as u32)).collect();
            next = next.saturating_add(size as u32);
            members
        })
        .collect()
}

/// The group assigned to `core` at block `now`: core `c` starts with group `c` at
/// `session_start` and moves one group on every `rotation` blocks.
pub fn group_for_core(
    core: usize,
    groups: usize,
    session_start: BlockNumber,
    now: BlockNumber,
    rotation: BlockNumber,
) -> usize {
    if groups == 0 {
        return 0;
    }
    let rotations = now
        .saturating_sub(session_start)
        .checked_div(rotation.max(1))
        .unwrap_or(0);
    // groups >= 1 here, so none of these divides by zero, and the sum of two remainders
    // below `groups` cannot overflow.
    let core_group = core.checked_rem(groups).unwrap_or(0);
    let moved = (rotations as usize).checked_rem(groups).unwrap_or(0);
    core_group
        .saturating_add(moved)
        .checked_rem(groups)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_validator_is_in_exactly_one_group_of_near_equal_size() {
        for validators in [1u32, 2, 4, 7, 10, 300] {
            for groups in [1usize, 2, 3, 5] {
                let split = validator_groups(validators, groups);
                let mut all: Vec<u32> = split.iter().flatten().copied().collect();
                all.sort_unstable();
                assert_eq!(all, (0..validators).collect::<Vec<_>>());
                let sizes: Vec<usize> = split.iter().map(Vec::len).collect();
                let (min, max) = (sizes.iter().min().unwrap(), sizes.iter().max().unwrap());
                assert!(max - min <= 1, "{validators} in {groups}: {sizes:?}");
                assert!(sizes.iter().all(|s| *s > 0));
            }
        }
    }

    #[test]
    fn groups_rotate_across_cores_and_never_share_one() {
        let groups = 3;
        for now in 100..160 {
            let assigned: Vec<usize> = (0..groups)
                .map(|core| group_for_core(core, groups, 100, now, GROUP_ROTATION_FREQUENCY))
                .collect();
            let mut distinct = assigned.clone();
            distinct.sort_unstable();
            distinct.dedup();
            assert_eq!(distinct.len(), groups, "block {now}: {assigned:?}");
        }
        assert_eq!(group_for_core(0, groups, 100, 109, 10), 0);
        assert_eq!(group_for_core(0, groups, 100, 110, 10), 1);
        assert_eq!(group_for_core(0, groups, 100, 130, 10), 0);
    }
}
