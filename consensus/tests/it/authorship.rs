//! Authorship engine: claims, import checks, fork choice, epochs and equivocation reports.

use std::cell::RefCell;
use tessera_consensus::authorship::{
    claim_primary, seal_header, secondary_author, AuthorshipConfig, AuthorshipEngine, ImportError,
    Input, Output, PreDigest,
};
use tessera_consensus::sim::genesis;
use tessera_consensus::AuthorityKey;
use tessera_runtime::consensus::{AuthorityList, NextEpochDescriptor};
use tessera_runtime::{Digest, Hash, Header};

const SLOT: u64 = 100;

fn keys(n: u64) -> Vec<AuthorityKey> {
    (0..n).map(AuthorityKey::from_index).collect()
}

thread_local! {
    /// The authorities of the test's chain, which its first blocks announce for epoch 1.
    static AUTHORITIES: RefCell<AuthorityList> = const { RefCell::new(Vec::new()) };
}

fn config(keys: &[AuthorityKey], c: (u64, u64)) -> AuthorshipConfig {
    let authorities: AuthorityList = keys.iter().map(|k| (k.public(), 1)).collect();
    AUTHORITIES.with(|a| *a.borrow_mut() = authorities.clone());
    let mut config = AuthorshipConfig::new(SLOT, 4, authorities);
    config.c = c;
    config
}

/// The descriptor a chain's first block carries: epoch 1 as genesis.
fn same_next_epoch() -> NextEpochDescriptor {
    NextEpochDescriptor {
        authorities: AUTHORITIES.with(|a| a.borrow().clone()),
        randomness: [0; 32],
    }
}

/// A block on `parent`; a chain's first block announces epoch 1 (as the genesis epoch).
fn block(key: &AuthorityKey, parent: &Header, pre_digest: PreDigest, salt: u8) -> Header {
    let mut logs = vec![pre_digest.to_digest_item()];
    if parent.number == 0 {
        logs.push(same_next_epoch().to_digest_item());
    }
    seal_header(
        key,
        Header {
            parent_hash: parent.hash(),
            number: parent.number + 1,
            state_root: Hash([salt; 32]),
            extrinsics_root: Hash::ZERO,
            digest: Digest { logs },
        },
    )
}

fn primary(
    key: &AuthorityKey,
    index: u32,
    randomness: [u8; 32],
    slot: u64,
    epoch: u64,
) -> PreDigest {
    let (vrf_output, vrf_proof, _) =
        claim_primary(key, &randomness, slot, epoch, u128::MAX).unwrap();
    PreDigest::Primary {
        authority_index: index,
        slot,
        vrf_output,
        vrf_proof,
    }
}

fn import(engine: &mut AuthorshipEngine, header: &Header) -> Vec<Output> {
    engine.handle(Input::ImportHeader(header.clone()))
}

fn rejection(outputs: &[Output]) -> Option<ImportError> {
    outputs.iter().find_map(|o| match o {
        Output::Rejected { error, .. } => Some(error.clone()),
        _ => None,
    })
}

#[test]
fn a_lone_authority_authors_every_slot_and_imports_its_blocks() {
    let keys = keys(1);
    let mut engine = AuthorshipEngine::new(config(&keys, (1, 4)), genesis(), Some(keys[0].clone()));
    let mut parent = genesis();
    for slot in 1..=12u64 {
        let outputs = engine.handle(Input::Tick(slot * SLOT));
        let Some(Output::AuthorBlock {
            parent: p,
            slot: s,
            pre_digest,
            ..
        }) = outputs.into_iter().next()
        else {
            panic!("slot {slot}: no claim");
        };
        assert_eq!((p, s), (parent.hash(), slot));
        let mut logs = vec![pre_digest];
        if engine.epoch_for_child(&p, slot).unwrap().2 {
            logs.push(same_next_epoch().to_digest_item());
        }
        let header = seal_header(
            &keys[0],
            Header {
                parent_hash: p,
                number: parent.number + 1,
                state_root: Hash::ZERO,
                extrinsics_root: Hash::ZERO,
                digest: Digest { logs },
            },
        );
        let outputs = import(&mut engine, &header);
        assert!(
            outputs
                .iter()
                .any(|o| matches!(o, Output::NewBest(h) if *h == header.hash())),
            "{outputs:?}"
        );
        parent = header;
    }
    // About a quarter of the slots were primary (c = 1/4), the rest secondary.
    let primaries = engine.primaries(&parent.hash()).unwrap();
    assert!(primaries < 12, "{primaries}");
}

#[test]
fn import_checks_reject_bad_headers() {
    let keys = keys(2);
    let g = genesis();
    let randomness = [0u8; 32];
    let mut engine = AuthorshipEngine::new(config(&keys, (1, 1)), g.clone(), None);
    engine.handle(Input::Tick(5 * SLOT));
    let good = block(&keys[0], &g, primary(&keys[0], 0, randomness, 2, 0), 0);

    let mut unsealed = good.clone();
    unsealed.digest.logs.pop();
    assert_eq!(
        rejection(&import(&mut engine, &unsealed)),
        Some(ImportError::MissingSeal)
    );

    let wrong_sealer = block(&keys[1], &g, primary(&keys[0], 0, randomness, 2, 0), 0);
    assert_eq!(
        rejection(&import(&mut engine, &wrong_sealer)),
        Some(ImportError::BadSeal)
    );

    let future = block(&keys[0], &g, primary(&keys[0], 0, randomness, 9, 2), 0);
    assert_eq!(
        rejection(&import(&mut engine, &future)),
        Some(ImportError::FutureSlot { slot: 9, now: 5 })
    );

    // A proof for another slot.
    let PreDigest::Primary {
        vrf_output,
        vrf_proof,
        ..
    } = primary(&keys[0], 0, randomness, 3, 0)
    else {
        unreachable!()
    };
    let forged = PreDigest::Primary {
        authority_index: 0,
        slot: 2,
        vrf_output,
        vrf_proof,
    };
    assert_eq!(
        rejection(&import(&mut engine, &block(&keys[0], &g, forged, 0))),
        Some(ImportError::BadVrf)
    );

    let unknown = block(&keys[0], &g, primary(&keys[0], 7, randomness, 2, 0), 0);
    assert_eq!(
        rejection(&import(&mut engine, &unknown)),
        Some(ImportError::UnknownAuthority(7))
    );

    let orphan = block(&keys[0], &good, primary(&keys[0], 0, randomness, 3, 0), 0);
    assert_eq!(
        rejection(&import(&mut engine, &orphan)),
        Some(ImportError::UnknownParent(good.hash()))
    );

    assert_eq!(rejection(&import(&mut engine, &good)), None);
    let same_slot_child = block(&keys[1], &good, primary(&keys[1], 1, randomness, 2, 0), 0);
    assert_eq!(
        rejection(&import(&mut engine, &same_slot_child)),
        Some(ImportError::SlotNotIncreasing { slot: 2, parent: 2 })
    );
}

#[test]
fn thresholds_and_secondary_assignments_are_enforced() {
    let keys = keys(3);
    let g = genesis();
    let randomness = [0u8; 32];
    // c = 0: nobody is ever primary; only the round-robin author may take a slot.
    let mut engine = AuthorshipEngine::new(config(&keys, (0, 1)), g.clone(), None);
    engine.handle(Input::Tick(50 * SLOT));
    let above = block(&keys[0], &g, primary(&keys[0], 0, randomness, 1, 0), 0);
    assert_eq!(
        rejection(&import(&mut engine, &above)),
        Some(ImportError::AboveThreshold)
    );
    let expected = secondary_author(&randomness, 1, 3).unwrap();
    let wrong = (expected + 1) % 3;
    let claim = |index: u32| PreDigest::Secondary {
        authority_index: index,
        slot: 1,
    };
    let bad = block(&keys[wrong as usize], &g, claim(wrong), 0);
    assert_eq!(
        rejection(&import(&mut engine, &bad)),
        Some(ImportError::NotSecondaryAuthor {
            got: wrong,
            expected: Some(expected)
        })
    );
    let good = block(&keys[expected as usize], &g, claim(expected), 0);
    assert_eq!(rejection(&import(&mut engine, &good)), None);
}

#[test]
fn two_headers_by_one_author_in_one_slot_are_reported() {
    let keys = keys(2);
    let g = genesis();
    let mut engine = AuthorshipEngine::new(config(&keys, (1, 1)), g.clone(), None);
    engine.handle(Input::Tick(5 * SLOT));
    let digest = primary(&keys[1], 1, [0; 32], 3, 0);
    let a = block(&keys[1], &g, digest, 1);
    let b = block(&keys[1], &g, digest, 2);
    assert!(rejection(&import(&mut engine, &a)).is_none());
    let outputs = import(&mut engine, &b);
    let report = outputs
        .iter()
        .find_map(|o| match o {
            Output::ReportEquivocation(p) => Some((**p).clone()),
            _ => None,
        })
        .expect("equivocation reported");
    assert_eq!((report.slot, report.offender), (3, keys[1].public()));
    assert_eq!(
        (report.first.hash(), report.second.hash()),
        (a.hash(), b.hash())
    );
    // Importing the same header again is not an equivocation.
    assert!(import(&mut engine, &a).is_empty());
}

#[test]
fn a_relayer_cannot_frame_an_author_by_padding_the_seal() {
    let keys = keys(2);
    let g = genesis();
    let mut engine = AuthorshipEngine::new(config(&keys, (1, 1)), g.clone(), None);
    engine.handle(Input::Tick(5 * SLOT));
    let a = block(&keys[1], &g, primary(&keys[1], 1, [0; 32], 3, 0), 1);
    assert!(rejection(&import(&mut engine, &a)).is_none());
    // Same signed header, one byte appended to the seal: a new hash, but not a new header.
    let mut padded = a.clone();
    match padded.digest.logs.last_mut() {
        Some(tessera_runtime::DigestItem::Seal(_, data)) => data.push(0),
        other => panic!("no seal: {other:?}"),
    }
    assert_ne!(padded.hash(), a.hash());
    let outputs = import(&mut engine, &padded);
    assert!(
        rejection(&outputs).is_some(),
        "a padded seal must not import"
    );
    assert!(!outputs
        .iter()
        .any(|o| matches!(o, Output::ReportEquivocation(_))));
}

#[test]
fn fork_choice_prefers_primaries_then_length_and_keeps_to_the_finalized_chain() {
    let keys = keys(3);
    let g = genesis();
    let r = [0u8; 32];
    let mut engine = AuthorshipEngine::new(config(&keys, (1, 1)), g.clone(), None);
    engine.handle(Input::Tick(100 * SLOT));
    // A: one primary block; B: two primary blocks, so B is best until A is finalized.
    let a1 = block(&keys[0], &g, primary(&keys[0], 0, r, 1, 0), 1);
    let b1 = block(&keys[1], &g, primary(&keys[1], 1, r, 2, 0), 2);
    let b2 = block(&keys[2], &b1, primary(&keys[2], 2, r, 3, 0), 3);
    for h in [&a1, &b1, &b2] {
        assert!(rejection(&import(&mut engine, h)).is_none());
    }
    assert_eq!(engine.best(), b2.hash());
    // Finalizing A1 abandons B: fork choice stays on A even though B had more primaries.
    let outputs = engine.handle(Input::Finalized(a1.hash()));
    assert!(outputs
        .iter()
        .any(|o| matches!(o, Output::NewBest(h) if *h == a1.hash())));
    assert_eq!(engine.best(), a1.hash());
    let b3 = block(&keys[0], &b2, primary(&keys[0], 0, r, 4, 1), 4);
    assert_eq!(
        rejection(&import(&mut engine, &b3)),
        Some(ImportError::UnknownParent(b2.hash()))
    );

    // Equal weight keeps the incumbent; one more primary block takes over.
    let mut engine = AuthorshipEngine::new(config(&keys, (1, 1)), g.clone(), None);
    engine.handle(Input::Tick(100 * SLOT));
    let p1 = block(&keys[0], &g, primary(&keys[0], 0, r, 1, 0), 5);
    let p2 = block(&keys[1], &p1, primary(&keys[1], 1, r, 2, 0), 6);
    let q1 = block(&keys[2], &g, primary(&keys[2], 2, r, 3, 0), 7);
    for h in [&q1, &p1] {
        assert!(rejection(&import(&mut engine, h)).is_none());
    }
    assert_eq!(engine.best(), q1.hash(), "ties keep the incumbent");
    assert!(rejection(&import(&mut engine, &p2)).is_none());
    assert_eq!(engine.best(), p2.hash());
}

#[test]
fn a_reverted_block_and_its_descendants_are_never_best_again() {
    let keys = keys(3);
    let g = genesis();
    let r = [0u8; 32];
    let mut config = config(&keys, (1, 1));
    config.epoch_length = 100;
    let mut engine = AuthorshipEngine::new(config, g.clone(), None);
    engine.handle(Input::Tick(100 * SLOT));
    // A1 <- A2 <- A3 is best; B1 is a shorter fork beside it.
    let a1 = block(&keys[0], &g, primary(&keys[0], 0, r, 1, 0), 1);
    let a2 = block(&keys[1], &a1, primary(&keys[1], 1, r, 2, 0), 2);
    let a3 = block(&keys[2], &a2, primary(&keys[2], 2, r, 3, 0), 3);
    let b1 = block(&keys[1], &g, primary(&keys[1], 1, r, 2, 0), 4);
    for h in [&a1, &a2, &a3, &b1] {
        assert!(rejection(&import(&mut engine, h)).is_none());
    }
    assert_eq!(engine.best(), a3.hash());

    // Reverting A2 moves the best block to A1, the heaviest block not under it.
    let outputs = engine.revert(a2.hash());
    assert!(outputs
        .iter()
        .any(|o| matches!(o, Output::NewBest(h) if *h == a1.hash())));
    assert!(engine.is_reverted(&a3.hash()) && !engine.is_reverted(&a1.hash()));

    // A longer chain under the reverted block does not win it back.
    let a4 = block(&keys[0], &a3, primary(&keys[0], 0, r, 4, 0), 5);
    assert!(rejection(&import(&mut engine, &a4)).is_none());
    assert_eq!(engine.best(), a1.hash());
    // A block on the viable part does, and authors build there.
    let c2 = block(&keys[2], &a1, primary(&keys[2], 2, r, 5, 0), 6);
    assert!(rejection(&import(&mut engine, &c2)).is_none());
    assert_eq!(engine.best(), c2.hash());

    // Reverting again, or the finalized block, changes nothing.
    assert!(engine.revert(a2.hash()).is_empty());
    assert!(engine.revert(g.hash()).is_empty());
    // A block reverted before it arrives is never best either.
    let d2 = block(&keys[0], &c2, primary(&keys[0], 0, r, 6, 0), 7);
    assert!(engine.revert(d2.hash()).is_empty());
    assert!(rejection(&import(&mut engine, &d2)).is_none());
    assert_eq!(engine.best(), c2.hash());
    // Finalizing the viable chain prunes the reverted fork.
    engine.handle(Input::Finalized(c2.hash()));
    assert!(!engine.is_reverted(&a1.hash()));
}

#[test]
fn secondary_blocks_do_not_outweigh_a_primary() {
    let keys = keys(2);
    let g = genesis();
    let r = [0u8; 32];
    let mut cfg = config(&keys, (1, 1));
    cfg.secondary_slots = true;
    let mut engine = AuthorshipEngine::new(cfg, g.clone(), None);
    engine.handle(Input::Tick(100 * SLOT));
    let p = block(&keys[0], &g, primary(&keys[0], 0, r, 1, 0), 1);
    assert!(rejection(&import(&mut engine, &p)).is_none());
    // Two secondary blocks on another fork (each by the slot's round-robin author).
    let mut parent = g.clone();
    for slot in 2..4 {
        let author = secondary_author(&r, slot, 2).unwrap();
        let h = block(
            &keys[author as usize],
            &parent,
            PreDigest::Secondary {
                authority_index: author,
                slot,
            },
            9,
        );
        assert!(rejection(&import(&mut engine, &h)).is_none(), "slot {slot}");
        parent = h;
    }
    assert_eq!(engine.best(), p.hash());
    assert_eq!(engine.primaries(&parent.hash()), Some(0));
}

#[test]
fn each_epoch_uses_the_authorities_and_randomness_its_chain_announced() {
    let keys = keys(3);
    let g = genesis();
    let r = [0u8; 32];
    let mut engine = AuthorshipEngine::new(config(&keys[..2], (1, 1)), g.clone(), None);
    engine.handle(Input::Tick(100 * SLOT));
    // Block #1 (slot 1) starts epoch 0 with the genesis authorities and must announce epoch 1.
    let bare = |parent: &Header, key: &AuthorityKey, digest: PreDigest, logs: Vec<_>| {
        let mut all = vec![digest.to_digest_item()];
        all.extend(logs);
        seal_header(
            key,
            Header {
                parent_hash: parent.hash(),
                number: parent.number + 1,
                state_root: Hash::ZERO,
                extrinsics_root: Hash::ZERO,
                digest: Digest { logs: all },
            },
        )
    };
    let unannounced = bare(&g, &keys[0], primary(&keys[0], 0, r, 1, 0), vec![]);
    assert_eq!(
        rejection(&import(&mut engine, &unannounced)),
        Some(ImportError::MissingEpochDescriptor(0))
    );
    // Epoch 1 (slots 5..9): only key 2, with fresh randomness.
    let fresh = [7u8; 32];
    let next = NextEpochDescriptor {
        authorities: vec![(keys[2].public(), 1)],
        randomness: fresh,
    };
    let b1 = bare(
        &g,
        &keys[0],
        primary(&keys[0], 0, r, 1, 0),
        vec![next.to_digest_item()],
    );
    assert_eq!(rejection(&import(&mut engine, &b1)), None);
    // Within epoch 0 a second descriptor is refused, and the genesis set still authors.
    let repeated = bare(
        &b1,
        &keys[1],
        primary(&keys[1], 1, r, 2, 0),
        vec![next.to_digest_item()],
    );
    assert_eq!(
        rejection(&import(&mut engine, &repeated)),
        Some(ImportError::UnexpectedEpochDescriptor)
    );
    let b2 = bare(&b1, &keys[1], primary(&keys[1], 1, r, 2, 0), vec![]);
    assert_eq!(rejection(&import(&mut engine, &b2)), None);
    // In epoch 1 the old authorities are gone: index 1 does not exist, and index 0 is key 2,
    // whose VRF must use the announced randomness.
    let epoch_two = NextEpochDescriptor {
        authorities: vec![(keys[0].public(), 1)],
        randomness: [8; 32],
    };
    let old = bare(
        &b2,
        &keys[1],
        primary(&keys[1], 1, fresh, 5, 1),
        vec![epoch_two.to_digest_item()],
    );
    assert_eq!(
        rejection(&import(&mut engine, &old)),
        Some(ImportError::UnknownAuthority(1))
    );
    let stale = bare(
        &b2,
        &keys[2],
        primary(&keys[2], 0, r, 5, 1),
        vec![epoch_two.to_digest_item()],
    );
    assert_eq!(
        rejection(&import(&mut engine, &stale)),
        Some(ImportError::BadVrf)
    );
    let b3 = bare(
        &b2,
        &keys[2],
        primary(&keys[2], 0, fresh, 5, 1),
        vec![epoch_two.to_digest_item()],
    );
    assert_eq!(rejection(&import(&mut engine, &b3)), None);
    // An epoch without blocks (epoch 2, slots 9..13) is skipped: epoch 3 uses what epoch 1
    // announced, under its own index.
    let (index, epoch, starts) = engine.epoch_for_child(&b3.hash(), 14).unwrap();
    assert_eq!((index, starts), (3, true));
    assert_eq!(
        epoch.authorities.as_slice(),
        epoch_two.authorities.as_slice()
    );
    let b4 = bare(
        &b3,
        &keys[0],
        primary(&keys[0], 0, [8; 32], 14, 3),
        vec![same_next_epoch().to_digest_item()],
    );
    assert_eq!(rejection(&import(&mut engine, &b4)), None);
    // Its own key authors only in the epochs that list it.
    let mut author =
        AuthorshipEngine::new(config(&keys[..2], (1, 1)), g.clone(), Some(keys[2].clone()));
    author.set_time(2 * SLOT);
    for header in [&b1, &b2] {
        assert_eq!(rejection(&import(&mut author, header)), None);
    }
    assert!(
        author.handle(Input::Tick(4 * SLOT)).is_empty(),
        "key 2 is no authority in epoch 0"
    );
    let claims = author.handle(Input::Tick(5 * SLOT));
    assert!(
        matches!(claims.as_slice(), [Output::AuthorBlock { slot: 5, .. }]),
        "{claims:?}"
    );
}

#[test]
fn a_claimed_best_header_is_believed_only_if_an_authority_sealed_it_within_the_slot_clock() {
    let keys = keys(2);
    let g = genesis();
    let randomness = [0u8; 32];
    let mut engine = AuthorshipEngine::new(config(&keys, (1, 1)), g.clone(), None);
    engine.handle(Input::Tick(5 * SLOT));
    // Before the node has a block of the chain, it knows none of its epochs: a claim cannot
    // be judged by its seal.
    let stranger = block(&keys[1], &g, primary(&keys[0], 0, randomness, 2, 0), 9);
    assert_eq!(engine.check_claim(&stranger), Ok(()));
    let first = block(&keys[0], &g, primary(&keys[0], 0, randomness, 1, 0), 1);
    assert!(rejection(&import(&mut engine, &first)).is_none());
    // A header of a chain this node has not seen: sealed by its slot's claimant, slot 3 of 5.
    let far = |number: u32, slot: u64, sealer: &AuthorityKey| {
        let parent = Header {
            number: number - 1,
            ..g.clone()
        };
        block(
            sealer,
            &parent,
            primary(&keys[0], 0, randomness, slot, 0),
            7,
        )
    };
    assert_eq!(engine.check_claim(&far(3, 3, &keys[0])), Ok(()));
    // More blocks than slots since the finalized block (genesis, slot 0).
    assert_eq!(
        engine.check_claim(&far(4, 3, &keys[0])),
        Err(ImportError::ImpossibleNumber {
            number: 4,
            slot: 3,
            max: 3
        })
    );
    assert_eq!(
        engine.check_claim(&far(3, 3, &keys[1])),
        Err(ImportError::BadSeal)
    );
    assert_eq!(
        engine.check_claim(&far(3, 9, &keys[0])),
        Err(ImportError::FutureSlot { slot: 9, now: 5 })
    );
    let mut unsealed = far(3, 3, &keys[0]);
    unsealed.digest.logs.clear();
    assert_eq!(
        engine.check_claim(&unsealed),
        Err(ImportError::MissingPreDigest)
    );
    // By the slot clock, no chain is past #5 yet.
    assert_eq!(engine.highest_number_now(), 5);
    // Two epochs (of 4 slots) past the best block's, the seal cannot be judged either: only
    // the slot clock holds.
    engine.handle(Input::Tick(40 * SLOT));
    assert_eq!(
        engine.check_claim(&far(3, 4, &keys[1])),
        Err(ImportError::BadSeal)
    );
    assert_eq!(engine.check_claim(&far(3, 13, &keys[1])), Ok(()));
    assert!(matches!(
        engine.check_claim(&far(30, 13, &keys[1])),
        Err(ImportError::ImpossibleNumber { .. })
    ));
}
