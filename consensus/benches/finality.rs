//! Finality benchmarks: votes verified per second by the engine beside raw schnorrkel batch
//! verification of the same signatures, and justification verification for 100, 300 and 1,000
//! authorities.

use criterion::{BatchSize, Criterion};
use std::hint::black_box;
use std::time::{Duration, Instant};
use tessera_consensus::finality::{
    verify_justification, vote_payload, AuthoritySet, FinalityConfig, FinalityEngine,
    FinalityMessage, Input, Justification, SignedVote, Target, Vote,
};
use tessera_consensus::sim::genesis;
use tessera_consensus::{AuthorityKey, BatchVerifier, BlockTree, PeerId, SignatureVerifier};
use tessera_runtime::crypto::SIGNING_CONTEXT;
use tessera_runtime::{Digest, Hash, Header};

struct Setup {
    keys: Vec<AuthorityKey>,
    set: AuthoritySet,
    block: Header,
}

fn setup(n: u64) -> Setup {
    let keys: Vec<_> = (0..n).map(AuthorityKey::from_index).collect();
    let set = AuthoritySet::equal(0, keys.iter().map(|k| k.public())).unwrap();
    let g = genesis();
    let block = Header {
        parent_hash: g.hash(),
        number: 1,
        state_root: Hash([1; 32]),
        extrinsics_root: Hash::ZERO,
        digest: Digest::default(),
    };
    Setup { keys, set, block }
}

/// An observer engine whose verifier already holds the set's decompressed keys, as a running
/// node's does after its first round.
fn engine(s: &Setup, warm: &BatchVerifier) -> FinalityEngine {
    let mut engine = FinalityEngine::new(FinalityConfig::default(), s.set.clone(), genesis(), None)
        .with_verifier(Box::new(warm.clone()));
    engine.handle(Input::BlockImported(s.block.clone()));
    engine
}

fn votes(s: &Setup) -> Vec<(PeerId, FinalityMessage)> {
    let target = Target {
        hash: s.block.hash(),
        number: 1,
    };
    s.keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            (
                PeerId(i as u64),
                FinalityMessage::Vote(SignedVote::sign(k, Vote::Prevote(target), 1, 0)),
            )
        })
        .collect()
}

fn raw_batch(items: &[(schnorrkel::PublicKey, Vec<u8>, schnorrkel::Signature)]) -> bool {
    let context = schnorrkel::signing_context(SIGNING_CONTEXT);
    let transcripts: Vec<_> = items.iter().map(|(_, m, _)| context.bytes(m)).collect();
    let signatures: Vec<_> = items.iter().map(|(_, _, s)| *s).collect();
    let publics: Vec<_> = items.iter().map(|(p, _, _)| *p).collect();
    schnorrkel::verify_batch(transcripts, &signatures, &publics, false).is_ok()
}

fn raw_items(
    messages: &[(PeerId, FinalityMessage)],
) -> Vec<(schnorrkel::PublicKey, Vec<u8>, schnorrkel::Signature)> {
    messages
        .iter()
        .filter_map(|(_, m)| match m {
            FinalityMessage::Vote(v) => Some((
                schnorrkel::PublicKey::from_bytes(v.id.as_bytes()).unwrap(),
                vote_payload(&v.vote, v.round, v.set_id),
                schnorrkel::Signature::from_bytes(&v.signature.0).unwrap(),
            )),
            _ => None,
        })
        .collect()
}

fn justification(s: &Setup) -> (Target, Justification) {
    let target = Target {
        hash: s.block.hash(),
        number: 1,
    };
    let threshold = s.set.threshold() as usize;
    let precommits = s.keys[..threshold]
        .iter()
        .map(|k| SignedVote::sign(k, Vote::Precommit(target), 3, 0).compact());
    let mut tree = BlockTree::new(genesis());
    tree.insert(s.block.clone()).unwrap();
    (target, Justification::build(3, target, precommits, &tree))
}

/// Mean time of `f` over `runs` runs.
fn time(runs: u32, mut f: impl FnMut()) -> Duration {
    let started = Instant::now();
    for _ in 0..runs {
        f();
    }
    started.elapsed() / runs
}

fn main() {
    let mut c = Criterion::default()
        .sample_size(10)
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();

    let s = setup(1_000);
    let messages = votes(&s);
    let items = raw_items(&messages);
    let mut warm = BatchVerifier::default();
    let checks: Vec<_> = messages
        .iter()
        .filter_map(|(_, m)| match m {
            FinalityMessage::Vote(v) => Some(v.check()),
            _ => None,
        })
        .collect();
    assert!(warm.verify(&checks).iter().all(|ok| *ok));
    c.bench_function("engine: 1,000 prevotes (one batch)", |b| {
        b.iter_batched(
            || (engine(&s, &warm), messages.clone()),
            |(mut engine, messages)| black_box(engine.handle(Input::Messages(messages))),
            BatchSize::LargeInput,
        )
    });
    c.bench_function("schnorrkel: verify_batch of the same 1,000", |b| {
        b.iter(|| assert!(raw_batch(black_box(&items))))
    });

    // The ratio, measured in one run with the engine's setup excluded.
    let runs = 20;
    let raw = time(runs, || assert!(raw_batch(&items)));
    let mut engine_total = Duration::ZERO;
    for _ in 0..runs {
        let (mut e, m) = (engine(&s, &warm), messages.clone());
        let started = Instant::now();
        black_box(e.handle(Input::Messages(m)));
        engine_total += started.elapsed();
    }
    let engine_time = engine_total / runs;
    let per_second = |d: Duration| 1_000.0 / d.as_secs_f64();
    println!(
        "votes/s: engine {:.0}, raw schnorrkel batch {:.0}; engine reaches {:.1}% of raw",
        per_second(engine_time),
        per_second(raw),
        100.0 * raw.as_secs_f64() / engine_time.as_secs_f64()
    );

    for n in [100u64, 300, 1_000] {
        let s = setup(n);
        let (target, j) = justification(&s);
        verify_justification(&s.set, target, &j).unwrap();
        c.bench_function(&format!("verify_justification, {n} authorities"), |b| {
            b.iter(|| verify_justification(&s.set, target, black_box(&j)).unwrap())
        });
    }
    c.final_summary();
}
