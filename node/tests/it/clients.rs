//! Polkadot's own client libraries, unchanged, against `tessera dev` (four validators, paras
//! 1000 and 1001, the collators' relay node): `@polkadot/api` (`clients/js/test.mjs`) and
//! py-substrate-interface (`clients/py/test_transfer.py`), installed by
//! `scripts/setup-clients.sh` (`make test` runs it). Each connects, reads Alice's account,
//! quotes and sends `transfer_keep_alive` to Bob on the relay chain and on para 1000, waits
//! for finality and checks both balances, the fee and the `Balances.Transfer` event; the
//! JavaScript one also sends 100 transfers from 10 accounts through the relay node that does
//! not author, and an XCM transfer from para 1000 to para 1001 with `polkadotXcm.transferAssets`.
//! The README's starting script for a dapp (`clients/js/example.mjs`) runs first. PAPI
//! (`polkadot-api`, `clients/js/papi.mjs`), which speaks only the new JSON-RPC spec
//! (`chainHead_v1_*`, `transaction_v1_broadcast`), sends a transfer on the relay chain through
//! the node that does not author and on para 1000, each followed to finality and checked to
//! the unit against its quote.

use crate::process::Process;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Longest a client's whole script may run.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(240);

/// The repository's root (the test runs in `node/`).
fn repo() -> PathBuf {
    let manifest = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    Path::new(&manifest)
        .parent()
        .expect("node/ is in the repository")
        .to_path_buf()
}

/// `ws://host:port` from a `tessera dev` line naming `rpc http://host:port`.
fn websocket(line: &str) -> String {
    let address = line
        .split("rpc http://")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no RPC address in `{line}`"));
    format!("ws://{address}")
}

/// Runs `program args` in `dir` with the network's addresses in `env`, within
/// [`CLIENT_TIMEOUT`]; panics with its output unless it exits 0.
fn run_client(program: &Path, args: &[&str], dir: &Path, env: &[(&str, String)], log: &Path) {
    let output = std::fs::File::create(log).unwrap();
    let mut child = Command::new(program)
        .args(args)
        .current_dir(dir)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdout(output.try_clone().unwrap())
        .stderr(output)
        .stdin(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", program.display()));
    let deadline = Instant::now() + CLIENT_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let text = std::fs::read_to_string(log).unwrap_or_default();
    match status {
        Some(status) if status.success() => println!("{text}"),
        Some(status) => panic!("{} {args:?} failed ({status}):\n{text}", program.display()),
        None => panic!("{} {args:?} timed out:\n{text}", program.display()),
    }
}

#[test]
fn polkadot_js_papi_and_substrate_interface_work_unchanged() {
    let repo = repo();
    let js = repo.join("clients/js");
    let python = repo.join("clients/py/.venv/bin/python");
    for needed in [
        js.join("node_modules/@polkadot/api"),
        js.join("node_modules/polkadot-api"),
        python.clone(),
    ] {
        assert!(
            needed.exists(),
            "{} is missing: run `bash scripts/setup-clients.sh` (`make test` does)",
            needed.display()
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let dev = Process::spawn(
        &[
            "dev",
            "--transfers",
            "0",
            "--para-transfers",
            "0",
            "--rpc-port",
            "0",
            "--listen-addr",
            "/ip4/127.0.0.1/tcp/0",
        ],
        &dir.path().join("dev"),
    );
    let env = [
        ("TESSERA_RELAY", websocket(&dev.line("validator alice"))),
        ("TESSERA_FULL_NODE", websocket(&dev.line("full"))),
        ("TESSERA_PARA_1000", websocket(&dev.line("para     1000"))),
        ("TESSERA_PARA_1001", websocket(&dev.line("para     1001"))),
    ];
    // The README's starting point for a dapp runs as printed.
    run_client(
        Path::new("node"),
        &["example.mjs", &env[0].1],
        &js,
        &[],
        &dir.path().join("example.log"),
    );
    run_client(
        Path::new("node"),
        &["test.mjs"],
        &js,
        &env,
        &dir.path().join("js.log"),
    );
    run_client(
        Path::new("node"),
        &["papi.mjs"],
        &js,
        &env,
        &dir.path().join("papi.log"),
    );
    run_client(
        &python,
        &["test_transfer.py"],
        &repo.join("clients/py"),
        &env,
        &dir.path().join("py.log"),
    );
}
