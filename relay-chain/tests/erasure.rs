//! Erasure coding of PoVs: any sufficient subset of chunks rebuilds the data, too few fail
//! with a clear error, and every chunk proves itself against the erasure root.

use proptest::prelude::*;
use tessera_relay_chain::availability::{
    encode, encode_chunks, reconstruct, recovery_threshold, verify_chunk, ErasureError,
};

/// Data, a validator count and a shuffle of the chunk indices.
fn case() -> impl Strategy<Value = (Vec<u8>, usize, Vec<usize>)> {
    (prop::collection::vec(any::<u8>(), 0..3_000), 2usize..80).prop_flat_map(|(data, n)| {
        let order = Just((0..n).collect::<Vec<_>>()).prop_shuffle();
        (Just(data), Just(n), order)
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn any_sufficient_subset_recovers_and_fewer_fail((data, n, order) in case(), extra in 0usize..80) {
        let chunks = encode(&data, n).unwrap();
        prop_assert_eq!(chunks.len(), n);
        let k = recovery_threshold(n).unwrap();
        let take = (k + extra).min(n);
        let subset = order.iter().take(take).map(|&i| (i, chunks[i].as_slice()));
        prop_assert_eq!(reconstruct(n, subset).unwrap(), data.clone());
        let too_few = order.iter().take(k - 1).map(|&i| (i, chunks[i].as_slice()));
        prop_assert_eq!(
            reconstruct(n, too_few),
            Err(ErasureError::TooFewChunks { got: k - 1, need: k })
        );
    }

    #[test]
    fn every_chunk_proves_itself_and_a_changed_one_does_not((data, n, order) in case()) {
        let (root, chunks) = encode_chunks(&data, n).unwrap();
        for chunk in &chunks {
            prop_assert!(verify_chunk(&root, n, chunk).is_ok());
        }
        let i = order[0];
        let mut forged = chunks[i].clone();
        forged.chunk[0] ^= 1;
        prop_assert_eq!(verify_chunk(&root, n, &forged), Err(ErasureError::BadProof(i)));
        // Another validator's (different) chunk does not pass under this index.
        let j = order[order.len() - 1];
        if chunks[i].chunk != chunks[j].chunk {
            let mut moved = chunks[j].clone();
            moved.index = i as u32;
            prop_assert!(verify_chunk(&root, n, &moved).is_err());
        }
    }
}

#[test]
fn three_hundred_validators_recover_from_the_last_hundred_chunks() {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let chunks = encode(&data, 300).unwrap();
    assert_eq!(recovery_threshold(300).unwrap(), 100);
    let last = (200..300).map(|i| (i, chunks[i].as_slice()));
    assert_eq!(reconstruct(300, last).unwrap(), data);
}

#[test]
fn bad_input_is_refused_with_what_was_wrong() {
    assert_eq!(encode(b"x", 1), Err(ErasureError::TooFewValidators(1)));
    let chunks = encode(b"some data", 7).unwrap();
    assert_eq!(
        reconstruct(7, [(9, chunks[0].as_slice())]),
        Err(ErasureError::BadIndex {
            index: 9,
            validators: 7
        })
    );
    let short = &chunks[1][..chunks[1].len() - 2];
    assert!(matches!(
        reconstruct(
            7,
            [
                (0, chunks[0].as_slice()),
                (1, short),
                (2, chunks[2].as_slice())
            ]
        ),
        Err(ErasureError::BadChunkLength { index: 1, .. })
    ));
    // Duplicates of one chunk do not count twice.
    let same = (0..5).map(|_| (3, chunks[3].as_slice()));
    assert_eq!(
        reconstruct(7, same),
        Err(ErasureError::TooFewChunks { got: 1, need: 3 })
    );
}
