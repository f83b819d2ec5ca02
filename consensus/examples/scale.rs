//! 1,000 authorities in the simulator, finalizing block after block.
//!
//! Prints messages sent and signatures checked per finalized block, and the time to verify one
//! 1,000-authority justification with batch verification. Run with
//! `cargo run --release -p tessera-consensus --example scale [authorities] [seconds]`.

use std::time::Instant;
use tessera_consensus::finality::{verify_justification, FinalityConfig};
use tessera_consensus::sim::{Sim, SimConfig};

fn main() {
    let mut args = std::env::args().skip(1);
    let authorities: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(1_000);
    let seconds: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(16);
    let mut config = SimConfig::new(1, authorities);
    config.step_ms = 50;
    config.slot_ms = 2_000;
    config.epoch_length = 50;
    config.gossip_fanout = 0;
    config.check_justifications = false;
    config.network.min_latency_ms = 20;
    config.network.max_latency_ms = 150;
    config.finality = FinalityConfig {
        gossip_delay_ms: 300,
        rebroadcast_ms: 6_000,
        catch_up_timeout_ms: 6_000,
        max_pending_votes: 50_000,
        kept_rounds: 2,
        commit_senders: 3,
    };
    let started = Instant::now();
    let mut sim = Sim::new(config);
    println!("built {authorities} nodes in {:.1?}", started.elapsed());
    let started = Instant::now();
    for second in 1..=seconds {
        sim.run_until(second * 1_000);
        println!(
            "t={second:>3}s  finalized #{:<3} best #{:<3} round {:<3} ({:.1?} wall)",
            sim.min_honest_finalized(),
            sim.max_honest_best(),
            sim.nodes
                .first()
                .map(|n| n.finality.round())
                .unwrap_or_default(),
            started.elapsed()
        );
    }
    sim.check_safety().unwrap_or_else(|e| panic!("{e}"));
    let finalized = u64::from(sim.min_honest_finalized().max(1));
    let engine_checks: u64 = sim
        .nodes
        .iter()
        .map(|n| n.finality.stats().signatures_checked)
        .sum();
    let finality_messages: u64 = sim
        .nodes
        .iter()
        .map(|n| n.finality.stats().messages_sent)
        .sum();
    let (requested, verified) = sim.verifier.counts();
    println!("finalized blocks (lowest node): {finalized}");
    println!(
        "network messages per finalized block: {}",
        sim.network.sent / finalized
    );
    println!(
        "finality messages output per finalized block (broadcasts count once): {}",
        finality_messages / finalized
    );
    println!(
        "signatures checked per finalized block: {} by all engines together ({} per node); \
         the simulator's shared cache verified {} of the {} it was asked about for real",
        engine_checks / finalized,
        engine_checks / finalized / authorities as u64,
        verified / finalized,
        requested / finalized
    );
    let Some((target, justification)) =
        sim.nodes.first().and_then(|n| n.last_justification.clone())
    else {
        println!("no justification produced");
        return;
    };
    let set = sim.nodes[0].finality.authority_set().clone();
    let runs = 10;
    let started = Instant::now();
    for _ in 0..runs {
        verify_justification(&set, target, &justification).expect("valid justification");
    }
    println!(
        "verify one justification of {} precommits ({} authorities): {:.2?}",
        justification.precommits.len(),
        set.len(),
        started.elapsed() / runs
    );
}
