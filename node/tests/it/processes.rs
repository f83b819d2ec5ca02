//! Real `tessera` processes on loopback: four validators author and finalize; finality goes on
//! without one, stops without two while authoring goes on, and resumes when a SIGKILLed
//! validator restarts from its RocksDB; a fresh full node syncs from genesis and follows
//! finality; a transfer submitted over RPC is seen finalized; a peer sending garbage is
//! disconnected while the network goes on. The helpers here also serve `load.rs`.

use jsonrpsee_core::client::ClientT;
use jsonrpsee_core::client::{Subscription, SubscriptionClientT};
use jsonrpsee_core::rpc_params;
use jsonrpsee_ws_client::WsClientBuilder;
use libp2p::identity;
use parity_scale_codec::{Decode, Encode};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tessera_node::network::{self, NetworkConfig, NetworkEvent, Topic};
use tessera_node::workload::sign;
use tessera_relay_chain::{Call, ChainSpec, UNIT};
use tessera_runtime::crypto::Pair;
use tessera_runtime::modules::{balances, system};
use tessera_runtime::Header;

const WAIT: Duration = Duration::from_secs(60);

pub(crate) fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `tessera` process whose stdout lines arrive on a channel.
pub(crate) struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Process {
    pub(crate) fn spawn(args: &[&str], base: &Path) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .arg("--base-path")
            .arg(base)
            .args(["--prometheus-port", "0", "--log"])
            // `TESSERA_TEST_LOG=tessera_node=debug` for more in the logs.
            .arg(std::env::var("TESSERA_TEST_LOG").unwrap_or_else(|_| "info".into()))
            .stdout(Stdio::piped())
            // Kept beside the node's data (in the test's temporary directory) for debugging.
            .stderr(std::fs::File::create(base.with_extension("log")).unwrap())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Process { child, lines }
    }

    /// The first stdout line starting with `prefix`, without it.
    pub(crate) fn line(&self, prefix: &str) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = self
                .lines
                .recv_timeout(left)
                .unwrap_or_else(|_| panic!("no `{prefix}` line"));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_string();
            }
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub(crate) async fn request<T: serde::de::DeserializeOwned>(
    port: u16,
    method: &str,
    params: jsonrpsee_core::params::ArrayParams,
) -> T {
    let client = WsClientBuilder::default()
        .build(format!("ws://127.0.0.1:{port}"))
        .await
        .unwrap();
    client.request(method, params).await.unwrap()
}

pub(crate) async fn best_number(port: u16) -> u32 {
    let header: Value = request(port, "chain_getHeader", rpc_params![]).await;
    u32::from_str_radix(
        header["number"].as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap()
}

/// Prints the last lines of every node log under `dir` (shown when a test fails).
pub(crate) fn print_logs(dir: &Path) {
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "log") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            eprintln!("--- {} (last 40 lines)", path.display());
            for line in &lines[lines.len().saturating_sub(40)..] {
                eprintln!("{line}");
            }
        }
    }
}

async fn wait_best(port: u16, at_least: u32) -> u32 {
    tokio::time::timeout(WAIT, async {
        loop {
            let best = best_number(port).await;
            if best >= at_least {
                return best;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("port {port} did not reach #{at_least}"))
}

async fn hash_at(port: u16, number: u32) -> Value {
    request(port, "chain_getBlockHash", rpc_params![number]).await
}

pub(crate) async fn free_balance(port: u16, who: &Pair) -> u128 {
    let key = system::ACCOUNT.key(&who.public());
    let value: Value = request(
        port,
        "state_getStorage",
        rpc_params![format!("0x{}", hex::encode(key))],
    )
    .await;
    let bytes = hex::decode(value.as_str().unwrap().trim_start_matches("0x")).unwrap();
    system::AccountInfo::decode(&mut &bytes[..])
        .unwrap()
        .data
        .free
}

pub(crate) async fn finalized_number(port: u16) -> u32 {
    let hash: Value = request(port, "chain_getFinalizedHead", rpc_params![]).await;
    let header: Value = request(port, "chain_getHeader", rpc_params![hash]).await;
    u32::from_str_radix(
        header["number"].as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap()
}

async fn wait_finalized(port: u16, at_least: u32, logs: &Path) -> u32 {
    let finalized = tokio::time::timeout(WAIT, async {
        loop {
            let finalized = finalized_number(port).await;
            if finalized >= at_least {
                return finalized;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    finalized.unwrap_or_else(|_| {
        print_logs(logs);
        panic!("port {port} did not finalize #{at_least}")
    })
}

/// The best header of the node at `port`, rebuilt from its JSON.
async fn best_header(port: u16) -> Header {
    let header: Value = request(port, "chain_getHeader", rpc_params![]).await;
    header_of(&header)
}

/// A header from its RPC JSON.
pub(crate) fn header_of(header: &Value) -> Header {
    Header {
        parent_hash: header["parentHash"].as_str().unwrap().parse().unwrap(),
        number: u32::from_str_radix(
            header["number"].as_str().unwrap().trim_start_matches("0x"),
            16,
        )
        .unwrap(),
        state_root: header["stateRoot"].as_str().unwrap().parse().unwrap(),
        extrinsics_root: header["extrinsicsRoot"].as_str().unwrap().parse().unwrap(),
        digest: tessera_runtime::Digest {
            logs: header["digest"]["logs"]
                .as_array()
                .unwrap()
                .iter()
                .map(|log| {
                    Decode::decode(&mut &hex::decode(&log.as_str().unwrap()[2..]).unwrap()[..])
                        .unwrap()
                })
                .collect(),
        },
    }
}

/// One node of the test network: its arguments (to restart it the same way) and process.
struct Member {
    args: Vec<String>,
    base: PathBuf,
    rpc: u16,
    process: Option<Process>,
    address: String,
}

impl Member {
    /// Starts a node; a validator with `key`, else a full node.
    fn start(dir: &Path, name: &str, spec: &Path, key: Option<&str>, bootnodes: &[String]) -> Self {
        let rpc = free_port();
        let mut args: Vec<String> =
            vec!["run".into(), "--chain".into(), spec.display().to_string()];
        if let Some(key) = key {
            args.extend(["--validator".into(), "--key".into(), key.into()]);
        }
        args.extend([
            "--listen-addr".into(),
            format!("/ip4/127.0.0.1/tcp/{}", free_port()),
            "--rpc-port".into(),
            rpc.to_string(),
        ]);
        if !bootnodes.is_empty() {
            args.extend(["--bootnodes".into(), bootnodes.join(",")]);
        }
        let mut member = Member {
            args,
            base: dir.join(name),
            rpc,
            process: None,
            address: String::new(),
        };
        member.restart();
        member
    }

    /// (Re)starts the process with the same arguments, base path and ports.
    fn restart(&mut self) {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let process = Process::spawn(&args, &self.base);
        self.address = process.line("libp2p:");
        self.process = Some(process);
    }

    /// SIGKILL.
    fn kill(&mut self) {
        self.process = None;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn four_validators_finalize_survive_failures_and_serve_newcomers() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ChainSpec::dev_with_validators(4);
    spec.genesis.slot_duration_ms = 300;
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, spec.to_json()).unwrap();
    let genesis = spec.build_genesis().unwrap().header.hash();

    let mut validators: Vec<Member> = Vec::new();
    for name in ["Alice", "Bob", "Charlie", "Dave"] {
        let bootnodes: Vec<String> = validators.iter().map(|v| v.address.clone()).collect();
        let key = format!("//{name}");
        validators.push(Member::start(
            dir.path(),
            name,
            &spec_path,
            Some(&key),
            &bootnodes,
        ));
    }
    let alice = validators[0].rpc;

    // All four author and finalize.
    wait_finalized(alice, 3, dir.path()).await;

    // Without Dave (a quarter of the weight), finality goes on.
    validators[3].kill();
    let finalized = finalized_number(alice).await;
    wait_finalized(alice, finalized + 3, dir.path()).await;

    // Without Charlie too, authoring goes on but finality stops.
    let charlie_best = best_number(validators[2].rpc).await;
    validators[2].kill();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let stalled = finalized_number(alice).await;
    let best = best_number(alice).await;
    wait_best(alice, best + 6).await;
    assert_eq!(
        finalized_number(alice).await,
        stalled,
        "finality went on with half the voters"
    );

    // Charlie, SIGKILLed while importing, restarts from its RocksDB with nothing lost and
    // finality resumes.
    validators[2].restart();
    assert!(best_number(validators[2].rpc).await >= charlie_best);
    wait_finalized(alice, stalled + 3, dir.path()).await;

    // A fresh full node syncs from genesis and follows finality.
    let bootnodes: Vec<String> = validators[..3].iter().map(|v| v.address.clone()).collect();
    let observer = Member::start(dir.path(), "observer", &spec_path, None, &bootnodes);
    let target = finalized_number(alice).await + 2;
    wait_finalized(observer.rpc, target, dir.path()).await;
    for number in [1, target / 2, target] {
        assert_eq!(
            hash_at(observer.rpc, number).await,
            hash_at(alice, number).await,
            "block #{number}"
        );
    }

    // A transfer submitted over RPC is seen in a block and then finalized.
    let (eve, ferdie) = (Pair::dev("Eve"), Pair::dev("Ferdie"));
    let before = free_balance(observer.rpc, &ferdie).await;
    let call = Call::Balances(balances::Call::Transfer {
        dest: ferdie.public(),
        value: 7 * UNIT,
    });
    let xt = sign(&eve, call, 0, genesis, &best_header(alice).await);
    let client = WsClientBuilder::default()
        .build(format!("ws://127.0.0.1:{alice}"))
        .await
        .unwrap();
    let mut watch: Subscription<Value> = client
        .subscribe(
            "author_submitAndWatchExtrinsic",
            rpc_params![format!("0x{}", hex::encode(xt.encode()))],
            "author_unwatchExtrinsic",
        )
        .await
        .unwrap();
    let finalized_in = tokio::time::timeout(WAIT, async {
        loop {
            let status = watch.next().await.unwrap().unwrap();
            if let Some(hash) = status.get("finalized") {
                return hash.clone();
            }
        }
    })
    .await
    .expect("the transfer was not finalized");
    let finalized_at: Value = request(alice, "chain_getFinalizedHead", rpc_params![]).await;
    assert!(finalized_in.is_string(), "{finalized_at}");
    tokio::time::timeout(WAIT, async {
        while free_balance(observer.rpc, &ferdie).await != before + 7 * UNIT {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the transfer did not reach the observer");

    drop(observer);
    validators.clear();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_sending_garbage_is_disconnected_while_the_chain_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let mut spec = ChainSpec::dev();
    spec.genesis.slot_duration_ms = 200;
    let spec_path = dir.path().join("spec.json");
    std::fs::write(&spec_path, spec.to_json()).unwrap();
    let genesis = spec.build_genesis().unwrap().header.hash();
    let validators = [Member::start(
        dir.path(),
        "Alice",
        &spec_path,
        Some("//Alice"),
        &[],
    )];
    let alice = validators[0].rpc;
    wait_finalized(alice, 2, dir.path()).await;

    // A peer that sends garbage is disconnected and banned; the network goes on.
    let (handle, mut events) = network::start(NetworkConfig {
        keypair: identity::Keypair::generate_ed25519(),
        listen: "/ip4/127.0.0.1/tcp/0".parse().unwrap(),
        bootnodes: vec![validators[0].address.parse().unwrap()],
        chain: genesis.to_string(),
    })
    .unwrap();
    let alice_peer = validators[0]
        .address
        .rsplit('/')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let disconnected = tokio::time::timeout(WAIT, async {
        let mut oversized_sent = false;
        let mut resend = tokio::time::interval(Duration::from_millis(200));
        loop {
            tokio::select! {
                event = events.recv() => match event {
                    Some(NetworkEvent::PeerDisconnected(peer)) if peer == alice_peer => return,
                    Some(_) => {}
                    None => panic!("test network stopped"),
                },
                _ = resend.tick() => {
                    // Garbage on both topics; an over-long sync request once.
                    let _ = handle.publish(Topic::Finality, vec![0xff; 64]).await;
                    let _ = handle.publish(Topic::Blocks, vec![0x07; 300]).await;
                    if !oversized_sent {
                        oversized_sent = handle
                            .send_direct(alice_peer, vec![0u8; 5 * 1024 * 1024])
                            .is_ok();
                    }
                }
            }
        }
    })
    .await;
    assert!(disconnected.is_ok(), "alice kept the garbage peer");
    let finalized = finalized_number(alice).await;
    wait_finalized(alice, finalized + 2, dir.path()).await;
}
