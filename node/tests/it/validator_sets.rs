//! Validator sets that change, on real `tessera` processes: a new validator makes session keys
//! with `author_rotateKeys`, bonds, sets them and validates; once elected it authors with its
//! authorship key, backs a para's candidates, signs availability bitfields and approves with
//! its para validator key, and votes with its finality key; finality follows three set changes
//! (the newcomer in and a genesis validator out, then root shrinking and growing the set), and
//! the validators' approval tallies, the newcomer's among them, are settled into era points.
//! Then the newcomer turns hostile and votes twice in every round: the others report it, it is
//! slashed with its nominator and gone at the next era, and finality follows that change too.
//! Last, a node started after all that syncs from genesis and enacts every change, each
//! justified by the set before it.

use crate::process::{finalized_number, header_of, print_logs, request, Member};
use crate::processes::{finalized_header, wait_finalized, watched};
use jsonrpsee_core::rpc_params;
use parachain_template_runtime::{self as template, TemplateRuntime};
use parity_scale_codec::{Decode, DecodeAll};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;
use tessera_consensus::authorship::split_seal;
use tessera_consensus::finality::{
    verify_justification, verify_warp_proof, AuthoritySet, Justification, Target, WarpProofError,
};
use tessera_node::warp::{FinalityProof, WarpResponse};
use tessera_node::workload::sign;
use tessera_relay_chain::session::SessionKeys;
use tessera_relay_chain::staking::{self, Perbill, RewardDestination, ValidatorPrefs};
use tessera_relay_chain::{
    approval_rewards, grandpa, inclusion, session, Call, ChainSpec, Event, GenesisPara, HexBytes,
    UNIT,
};
use tessera_runtime::consensus::ScheduledChange;
use tessera_runtime::crypto::Pair;
use tessera_runtime::dispatch::EventRecord;
use tessera_runtime::executive::block_author;
use tessera_runtime::extrinsic::Extrinsic;
use tessera_runtime::modules::{sudo, system};
use tessera_runtime::parachain::ParaGenesis;
use tessera_runtime::{AccountId, Hash, Header};

const WAIT: Duration = Duration::from_secs(90);
/// The genesis validators (whose dev keys are all their session keys).
const GENESIS: [&str; 4] = ["Alice", "Bob", "Charlie", "Dave"];
/// What Eve bonds: more than any genesis validator.
const EVE_BOND: u128 = 400_000 * UNIT;
/// What Ferdie bonds and nominates Eve with.
const NOMINATED: u128 = 100_000 * UNIT;

/// A storage value of the node at `port`, decoded.
async fn storage<T: Decode>(port: u16, key: Vec<u8>) -> Option<T> {
    let value: Value = request(
        port,
        "state_getStorage",
        rpc_params![format!("0x{}", hex::encode(key))],
    )
    .await;
    let bytes = hex::decode(value.as_str()?.trim_start_matches("0x")).ok()?;
    T::decode(&mut &bytes[..]).ok()
}

/// A storage value of the node at `port` as of block `at`, decoded.
async fn storage_at<T: Decode>(port: u16, key: Vec<u8>, at: &Value) -> Option<T> {
    let value: Value = request(
        port,
        "state_getStorage",
        rpc_params![format!("0x{}", hex::encode(key)), at],
    )
    .await;
    let bytes = hex::decode(value.as_str()?.trim_start_matches("0x")).ok()?;
    T::decode(&mut &bytes[..]).ok()
}

/// The parachains inherent of block `number` at `port`, with its hash.
async fn inherent_at(port: u16, number: u32) -> (Value, inclusion::Call) {
    let hash: Value = request(port, "chain_getBlockHash", rpc_params![number]).await;
    let block: Value = request(port, "chain_getBlock", rpc_params![&hash]).await;
    let first = block["block"]["extrinsics"][0].as_str().unwrap();
    let bytes = hex::decode(first.trim_start_matches("0x")).unwrap();
    // As Substrate serves it: with its length prefix.
    let inner = Vec::<u8>::decode_all(&mut &bytes[..]).unwrap();
    let extrinsic = Extrinsic::<Call>::decode_exact(&inner).unwrap();
    let Call::ParaInclusion(enter) = extrinsic.call else {
        panic!("block #{number} starts with {:?}", extrinsic.call);
    };
    (hash, enter)
}

/// Approval tallies on the finalized chain at `port`: the
/// sessions whose tallies were settled into points (with the points), and those whose tally
/// `key` signed (with the approvals it counted in all). Waits until both hold one.
async fn wait_tallies(
    port: u16,
    genesis: &Hash,
    key: &AccountId,
    dir: &Path,
) -> (Vec<(u32, u32)>, Vec<(u32, u32)>) {
    let (mut settled, mut signed) = (Vec::new(), Vec::new());
    let mut next = 1;
    let scanned = tokio::time::timeout(WAIT, async {
        while settled.is_empty() || signed.is_empty() {
            let finalized = finalized_number(port).await;
            while next <= finalized {
                let hash: Value = request(port, "chain_getBlockHash", rpc_params![next]).await;
                next += 1;
                let events: Vec<EventRecord<Event>> = storage_at(port, system::events_key(), &hash)
                    .await
                    .unwrap_or_default();
                settled.extend(events.into_iter().filter_map(|record| match record.event {
                    Event::ApprovalRewards(approval_rewards::Event::Settled {
                        session,
                        points,
                        ..
                    }) if points > 0 => Some((session, points)),
                    _ => None,
                }));
                let block: Value = request(port, "chain_getBlock", rpc_params![&hash]).await;
                for xt in block["block"]["extrinsics"].as_array().unwrap() {
                    let bytes = hex::decode(xt.as_str().unwrap().trim_start_matches("0x")).unwrap();
                    let inner = Vec::<u8>::decode_all(&mut &bytes[..]).unwrap();
                    let extrinsic = Extrinsic::<Call>::decode_exact(&inner).unwrap();
                    if let Call::ApprovalRewards(approval_rewards::Call::SubmitTally {
                        tally,
                        signature,
                    }) = extrinsic.call
                    {
                        if key.verify(&tally.payload(genesis), &signature) {
                            signed.push((tally.session, tally.usages.iter().sum()));
                        }
                    }
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await;
    if scanned.is_err() {
        print_logs(dir);
        panic!("up to #{next}: tallies settled {settled:?}, signed by the key {signed:?}");
    }
    (settled, signed)
}

/// Waits for a relay block above `from` whose parachains inherent has Eve's (at `eve`, her
/// index in the session that block is in) backing vote and bitfield, both of which the chain
/// checked against her para validator key.
async fn wait_eve_backs_and_signs_bitfields(port: u16, from: u32, eve: AccountId, logs: &Path) {
    let found = tokio::time::timeout(WAIT, async {
        let (mut next, mut backed, mut bitfield) = (from + 1, false, false);
        loop {
            while next <= crate::process::best_number(port).await {
                let (hash, enter) = inherent_at(port, next).await;
                next += 1;
                let validators: Vec<AccountId> = storage_at(port, session::VALIDATORS.key(), &hash)
                    .await
                    .unwrap_or_default();
                let Some(index) = validators.iter().position(|v| *v == eve) else {
                    continue;
                };
                let inclusion::Call::Enter {
                    bitfields,
                    backed: candidates,
                    ..
                } = enter;
                bitfield |= bitfields.iter().any(|b| b.validator as usize == index);
                backed |= candidates
                    .iter()
                    .any(|c| c.votes.iter().any(|v| v.validator as usize == index));
                if backed && bitfield {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await;
    if found.is_err() {
        print_logs(logs);
        panic!("Eve neither backed a candidate nor signed a bitfield that a block carries");
    }
}

async fn header_at(port: u16, number: u32) -> Header {
    let hash: Value = request(port, "chain_getBlockHash", rpc_params![number]).await;
    let header: Value = request(port, "chain_getHeader", rpc_params![hash]).await;
    header_of(&header)
}

/// Waits until the session's validators at `port` are `wanted` (in any order).
async fn wait_validators(port: u16, wanted: &[AccountId], logs: &Path) {
    let mut wanted = wanted.to_vec();
    wanted.sort();
    let reached = tokio::time::timeout(WAIT, async {
        loop {
            let mut now: Vec<AccountId> = storage(port, session::VALIDATORS.key())
                .await
                .unwrap_or_default();
            now.sort();
            if now == wanted {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    if reached.is_err() {
        print_logs(logs);
        panic!("the validators never became {wanted:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_validator_joins_with_its_session_keys_and_finality_follows_three_set_changes() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ChainSpec::dev_with_validators(4);
    // Slots long enough for six processes to back a para's blocks on a loaded machine.
    spec.genesis.slot_duration_ms = 500;
    // Sessions of four slots, an era each: a change takes effect a few seconds after a call.
    spec.genesis.epoch_length = 4;
    // Two paras, so two backing groups: a candidate of para 1000 is backed by one and checked
    // by the other (one group of all would back it whole, leaving nothing to approve). Para
    // 1001 has no collator.
    spec.genesis.paras = [1000, 1001]
        .map(|id| GenesisPara {
            id,
            head: HexBytes(
                ParaGenesis::dev(tessera_relay_chain::paras::ParaId(id))
                    .head::<TemplateRuntime>()
                    .unwrap()
                    .0,
            ),
            code: HexBytes(template::WASM_BINARY.to_vec()),
        })
        .into();
    let staking_spec = spec.genesis.staking.as_mut().unwrap();
    staking_spec.sessions_per_era = 1;
    staking_spec.validator_count = 4;
    // Slashes land an era after the one after the offence.
    staking_spec.slash_defer_duration = 1;
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, spec.to_json()).unwrap();
    let genesis = spec.build_genesis().unwrap().header.hash();
    let id = |name: &str| Pair::dev(name).public();

    let mut nodes = Member::start_validators(dir.path(), &spec_path, &GENESIS);
    let bootnodes: Vec<String> = nodes.iter().map(|v| v.address.clone()).collect();
    // Eve logs what she signs in approval checking.
    nodes.push(Member::start(
        dir.path(),
        "Eve",
        &spec_path,
        Some("//Eve"),
        &bootnodes,
        &[],
        Some("info,tessera_node::parachains::approval=debug"),
    ));
    let _collator = Member::start(
        dir.path(),
        "collator1000",
        &spec_path,
        None,
        &bootnodes,
        &[
            "--para",
            "1000",
            "--collator-key",
            "//Ferdie",
            "--para-rpc-port",
            "0",
        ],
        None,
    );
    let (alice, eve_rpc) = (nodes[0].rpc, nodes[4].rpc);
    wait_finalized(alice, 2, dir.path()).await;

    // Eve's node makes her session keys and keeps them in its keystore.
    let keys_hex: String = request(eve_rpc, "author_rotateKeys", rpc_params![]).await;
    let keys_bytes = hex::decode(keys_hex.trim_start_matches("0x")).unwrap();
    let keys = SessionKeys::decode_all(&mut &keys_bytes[..]).unwrap();
    let held: bool = request(eve_rpc, "author_hasSessionKeys", rpc_params![&keys_hex]).await;
    assert!(held);
    let held_elsewhere: bool =
        request(alice, "author_hasSessionKeys", rpc_params![&keys_hex]).await;
    assert!(!held_elsewhere);
    let keystore = dir
        .path()
        .join("Eve/chains")
        .join(&spec.id)
        .join("keystore");
    assert_eq!(std::fs::read_dir(&keystore).unwrap().count(), 4);

    // Eve bonds more than any genesis validator, sets her keys and validates.
    let eve = Pair::dev("Eve");
    let calls = [
        Call::Staking(staking::Call::Bond {
            value: EVE_BOND,
            payee: RewardDestination::Stash,
        }),
        Call::Session(session::Call::SetKeys {
            keys,
            proof: vec![],
        }),
        Call::Staking(staking::Call::Validate {
            prefs: ValidatorPrefs {
                commission: Perbill(0),
                blocked: false,
            },
        }),
    ];
    for (nonce, call) in calls.into_iter().enumerate() {
        let xt = sign(
            &eve,
            call,
            nonce as u64,
            genesis,
            &finalized_header(alice).await,
        );
        watched(alice, &xt, "inBlock").await;
    }
    // Ferdie nominates her.
    let ferdie = Pair::dev("Ferdie");
    let calls = [
        Call::Staking(staking::Call::Bond {
            value: NOMINATED,
            payee: RewardDestination::Stash,
        }),
        Call::Staking(staking::Call::Nominate {
            targets: vec![id("Eve").into()],
        }),
    ];
    for (nonce, call) in calls.into_iter().enumerate() {
        let xt = sign(
            &ferdie,
            call,
            nonce as u64,
            genesis,
            &finalized_header(alice).await,
        );
        watched(alice, &xt, "inBlock").await;
    }

    // The next election takes Eve in and leaves the last of the tied genesis validators out.
    let with_eve = [id("Alice"), id("Bob"), id("Charlie"), id("Eve")];
    wait_validators(alice, &with_eve, dir.path()).await;
    // She backs the para's candidates and signs availability bitfields, with her para key.
    let joined = crate::process::best_number(alice).await;
    wait_eve_backs_and_signs_bitfields(alice, joined.saturating_sub(1), id("Eve"), dir.path())
        .await;

    // Root shrinks the set to three, then grows it back to four.
    let alice_pair = Pair::dev("Alice");
    let sudo_count = |count: u32| {
        Call::Sudo(sudo::Call::Sudo {
            call: Box::new(Call::Staking(staking::Call::SetValidatorCount {
                new: count,
            })),
        })
    };
    let steps = [
        (3, vec![id("Alice"), id("Bob"), id("Eve")]),
        (4, with_eve.to_vec()),
    ];
    for (nonce, (count, wanted)) in (0u64..).zip(steps) {
        let xt = sign(
            &alice_pair,
            sudo_count(count),
            nonce,
            genesis,
            &finalized_header(alice).await,
        );
        watched(alice, &xt, "inBlock").await;
        wait_validators(alice, &wanted, dir.path()).await;
    }

    // Three changes signalled; finality goes past the last one (so each was enacted, every
    // set finalizing the blocks up to the next).
    let set_id: u64 = storage(alice, grandpa::CURRENT_SET_ID.key()).await.unwrap();
    assert_eq!(set_id, 3);
    let best = crate::process::best_number(alice).await;
    let mut changes = Vec::new();
    let mut eve_authored = 0;
    for number in 1..=best {
        let header = header_at(alice, number).await;
        if let Ok(Some(change)) = ScheduledChange::from_header(&header) {
            changes.push((number, change));
        }
        if block_author(&header).unwrap() == Some(id("Eve")) {
            // Sealed by her authorship key, not her account.
            let (unsealed, seal) = split_seal(&header).unwrap();
            assert!(keys.babe.verify(unsealed.hash().as_bytes(), &seal));
            eve_authored += 1;
        }
    }
    assert_eq!(changes.len(), 3, "{changes:?}");
    let last_change = changes[2].0;
    wait_finalized(alice, last_change + 3, dir.path()).await;
    assert!(eve_authored > 0, "Eve authored no block up to #{best}");
    // Eve's finality key is in every set since she joined.
    for (_, change) in &changes {
        assert!(change
            .next_authorities
            .iter()
            .any(|(key, _)| *key == keys.grandpa));
    }

    // A block the last set finalized carries precommits by Eve's finality key (a
    // justification holds the first supermajority of precommits gathered, so not every one
    // has hers: the scan goes on as finality does, within the bound).
    let (mut voted, mut next) = (false, last_change + 1);
    let scanned = tokio::time::timeout(WAIT, async {
        while !voted {
            let finalized = finalized_number(alice).await;
            while next <= finalized && !voted {
                let hash: Value = request(alice, "chain_getBlockHash", rpc_params![next]).await;
                let block: Value = request(alice, "chain_getBlock", rpc_params![hash]).await;
                next += 1;
                let Some(proof) = block["justifications"][0][1].as_str() else {
                    continue;
                };
                let bytes = hex::decode(proof.trim_start_matches("0x")).unwrap();
                let justification = Justification::decode(&mut &bytes[..]).unwrap();
                voted = justification
                    .precommits
                    .iter()
                    .any(|p| p.id == keys.grandpa);
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await;
    if scanned.is_err() {
        print_logs(dir.path());
    }
    assert!(
        voted,
        "no justification from #{} to #{next} holds Eve's precommit",
        last_change + 1
    );
    // Eve checked and approved the para's candidates (she has an index only in the sessions
    // since she joined), and her node saw them approved.
    // (Her checks come at random among the candidates, so this waits, within the bound.)
    let approved = tokio::time::timeout(WAIT, async {
        loop {
            let paras: Vec<Value> = request(eve_rpc, "tessera_paras", rpc_params![]).await;
            let seen = paras[0]["approved"]["number"].as_u64().unwrap_or(0) > 0;
            if seen && nodes[4].log().contains("signed approval") {
                return;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .await;
    if approved.is_err() {
        print_logs(dir.path());
        panic!("Eve approved nothing, or saw nothing approved");
    }
    // The validators counted whose approvals approved candidates in each session, Eve among
    // them with her para key, and the chain settled what enough of them saw into era points.
    let (settled, eve_tallied) =
        wait_tallies(alice, &genesis, &keys.para_validator, dir.path()).await;
    assert!(
        eve_tallied.iter().any(|&(_, counted)| counted > 0),
        "{eve_tallied:?}"
    );
    eprintln!("approval points settled {settled:?}; Eve's tallies {eve_tallied:?}");
    // Every node agrees on the finalized chain.
    for node in &nodes {
        assert!(
            finalized_number(node.rpc).await >= last_change,
            "{}",
            node.rpc
        );
    }

    // Eve turns hostile: restarted to sign a second prevote and precommit in every round.
    // Every other voter sees both and reports it, unsigned, in the next block it authors; the
    // chain slashes her (one of four: (3/4)² of her stake) and chills her.
    nodes[4].kill();
    nodes[4].restart_with(&["--malus", "double-vote"]);
    let ledger = |who: AccountId| async move {
        storage::<staking::StakingLedger>(alice, staking::LEDGER.key(&who))
            .await
            .unwrap()
    };
    let reported = tokio::time::timeout(WAIT, async {
        while storage::<u32>(alice, staking::slashing::LAST_SLASHED.key(&id("Eve")))
            .await
            .is_none()
        {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    if reported.is_err() {
        print_logs(dir.path());
        panic!("Eve's double votes were never reported");
    }
    // Gone at the next era, which Dave takes; finality follows that change too.
    let without_eve = [id("Alice"), id("Bob"), id("Charlie"), id("Dave")];
    wait_validators(alice, &without_eve, dir.path()).await;
    let gone_at = crate::process::best_number(alice).await;
    wait_finalized(alice, gone_at + 2, dir.path()).await;
    // A slash era later, she and Ferdie lose the same share of what they had at stake.
    let slashed = tokio::time::timeout(WAIT, async {
        while ledger(id("Eve")).await.total == EVE_BOND {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
    .await;
    if slashed.is_err() {
        print_logs(dir.path());
        panic!("Eve was never slashed");
    }
    let kept = |stake: u128| stake - stake / 10_000 * 5_625;
    assert_eq!(ledger(id("Eve")).await.total, kept(EVE_BOND));
    assert_eq!(ledger(id("Ferdie")).await.total, kept(NOMINATED));

    // A node started after all that syncs from genesis and finalizes past the four changes,
    // enacting each set once the set before it justified the change (a justification by a
    // set it does not hold is not believed).
    let late = Member::start(dir.path(), "Late", &spec_path, None, &bootnodes, &[], None);
    wait_finalized(late.rpc, gone_at + 2, dir.path()).await;
    let enacted = late.log().matches("finality authority set changed").count();
    assert_eq!(enacted, 4, "{}", late.log());

    // Its store now proves that finality to a client that knows only the genesis validators:
    // the warp proof leads through the four changes, each justified by the set before it, to
    // the set in force (the genesis validators' keys again) and a block past the last change.
    let warp_from = |set: u64| async move {
        let hex: String = request(late.rpc, "tessera_warpProof", rpc_params![set]).await;
        WarpResponse::decode_all(&mut &hex::decode(&hex[2..]).unwrap()[..]).unwrap()
    };
    let response = warp_from(0).await;
    assert!(response.is_finished);
    let proof = response.proof;
    let genesis_set = || AuthoritySet::equal(0, GENESIS.map(id)).unwrap();
    let warped = verify_warp_proof(genesis_set(), &proof).unwrap();
    assert_eq!(warped.set.set_id(), 4);
    let mut in_force: Vec<AccountId> = warped.set.authorities().iter().map(|a| a.0).collect();
    in_force.sort();
    let mut genesis_keys = GENESIS.map(id).to_vec();
    genesis_keys.sort();
    assert_eq!(in_force, genesis_keys);
    assert!(warped.header.number > changes[2].0, "{:?}", warped.header);
    // A client that knows set 2 (the one the second change enacted) asks from there.
    let from_2 = warp_from(2).await;
    let set_2 = AuthoritySet::new(2, changes[1].1.next_authorities.clone()).unwrap();
    let warped_from_2 = verify_warp_proof(set_2, &from_2.proof).unwrap();
    assert_eq!(warped_from_2.set, warped.set);
    // The same two changes; its latest justified block may be a newer one, as finality goes on.
    assert_eq!(from_2.proof.fragments[..2], proof.fragments[2..4]);
    assert!(warped_from_2.header.number >= warped.header.number);
    // Without its first change, the next set's justification is refused.
    let mut skipped = proof.clone();
    skipped.fragments.remove(0);
    assert!(matches!(
        verify_warp_proof(genesis_set(), &skipped),
        Err(WarpProofError::Justification { .. })
    ));

    // `grandpa_proveFinality` of a block of set 1: the justification of the block that ended
    // set 1, by set 1, and the headers linking the two.
    let (first, second) = (&changes[0], &changes[1]);
    let asked = first.0 + 1;
    let proof: String = request(late.rpc, "grandpa_proveFinality", rpc_params![asked]).await;
    let proof = FinalityProof::decode_all(&mut &hex::decode(&proof[2..]).unwrap()[..]).unwrap();
    let ended = header_at(late.rpc, second.0).await;
    assert_eq!(proof.block, ended.hash());
    let set_1 = AuthoritySet::new(1, first.1.next_authorities.clone()).unwrap();
    let justification = Justification::decode_all(&mut &proof.justification[..]).unwrap();
    let target = Target {
        hash: ended.hash(),
        number: ended.number,
    };
    verify_justification(&set_1, target, &justification).unwrap();
    let linked = proof
        .unknown_headers
        .windows(2)
        .all(|w| w[1].parent_hash == w[0].hash());
    assert!(linked && proof.unknown_headers.last() == Some(&ended));
    assert_eq!(
        proof.unknown_headers[0].parent_hash,
        header_at(late.rpc, asked).await.hash()
    );

    // A node started with `--sync warp` takes the late node's warp proof, checks it from the
    // genesis validators, downloads the state of the block it leads to (each trie node
    // checked against its hash), and follows the chain from there: it imports no block below
    // it and enacts no change itself.
    let warped_from = finalized_number(late.rpc).await;
    let warp = Member::start(
        dir.path(),
        "Warp",
        &spec_path,
        None,
        std::slice::from_ref(&late.address),
        &["--sync", "warp"],
        None,
    );
    wait_finalized(warp.rpc, warped_from + 3, dir.path()).await;
    let log = warp.log();
    let done = log.lines().find(|line| line.contains("warp sync: done"));
    println!("{}", done.unwrap_or_else(|| panic!("no warp sync: {log}")));
    assert_eq!(
        log.matches("finality authority set changed").count(),
        0,
        "{log}"
    );
    let below: Value = request(warp.rpc, "chain_getBlockHash", rpc_params![1]).await;
    assert!(below.is_null(), "block 1 is not fetched: {below}");
    // Its state is the chain's: the session's validators and Eve's ledger read there as on
    // the late node, at the same block.
    let head: Value = request(warp.rpc, "chain_getFinalizedHead", rpc_params![]).await;
    let validators = |port| storage_at::<Vec<AccountId>>(port, session::VALIDATORS.key(), &head);
    assert_eq!(validators(warp.rpc).await, validators(late.rpc).await);
    assert!(validators(warp.rpc).await.is_some());
    let eve = staking::LEDGER.key(&id("Eve"));
    assert_eq!(
        storage_at::<staking::StakingLedger>(warp.rpc, eve.clone(), &head).await,
        storage_at::<staking::StakingLedger>(late.rpc, eve, &head).await
    );
}
