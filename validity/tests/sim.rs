//! The approval protocol over a thousand seeded networks: no invalid candidate is ever approved
//! by an honest validator, and every valid one is approved by all of them within the no-show
//! bound, whatever the delays, losses, no-shows and byzantine checkers.

use tessera_validity::sim::{run, SimConfig, SimReport};

/// A network drawn from `seed`: 20 to 60 validators, 2 to 8 cores, 10 to 15 checkers needed
/// (fewer than two thirds of the validators),
/// and fewer than a third of the validators faulty: some vanishing after announcing (up to a
/// tenth), up to two disputing every candidate they check, and the rest approving blindly and
/// backing invalid candidates (a tenth of the candidates); up to 2% of messages late by a
/// retransmission.
fn network(seed: u64) -> SimConfig {
    let word =
        |shift: u32, modulo: u64| (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> shift) % modulo;
    let validators = 20 + word(0, 41) as u32;
    let cores = 2 + word(8, 7) as u32;
    let mut config = SimConfig::new(seed, validators, cores);
    // At most what the honest validators outside a backing group can give.
    config.approval.needed_approvals = (10 + word(16, 6) as u32).min(validators * 2 / 3 - 2);
    config.approval.relay_vrf_modulo_samples = (config.approval.needed_approvals * cores)
        .div_ceil(validators)
        .max(1);
    config.blocks = 3;
    let faulty = (validators - 1) / 3;
    config.no_shows = (validators / 10).min(word(32, 8) as u32);
    config.disputers = word(48, 3).min(u64::from(faulty - config.no_shows)) as u32;
    config.byzantine = word(
        24,
        u64::from(faulty - config.no_shows - config.disputers) + 1,
    ) as u32;
    config.invalid_ppm = 100_000;
    config.loss_ppm = word(40, 20_001) as u32;
    config
}

/// The bound on approving a valid candidate: its tranches' span, a check, a no-show period for
/// each round of covering (no-shows in the first checkers, then among those covering them), and
/// a dispute's check when a byzantine validator disputes it.
fn bound(config: &SimConfig) -> u64 {
    let approval = &config.approval;
    approval.tranche_ms * u64::from(approval.n_delay_tranches)
        + 2 * config.check_ms.1
        + 2 * approval.no_show_ms
}

fn sweep(seeds: std::ops::Range<u64>) -> Vec<(u64, SimReport)> {
    seeds.map(|seed| (seed, run(&network(seed)))).collect()
}

fn check(results: &[(u64, SimReport)]) {
    let (mut invalid, mut disputes) = (0, 0);
    for (seed, report) in results {
        let config = network(*seed);
        invalid += report.invalid;
        disputes += report.concluded_valid + report.concluded_invalid;
        assert_eq!(
            report.invalid_approved, 0,
            "seed {seed}: {config:?} {report:?}"
        );
        assert_eq!(
            report.valid_unapproved, 0,
            "seed {seed}: {config:?} {report:?}"
        );
        assert!(
            report.max_lag_ms <= bound(&config),
            "seed {seed}: {config:?} {report:?}"
        );
        // Every dispute concludes, and never against an honest validator.
        assert_eq!(report.unconcluded, 0, "seed {seed}: {config:?} {report:?}");
        assert_eq!(
            report.honest_offenders, 0,
            "seed {seed}: {config:?} {report:?}"
        );
    }
    assert!(
        invalid > 100,
        "the sweep includes invalid candidates ({invalid})"
    );
    assert!(disputes > 100, "the sweep includes disputes ({disputes})");
}

#[test]
fn seeds_0_to_499_never_approve_an_invalid_candidate_and_approve_every_valid_one_in_time() {
    check(&sweep(0..500));
}

#[test]
fn seeds_500_to_999_never_approve_an_invalid_candidate_and_approve_every_valid_one_in_time() {
    check(&sweep(500..1_000));
}

#[test]
fn three_hundred_validators_on_thirty_cores_cover_no_shows_catch_invalid_candidates_and_name_disputers(
) {
    let mut config = SimConfig::new(7, 300, 30);
    config.blocks = 3;
    config.no_shows = 30;
    config.byzantine = 50;
    config.disputers = 10;
    config.invalid_ppm = 50_000;
    config.loss_ppm = 5_000;
    let report = run(&config);
    assert!(report.invalid > 0, "{report:?}");
    assert_eq!(report.invalid_approved, 0, "{report:?}");
    assert_eq!(report.valid_unapproved, 0, "{report:?}");
    // Some checker vanished and was covered: approval took a no-show period, and no more.
    assert!(report.max_lag_ms > config.approval.no_show_ms, "{report:?}");
    assert!(report.max_lag_ms <= bound(&config), "{report:?}");
    // Invalid candidates were disputed and concluded invalid; the disputers' disputes of valid
    // ones concluded valid, and named each of them, and no honest validator.
    assert!(report.concluded_invalid > 0, "{report:?}");
    assert!(report.concluded_valid >= 10, "{report:?}");
    assert_eq!(report.unconcluded, 0, "{report:?}");
    assert_eq!(report.honest_offenders, 0, "{report:?}");
    assert!(report.offenders.len() >= 10, "{report:?}");
    // One message for all of a validator's tranche-0 assignments in a block, one for the
    // approvals of each tick's checks: fewer than one of each per check.
    assert!(
        report.messages_per_validator_block(&config)
            < report.unaggregated_per_validator_block(&config),
        "{report:?}"
    );
}
