//! SCALE round trips of headers, extrinsics and blocks (proptest), and decoding limits.

use parity_scale_codec::{Decode, Encode};
use proptest::collection::vec;
use proptest::prelude::*;
use tessera_relay_chain::{Call, RelayExtrinsic};
use tessera_runtime::extrinsic::{Era, MultiAddress, MultiSignature, SignatureData, SignedExtra};
use tessera_runtime::modules::{balances, sudo, system};
use tessera_runtime::{AccountId, Block, Digest, DigestItem, Hash, Header, Signature};

fn hash() -> impl Strategy<Value = Hash> {
    any::<[u8; 32]>().prop_map(Hash)
}

fn account() -> impl Strategy<Value = AccountId> {
    any::<[u8; 32]>().prop_map(AccountId)
}

fn digest_item() -> impl Strategy<Value = DigestItem> {
    prop_oneof![
        (any::<[u8; 4]>(), vec(any::<u8>(), 0..40)).prop_map(|(e, d)| DigestItem::PreRuntime(e, d)),
        (any::<[u8; 4]>(), vec(any::<u8>(), 0..40)).prop_map(|(e, d)| DigestItem::Consensus(e, d)),
        (any::<[u8; 4]>(), vec(any::<u8>(), 0..70)).prop_map(|(e, d)| DigestItem::Seal(e, d)),
        vec(any::<u8>(), 0..40).prop_map(DigestItem::Other),
    ]
}

fn header() -> impl Strategy<Value = Header> {
    (
        hash(),
        any::<u32>(),
        hash(),
        hash(),
        vec(digest_item(), 0..4),
    )
        .prop_map(
            |(parent_hash, number, state_root, extrinsics_root, logs)| Header {
                parent_hash,
                number,
                state_root,
                extrinsics_root,
                digest: Digest { logs },
            },
        )
}

fn leaf_call() -> impl Strategy<Value = Call> {
    prop_oneof![
        (account(), any::<u128>()).prop_map(|(dest, value)| Call::Balances(
            balances::Call::Transfer {
                dest: dest.into(),
                value
            }
        )),
        (account(), any::<u128>()).prop_map(|(dest, value)| {
            Call::Balances(balances::Call::TransferKeepAlive {
                dest: dest.into(),
                value,
            })
        }),
        (account(), any::<u128>()).prop_map(|(who, free)| Call::Balances(
            balances::Call::ForceSetBalance {
                who: who.into(),
                free
            }
        )),
        vec(any::<u8>(), 0..50).prop_map(|remark| Call::System(system::Call::Remark { remark })),
        account().prop_map(|new| Call::Sudo(sudo::Call::SetKey { new })),
    ]
}

fn call() -> impl Strategy<Value = Call> {
    leaf_call().prop_recursive(3, 8, 1, |inner| {
        inner.prop_map(|call| {
            Call::Sudo(sudo::Call::Sudo {
                call: Box::new(call),
            })
        })
    })
}

fn era() -> impl Strategy<Value = Era> {
    prop_oneof![
        Just(Era::Immortal),
        (any::<u64>(), any::<u64>()).prop_map(|(period, current)| Era::mortal(period, current)),
    ]
}

fn extrinsic() -> impl Strategy<Value = RelayExtrinsic> {
    let signature = (
        account(),
        any::<[u8; 32]>(),
        any::<[u8; 32]>(),
        era(),
        any::<u64>(),
        any::<u128>(),
        0..3u8,
    )
        .prop_map(|(signer, a, b, era, nonce, tip, scheme)| {
            let mut bytes = [0u8; 64];
            bytes[..32].copy_from_slice(&a);
            bytes[32..].copy_from_slice(&b);
            let signature = match scheme {
                0 => MultiSignature::Ed25519(bytes),
                1 => MultiSignature::Sr25519(Signature(bytes)),
                _ => {
                    let mut ecdsa = [a[0]; 65];
                    ecdsa[..64].copy_from_slice(&bytes);
                    MultiSignature::Ecdsa(ecdsa)
                }
            };
            SignatureData {
                address: if scheme == 2 {
                    MultiAddress::Address32(signer.0)
                } else {
                    MultiAddress::Id(signer)
                },
                signature,
                extra: SignedExtra { era, nonce, tip },
            }
        });
    (proptest::option::of(signature), call())
        .prop_map(|(signature, call)| RelayExtrinsic { signature, call })
}

proptest! {
    #[test]
    fn header_round_trips(header in header()) {
        let bytes = header.encode();
        prop_assert_eq!(Header::decode(&mut &bytes[..]).unwrap(), header);
    }

    #[test]
    fn extrinsic_round_trips(extrinsic in extrinsic()) {
        let opaque = extrinsic.to_opaque();
        prop_assert_eq!(RelayExtrinsic::decode_exact(&opaque.0).unwrap(), extrinsic);
    }

    #[test]
    fn block_round_trips(header in header(), extrinsics in vec(extrinsic(), 0..5)) {
        let block = Block { header, extrinsics: extrinsics.iter().map(RelayExtrinsic::to_opaque).collect() };
        let bytes = block.encode();
        prop_assert_eq!(Block::decode(&mut &bytes[..]).unwrap(), block);
    }

    #[test]
    fn truncated_extrinsics_never_decode(extrinsic in extrinsic(), cut in 1usize..20) {
        let bytes = extrinsic.to_opaque().0;
        let cut = cut.min(bytes.len());
        prop_assert!(RelayExtrinsic::decode_exact(&bytes[..bytes.len() - cut]).is_err());
        let mut longer = bytes.clone();
        longer.push(0);
        prop_assert!(RelayExtrinsic::decode_exact(&longer).is_err());
    }
}
