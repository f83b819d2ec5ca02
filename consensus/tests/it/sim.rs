//! Simulator properties: safety over many seeds, liveness after a heal, stalls with a silent
//! third, and detection of every equivocation. A failure names its seed; replay it with
//! `Sim::new(config_for_seed(seed))`.

use tessera_consensus::authorship::{pre_seal_hash, split_seal, AuthorEquivocation, PreDigest};
use tessera_consensus::finality::Phase;
use tessera_consensus::sim::{
    Behaviour, NetworkConfig, Partition, Rotation, Sim, SimConfig, BRIDGE,
};
use tessera_runtime::Header;

/// The configuration of safety seed `seed`: N in 4..=25, f = (N-1)/3 byzantine of mixed kinds,
/// varied latency and loss, and a partition healing mid-run in one seed of three that the
/// byzantine nodes bridge (their equivocations then reach each side with a different half).
pub(crate) fn config_for_seed(seed: u64) -> SimConfig {
    let n = 4 + (seed % 22) as usize;
    config_with(seed, n, (n - 1) / 3)
}

/// The configuration of seed `seed` with `n` nodes of which `f` are byzantine.
fn config_with(seed: u64, n: usize, f: usize) -> SimConfig {
    let mut config = SimConfig::new(seed, n);
    let kinds = [
        Behaviour::EquivocatingVoter,
        Behaviour::RandomForkVoter,
        Behaviour::EquivocatingAuthor,
        Behaviour::Silent {
            from_ms: 0,
            until_ms: u64::MAX,
        },
    ];
    for i in 0..f {
        // Byzantine nodes spread over the indices, kinds rotating with the seed.
        let index = (i * 3 + seed as usize) % n;
        let index = (index..n)
            .chain(0..index)
            .find(|j| config.behaviours[*j] == Behaviour::Honest)
            .unwrap();
        config.behaviours[index] = kinds[(i + seed as usize / 22) % kinds.len()];
    }
    config.network = NetworkConfig {
        min_latency_ms: 5,
        max_latency_ms: 40 + (seed % 5) * 40,
        loss_ppm: ((seed / 7) % 4) as u32 * 10_000,
        partitions: Vec::new(),
    };
    if seed.is_multiple_of(3) {
        config.network.partitions.push(Partition {
            from_ms: 400,
            until_ms: 1_400,
            groups: (0..n)
                .map(|i| {
                    if config.behaviours[i] == Behaviour::Honest {
                        (i % 2) as u8
                    } else {
                        BRIDGE
                    }
                })
                .collect(),
        });
    }
    config
}

/// Runs safety seeds `range` for `duration_ms` each.
fn safety(range: std::ops::Range<u64>, duration_ms: u64) {
    let mut finalized_total = 0u64;
    for seed in range.clone() {
        let mut sim = Sim::new(config_for_seed(seed));
        sim.run_until(duration_ms);
        if let Err(error) = sim.check_safety() {
            panic!("safety violated, replay with config_for_seed({seed}): {error}");
        }
        finalized_total += u64::from(sim.min_honest_finalized());
    }
    // Finality is not stuck across the board (each seed is short, so this is a weak bound).
    assert!(
        finalized_total > (range.end - range.start),
        "finalized only {finalized_total} blocks over {range:?}"
    );
}

const SAFETY_RUN_MS: u64 = 2_400;

#[test]
fn safety_seeds_0_to_250() {
    safety(0..250, SAFETY_RUN_MS);
}

#[test]
fn safety_seeds_250_to_500() {
    safety(250..500, SAFETY_RUN_MS);
}

#[test]
fn safety_seeds_500_to_750() {
    safety(500..750, SAFETY_RUN_MS);
}

#[test]
fn safety_seeds_750_to_1000() {
    safety(750..1000, SAFETY_RUN_MS);
}

/// The configuration of set-change seed `seed`: N in 4..=25 nodes, of which a window of
/// `set_size` (N-1 to N-1-N/5) holds each epoch of two slots, moving one or two places per
/// epoch, so the finality set changes every few blocks; fewer than a third of any window are
/// byzantine, since fewer than a third of `set_size` are byzantine in all. Latency, loss and
/// partitions as in [`config_for_seed`].
pub(crate) fn set_change_config(seed: u64) -> SimConfig {
    let n = 4 + (seed % 22) as usize;
    let set_size = n - 1 - (seed as usize % 2) * (n / 5);
    let mut config = config_with(seed, n, (set_size - 1) / 3);
    config.epoch_length = 2;
    config.rotation = Some(Rotation {
        set_size,
        shift: 1 + (seed as usize / 22) % 2,
    });
    config
}

/// Runs set-change seeds `range`; checks safety, and that changes were enacted and finality
/// went on across them.
fn set_change_safety(range: std::ops::Range<u64>) {
    let (mut changes, mut finalized, mut changed_seeds) = (0u64, 0u64, 0u64);
    for seed in range.clone() {
        let mut sim = Sim::new(set_change_config(seed));
        sim.run_until(SET_CHANGE_RUN_MS);
        if let Err(error) = sim.check_safety() {
            panic!("safety violated, replay with set_change_config({seed}): {error}");
        }
        let honest = sim.nodes.iter().filter(|n| n.is_honest());
        let enacted = honest
            .map(|n| n.finality.authority_set().set_id())
            .min()
            .unwrap_or_default();
        changed_seeds += u64::from(enacted > 0);
        changes += enacted;
        finalized += u64::from(sim.min_honest_finalized());
    }
    let seeds = range.end - range.start;
    // Most seeds enact changes; the rest are those whose partition or losses keep finality
    // short of the first change in this short run.
    assert!(
        changed_seeds * 10 >= seeds * 9,
        "only {changed_seeds} of {seeds} seeds enacted a change over {range:?}"
    );
    assert!(
        changes >= 3 * seeds / 2,
        "{changes} set changes over {range:?}"
    );
    assert!(
        finalized > 2 * seeds,
        "finalized only {finalized} blocks over {range:?}"
    );
}

const SET_CHANGE_RUN_MS: u64 = 3_200;

#[test]
fn safety_across_set_changes_seeds_0_to_500() {
    set_change_safety(0..500);
}

#[test]
fn safety_across_set_changes_seeds_500_to_1000() {
    set_change_safety(500..1000);
}

#[test]
fn finality_follows_the_authority_set_through_many_changes() {
    // Six honest nodes; four of them hold each epoch of two slots, one place further each time.
    let mut config = SimConfig::new(7, 6);
    config.epoch_length = 2;
    config.rotation = Some(Rotation {
        set_size: 4,
        shift: 1,
    });
    let mut sim = Sim::new(config);
    sim.run_until(16_000);
    sim.check_safety().unwrap();
    for node in &sim.nodes {
        assert_eq!(node.bad_logs, 0, "node {}", node.index);
        let set = node.finality.authority_set();
        assert!(
            set.set_id() >= 5,
            "node {}: set {}",
            node.index,
            set.set_id()
        );
        assert_eq!(set.len(), 4);
    }
    // Finality kept up: the finalized block is within a few blocks of the best one.
    let (finalized, best) = (sim.min_honest_finalized(), sim.max_honest_best());
    assert!(
        finalized + 6 >= best,
        "finalized #{finalized}, best #{best}"
    );
}

#[test]
fn liveness_after_partition_heals() {
    for seed in 0..6u64 {
        let n = 7;
        let mut config = SimConfig::new(seed, n);
        // Two byzantine voters (fewer than a third) and a 3/4 split that leaves no side a
        // supermajority until the heal at 4 s.
        config.behaviours[1] = Behaviour::RandomForkVoter;
        config.behaviours[4] = Behaviour::EquivocatingVoter;
        config.network.loss_ppm = 20_000;
        config.network.partitions.push(Partition {
            from_ms: 1_000,
            until_ms: 4_000,
            groups: vec![0, 0, 0, 1, 1, 1, 1],
        });
        let mut sim = Sim::new(config);
        sim.run_until(1_600);
        let stalled_at = sim
            .nodes
            .iter()
            .map(|n| n.finalized_number())
            .max()
            .unwrap();
        sim.run_until(4_000);
        let at_heal = sim.min_honest_finalized();
        assert!(
            sim.nodes
                .iter()
                .all(|n| n.finalized_number() <= stalled_at + 1),
            "seed {seed}: finality advanced during the partition"
        );
        let rounds_at_heal: Vec<u64> = sim.nodes.iter().map(|n| n.finality.round()).collect();
        // Bounded: within 3 s (at most ~6 rounds of 4Δ + latency) after the heal.
        sim.run_until(7_000);
        assert!(
            sim.min_honest_finalized() >= at_heal + 3,
            "seed {seed}: finality did not resume after the heal ({at_heal} -> {})",
            sim.min_honest_finalized()
        );
        for (node, before) in sim.nodes.iter().zip(rounds_at_heal) {
            assert!(
                node.finality.round() - before <= 20,
                "seed {seed}: too many rounds"
            );
        }
        sim.check_safety().unwrap_or_else(|e| panic!("{e}"));
    }
}

#[test]
fn more_than_a_third_silent_stops_finality_until_they_return() {
    for seed in 0..4u64 {
        let n = 7;
        let mut config = SimConfig::new(seed, n);
        for i in [0, 3, 5] {
            config.behaviours[i] = Behaviour::Silent {
                from_ms: 2_000,
                until_ms: 6_000,
            };
        }
        let mut sim = Sim::new(config);
        sim.run_until(2_000);
        assert!(
            sim.min_honest_finalized() > 0,
            "seed {seed}: no finality before the silence"
        );
        sim.run_until(2_600);
        let finalized = sim
            .nodes
            .iter()
            .map(|n| n.finalized_number())
            .max()
            .unwrap();
        let best = sim.max_honest_best();
        sim.run_until(6_000);
        assert_eq!(
            sim.nodes
                .iter()
                .map(|n| n.finalized_number())
                .max()
                .unwrap(),
            finalized,
            "seed {seed}: finality advanced with 3 of 7 silent"
        );
        assert!(
            sim.max_honest_best() >= best + 3,
            "seed {seed}: authorship stopped"
        );
        sim.run_until(9_000);
        assert!(
            sim.min_honest_finalized() > finalized + 2,
            "seed {seed}: finality did not resume ({finalized} -> {})",
            sim.min_honest_finalized()
        );
        sim.check_safety().unwrap_or_else(|e| panic!("{e}"));
    }
}

/// A node's committed equivocations: index, (round, phase) of votes, slots of blocks.
type Committed = (usize, Vec<(u64, Phase)>, Vec<u64>);

/// Whether `proof` shows two different pre-seal headers by authority `index` in its slot, both
/// with valid seals.
fn author_proof_holds(proof: &AuthorEquivocation, index: usize) -> bool {
    let sealed_by_offender = |header: &Header| {
        let Some(digest) = PreDigest::from_header(header) else {
            return false;
        };
        let Some((unsealed, seal)) = split_seal(header) else {
            return false;
        };
        digest.slot() == proof.slot
            && digest.authority_index() as usize == index
            && proof.offender.verify(unsealed.hash().as_bytes(), &seal)
    };
    pre_seal_hash(&proof.first) != pre_seal_hash(&proof.second)
        && sealed_by_offender(&proof.first)
        && sealed_by_offender(&proof.second)
}

/// Runs `config` for 4 s, then checks that by 5 s every equivocation committed in those 4 s
/// was reported, with a valid proof, by some honest node, and that no honest node was reported.
/// Returns how many (vote, author) equivocations were checked.
fn all_equivocations_reported(config: SimConfig) -> (usize, usize) {
    let seed = config.seed;
    let mut sim = Sim::new(config);
    sim.run_until(4_000);
    let committed: Vec<Committed> = sim
        .nodes
        .iter()
        .map(|n| {
            (
                n.index,
                n.committed_vote_equivocations.iter().copied().collect(),
                n.committed_author_equivocations.iter().copied().collect(),
            )
        })
        .collect();
    // Bounded: the last ones have one more second to arrive and be noticed.
    sim.run_until(5_000);
    let set = sim.nodes[0].finality.authority_set().clone();
    let honest: Vec<_> = sim.nodes.iter().filter(|n| n.is_honest()).collect();
    let (mut votes_checked, mut blocks_checked) = (0, 0);
    for (index, votes, slots) in committed {
        let id = sim.nodes[index].id();
        for (round, phase) in votes {
            let found = honest.iter().any(|h| {
                h.vote_reports.iter().any(|p| {
                    p.offender() == id
                        && p.first.round == round
                        && p.first.vote.phase() == Some(phase)
                        && p.is_valid(&set)
                })
            });
            assert!(
                found,
                "seed {seed}: vote equivocation by node {index} in round {round} {phase:?} not reported"
            );
            votes_checked += 1;
        }
        for slot in slots {
            let found = honest.iter().any(|h| {
                h.author_reports
                    .iter()
                    .any(|p| p.offender == id && p.slot == slot && author_proof_holds(p, index))
            });
            assert!(
                found,
                "seed {seed}: author equivocation by node {index} in slot {slot} not reported"
            );
            blocks_checked += 1;
        }
    }
    for h in &honest {
        for p in &h.vote_reports {
            let offender = sim.nodes.iter().find(|n| n.id() == p.offender());
            assert!(
                offender.is_some_and(|n| !n.is_honest()),
                "seed {seed}: node {} reported an honest voter",
                h.index
            );
        }
    }
    sim.check_safety().unwrap_or_else(|e| panic!("{e}"));
    (votes_checked, blocks_checked)
}

fn equivocators(seed: u64) -> SimConfig {
    let mut config = SimConfig::new(seed, 10);
    config.behaviours[2] = Behaviour::EquivocatingVoter;
    config.behaviours[5] = Behaviour::EquivocatingAuthor;
    config.behaviours[7] = Behaviour::EquivocatingVoter;
    config
}

#[test]
fn every_equivocation_is_detected_and_reported() {
    let (mut votes, mut blocks) = (0, 0);
    for seed in 0..4u64 {
        let mut config = equivocators(seed);
        // Gossip floods, so both halves' votes reach some honest node.
        config.gossip_fanout = config.behaviours.len();
        let (v, b) = all_equivocations_reported(config);
        votes += v;
        blocks += b;
    }
    assert!(
        votes >= 20 && blocks >= 3,
        "only {votes} vote and {blocks} block equivocations"
    );
}

#[test]
fn equivocations_are_detected_with_partial_gossip_and_loss() {
    let (mut votes, mut blocks) = (0, 0);
    for seed in 10..14u64 {
        let mut config = equivocators(seed);
        config.gossip_fanout = 3;
        config.network.loss_ppm = 20_000;
        let (v, b) = all_equivocations_reported(config);
        votes += v;
        blocks += b;
    }
    assert!(
        votes >= 20 && blocks >= 3,
        "only {votes} vote and {blocks} block equivocations"
    );
}

#[test]
fn the_safety_check_fails_when_the_threshold_is_one_weight_too_low() {
    // Four nodes split {0, 2} | {1} from 1 s to 4 s; node 3 equivocates on both sides. With
    // the threshold at 3 of 4 this is safe; at 2 (one weight too low), seed 20 finalizes two
    // forks, and its justifications do not verify under the real set.
    let run = |reduction: u64, check_justifications: bool| {
        let mut config = SimConfig::new(20, 4);
        config.behaviours[3] = Behaviour::EquivocatingVoter;
        config.threshold_reduction = reduction;
        config.check_justifications = check_justifications;
        config.network.partitions.push(Partition {
            from_ms: 1_000,
            until_ms: 4_000,
            groups: vec![0, 1, 0, BRIDGE],
        });
        let mut sim = Sim::new(config);
        sim.run_until(4_000);
        sim
    };
    run(0, true).check_safety().unwrap();
    let conflicting = run(1, false).check_safety().unwrap_err();
    assert!(conflicting.contains("conflicts with"), "{conflicting}");
    let rejected = run(1, true).check_safety().unwrap_err();
    assert!(rejected.contains("does not verify"), "{rejected}");
}
