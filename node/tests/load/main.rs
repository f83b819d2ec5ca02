//! The default dev network (`tessera dev` as `make dev` runs it, with its dev workload) as a
//! user meets it: the README's XCM transfer works as written, a failing one says why and exits
//! non-zero, a watched transaction that another takes the nonce of is reported invalid with
//! why, and when the relay chain and para 1000 are each offered more than fits through their
//! RPC for 30 relay slots, both keep finalizing; and while hostile peers attack the four
//! validators on every protocol, the relay chain keeps authoring and finalizing and both paras
//! keep advancing, and no honest node bans another; then `tessera set-code` upgrades para 1000
//! and the relay chain without a restart.
//!
//! A test binary of its own: cargo runs test binaries one after another, and its tests take
//! turns ([`EXCLUSIVE`]), so no other test shares the two cores while one measures liveness
//! under load. `malus.rs` holds the networks with hostile and failing validators.

mod malus;
mod processes;

#[path = "../common/process.rs"]
mod process;

#[path = "../common/adversary.rs"]
mod adversary;

use futures::StreamExt;
use jsonrpsee_core::client::{ClientT, Subscription, SubscriptionClientT};
use jsonrpsee_core::rpc_params;
use jsonrpsee_ws_client::{WsClient, WsClientBuilder};
use parachain_template_runtime::TemplateRuntime;
use parity_scale_codec::Encode;
use process::{
    best_number, finalized_number, free_port, header_of, print_logs, request, tessera, Process,
};
use serde_json::{json, Value};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_relay_chain::{Call, UNIT};
use tessera_runtime::crypto::Pair;
use tessera_runtime::executive::Runtime;
use tessera_runtime::extrinsic::{ChainContext, Era, Extrinsic, SignedExtra};
use tessera_runtime::modules::balances;
use tessera_runtime::{Hash, Header, OpaqueExtrinsic};

/// The README's beneficiary on para 1001 (Bob).
const README_BENEFICIARY: &str = "5FHneW46xGXgs5mUiveU4sbTyGBzmstUspZC92UhjJM694ty";

/// Transfers offered to each chain per second: about 2.5 times the 1,200 a template para
/// block holds by weight, and many times what a relay block takes in the third of a slot an
/// author gives itself in a debug build.
const OFFERED_PER_SECOND: usize = 3_000;

/// The relay slots the load runs for, once the pools are full (each chain's floods; 80 % of
/// them must be authored and finalized).
const SLOTS: u32 = 20;

/// Signers of the offered load (funded first), so the dev workload's accounts are left alone.
const LOAD_ACCOUNTS: usize = 8;

/// Held by each test of this binary while it runs: one network at a time.
pub(crate) static EXCLUSIVE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_default_dev_network_takes_the_readme_xcm_command_and_keeps_finalizing_under_load() {
    let _turn = EXCLUSIVE.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let base = dir.path().join("dev");
    let rpc = free_port();
    let dev = Process::spawn(&["dev", "--rpc-port", &rpc.to_string()], &base);
    // `validator Alice    5Grw…  rpc http://127.0.0.1:PORT  libp2p /ip4/…/p2p/…`
    let validators: Vec<libp2p::Multiaddr> = (0..4)
        .map(|_| {
            let line = dev.line("validator");
            line.rsplit("libp2p ").next().unwrap().parse().unwrap()
        })
        .collect();
    // `para     1000     template · rpc http://127.0.0.1:PORT · collator Ferdie`
    let port_of = |line: String| -> u16 {
        let addr = line.split("rpc http://").nth(1).unwrap();
        let addr = addr.split(' ').next().unwrap();
        addr.rsplit(':').next().unwrap().parse().unwrap()
    };
    let template = port_of(dev.line("para     1000"));
    let example = port_of(dev.line("para     1001"));
    // `join     tessera run --chain SPEC --base-path PATH --para 1000 --bootnodes PEERS`
    let join = dev.line("join");

    // The README's command, with the ports this run got.
    let (template_url, example_url) = (
        format!("ws://127.0.0.1:{template}"),
        format!("ws://127.0.0.1:{example}"),
    );
    let readme = [
        "xcm",
        "transfer",
        "--rpc",
        &template_url,
        "--from",
        "//Alice",
        "--dest",
        "para:1001",
        "--beneficiary",
        README_BENEFICIARY,
        "--amount",
        "2.5",
        "--dest-rpc",
        &example_url,
    ];
    let (code, text) = tessera(&readme);
    if code != 0 {
        print_logs(dir.path());
    }
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("message id 0x"), "{text}");
    assert!(text.contains("included in block 0x"), "{text}");
    assert!(text.contains("sent at block"), "{text}");
    assert!(
        text.contains("executed at block") && text.contains("complete"),
        "{text}"
    );

    // A failing transfer says why and exits non-zero: Alice holds no relay tokens on 1000.
    let mut failing = readme[..10].to_vec();
    failing.extend(["--amount", "1", "--asset", "relay", "--timeout", "30"]);
    let (code, text) = tessera(&failing);
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("sent no message"), "{text}");

    registered_from_the_cli(rpc, &join, dir.path()).await;
    under_load(rpc, template, dir.path()).await;
    under_attack(rpc, &validators, &base.with_extension("log")).await;
    upgraded_from_the_cli(rpc, &template_url, dir.path()).await;
    drop(dev);
}

/// `tessera set-code` replaces para 1000's runtime and then the relay chain's with their next
/// versions, as Alice (sudo on both), after refusing a blob that is no para runtime before
/// anything is sent.
async fn upgraded_from_the_cli(relay: u16, template_url: &str, dir: &std::path::Path) {
    let set_code = |rpc: &str, wasm: &str| {
        let args = [
            "set-code", "--rpc", rpc, "--sudo", "//Alice", "--wasm", wasm,
        ];
        let (code, text) = tessera(&[&args[..], &["--timeout", "120"]].concat());
        if code != 0 {
            print_logs(dir);
        }
        (code, text)
    };
    let relay_url = format!("ws://127.0.0.1:{relay}");
    let (template_next, relay_next) = (env!("TEMPLATE_NEXT_WASM"), env!("RELAY_NEXT_WASM"));
    let (code, text) = set_code(template_url, relay_next);
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("does not export validate_block"), "{text}");

    let (code, text) = set_code(template_url, template_next);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("para 1000 accepted it in block"), "{text}");
    assert!(text.contains("para 1000 runs version 2"), "{text}");

    let (code, text) = set_code(&relay_url, relay_next);
    assert_eq!(code, 0, "{text}");
    assert!(
        text.contains("finalized relay block")
            && text.contains("runs version 2 from the next block"),
        "{text}"
    );
    let version: Value = request(relay, "state_getRuntimeVersion", rpc_params![]).await;
    assert_eq!(version["specVersion"], 2);
}

/// The para ids `tessera_paras` lists at the relay node at `relay`.
async fn para_ids(relay: u16) -> Vec<u64> {
    let paras: Value = request(relay, "tessera_paras", rpc_params![]).await;
    let paras = paras.as_array().unwrap();
    paras.iter().filter_map(|p| p["id"].as_u64()).collect()
}

/// README's `tessera para` commands: a para chain spec is written for a Wasm blob that
/// `tessera` does not carry, the template built with a change (its `next-version` feature:
/// another `spec_version` and base fee) (`build-spec --para-wasm`); Bob reserves an id and registers the para from that spec
/// (Charlie, who did not reserve it, cannot); it is onboarded at the block the command said;
/// a node started from the spec alone (`run --para-spec`, no para of this binary) collates
/// it, and its blocks are finalized; Bob deregisters it and gets the deposits back. `status`
/// says each stage.
async fn registered_from_the_cli(relay: u16, join: &str, dir: &std::path::Path) {
    let url = format!("ws://127.0.0.1:{relay}");
    let after = |flag: &str| -> String {
        let rest = join
            .split(flag)
            .nth(1)
            .unwrap_or_else(|| panic!("no {flag} in {join}"));
        rest.split_whitespace().next().unwrap().to_string()
    };
    let (relay_spec, bootnodes) = (after("--chain "), after("--bootnodes "));
    let wasm = dir.join("para-2000.wasm");
    std::fs::copy(env!("TEMPLATE_NEXT_WASM"), &wasm).unwrap();
    let wasm = wasm.to_string_lossy().into_owned();
    let (code, json) = tessera(&["build-spec", "--para-wasm", &wasm, "--para-id", "2000"]);
    assert_eq!(code, 0, "{json}");
    let para_spec = dir.join("para-2000.json");
    std::fs::write(&para_spec, &json).unwrap();
    let para_spec = para_spec.to_string_lossy().into_owned();
    let status = || {
        let (code, text) = tessera(&["para", "status", "--rpc", &url, "--id", "2000"]);
        assert_eq!(code, 0, "{text}");
        text
    };
    assert!(status().contains("neither registered nor reserved"));
    let (code, text) = tessera(&["para", "reserve", "--rpc", &url, "--from", "//Bob"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("reserved para id 2000"), "{text}");
    // The command returns once a finalized block holds the reservation.
    let said = status();
    assert!(
        said.contains("reserved, not registered; manager 5FHneW46"),
        "{said}"
    );
    let register = |from| {
        let args = ["--from", from, "--id", "2000", "--spec", &para_spec];
        tessera(&[&["para", "register", "--rpc", &url][..], &args].concat())
    };
    let (code, text) = register("//Charlie");
    assert_ne!(code, 0, "{text}");
    assert!(text.contains("failed: Registrar: NotManager"), "{text}");
    let (code, text) = register("//Bob");
    assert_eq!(code, 0, "{text}");
    let at: u32 = text
        .split("onboarded in relay block #")
        .nth(1)
        .and_then(|rest| rest.trim().parse().ok())
        .unwrap_or_else(|| panic!("no onboarding block in {text}"));
    assert!(!para_ids(relay).await.contains(&2000), "onboarded early");
    let said = status();
    assert!(
        said.contains(&format!("onboarded in relay block #{at}")),
        "{said}"
    );
    tokio::time::timeout(Duration::from_secs(60), async {
        while best_number(relay).await < at || !para_ids(relay).await.contains(&2000) {
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await
    .expect("para 2000 was not onboarded");
    let said = status();
    assert!(said.contains("para 2000: onboarded, head #0 "), "{said}");

    // A relay full node that collates para 2000 from its spec alone.
    let (node_rpc, para_rpc) = (free_port().to_string(), free_port().to_string());
    let collator = Process::spawn(
        &[
            "run",
            "--chain",
            &relay_spec,
            "--bootnodes",
            &bootnodes,
            "--listen-addr",
            "/ip4/127.0.0.1/tcp/0",
            "--rpc-port",
            &node_rpc,
            "--para-spec",
            &para_spec,
            "--collator-key",
            "//Ferdie",
            "--para-rpc-port",
            &para_rpc,
        ],
        &dir.join("para-2000-collator"),
    );
    let finalized_head = || async {
        let paras: Value = request(relay, "tessera_paras", rpc_params![]).await;
        paras
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == 2000)
            .and_then(|p| p["finalized"]["number"].as_u64())
    };
    let finalized = tokio::time::timeout(Duration::from_secs(90), async {
        loop {
            match finalized_head().await {
                Some(number) if number >= 2 => return number,
                _ => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    })
    .await;
    if finalized.is_err() {
        print_logs(dir);
    }
    assert!(
        finalized.is_ok(),
        "para 2000 finalized no block from its spec's collator"
    );
    drop(collator);
    let args = [
        "para",
        "deregister",
        "--rpc",
        &url,
        "--from",
        "//Bob",
        "--id",
        "2000",
    ];
    let (code, text) = tessera(&args);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains("para 2000 deregistered;"), "{text}");
    assert!(!para_ids(relay).await.contains(&2000));
    assert!(status().contains("neither registered nor reserved"));
}

/// How long each window of the attack comparison lasts.
const WINDOW: Duration = Duration::from_secs(10);

/// Progress over a window: relay blocks, relay blocks finalized, para blocks finalized (1000,
/// 1001).
#[derive(Debug)]
struct Progress {
    blocks: u32,
    finalized: u32,
    paras: [u32; 2],
}

async fn para_finalized(relay: u16) -> [u32; 2] {
    let paras: Value = request(relay, "tessera_paras", rpc_params![]).await;
    let of = |id: u64| {
        paras
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .and_then(|p| p["finalized"]["number"].as_u64())
            .unwrap() as u32
    };
    [of(1000), of(1001)]
}

/// What the chain did between now and `until` (while `during` runs).
async fn progress(relay: u16, during: impl std::future::Future<Output = ()>) -> Progress {
    let (best, finalized, paras) = (
        best_number(relay).await,
        finalized_number(relay).await,
        para_finalized(relay).await,
    );
    during.await;
    let now = para_finalized(relay).await;
    Progress {
        blocks: best_number(relay).await - best,
        finalized: finalized_number(relay).await - finalized,
        paras: [now[0] - paras[0], now[1] - paras[1]],
    }
}

/// Hostile peers, one identity after another as each is banned, attack the four validators
/// on every protocol for a window; the chain's progress then must stay near that of the same
/// window without them, and the only peers banned are the attackers.
async fn under_attack(relay: u16, validators: &[libp2p::Multiaddr], log: &std::path::Path) {
    let client = connect(relay).await;
    let chain = genesis(&client).await.to_string();
    let paras = [
        tessera_relay_chain::paras::ParaId(1000),
        tessera_relay_chain::paras::ParaId(1001),
    ];
    let quiet = progress(relay, tokio::time::sleep(WINDOW)).await;
    let mut attackers = Vec::new();
    let mut sent = adversary::Sent::default();
    let attacked = progress(relay, async {
        let end = Instant::now() + WINDOW;
        while Instant::now() < end {
            let mut attacker = adversary::Adversary::join(&chain, validators).await;
            attackers.push(attacker.id());
            let best = best_header(&client).await;
            let until = end.min(Instant::now() + Duration::from_secs(4));
            let more = attacker.attack_until(until, best, &paras).await;
            sent.gossip += more.gossip;
            sent.requests += more.requests;
            sent.collations += more.collations;
        }
    })
    .await;
    eprintln!(
        "under attack ({} attackers sent {} gossip messages, {} requests, {} collations) \
         over {WINDOW:?}: {attacked:?}; the same window without them: {quiet:?}",
        attackers.len(),
        sent.gossip,
        sent.requests,
        sent.collations
    );
    assert!(
        sent.gossip > 0 && sent.requests > 0,
        "the attack never got through"
    );
    assert!(
        attacked.blocks * 2 >= quiet.blocks && attacked.finalized * 2 >= quiet.finalized,
        "the relay chain slowed under attack: {attacked:?} against {quiet:?}"
    );
    assert!(
        attacked.paras.iter().all(|&n| n > 0),
        "a para stalled under attack: {attacked:?}"
    );
    // The only bans are of attackers: honest nodes never turned on each other.
    let text = std::fs::read_to_string(log).unwrap();
    let banned: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("banning peer"))
        .filter_map(|l| l.split("peer=").nth(1)?.split_whitespace().next())
        .collect();
    assert!(!banned.is_empty(), "no attacker was banned");
    let attackers: Vec<String> = attackers.iter().map(ToString::to_string).collect();
    for peer in banned {
        assert!(
            attackers.iter().any(|a| a == peer),
            "an honest peer was banned: {peer}"
        );
    }
}

/// Floods the relay chain (RPC `relay`) and para 1000 (RPC `para`) and checks that both keep
/// finalizing.
async fn under_load(relay: u16, para: u16, logs: &std::path::Path) {
    let relay_client = connect(relay).await;
    let para_client = connect(para).await;
    let relay_genesis: Hash = genesis(&relay_client).await;
    let para_genesis: Hash = genesis(&para_client).await;
    let funder = Pair::dev("Bob");
    let signers: Vec<Pair> = (0..LOAD_ACCOUNTS)
        .map(|i| Pair::from_uri(&format!("//Bob//load//{i}")).unwrap())
        .collect();

    // Fund the load accounts on both chains, with nonces the nodes give (after their pools;
    // the dev workload signs with Bob too, so a nonce can be taken meanwhile).
    let best = best_header(&relay_client).await;
    for signer in &signers {
        submit_from(&relay_client, &funder, |nonce| {
            let call = Call::Balances(balances::Call::Transfer {
                dest: signer.public().into(),
                value: 10_000 * UNIT,
            });
            tessera_node::workload::sign(&funder, call, nonce, relay_genesis, &best)
        })
        .await;
    }
    for signer in &signers {
        submit_from(&para_client, &funder, |nonce| {
            let call = parachain_template_runtime::Call::from(balances::Call::Transfer {
                dest: signer.public().into(),
                value: 10_000 * UNIT,
            });
            tessera_runtime::parachain::sign::<TemplateRuntime>(&funder, call, nonce, para_genesis)
        })
        .await;
    }
    wait_funded(relay, &signers).await;
    wait_funded(para, &signers).await;
    a_replaced_transaction_is_reported_invalid(&para_client, &signers[0], para_genesis, logs).await;

    let dest = Pair::dev("Dave").public();

    // The para first: offered several times its block capacity through its RPC.
    let (offered, grew) = flood(relay, para, signers.clone(), move |signer, nonce, _| {
        let call = parachain_template_runtime::Call::from(balances::Call::Transfer {
            dest: dest.into(),
            value: UNIT,
        });
        tessera_runtime::parachain::sign::<TemplateRuntime>(signer, call, nonce, para_genesis)
    })
    .await;
    let report = format!("para 1000 flooded: {grew:?}; offered (accepted, refused) {offered:?}");
    eprintln!("{report}");
    if grew.para_finalized * 10 < grew.best * 8 {
        print_logs(logs);
    }
    assert!(grew.best >= SLOTS * 8 / 10, "{report}");
    assert!(grew.para_finalized * 10 >= grew.best * 8, "{report}");
    assert_overloaded(offered, &report);

    // Then the relay chain.
    let (offered, grew) = flood(relay, relay, signers, move |signer, nonce, best| {
        let call = Call::Balances(balances::Call::Transfer {
            dest: dest.into(),
            value: 1,
        });
        tessera_node::workload::sign(signer, call, nonce, relay_genesis, best)
    })
    .await;
    let report = format!("relay flooded: {grew:?}; offered (accepted, refused) {offered:?}");
    eprintln!("{report}");
    if grew.finalized < SLOTS * 8 / 10 {
        print_logs(logs);
    }
    assert!(grew.finalized >= SLOTS * 8 / 10, "{report}");
    // The relay runtime runs as its release-built Wasm even in this debug build, so the relay
    // takes a larger share of the same offer than a para (whose transactions are also checked
    // in Wasm, but whose blocks hold fewer): a tenth refused still shows a full pool.
    let (accepted, refused) = offered;
    assert!(refused * 10 >= accepted, "{report}");
}

/// More was offered than the chain took: its pool was full, so a good part of the offer (a
/// fifth at least) was refused (with Substrate's code 1016, "immediately dropped"). In this
/// debug build on two cores the generator reaches about 1.5 times a para's block capacity
/// since para transactions are checked in the para's Wasm (about twice the native cost).
fn assert_overloaded((accepted, refused): (usize, usize), report: &str) {
    assert!(refused * 4 >= accepted, "{report}");
}

/// Offers load to the node at `port` with [`offer`] and measures over [`SLOTS`] relay slots
/// (1 s each in `dev`), once the pools are full: what was offered (accepted, refused), and
/// how much the relay's best and finalized numbers and para 1000's finalized number grew.
async fn flood(
    relay: u16,
    port: u16,
    signers: Vec<Pair>,
    sign: impl Fn(&Pair, tessera_runtime::Nonce, &Header) -> OpaqueExtrinsic + Send + Sync + 'static,
) -> ((usize, usize), Heights) {
    let stop = Arc::new(AtomicBool::new(false));
    let load = tokio::spawn(offer(port, signers, stop.clone(), sign));
    tokio::time::sleep(Duration::from_secs(5)).await;
    let before = heights(relay).await;
    tokio::time::sleep(Duration::from_secs(u64::from(SLOTS))).await;
    let after = heights(relay).await;
    stop.store(true, Ordering::Relaxed);
    let offered = load.await.unwrap();
    let grew = Heights {
        best: after.best - before.best,
        finalized: after.finalized - before.finalized,
        para_finalized: after.para_finalized - before.para_finalized,
    };
    (offered, grew)
}

/// A para transaction replaced in the pool by another with its nonce and a higher tip is
/// reported at once (`transactionWatch_v1`: invalid, saying by which); the other is followed
/// to finality (`author_submitAndWatchExtrinsic`). Both wait for an earlier nonce, so neither
/// can be in a block before the replacement.
async fn a_replaced_transaction_is_reported_invalid(
    client: &WsClient,
    who: &Pair,
    genesis: Hash,
    logs: &std::path::Path,
) {
    let nonce = next_index(client, who).await;
    let signed = |nonce, tip| {
        let call = parachain_template_runtime::Call::from(balances::Call::Transfer {
            dest: Pair::dev("Dave").public().into(),
            value: UNIT,
        });
        let extra = SignedExtra {
            era: Era::Immortal,
            nonce,
            tip,
        };
        let chain = ChainContext {
            spec_version: TemplateRuntime::VERSION.spec_version,
            transaction_version: TemplateRuntime::VERSION.transaction_version,
            genesis_hash: genesis,
            birth_hash: genesis,
        };
        let xt = Extrinsic::signed(who, call, extra, &chain).to_opaque();
        format!("0x{}", hex::encode(xt.encode()))
    };
    let mut first: Subscription<Value> = client
        .subscribe(
            "transactionWatch_v1_submitAndWatch",
            rpc_params![signed(nonce + 1, 0)],
            "transactionWatch_v1_unwatch",
        )
        .await
        .unwrap();
    assert_eq!(
        next(&mut first, "validated", logs).await,
        json!({"event": "validated"})
    );
    let mut second: Subscription<Value> = client
        .subscribe(
            "author_submitAndWatchExtrinsic",
            rpc_params![signed(nonce + 1, 1)],
            "author_unwatchExtrinsic",
        )
        .await
        .unwrap();
    assert_eq!(next(&mut second, "future", logs).await, json!("future"));
    let replaced = next(&mut first, "invalid (replaced)", logs).await;
    assert_eq!(replaced["event"], "invalid", "{replaced}");
    let reason = replaced["error"].as_str().unwrap();
    assert!(reason.contains("replaced by 0x"), "{reason}");
    // The missing nonce comes: the second goes in and is finalized.
    let _: String = client
        .request("author_submitExtrinsic", rpc_params![signed(nonce, 0)])
        .await
        .unwrap();
    assert!(next(&mut second, "inBlock", logs)
        .await
        .get("inBlock")
        .is_some());
    assert!(next(&mut second, "finalized", logs)
        .await
        .get("finalized")
        .is_some());
}

/// The next event of a subscription, within a minute; `what` says which, if none comes (after
/// the network's logs).
async fn next(subscription: &mut Subscription<Value>, what: &str, logs: &std::path::Path) -> Value {
    tokio::time::timeout(Duration::from_secs(60), subscription.next())
        .await
        .unwrap_or_else(|_| {
            print_logs(logs);
            panic!("no `{what}` event within a minute")
        })
        .unwrap_or_else(|| panic!("subscription closed before its `{what}` event"))
        .unwrap()
}

/// Relay best and finalized numbers and para 1000's finalized number.
#[derive(Debug)]
struct Heights {
    best: u32,
    finalized: u32,
    para_finalized: u32,
}

async fn heights(relay: u16) -> Heights {
    let best = best_number(relay).await;
    let finalized = finalized_number(relay).await;
    let paras: Value = request(relay, "tessera_paras", rpc_params![]).await;
    let para_finalized = paras
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == 1000)
        .and_then(|p| p["finalized"]["number"].as_u64())
        .unwrap() as u32;
    Heights {
        best,
        finalized,
        para_finalized,
    }
}

async fn connect(port: u16) -> WsClient {
    WsClientBuilder::default()
        .max_concurrent_requests(1_024)
        .build(format!("ws://127.0.0.1:{port}"))
        .await
        .unwrap()
}

async fn genesis(client: &WsClient) -> Hash {
    let hash: String = client
        .request("chain_getBlockHash", rpc_params![0])
        .await
        .unwrap();
    hash.parse().unwrap()
}

async fn best_header(client: &WsClient) -> Header {
    let header: Value = client
        .request("chain_getHeader", rpc_params![])
        .await
        .unwrap();
    header_of(&header)
}

async fn next_index(client: &WsClient, who: &Pair) -> tessera_runtime::Nonce {
    client
        .request(
            "system_accountNextIndex",
            rpc_params![who.public().to_ss58(42)],
        )
        .await
        .unwrap()
}

/// Submits `signed(nonce)` from `who` with the nonce the node gives, asking again when that
/// nonce was taken meanwhile: the dev workload signs with the same dev accounts.
async fn submit_from(
    client: &WsClient,
    who: &Pair,
    signed: impl Fn(tessera_runtime::Nonce) -> OpaqueExtrinsic,
) {
    let mut last = String::new();
    for _ in 0..20 {
        let nonce = next_index(client, who).await;
        match submit(client, &signed(nonce)).await {
            Ok(_) => return,
            Err(err) if err.contains("nonce") => last = err,
            Err(err) => panic!("{err}"),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no free nonce for {}: {last}", who.public());
}

async fn submit(client: &WsClient, xt: &OpaqueExtrinsic) -> Result<String, String> {
    client
        .request(
            "author_submitExtrinsic",
            rpc_params![format!("0x{}", hex::encode(xt.encode()))],
        )
        .await
        .map_err(|err| err.to_string())
}

async fn wait_funded(port: u16, signers: &[Pair]) {
    // Bounded, but with room for the other load tests sharing the two cores with this one.
    let deadline = Instant::now() + Duration::from_secs(150);
    for signer in signers {
        let key = tessera_runtime::modules::system::ACCOUNT.key(&signer.public());
        let key = format!("0x{}", hex::encode(key));
        while request::<Value>(port, "state_getStorage", rpc_params![key.clone()])
            .await
            .is_null()
        {
            assert!(
                Instant::now() < deadline,
                "load accounts not funded on {port}"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// Offers [`OFFERED_PER_SECOND`] transfers signed by `signers` to the node at `port` until
/// `stop`: each signer on a connection of its own, a batch every 100 ms from the next nonce
/// the node gives; how many were accepted and refused (a full pool refuses, with its reason).
async fn offer(
    port: u16,
    signers: Vec<Pair>,
    stop: Arc<AtomicBool>,
    sign: impl Fn(&Pair, tessera_runtime::Nonce, &Header) -> OpaqueExtrinsic,
) -> (usize, usize) {
    let per_batch = (OFFERED_PER_SECOND / 10 / signers.len()) as tessera_runtime::Nonce;
    let (accepted, refused) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let one_signer = |signer: Pair| {
        let (stop, sign, accepted, refused) = (&stop, &sign, &accepted, &refused);
        async move {
            let client = connect(port).await;
            while !stop.load(Ordering::Relaxed) {
                let started = Instant::now();
                let best = best_header(&client).await;
                let nonce = next_index(&client, &signer).await;
                let batch = (nonce..nonce + per_batch).map(|nonce| sign(&signer, nonce, &best));
                futures::stream::iter(batch)
                    .for_each_concurrent(64, |xt| {
                        let client = &client;
                        async move {
                            match submit(client, &xt).await {
                                Ok(_) => accepted.fetch_add(1, Ordering::Relaxed),
                                Err(_) => refused.fetch_add(1, Ordering::Relaxed),
                            };
                        }
                    })
                    .await;
                let left = Duration::from_millis(100).saturating_sub(started.elapsed());
                tokio::time::sleep(left).await;
            }
        }
    };
    futures::future::join_all(signers.into_iter().map(one_signer)).await;
    (accepted.into_inner(), refused.into_inner())
}
