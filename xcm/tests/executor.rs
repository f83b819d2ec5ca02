//! The executor and the `xcm` module on a simulated relay chain with paras 1000 and 1001:
//! transfers in every direction with exact balances and conserved issuance, failures that
//! trap assets for a later claim, origins of `Transact`, refused messages, error handlers and
//! responses.

use parity_scale_codec::Encode;
use tessera_runtime::crypto::{AccountId, Pair};
use tessera_runtime::dispatch::Origin;
use tessera_runtime::modules::balances;
use tessera_xcm::executor::Outcome;
use tessera_xcm::module::{self, account_of, Event as XcmEvent, QueryStatus, QUERIES};
use tessera_xcm::simulator::{account, Call, ChainId, Network, FEE_ACCOUNT, UNIT};
use tessera_xcm::v5::{
    Asset, AssetFilter, AssetId, Assets, DoubleEncoded, Error as XcmError, Instruction, Junction,
    Location, OriginKind, QueryResponseInfo, Response, Weight, WeightLimit, WildAsset, Xcm,
};
use tessera_xcm::{VersionedAssets, VersionedLocation, VersionedXcm};

const A: ChainId = ChainId::Para(1000);
const B: ChainId = ChainId::Para(1001);
const RELAY: ChainId = ChainId::Relay;

fn alice() -> AccountId {
    Pair::dev("Alice").public()
}

fn bob() -> AccountId {
    Pair::dev("Bob").public()
}

fn network() -> Network {
    Network::new(&[1000, 1001], &[alice(), bob()], 1_000 * UNIT)
}

fn assets(id: Location, amount: u128) -> Assets {
    Assets::from_unsorted(vec![Asset::fungible(id, amount)]).unwrap()
}

fn transfer(dest: Location, beneficiary: &AccountId, id: Location, amount: u128) -> Call {
    Call::PolkadotXcm(module::Call::TransferAssets {
        dest: VersionedLocation::V5(dest),
        beneficiary: VersionedLocation::V5(account(beneficiary)),
        assets: VersionedAssets::V5(assets(id, amount)),
        fee_asset_item: 0,
        weight_limit: WeightLimit::Unlimited,
    })
}

/// The sovereign account of the chain at `location` (as the reserve sees it).
fn sovereign(location: Location) -> AccountId {
    account_of(&location).unwrap()
}

/// A network where para 1000's sovereign account on B holds 100 units, and 1000's location.
fn network_with_a_funded_on_b() -> (Network, Location) {
    let mut net = network();
    let a_location = Location::sibling_para(1000);
    let a_sovereign = sovereign(a_location.clone());
    net.with(B, |ctx| {
        balances::force_set_balance(ctx, &a_sovereign, 100 * UNIT)
    })
    .unwrap();
    (net, a_location)
}

fn failures(net: &Network, on: ChainId) -> Vec<(Option<u32>, XcmError)> {
    net.chain(on)
        .xcm_events()
        .into_iter()
        .filter_map(|event| match event {
            XcmEvent::Failed { index, error, .. } => Some((index, error)),
            _ => None,
        })
        .collect()
}

fn traps(net: &Network, on: ChainId) -> Vec<(Location, VersionedAssets)> {
    net.chain(on)
        .xcm_events()
        .into_iter()
        .filter_map(|event| match event {
            XcmEvent::AssetsTrapped {
                claimer, assets, ..
            } => Some((claimer, assets)),
            _ => None,
        })
        .collect()
}

fn fees_collected(net: &Network, on: ChainId, id: &Location) -> u128 {
    if *id == Location::here() {
        net.chain(on).balance(&FEE_ACCOUNT) - UNIT
    } else {
        net.chain(on).foreign_balance(id, &FEE_ACCOUNT)
    }
}

#[test]
fn para_to_para_and_back_moves_exact_amounts_and_conserves_issuance() {
    let mut net = network();
    let issuance = net.chain(A).total_issuance();
    let a_token = Location::sibling_para(1000);
    let b_sovereign_on_a = sovereign(Location::sibling_para(1001));

    net.dispatch(
        A,
        Origin::Signed(alice()),
        transfer(
            Location::sibling_para(1001),
            &bob(),
            Location::here(),
            10 * UNIT,
        ),
    )
    .unwrap();
    assert_eq!(net.chain(A).balance(&alice()), 990 * UNIT);
    assert_eq!(net.chain(A).balance(&b_sovereign_on_a), 10 * UNIT);
    let fee = fees_collected(&net, B, &a_token);
    assert!(fee > 0, "execution on B is paid");
    assert_eq!(
        net.chain(B).foreign_balance(&a_token, &bob()),
        10 * UNIT - fee
    );
    assert_eq!(net.chain(A).total_issuance(), issuance);
    assert_eq!(
        net.chain(B).foreign_issuance(&a_token),
        net.chain(A).balance(&b_sovereign_on_a)
    );

    // The message id A announced is the one B ran.
    let sent: Vec<[u8; 32]> = net
        .chain(A)
        .xcm_events()
        .into_iter()
        .filter_map(|event| match event {
            XcmEvent::Sent { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    let executed: Vec<[u8; 32]> = net
        .chain(B)
        .xcm_events()
        .into_iter()
        .filter_map(|event| match event {
            XcmEvent::Executed { id, .. } => Some(id),
            _ => None,
        })
        .collect();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent, executed);

    // And back: B burns its derivatives, A releases them from B's sovereign account.
    net.dispatch(
        B,
        Origin::Signed(bob()),
        transfer(
            Location::sibling_para(1000),
            &alice(),
            a_token.clone(),
            4 * UNIT,
        ),
    )
    .unwrap();
    let fee_on_a = fees_collected(&net, A, &Location::here());
    assert!(fee_on_a > 0);
    assert_eq!(
        net.chain(B).foreign_balance(&a_token, &bob()),
        6 * UNIT - fee
    );
    assert_eq!(net.chain(A).balance(&b_sovereign_on_a), 6 * UNIT);
    assert_eq!(net.chain(A).balance(&alice()), 994 * UNIT - fee_on_a);
    assert_eq!(net.chain(A).total_issuance(), issuance);
    assert_eq!(
        net.chain(B).foreign_issuance(&a_token),
        net.chain(A).balance(&b_sovereign_on_a)
    );
    assert!(failures(&net, A).is_empty() && failures(&net, B).is_empty());
}

#[test]
fn relay_to_para_and_back_and_relay_tokens_between_paras() {
    let mut net = network();
    let relay_issuance = net.chain(RELAY).total_issuance();
    let relay_token = Location::parent();
    let a_sovereign = sovereign(Location::child_para(1000));
    let b_sovereign = sovereign(Location::child_para(1001));

    net.dispatch(
        RELAY,
        Origin::Signed(alice()),
        transfer(
            Location::child_para(1000),
            &bob(),
            Location::here(),
            50 * UNIT,
        ),
    )
    .unwrap();
    let fee_a = fees_collected(&net, A, &relay_token);
    assert_eq!(net.chain(RELAY).balance(&alice()), 950 * UNIT);
    assert_eq!(net.chain(RELAY).balance(&a_sovereign), 50 * UNIT);
    assert_eq!(
        net.chain(A).foreign_balance(&relay_token, &bob()),
        50 * UNIT - fee_a
    );

    net.dispatch(
        A,
        Origin::Signed(bob()),
        transfer(Location::parent(), &alice(), relay_token.clone(), 20 * UNIT),
    )
    .unwrap();
    let fee_relay = fees_collected(&net, RELAY, &Location::here());
    assert_eq!(net.chain(RELAY).balance(&a_sovereign), 30 * UNIT);
    assert_eq!(net.chain(RELAY).balance(&alice()), 970 * UNIT - fee_relay);

    // Relay tokens from A to B go through their reserve, the relay chain.
    net.dispatch(
        A,
        Origin::Signed(bob()),
        transfer(
            Location::sibling_para(1001),
            &alice(),
            relay_token.clone(),
            10 * UNIT,
        ),
    )
    .unwrap();
    let fee_relay_2 = fees_collected(&net, RELAY, &Location::here()) - fee_relay;
    let fee_b = fees_collected(&net, B, &relay_token);
    assert!(fee_relay_2 > 0 && fee_b > 0);
    assert_eq!(
        net.chain(A).foreign_balance(&relay_token, &bob()),
        20 * UNIT - fee_a
    );
    assert_eq!(net.chain(RELAY).balance(&a_sovereign), 20 * UNIT);
    assert_eq!(
        net.chain(RELAY).balance(&b_sovereign),
        10 * UNIT - fee_relay_2
    );
    assert_eq!(
        net.chain(B).foreign_balance(&relay_token, &alice()),
        10 * UNIT - fee_relay_2 - fee_b
    );

    // Every relay token is accounted for: the relay's issuance did not move, and each para's
    // derivatives are backed one for one by its sovereign account.
    assert_eq!(net.chain(RELAY).total_issuance(), relay_issuance);
    assert_eq!(
        net.chain(A).foreign_issuance(&relay_token),
        net.chain(RELAY).balance(&a_sovereign)
    );
    assert_eq!(
        net.chain(B).foreign_issuance(&relay_token),
        net.chain(RELAY).balance(&b_sovereign)
    );
    for chain in [RELAY, A, B] {
        assert!(
            failures(&net, chain).is_empty(),
            "{chain:?}: {:?}",
            failures(&net, chain)
        );
    }
}

#[test]
fn too_little_for_the_fee_traps_the_assets_for_the_beneficiary_to_claim() {
    let mut net = network();
    let a_token = Location::sibling_para(1000);
    net.dispatch(
        A,
        Origin::Signed(alice()),
        transfer(
            Location::sibling_para(1001),
            &bob(),
            Location::here(),
            1_000,
        ),
    )
    .unwrap();
    assert_eq!(failures(&net, B), vec![(Some(3), XcmError::TooExpensive)]);
    assert_eq!(
        traps(&net, B),
        vec![(
            account(&bob()),
            VersionedAssets::V5(assets(a_token.clone(), 1_000))
        )]
    );
    assert_eq!(net.chain(B).foreign_balance(&a_token, &bob()), 0);

    let claim = |amount| {
        Call::PolkadotXcm(module::Call::ClaimAssets {
            assets: VersionedAssets::V5(assets(a_token.clone(), amount)),
            beneficiary: VersionedLocation::V5(account(&bob())),
        })
    };
    // Only what was trapped, and only once.
    assert!(net.dispatch(B, Origin::Signed(bob()), claim(999)).is_err());
    assert!(net
        .dispatch(B, Origin::Signed(alice()), claim(1_000))
        .is_err());
    net.dispatch(B, Origin::Signed(bob()), claim(1_000))
        .unwrap();
    assert_eq!(net.chain(B).foreign_balance(&a_token, &bob()), 1_000);
    assert!(net
        .dispatch(B, Origin::Signed(bob()), claim(1_000))
        .is_err());
}

/// Asks to run unpaid (allowed from the relay chain on a para).
fn unpaid() -> Instruction {
    Instruction::UnpaidExecution {
        weight_limit: WeightLimit::Unlimited,
        check_origin: None,
    }
}

/// The failed instruction and its error, if the message stopped.
fn stopped(outcome: &Outcome) -> Option<(u32, XcmError)> {
    match outcome {
        Outcome::Incomplete { index, error, .. } => Some((*index, *error)),
        _ => None,
    }
}

/// Whether every instruction ran.
fn complete(outcome: &Outcome) -> bool {
    matches!(outcome, Outcome::Complete { .. })
}

/// Runs `message` on `on` as if `from` had sent it.
fn run(net: &mut Network, on: ChainId, from: Location, message: Vec<Instruction>) -> Outcome {
    net.receive(on, from, &VersionedXcm::V5(Xcm(message)).encode())
        .1
}

fn buy(fee: Asset) -> Instruction {
    Instruction::BuyExecution {
        fees: fee,
        weight_limit: WeightLimit::Unlimited,
    }
}

fn deposit_all(to: &AccountId) -> Instruction {
    Instruction::DepositAsset {
        assets: AssetFilter::Wild(WildAsset::AllCounted(8)),
        beneficiary: account(to),
    }
}

#[test]
fn an_unknown_asset_is_trapped_and_claimable_once_registered() {
    let mut net = network();
    let a_token = Location::sibling_para(1000);
    let unknown =
        Location::new(1, &[Junction::Parachain(1000), Junction::GeneralIndex(7)]).unwrap();
    let held = Assets::from_unsorted(vec![
        Asset::fungible(a_token.clone(), UNIT),
        Asset::fungible(unknown.clone(), 500),
    ])
    .unwrap();
    let outcome = run(
        &mut net,
        B,
        a_token.clone(),
        vec![
            Instruction::ReserveAssetDeposited(held),
            Instruction::ClearOrigin,
            buy(Asset::fungible(a_token.clone(), UNIT)),
            deposit_all(&bob()),
        ],
    );
    assert_eq!(stopped(&outcome), Some((3, XcmError::AssetNotFound)));
    // The failed deposit credited nothing, not even the known asset.
    assert_eq!(net.chain(B).foreign_balance(&a_token, &bob()), 0);
    let [(claimer, VersionedAssets::V5(trapped))] = traps(&net, B).try_into().unwrap();
    assert_eq!(claimer, a_token, "trapped for the sending para");

    // Claiming before the asset exists fails the same way and traps them again.
    let claim = |net: &mut Network, trapped: &Assets| {
        run(
            net,
            B,
            a_token.clone(),
            vec![
                Instruction::ClaimAsset {
                    assets: trapped.clone(),
                    ticket: Location::here(),
                },
                buy(Asset::fungible(
                    a_token.clone(),
                    trapped.inner()[0].fun_amount(),
                )),
                deposit_all(&bob()),
            ],
        )
    };
    net.with(B, |ctx| {
        module::register_foreign_asset(ctx, AssetId(unknown.clone()))
    })
    .unwrap();
    let outcome = claim(&mut net, &trapped);
    assert!(complete(&outcome), "{outcome:?}");
    assert_eq!(net.chain(B).foreign_balance(&unknown, &bob()), 500);
    assert_eq!(
        net.chain(B).foreign_balance(&a_token, &bob()) + fees_collected(&net, B, &a_token),
        UNIT
    );
    let outcome = claim(&mut net, &trapped);
    assert_eq!(stopped(&outcome), Some((0, XcmError::UnknownClaim)));
}

trait Amount {
    fn fun_amount(&self) -> u128;
}

impl Amount for Asset {
    fn fun_amount(&self) -> u128 {
        match self.fun {
            tessera_xcm::v5::Fungibility::Fungible(amount) => amount,
            tessera_xcm::v5::Fungibility::NonFungible(_) => 0,
        }
    }
}

#[test]
fn untrusted_reserves_and_bad_beneficiaries_fail_with_their_error() {
    let mut net = network();
    let a_token = Location::sibling_para(1000);
    // Para 1000 is not the reserve of relay tokens.
    let outcome = run(
        &mut net,
        B,
        a_token.clone(),
        vec![
            Instruction::ReserveAssetDeposited(assets(Location::parent(), UNIT)),
            Instruction::ClearOrigin,
            buy(Asset::fungible(Location::parent(), UNIT)),
            deposit_all(&bob()),
        ],
    );
    assert_eq!(
        stopped(&outcome),
        Some((0, XcmError::UntrustedReserveLocation))
    );
    assert_eq!(net.chain(B).foreign_balance(&Location::parent(), &bob()), 0);
    assert!(traps(&net, B).is_empty(), "nothing was taken into holding");

    // A pallet cannot hold assets: they are trapped.
    let outcome = run(
        &mut net,
        B,
        a_token.clone(),
        vec![
            Instruction::ReserveAssetDeposited(assets(a_token.clone(), UNIT)),
            Instruction::ClearOrigin,
            buy(Asset::fungible(a_token.clone(), UNIT)),
            Instruction::DepositAsset {
                assets: AssetFilter::Wild(WildAsset::All),
                beneficiary: Location::new(0, &[Junction::PalletInstance(9)]).unwrap(),
            },
        ],
    );
    assert_eq!(stopped(&outcome), Some((3, XcmError::LocationCannotHold)));
    assert_eq!(traps(&net, B).len(), 1);
    let fee = fees_collected(&net, B, &a_token);
    assert_eq!(
        traps(&net, B)[0].1,
        VersionedAssets::V5(assets(a_token.clone(), UNIT - fee))
    );
    assert_eq!(
        failures(&net, B),
        vec![
            (Some(0), XcmError::UntrustedReserveLocation),
            (Some(3), XcmError::LocationCannotHold),
        ]
    );
}

fn transact(kind: OriginKind, call: Call) -> Instruction {
    Instruction::Transact {
        origin_kind: kind,
        fallback_max_weight: None,
        call: DoubleEncoded {
            encoded: call.encode(),
        },
    }
}

fn set_balance(who: AccountId, free: u128) -> Call {
    Call::Balances(balances::Call::ForceSetBalance {
        who: who.into(),
        free,
    })
}

#[test]
fn transact_runs_a_call_only_with_the_origin_the_sender_may_have() {
    let (mut net, a_location) = network_with_a_funded_on_b();
    let paid = |instructions: Vec<Instruction>| {
        let mut message = vec![
            Instruction::WithdrawAsset(assets(Location::here(), UNIT)),
            buy(Asset::fungible(Location::here(), UNIT)),
        ];
        message.extend(instructions);
        message.push(Instruction::RefundSurplus);
        message.push(Instruction::DepositAsset {
            assets: AssetFilter::Wild(WildAsset::All),
            beneficiary: a_location.clone(),
        });
        message
    };

    // As its sovereign account, para 1000 may spend that account's funds.
    let pay_bob = Call::Balances(balances::Call::Transfer {
        dest: bob().into(),
        value: 7 * UNIT,
    });
    let outcome = run(
        &mut net,
        B,
        a_location.clone(),
        paid(vec![transact(OriginKind::SovereignAccount, pay_bob)]),
    );
    assert!(complete(&outcome), "{outcome:?}");
    assert_eq!(net.chain(B).balance(&bob()), 1_007 * UNIT);

    // It may not be root on its sibling.
    let outcome = run(
        &mut net,
        B,
        a_location.clone(),
        paid(vec![transact(OriginKind::Superuser, set_balance(bob(), 1))]),
    );
    assert_eq!(stopped(&outcome), Some((2, XcmError::BadOrigin)));
    assert_eq!(net.chain(B).balance(&bob()), 1_007 * UNIT);

    // A root call as a signed origin is dispatched and fails by the call's own origin check;
    // the status says so.
    let outcome = run(
        &mut net,
        B,
        a_location.clone(),
        paid(vec![
            transact(OriginKind::SovereignAccount, set_balance(bob(), 1)),
            Instruction::ExpectTransactStatus(tessera_xcm::v5::MaybeErrorCode::Success),
        ]),
    );
    assert_eq!(stopped(&outcome), Some((3, XcmError::ExpectationFalse)));
    assert_eq!(net.chain(B).balance(&bob()), 1_007 * UNIT);

    // The relay chain governs its paras: root, unpaid.
    let outcome = run(
        &mut net,
        B,
        Location::parent(),
        vec![
            unpaid(),
            transact(OriginKind::Superuser, set_balance(bob(), 77 * UNIT)),
        ],
    );
    assert!(complete(&outcome), "{outcome:?}");
    assert_eq!(net.chain(B).balance(&bob()), 77 * UNIT);

    // A call that does not decode fails the instruction.
    let outcome = run(
        &mut net,
        B,
        Location::parent(),
        vec![
            unpaid(),
            Instruction::Transact {
                origin_kind: OriginKind::Superuser,
                fallback_max_weight: None,
                call: DoubleEncoded {
                    encoded: vec![0xff, 1, 2],
                },
            },
        ],
    );
    assert_eq!(stopped(&outcome), Some((1, XcmError::FailedToDecode)));
}

#[test]
fn malformed_oversized_deep_and_unpaid_messages_are_refused_without_effect() {
    let mut net = network();
    let a_location = Location::sibling_para(1000);
    let before = net.chain(B).total_issuance();
    let refused = |net: &mut Network, bytes: &[u8]| net.receive(B, a_location.clone(), bytes).1;

    assert_eq!(
        refused(&mut net, &[5, 0xff]),
        Outcome::Error {
            error: XcmError::FailedToDecode
        }
    );
    assert_eq!(
        refused(&mut net, &[2, 0]),
        Outcome::Error {
            error: XcmError::FailedToDecode
        }
    );
    let too_many = VersionedXcm::V5(Xcm(vec![Instruction::ClearOrigin; 101])).encode();
    assert_eq!(
        refused(&mut net, &too_many),
        Outcome::Error {
            error: XcmError::FailedToDecode
        }
    );
    let mut deep = Xcm(vec![Instruction::ClearOrigin]);
    for _ in 0..9 {
        deep = Xcm(vec![Instruction::SetAppendix(deep)]);
    }
    assert_eq!(
        refused(&mut net, &VersionedXcm::V5(deep).encode()),
        Outcome::Error {
            error: XcmError::FailedToDecode
        }
    );
    // A sibling may not run unpaid.
    let unpaid = VersionedXcm::V5(Xcm(vec![
        unpaid(),
        transact(OriginKind::SovereignAccount, set_balance(bob(), 1)),
    ]))
    .encode();
    assert_eq!(
        refused(&mut net, &unpaid),
        Outcome::Error {
            error: XcmError::Barrier
        }
    );
    // Nor buy less than it needs.
    let cheap = VersionedXcm::V5(Xcm(vec![
        Instruction::WithdrawAsset(assets(Location::here(), UNIT)),
        Instruction::BuyExecution {
            fees: Asset::fungible(Location::here(), UNIT),
            weight_limit: WeightLimit::Limited(Weight::from_parts(1, 1)),
        },
        deposit_all(&bob()),
    ]))
    .encode();
    assert_eq!(
        refused(&mut net, &cheap),
        Outcome::Error {
            error: XcmError::Barrier
        }
    );

    assert_eq!(net.chain(B).total_issuance(), before);
    assert_eq!(net.chain(B).balance(&bob()), 1_000 * UNIT);
    assert_eq!(failures(&net, B).len(), 6);
    assert!(traps(&net, B).is_empty());
}

#[test]
fn error_handlers_appendices_and_reports_reach_the_querier() {
    let mut net = network();
    net.with(RELAY, |ctx| {
        for query_id in [7, 8] {
            QUERIES.insert(
                &mut ctx.state,
                &query_id,
                &QueryStatus::Pending {
                    responder: Location::child_para(1000),
                },
            );
        }
    });
    let report = |query_id| {
        Instruction::ReportError(QueryResponseInfo {
            destination: Location::parent(),
            query_id,
            max_weight: Weight::from_parts(1_000_000_000, 65_536),
        })
    };
    let outcome = run(
        &mut net,
        A,
        Location::parent(),
        vec![
            unpaid(),
            Instruction::SetErrorHandler(Xcm(vec![report(7)])),
            Instruction::SetAppendix(Xcm(vec![Instruction::ClearError, report(8)])),
            Instruction::Trap(5),
            Instruction::ClearOrigin,
        ],
    );
    // The appendix cleared the error, so the message counts as complete (as in Polkadot),
    // without the weight of the instruction the trap skipped.
    let full = tessera_xcm::module::INSTRUCTION_WEIGHT.ref_time * 8;
    assert!(
        matches!(outcome, Outcome::Complete { used } if used.ref_time < full),
        "{outcome:?}"
    );
    let answers = |net: &Network| -> Vec<(u64, Response)> {
        net.chain(RELAY)
            .xcm_events()
            .into_iter()
            .filter_map(|event| match event {
                XcmEvent::ResponseReady { query_id, response } => Some((query_id, response)),
                _ => None,
            })
            .collect()
    };
    // The handler saw the error; the appendix ran after it, having cleared it.
    assert_eq!(
        answers(&net),
        vec![
            (7, Response::ExecutionResult(Some((3, XcmError::Trap(5))))),
            (8, Response::ExecutionResult(None)),
        ]
    );
    // A response nobody asked for is refused at the barrier.
    let stray = run(
        &mut net,
        RELAY,
        Location::child_para(1000),
        vec![Instruction::QueryResponse {
            query_id: 7,
            response: Response::Null,
            max_weight: Weight::default(),
            querier: None,
        }],
    );
    assert_eq!(
        stray,
        Outcome::Error {
            error: XcmError::Barrier
        }
    );
}

#[test]
fn a_failed_local_transfer_changes_nothing() {
    let mut net = network();
    let too_much = transfer(
        Location::sibling_para(1001),
        &bob(),
        Location::here(),
        2_000 * UNIT,
    );
    let error = net
        .dispatch(A, Origin::Signed(alice()), too_much)
        .unwrap_err();
    assert_eq!(
        error,
        tessera_xcm::simulator::dispatch_error(module::Error::LocalExecutionFailed(
            (&XcmError::FailedToTransactAsset).into()
        ))
        .into()
    );
    assert_eq!(net.chain(A).balance(&alice()), 1_000 * UNIT);
    assert!(net
        .chain(A)
        .xcm_events()
        .iter()
        .all(|event| !matches!(event, XcmEvent::Sent { .. })));
    assert!(net.delivered.is_empty());
    // A destination outside the network is refused before anything moves.
    let nowhere = transfer(
        Location::new(2, &[Junction::Parachain(7)]).unwrap(),
        &bob(),
        Location::here(),
        UNIT,
    );
    assert!(net.dispatch(A, Origin::Signed(alice()), nowhere).is_err());
    assert_eq!(net.chain(A).balance(&alice()), 1_000 * UNIT);
}

#[test]
fn messages_run_in_one_block_each_take_effect() {
    let mut net = network();
    let a_token = Location::sibling_para(1000);
    let message = VersionedXcm::V5(Xcm(vec![
        Instruction::ReserveAssetDeposited(assets(a_token.clone(), UNIT)),
        Instruction::ClearOrigin,
        buy(Asset::fungible(a_token.clone(), UNIT)),
        deposit_all(&bob()),
        Instruction::SetTopic([7; 32]),
    ]))
    .encode();
    net.with(B, |ctx| {
        for _ in 0..10 {
            let limit = tessera_xcm::simulator::MESSAGE_WEIGHT_LIMIT;
            let (_, outcome) = module::receive(ctx, a_token.clone(), &message, limit).unwrap();
            assert!(complete(&outcome), "{outcome:?}");
        }
    });
    let fees = fees_collected(&net, B, &a_token);
    assert!(fees > 0);
    assert_eq!(
        net.chain(B).foreign_balance(&a_token, &bob()) + fees,
        10 * UNIT
    );
    assert_eq!(net.chain(B).foreign_issuance(&a_token), 10 * UNIT);
}

#[test]
fn the_relay_token_is_teleported_where_trusted_and_reserve_transferred_elsewhere() {
    use tessera_xcm::simulator::TELEPORTING_PARA;
    let mut net = Network::new(&[1000, TELEPORTING_PARA], &[alice(), bob()], 1_000 * UNIT);
    let system = ChainId::Para(TELEPORTING_PARA);
    let relay_issuance = net.chain(RELAY).total_issuance();
    let relay_token = Location::parent();

    // Relay chain to the trusted para: burnt on the relay chain, minted there.
    net.dispatch(
        RELAY,
        Origin::Signed(alice()),
        transfer(
            Location::child_para(TELEPORTING_PARA),
            &bob(),
            Location::here(),
            10 * UNIT,
        ),
    )
    .unwrap();
    let fee = fees_collected(&net, system, &relay_token);
    assert_eq!(
        net.chain(system).foreign_balance(&relay_token, &bob()),
        10 * UNIT - fee
    );
    assert_eq!(
        net.chain(RELAY).total_issuance(),
        relay_issuance - 10 * UNIT
    );
    assert_eq!(
        net.chain(RELAY)
            .balance(&sovereign(Location::child_para(TELEPORTING_PARA))),
        0,
        "no reserve is kept"
    );
    assert_eq!(
        net.chain(RELAY).total_issuance() + net.chain(system).foreign_issuance(&relay_token),
        relay_issuance
    );

    // And back: burnt there, minted on the relay chain.
    net.dispatch(
        system,
        Origin::Signed(bob()),
        transfer(Location::parent(), &alice(), relay_token.clone(), 4 * UNIT),
    )
    .unwrap();
    let relay_fee = fees_collected(&net, RELAY, &Location::here());
    assert_eq!(
        net.chain(RELAY).balance(&alice()),
        990 * UNIT + 4 * UNIT - relay_fee
    );
    assert_eq!(
        net.chain(RELAY).total_issuance() + net.chain(system).foreign_issuance(&relay_token),
        relay_issuance
    );

    // An untrusted para claiming a teleport is refused.
    let outcome = run(
        &mut net,
        RELAY,
        Location::child_para(1000),
        vec![
            Instruction::ReceiveTeleportedAsset(assets(Location::here(), UNIT)),
            buy(Asset::fungible(Location::here(), UNIT)),
            deposit_all(&bob()),
        ],
    );
    assert_eq!(
        stopped(&outcome),
        Some((0, XcmError::UntrustedTeleportLocation))
    );
    assert_eq!(
        net.chain(RELAY).total_issuance() + net.chain(system).foreign_issuance(&relay_token),
        relay_issuance
    );
    assert!(failures(&net, RELAY).len() == 1 && failures(&net, system).is_empty());
}

#[test]
fn a_failed_nested_purchase_is_not_paid_out_as_fees() {
    let (mut net, a_location) = network_with_a_funded_on_b();
    let issuance = net.chain(B).total_issuance();
    // Each nested BuyExecution spends holding, then the nested message traps: holding comes
    // back, and so must the purchase.
    let nested = Instruction::ExecuteWithOrigin {
        descendant_origin: None,
        xcm: Xcm(vec![
            Instruction::BuyExecution {
                fees: Asset::fungible(Location::here(), UNIT),
                weight_limit: WeightLimit::Limited(Weight::from_parts(1_000_000_000, 0)),
            },
            Instruction::Trap(0),
        ]),
    };
    let outcome = run(
        &mut net,
        B,
        a_location.clone(),
        vec![
            Instruction::WithdrawAsset(assets(Location::here(), 2 * UNIT)),
            buy(Asset::fungible(Location::here(), UNIT)),
            Instruction::SetErrorHandler(Xcm(vec![Instruction::ClearError])),
            nested.clone(),
        ],
    );
    assert_eq!(
        stopped(&outcome),
        None,
        "the handler cleared the error: {outcome:?}"
    );
    let fees = fees_collected(&net, B, &Location::here());
    assert!(fees < UNIT, "only the top-level purchase is paid: {fees}");
    // What was withdrawn is fees plus what was trapped; nothing was created.
    let trapped = match &traps(&net, B)[..] {
        [(_, VersionedAssets::V5(trapped))] => trapped.inner()[0].fun_amount(),
        other => panic!("one trap expected: {other:?}"),
    };
    assert_eq!(fees + trapped, 2 * UNIT);
    assert_eq!(net.chain(B).total_issuance() + trapped, issuance);
}

#[test]
fn a_users_message_sent_through_its_chain_passes_the_barrier_as_the_user() {
    let mut net = network();
    let user_on_b = Location::new(
        1,
        &[
            Junction::Parachain(1000),
            Junction::AccountId32 {
                network: None,
                id: alice().0,
            },
        ],
    )
    .unwrap();
    let alias = account_of(&user_on_b).unwrap();
    net.with(B, |ctx| balances::force_set_balance(ctx, &alias, 10 * UNIT))
        .unwrap();
    let send = |message: Vec<Instruction>| {
        Call::PolkadotXcm(module::Call::Send {
            dest: VersionedLocation::V5(Location::sibling_para(1001)),
            message: VersionedXcm::V5(Xcm(message)),
        })
    };
    // Pays with its own funds on B (its alias account) and moves them to Bob.
    net.dispatch(
        A,
        Origin::Signed(alice()),
        send(vec![
            Instruction::WithdrawAsset(assets(Location::here(), 3 * UNIT)),
            buy(Asset::fungible(Location::here(), UNIT)),
            deposit_all(&bob()),
        ]),
    )
    .unwrap();
    assert!(failures(&net, B).is_empty(), "{:?}", failures(&net, B));
    let fee = fees_collected(&net, B, &Location::here());
    assert_eq!(net.chain(B).balance(&bob()), 1_003 * UNIT - fee);
    assert_eq!(net.chain(B).balance(&alias), 7 * UNIT);

    // What a failing user message leaves is trapped for the user, not for its chain.
    net.dispatch(
        A,
        Origin::Signed(alice()),
        send(vec![
            Instruction::WithdrawAsset(assets(Location::here(), UNIT)),
            buy(Asset::fungible(Location::here(), UNIT)),
            Instruction::Trap(1),
        ]),
    )
    .unwrap();
    let claimers: Vec<Location> = traps(&net, B)
        .into_iter()
        .map(|(claimer, _)| claimer)
        .collect();
    assert_eq!(claimers, vec![user_on_b]);
}

#[test]
fn refund_surplus_returns_unspent_fees_and_forwarding_never_makes_undecodable_messages() {
    let (mut net, a_location) = network_with_a_funded_on_b();
    // PayFees keeps what execution did not cost in the fees register; RefundSurplus gives it
    // back to holding, so it is deposited rather than trapped.
    let outcome = run(
        &mut net,
        B,
        a_location.clone(),
        vec![
            Instruction::WithdrawAsset(assets(Location::here(), UNIT)),
            Instruction::PayFees {
                asset: Asset::fungible(Location::here(), UNIT),
            },
            Instruction::RefundSurplus,
            deposit_all(&bob()),
        ],
    );
    assert!(complete(&outcome), "{outcome:?}");
    let fee = fees_collected(&net, B, &Location::here());
    assert_eq!(net.chain(B).balance(&bob()), 1_000 * UNIT + UNIT - fee);
    assert!(traps(&net, B).is_empty());

    // 99 instructions of a user's become 101 once `send` adds its origin and topic: refused
    // at the sender, not lost at the destination.
    let too_long = Call::PolkadotXcm(module::Call::Send {
        dest: VersionedLocation::V5(Location::sibling_para(1001)),
        message: VersionedXcm::V5(Xcm(vec![Instruction::ClearOrigin; 99])),
    });
    let delivered = net.delivered.len();
    assert!(net.dispatch(A, Origin::Signed(alice()), too_long).is_err());
    assert_eq!(net.delivered.len(), delivered, "nothing was sent");

    // A remote-reserve transfer pays at two hops: a fee of 1 cannot be halved.
    let one = transfer(Location::sibling_para(1001), &bob(), Location::parent(), 1);
    let error = net.dispatch(A, Origin::Signed(alice()), one).unwrap_err();
    assert_eq!(
        error,
        tessera_xcm::simulator::dispatch_error(module::Error::BadAssets).into()
    );
}

#[test]
fn message_records_are_kept_for_the_retention_window_then_pruned() {
    use module::{MESSAGES, MESSAGE_RECORD_RETENTION, RECORD_LOG_BOUNDS};
    let mut net = network();
    let message = |amount| {
        VersionedXcm::V5(Xcm(vec![
            unpaid(),
            Instruction::ClearOrigin,
            Instruction::SetTopic([amount; 32]),
        ]))
        .encode()
    };
    let records = |net: &Network, id: [u8; 32]| {
        net.chain(RELAY)
            .read(|ctx| MESSAGES.get_or_default(&mut ctx.state, &id))
            .unwrap()
            .len()
    };
    let (old, _) = net.receive(RELAY, Location::child_para(1000), &message(1));
    assert_eq!(records(&net, old), 1);
    net.skip_blocks(RELAY, MESSAGE_RECORD_RETENTION - 2);
    let (recent, _) = net.receive(RELAY, Location::child_para(1000), &message(2));
    assert_eq!(records(&net, old), 1, "still within the window");
    net.skip_blocks(RELAY, 1);
    let (new, _) = net.receive(RELAY, Location::child_para(1000), &message(3));
    assert_eq!(records(&net, old), 0, "pruned once past the window");
    assert_eq!((records(&net, recent), records(&net, new)), (1, 1));
    let (first, next) = net
        .chain(RELAY)
        .read(|ctx| RECORD_LOG_BOUNDS.get_or_default(&mut ctx.state))
        .unwrap();
    assert_eq!(next - first, 2, "only the two live records are logged");
}
