//! The XCM v5 codec against Polkadot's bytes (vectors from polkadot-sdk's own tests and a
//! message seen on a live network, see docs/xcm-v5-wire.md) and its decoding limits.

use parity_scale_codec::{Compact, Decode, Encode};
use proptest::prelude::*;
use tessera_xcm::v5::{
    Asset, AssetFilter, Assets, AssetsError, DoubleEncoded, Instruction, Junction, Junctions,
    Location, NetworkId, OriginKind, Weight, WildAsset, Xcm, MAX_ITEMS_IN_ASSETS,
};
use tessera_xcm::{DecodeError, VersionedAssets, VersionedLocation, VersionedXcm};

fn bytes(text: &str) -> Vec<u8> {
    hex::decode(text.replace(' ', "")).unwrap()
}

#[test]
fn polkadot_test_vectors_encode_and_decode_alike() {
    let here = VersionedLocation::V5(Location::here());
    assert_eq!(here.encode(), bytes("050000"));
    let empty = VersionedXcm::V5(Xcm::default());
    assert_eq!(empty.encode(), bytes("0500"));
    let one = VersionedAssets::V5(
        Assets::from_unsorted(vec![Asset::fungible(Location::here(), 1)]).unwrap(),
    );
    assert_eq!(one.encode(), bytes("050400000004"));
    let location = Location::new(
        1,
        &[
            Junction::Parachain(42),
            Junction::AccountIndex64 {
                network: None,
                index: 23,
            },
        ],
    )
    .unwrap();
    assert_eq!(location.encode(), bytes("01 02 00a8 02 00 5c"));
    for (value, hex) in [
        (here.encode(), "050000"),
        (empty.encode(), "0500"),
        (one.encode(), "050400000004"),
    ] {
        assert_eq!(value, bytes(hex));
    }
    assert_eq!(
        VersionedLocation::decode_limited(&bytes("050000")),
        Ok(here)
    );
    assert_eq!(VersionedXcm::decode_limited(&bytes("0500")), Ok(empty));
    assert_eq!(
        VersionedAssets::decode_limited(&bytes("050400000004")),
        Ok(one)
    );
    assert_eq!(
        Location::decode(&mut &bytes("01 02 00a8 02 00 5c")[..]).unwrap(),
        location
    );
}

#[test]
fn a_message_from_a_live_network_decodes_and_reencodes_to_the_same_bytes() {
    // An XCMP page of two v5 messages (page tag 00): a reserve transfer paid with PayFees,
    // then a version subscription.
    let page = bytes(
        "00 0514010401000007d67e7427d10a3001000007ddc1e887010d010204000101008eaf04151687736326\
         c9fea17e25fc5287613693c912909cb226aa4794f26a482c23847985de8cbcea96dcaaf1687627ccca71f7\
         28abe90ae61e91c33ccaa1c94905081a0000002cf2ae65ce82b15f9bd8499bb39c4b06390f78ee4f4af58a\
         189a83411b427c133a",
    );
    let mut rest = &page[1..];
    let first = VersionedXcm::decode(&mut rest).unwrap();
    let first_len = page.len() - 1 - rest.len();
    let second = VersionedXcm::decode(&mut rest).unwrap();
    assert!(rest.is_empty());
    let VersionedXcm::V5(Xcm(instructions)) = &first;
    let names: Vec<&str> = instructions
        .iter()
        .map(|i| match i {
            Instruction::ReserveAssetDeposited(_) => "ReserveAssetDeposited",
            Instruction::ClearOrigin => "ClearOrigin",
            Instruction::PayFees { .. } => "PayFees",
            Instruction::DepositAsset {
                assets: AssetFilter::Wild(WildAsset::AllCounted(1)),
                ..
            } => "DepositAsset",
            Instruction::SetTopic(_) => "SetTopic",
            _ => "other",
        })
        .collect();
    assert_eq!(
        names,
        [
            "ReserveAssetDeposited",
            "ClearOrigin",
            "PayFees",
            "DepositAsset",
            "SetTopic"
        ]
    );
    let VersionedXcm::V5(Xcm(instructions)) = &second;
    assert!(matches!(
        instructions[..],
        [
            Instruction::SubscribeVersion { query_id: 0, .. },
            Instruction::SetTopic(_)
        ]
    ));
    let mut again = first.encode();
    assert_eq!(again.len(), first_len);
    again.extend(second.encode());
    assert_eq!(again, page[1..]);
}

#[test]
fn transact_and_para_locations_have_polkadots_layout() {
    let para = VersionedLocation::V5(Location::sibling_para(1000));
    assert_eq!(para.encode(), bytes("05 01 01 00 a10f"));
    let transact = |fallback_max_weight| Instruction::Transact {
        origin_kind: OriginKind::SovereignAccount,
        fallback_max_weight,
        call: DoubleEncoded {
            encoded: vec![0xc8; 3],
        },
    };
    assert_eq!(transact(None).encode(), bytes("06 01 00 0c c8c8c8"));
    assert_eq!(
        transact(Some(Weight::from_parts(1_000_000, 1_024))).encode(),
        bytes("06 01 01 02093d00 0110 0c c8c8c8")
    );
    assert_eq!(
        Junction::GlobalConsensus(NetworkId::Ethereum { chain_id: 1 }).encode(),
        bytes("09 07 04")
    );
}

#[test]
fn versions_and_framing_other_than_v3_to_v5_are_refused_with_a_reason() {
    assert_eq!(
        VersionedXcm::decode_limited(&bytes("0600")),
        Err(DecodeError::UnsupportedVersion(6))
    );
    assert_eq!(VersionedXcm::decode_limited(&[]), Err(DecodeError::Empty));
    assert!(matches!(
        VersionedXcm::decode_limited(&bytes("050000")),
        Err(DecodeError::Invalid(_))
    ));
    // Westend's old network byte is gone from v5.
    let westend = bytes("05 01 01 09 04");
    assert!(VersionedLocation::decode_limited(&westend).is_err());
}

fn clear_origins(count: usize) -> Xcm {
    Xcm(vec![Instruction::ClearOrigin; count])
}

#[test]
fn at_most_100_instructions_are_decoded_counting_nested_messages() {
    let ok = VersionedXcm::V5(clear_origins(100)).encode();
    assert!(VersionedXcm::decode_limited(&ok).is_ok());
    let too_many = VersionedXcm::V5(clear_origins(101)).encode();
    assert!(VersionedXcm::decode_limited(&too_many).is_err());
    // 60 instructions at the top and 60 inside one of them: over the budget together.
    let mut outer = clear_origins(59).0;
    outer.push(Instruction::SetAppendix(clear_origins(60)));
    let nested = VersionedXcm::V5(Xcm(outer)).encode();
    assert!(VersionedXcm::decode_limited(&nested).is_err());
    // Polkadot's bomb: 64 appendices of 50 reserve deposits of 100 instructions each.
    let deposit = Instruction::DepositReserveAsset {
        assets: AssetFilter::Wild(WildAsset::All),
        dest: Location::here(),
        xcm: clear_origins(100),
    };
    let bomb = VersionedXcm::V5(Xcm(vec![
        Instruction::SetAppendix(Xcm(vec![deposit; 50]));
        64
    ]))
    .encode();
    assert_eq!(bomb.len() - 1, 342_530);
    assert!(VersionedXcm::decode_limited(&bomb).is_err());
}

fn nested(levels: usize) -> Xcm {
    match levels {
        0 | 1 => Xcm::default(),
        _ => Xcm(vec![Instruction::SetAppendix(nested(levels - 1))]),
    }
}

#[test]
fn nesting_deeper_than_8_is_refused() {
    let eight = VersionedXcm::V5(nested(8)).encode();
    assert_eq!(
        VersionedXcm::decode_limited(&eight),
        Ok(VersionedXcm::V5(nested(8)))
    );
    let nine = VersionedXcm::V5(nested(9)).encode();
    assert!(matches!(
        VersionedXcm::decode_limited(&nine),
        Err(DecodeError::Invalid(_))
    ));
}

fn general_index(index: u128) -> Location {
    Location::new(0, &[Junction::GeneralIndex(index)]).unwrap()
}

#[test]
fn asset_lists_are_bounded_sorted_and_without_zero_amounts() {
    let many = |count: u128| {
        Assets::from_unsorted(
            (1..=count)
                .map(|i| Asset::fungible(general_index(i), i))
                .collect(),
        )
    };
    let twenty = VersionedAssets::V5(many(MAX_ITEMS_IN_ASSETS as u128).unwrap()).encode();
    assert!(VersionedAssets::decode_limited(&twenty).is_ok());
    assert_eq!(many(21), Err(AssetsError::TooMany(21)));
    // 21 assets on the wire, encoded by hand.
    let mut raw = vec![5u8];
    raw.extend(parity_scale_codec::Compact(21u32).encode());
    for i in 1..=21u128 {
        raw.extend(Asset::fungible(general_index(i), i).encode());
    }
    assert!(VersionedAssets::decode_limited(&raw).is_err());

    // Merged and sorted by from_unsorted; out of order or repeated on the wire is refused.
    let merged = Assets::from_unsorted(vec![
        Asset::fungible(Location::parent(), 10),
        Asset::fungible(Location::here(), 5),
        Asset::fungible(Location::here(), 7),
    ])
    .unwrap();
    assert_eq!(
        merged.inner(),
        [
            Asset::fungible(Location::here(), 12),
            Asset::fungible(Location::parent(), 10)
        ]
    );
    let reversed = |a: &Asset, b: &Asset| {
        let mut raw = vec![5u8, 8];
        raw.extend(a.encode());
        raw.extend(b.encode());
        raw
    };
    let (here, parent) = (&merged.inner()[0], &merged.inner()[1]);
    assert!(VersionedAssets::decode_limited(&reversed(here, parent)).is_ok());
    assert!(VersionedAssets::decode_limited(&reversed(parent, here)).is_err());
    assert!(VersionedAssets::decode_limited(&reversed(here, here)).is_err());
    // A zero amount.
    assert!(VersionedAssets::decode_limited(&bytes("050400000000")).is_err());
}

fn junction() -> impl Strategy<Value = Junction> {
    prop_oneof![
        any::<u32>().prop_map(Junction::Parachain),
        (any::<[u8; 32]>(), any::<bool>()).prop_map(|(id, polkadot)| Junction::AccountId32 {
            network: polkadot.then_some(NetworkId::Polkadot),
            id
        }),
        any::<u64>().prop_map(|index| Junction::AccountIndex64 {
            network: None,
            index
        }),
        any::<u8>().prop_map(Junction::PalletInstance),
        any::<u128>().prop_map(Junction::GeneralIndex),
        any::<u64>()
            .prop_map(|chain_id| Junction::GlobalConsensus(NetworkId::Ethereum { chain_id })),
        Just(Junction::OnlyChild),
    ]
}

proptest! {
    #[test]
    fn locations_round_trip(parents in any::<u8>(), path in prop::collection::vec(junction(), 0..=8)) {
        let location = Location::new(parents, &path).unwrap();
        prop_assert_eq!(location.interior.as_slice(), &path[..]);
        let versioned = VersionedLocation::V5(location);
        let encoded = versioned.encode();
        prop_assert_eq!(VersionedLocation::decode_limited(&encoded), Ok(versioned));
    }

    #[test]
    fn what_decodes_reencodes_to_the_same_bytes(body in prop::collection::vec(any::<u8>(), 0..256)) {
        let mut message = vec![5u8];
        message.extend(body);
        if let Ok(decoded) = VersionedXcm::decode_limited(&message) {
            prop_assert_eq!(decoded.encode(), message);
        }
    }

    #[test]
    fn what_decodes_goes_through_json_and_back_to_the_same_bytes(
        body in prop::collection::vec(any::<u8>(), 0..256),
    ) {
        let mut message = vec![5u8];
        message.extend(body);
        if let Ok(decoded) = VersionedXcm::decode_limited(&message) {
            let json = serde_json::to_string(&decoded).unwrap();
            let back: VersionedXcm = serde_json::from_str(&json).unwrap();
            prop_assert_eq!(back.encode(), message);
        }
    }
}

#[test]
fn nine_junctions_do_not_make_a_location() {
    let path = [Junction::OnlyChild; 9];
    assert!(Location::new(0, &path).is_none());
    assert!(Junctions::from_slice(&path[..8]).is_some());
}

#[test]
fn json_reads_like_polkadots_tools_and_refuses_what_bytes_would() {
    let message = VersionedXcm::V5(Xcm(vec![
        Instruction::WithdrawAsset(
            Assets::from_unsorted(vec![Asset::fungible(Location::parent(), 10)]).unwrap(),
        ),
        Instruction::DepositAsset {
            assets: AssetFilter::Wild(WildAsset::AllCounted(1)),
            beneficiary: Location::new(
                0,
                &[Junction::AccountId32 {
                    network: None,
                    id: [1; 32],
                }],
            )
            .unwrap(),
        },
        Instruction::SetTopic([0xab; 32]),
    ]));
    let json = serde_json::to_value(&message).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"v5": [
            {"withdrawAsset": [{"id": {"parents": 1, "interior": "here"}, "fun": {"fungible": 10}}]},
            {"depositAsset": {
                "assets": {"wild": {"allCounted": 1}},
                "beneficiary": {"parents": 0, "interior": {"x1": [{"accountId32": {
                    "network": null,
                    "id": format!("0x{}", "01".repeat(32)),
                }}]}},
            }},
            {"setTopic": format!("0x{}", "ab".repeat(32))},
        ]})
    );
    let back: VersionedXcm = serde_json::from_value(json).unwrap();
    assert_eq!(back, message);

    // Out-of-order assets and a 31-byte account are refused, as their bytes would be.
    let unordered = serde_json::json!([
        {"id": {"parents": 1, "interior": "here"}, "fun": {"fungible": 1}},
        {"id": {"parents": 0, "interior": "here"}, "fun": {"fungible": 1}},
    ]);
    let err = serde_json::from_value::<Assets>(unordered)
        .unwrap_err()
        .to_string();
    assert!(err.contains("canonical order"), "{err}");
    let short = serde_json::json!({"accountId32": {"network": null, "id": format!("0x{}", "01".repeat(31))}});
    let err = serde_json::from_value::<Junction>(short)
        .unwrap_err()
        .to_string();
    assert!(err.contains("31 bytes"), "{err}");
}

#[test]
fn v3_and_v4_bytes_are_read_into_v5_as_polkadot_converts_them() {
    // v4 [ClearOrigin].
    assert_eq!(
        VersionedXcm::decode_limited(&bytes("04 04 0a")),
        Ok(VersionedXcm::V5(Xcm(vec![Instruction::ClearOrigin])))
    );
    // v4 Transact: its required weight becomes v5's fallback weight.
    assert_eq!(
        VersionedXcm::decode_limited(&bytes("04 04 06 01 a10f 00 08 0102")),
        Ok(VersionedXcm::V5(Xcm(vec![Instruction::Transact {
            origin_kind: OriginKind::SovereignAccount,
            fallback_max_weight: Some(Weight::from_parts(1000, 0)),
            call: DoubleEncoded {
                encoded: vec![1, 2]
            },
        }])))
    );
    // v5's new instructions do not exist in v4.
    assert!(VersionedXcm::decode_limited(&bytes("04 04 30 0000 00 04")).is_err());
    // v4's trailing errors sit one index lower: 36 is WeightLimitReached.
    assert_eq!(
        VersionedXcm::decode_limited(&bytes("04 04 1f 01 02000000 24 04 08")),
        Ok(VersionedXcm::V5(Xcm(vec![Instruction::ExpectError(Some(
            (
                2,
                tessera_xcm::v5::Error::WeightLimitReached(Weight::from_parts(1, 2))
            )
        ))])))
    );
    // v4's Westend becomes v5's ByGenesis.
    assert_eq!(
        VersionedLocation::decode_limited(&bytes("04 01 01 09 04")),
        Ok(VersionedLocation::V5(
            Location::new(
                1,
                &[Junction::GlobalConsensus(NetworkId::ByGenesis(
                    tessera_xcm::v5::WESTEND_GENESIS_HASH
                ))]
            )
            .unwrap()
        ))
    );
    // v3 asset ids are Concrete (0) or Abstract (1); only Concrete has a v5 form.
    assert_eq!(
        VersionedAssets::decode_limited(&bytes("03 04 00 01 00 00 28")),
        Ok(VersionedAssets::V5(
            Assets::from_unsorted(vec![Asset::fungible(Location::parent(), 10)]).unwrap()
        ))
    );
    let abstract_id = format!("03 04 01 {} 00 28", "11".repeat(32));
    let err = VersionedAssets::decode_limited(&bytes(&abstract_id)).unwrap_err();
    assert!(err.to_string().contains("abstract asset id"), "{err}");
    // Versions 2 and 6 are refused, and v3/v4 obey the same limits as v5.
    assert_eq!(
        VersionedXcm::decode_limited(&[2, 0]),
        Err(DecodeError::UnsupportedVersion(2))
    );
    let mut too_many = vec![4u8];
    too_many.extend(Compact(101u32).encode());
    too_many.extend([0x0a; 101]);
    assert!(VersionedXcm::decode_limited(&too_many).is_err());
}
