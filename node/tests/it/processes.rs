//! Real `tessera` processes on loopback: a dev validator and a full node that syncs from it,
//! is killed with SIGKILL, restarts from its RocksDB and catches up again; a transfer submitted
//! over RPC to the validator shows on the follower.

use jsonrpsee_core::client::ClientT;
use jsonrpsee_core::rpc_params;
use jsonrpsee_ws_client::WsClientBuilder;
use parity_scale_codec::{Decode, Encode};
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tessera_node::workload::sign;
use tessera_relay_chain::{Call, UNIT};
use tessera_runtime::crypto::Pair;
use tessera_runtime::modules::{balances, system};
use tessera_runtime::{Hash, Header};

const WAIT: Duration = Duration::from_secs(60);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `tessera` process whose stdout lines arrive on a channel.
struct Process {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Process {
    fn spawn(args: &[&str], base: &Path) -> Process {
        let mut child = Command::new(env!("CARGO_BIN_EXE_tessera"))
            .args(args)
            .arg("--base-path")
            .arg(base)
            .args(["--prometheus-port", "0", "--log", "warn"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
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
    fn line(&self, prefix: &str) -> String {
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

async fn request<T: serde::de::DeserializeOwned>(
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

async fn best_number(port: u16) -> u32 {
    let header: Value = request(port, "chain_getHeader", rpc_params![]).await;
    u32::from_str_radix(
        header["number"].as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap()
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

async fn free_balance(port: u16, who: &Pair) -> u128 {
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn follower_survives_sigkill_and_sees_an_rpc_transfer() {
    let dir = tempfile::tempdir().unwrap();
    let (v_rpc, f_rpc) = (free_port(), free_port());
    let validator = Process::spawn(
        &[
            "dev",
            "--block-time",
            "200",
            "--transfers",
            "0",
            "--listen-addr",
            "/ip4/127.0.0.1/tcp/0",
            "--rpc-port",
            &v_rpc.to_string(),
        ],
        &dir.path().join("validator"),
    );
    let bootnode = validator.line("libp2p:");
    wait_best(v_rpc, 5).await;

    let follower_args = [
        "run",
        "--bootnodes",
        &bootnode,
        "--listen-addr",
        "/ip4/127.0.0.1/tcp/0",
        "--rpc-port",
        &f_rpc.to_string(),
    ];
    let follower_base = dir.path().join("follower");
    let follower = Process::spawn(&follower_args, &follower_base);
    follower.line("libp2p:");
    let reached = wait_best(f_rpc, 10).await;
    drop(follower); // SIGKILL
    let follower = Process::spawn(&follower_args, &follower_base);
    follower.line("libp2p:");
    // It restarts from its database, not from genesis, and catches up again.
    assert!(best_number(f_rpc).await >= reached);
    let target = best_number(v_rpc).await + 5;
    wait_best(f_rpc, target).await;
    for number in [1, reached, target] {
        assert_eq!(
            hash_at(f_rpc, number).await,
            hash_at(v_rpc, number).await,
            "block #{number}"
        );
    }
    let health: Value = request(f_rpc, "system_health", rpc_params![]).await;
    assert_eq!(health["peers"], 1, "{health}");
    assert_eq!(health["shouldHavePeers"], true, "{health}");
    let peers: Value = request(f_rpc, "system_peers", rpc_params![]).await;
    assert!(
        peers[0]["bestNumber"].as_u64().unwrap() >= u64::from(reached),
        "{peers}"
    );

    // A transfer submitted to the validator is seen in the follower's state.
    let header: Value = request(v_rpc, "chain_getHeader", rpc_params![]).await;
    let genesis: String = request(v_rpc, "chain_getBlockHash", rpc_params![0]).await;
    let best = Header {
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
    };
    let (eve, ferdie) = (Pair::dev("Eve"), Pair::dev("Ferdie"));
    let before = free_balance(f_rpc, &ferdie).await;
    let call = Call::Balances(balances::Call::Transfer {
        dest: ferdie.public(),
        value: 7 * UNIT,
    });
    let genesis: Hash = genesis.parse().unwrap();
    let xt = sign(&eve, call, 0, genesis, &best);
    let _: String = request(
        v_rpc,
        "author_submitExtrinsic",
        rpc_params![format!("0x{}", hex::encode(xt.encode()))],
    )
    .await;
    tokio::time::timeout(WAIT, async {
        while free_balance(f_rpc, &ferdie).await != before + 7 * UNIT {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .expect("the transfer did not reach the follower");
    drop(follower);
    drop(validator);
}
