//! Real `tessera` processes for the node's process tests, shared by the `it` and `load` test
//! binaries: spawning one and reading its output, its RPC, its logs.

use jsonrpsee_core::client::ClientT;
use jsonrpsee_core::rpc_params;
use jsonrpsee_ws_client::WsClientBuilder;
use parity_scale_codec::Decode;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use tessera_runtime::Header;

/// How long a process may take to print an expected line.
const WAIT: Duration = Duration::from_secs(60);

/// Where every process of the tests keeps the Wasm it compiles (`--wasm-cache`): one node
/// compiles a runtime and the others load it, within a run and across runs.
pub(crate) const WASM_CACHE: &str = concat!(env!("CARGO_TARGET_TMPDIR"), "/wasm-cache");

/// The `tessera` binary, with the tests' shared Wasm cache.
pub(crate) fn tessera_command() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_tessera"));
    command.env("TESSERA_WASM_CACHE", WASM_CACHE);
    command
}

/// Runs the `tessera` binary with `args`: its exit code (-1 if killed) and its output.
pub(crate) fn tessera(args: &[&str]) -> (i32, String) {
    let output = tessera_command().args(args).output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code().unwrap_or(-1), text)
}

/// A port free on loopback now.
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
        // `TESSERA_TEST_LOG=tessera_node=debug` for more in the logs.
        let filter = std::env::var("TESSERA_TEST_LOG").unwrap_or_else(|_| "info".into());
        Process::spawn_logging(args, base, &filter)
    }

    /// [`Process::spawn`] with the log filter `filter`.
    pub(crate) fn spawn_logging(args: &[&str], base: &Path, filter: &str) -> Process {
        // Kept beside the node's data (in the test's temporary directory) for debugging and
        // for tests that read it; a restarted node's log goes on in the same file.
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(base.with_extension("log"))
            .unwrap();
        let mut child = tessera_command()
            .args(args)
            .arg("--base-path")
            .arg(base)
            .args(["--prometheus-port", "0", "--log", filter])
            .stdout(Stdio::piped())
            .stderr(log)
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
        self.try_line(prefix)
            .unwrap_or_else(|| panic!("no `{prefix}` line: the process exited"))
    }

    /// The first stdout line starting with `prefix`, without it; `None` if the process exits
    /// first (a panic if it prints none within [`WAIT`]).
    pub(crate) fn try_line(&self, prefix: &str) -> Option<String> {
        let deadline = Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match self.lines.recv_timeout(left) {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Disconnected) => return None,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    panic!("no `{prefix}` line within {WAIT:?}")
                }
            };
            if let Some(rest) = line.strip_prefix(prefix) {
                return Some(rest.trim().to_string());
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

/// One `tessera run` node of a test network: its arguments (to restart it the same way), its
/// process, and its log (`<dir>/<name>.log`, kept across restarts).
pub(crate) struct Member {
    args: Vec<String>,
    base: PathBuf,
    log_filter: Option<String>,
    /// Its JSON-RPC port.
    pub(crate) rpc: u16,
    process: Option<Process>,
    /// Its libp2p address, with its peer id.
    pub(crate) address: String,
}

impl Member {
    /// Starts a node of the chain in `spec` with `extra` arguments and, if given, the log
    /// filter `log_filter`; a validator with `key`, else a full node.
    pub(crate) fn start(
        dir: &Path,
        name: &str,
        spec: &Path,
        key: Option<&str>,
        bootnodes: &[String],
        extra: &[&str],
        log_filter: Option<&str>,
    ) -> Self {
        // A port free when picked can be taken by another connection's ephemeral port before
        // the node binds it (a busy network dials many): a start that fails so picks again.
        for attempt in 1.. {
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
            args.extend(extra.iter().map(|arg| arg.to_string()));
            let mut member = Member {
                args,
                base: dir.join(name),
                log_filter: log_filter.map(String::from),
                rpc,
                process: None,
                address: String::new(),
            };
            match member.try_restart() {
                Ok(()) => return member,
                Err(log) if attempt < 3 && log.contains("in use") => continue,
                Err(log) => panic!("{name} did not start:\n{log}"),
            }
        }
        unreachable!("the loop returns or panics")
    }

    /// Validators `//name` for each of `names`, started in turn, each with the earlier ones as
    /// bootnodes.
    #[allow(dead_code)]
    pub(crate) fn start_validators(dir: &Path, spec: &Path, names: &[&str]) -> Vec<Member> {
        let mut validators: Vec<Member> = Vec::new();
        for name in names {
            let bootnodes: Vec<String> = validators.iter().map(|v| v.address.clone()).collect();
            let key = format!("//{name}");
            validators.push(Member::start(
                dir,
                name,
                spec,
                Some(&key),
                &bootnodes,
                &[],
                None,
            ));
        }
        validators
    }

    /// (Re)starts the process with the same arguments, base path and ports.
    pub(crate) fn restart(&mut self) {
        if let Err(log) = self.try_restart() {
            panic!("{} did not start:\n{log}", self.base.display());
        }
    }

    /// [`Member::restart`], or the process's log if it exits before listening.
    fn try_restart(&mut self) -> Result<(), String> {
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        // The log goes on across restarts: only this start's part says why it failed.
        let log = self.base.with_extension("log");
        let before = std::fs::metadata(&log).map_or(0, |m| m.len() as usize);
        let process = match &self.log_filter {
            Some(filter) => Process::spawn_logging(&args, &self.base, filter),
            None => Process::spawn(&args, &self.base),
        };
        match process.try_line("libp2p:") {
            Some(address) => {
                self.address = address;
                self.process = Some(process);
                Ok(())
            }
            None => {
                let text = std::fs::read(&log).unwrap_or_default();
                Err(String::from_utf8_lossy(text.get(before..).unwrap_or_default()).into_owned())
            }
        }
    }

    /// Restarts it with `extra` arguments added to those it had (after a [`Member::kill`]).
    #[allow(dead_code)]
    pub(crate) fn restart_with(&mut self, extra: &[&str]) {
        self.args.extend(extra.iter().map(|arg| arg.to_string()));
        self.restart();
    }

    /// SIGKILL.
    pub(crate) fn kill(&mut self) {
        self.process = None;
    }

    /// Its log so far, over every run.
    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.base.with_extension("log")).unwrap_or_default()
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

pub(crate) async fn finalized_number(port: u16) -> u32 {
    let hash: Value = request(port, "chain_getFinalizedHead", rpc_params![]).await;
    let header: Value = request(port, "chain_getHeader", rpc_params![hash]).await;
    u32::from_str_radix(
        header["number"].as_str().unwrap().trim_start_matches("0x"),
        16,
    )
    .unwrap()
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
