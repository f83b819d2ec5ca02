//! Separate `tessera` processes on loopback: six validators and two paras, each para collated
//! on a relay full node of its own. One validator withholds every chunk it is asked for;
//! recovery goes on without it. Another is SIGKILLed right after it announced an assignment:
//! its no-show is covered by later tranches and approval and finality go on. Restarted from its
//! RocksDB, it resumes its approval work from disk, catches up, approves again, and never signs
//! a second assignment or approval for one candidate. The only node of one para, SIGKILLed and
//! restarted, resumes that para's chain from its own RocksDB and collates on.

use crate::malus::spec;
use crate::process::{finalized_number, print_logs, request, Member};
use jsonrpsee_core::rpc_params;
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

const VALIDATORS: [&str; 6] = ["Alice", "Bob", "Charlie", "Dave", "Eve", "Ferdie"];
pub(crate) const PARAS: [u32; 2] = [1000, 1001];
/// Killed for good after announcing an assignment.
const NO_SHOW: usize = 3;
/// Killed after signing an approval, and restarted.
const RESTARTED: usize = 2;
const WITHHOLDER: usize = 5;
/// What the validators log: enough to see each message they sign.
const LOG: &str = "info,tessera_node::parachains::approval=debug";

/// Starts a validator process per name in `validators` (with `--malus` and what `malus` says
/// for its index, if anything; logging `log` if given) on the chain of [`spec`], and a collator
/// process per para bootstrapped from them.
pub(crate) fn start_network(
    dir: &Path,
    validators: &[&str],
    malus: impl Fn(usize) -> Option<&'static str>,
    log: Option<&str>,
) -> (Vec<Member>, Vec<Member>) {
    let spec_path = dir.join("spec.json");
    std::fs::write(&spec_path, spec(validators).to_json()).unwrap();
    let mut members: Vec<Member> = Vec::new();
    for (index, name) in validators.iter().enumerate() {
        let bootnodes: Vec<String> = members.iter().map(|v| v.address.clone()).collect();
        let behaviours = malus(index);
        let extra: Vec<&str> = behaviours.iter().flat_map(|b| ["--malus", b]).collect();
        members.push(Member::start(
            dir,
            name,
            &spec_path,
            Some(&format!("//{name}")),
            &bootnodes,
            &extra,
            log,
        ));
    }
    let bootnodes: Vec<String> = members.iter().map(|v| v.address.clone()).collect();
    let collators = PARAS
        .iter()
        .map(|id| {
            Member::start(
                dir,
                &format!("collator{id}"),
                &spec_path,
                None,
                &bootnodes,
                &[
                    "--para",
                    &id.to_string(),
                    "--collator-key",
                    &format!("//Collator{id}"),
                    "--para-rpc-port",
                    "0",
                ],
                None,
            )
        })
        .collect();
    (members, collators)
}

/// The heads of both paras of `kind` (`approved`, `finalized`) at the node at `port`.
pub(crate) async fn para_heads(port: u16, kind: &str) -> [u32; 2] {
    let paras: Vec<Value> = request(port, "tessera_paras", rpc_params![]).await;
    PARAS.map(|id| {
        paras
            .iter()
            .find(|p| p["id"] == id)
            .and_then(|p| p[kind]["number"].as_u64())
            .map_or(0, |n| n as u32)
    })
}

/// Waits until the node at `port` has both paras' `kind` heads at least `at_least` and its
/// relay chain finalized at least `finalized`.
pub(crate) async fn wait_heads(
    port: u16,
    kind: &str,
    at_least: [u32; 2],
    finalized: u32,
    logs: &Path,
) {
    let reached = tokio::time::timeout(Duration::from_secs(150), async {
        loop {
            let heads = para_heads(port, kind).await;
            if heads[0] >= at_least[0]
                && heads[1] >= at_least[1]
                && finalized_number(port).await >= finalized
            {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
    .await;
    if reached.is_err() {
        print_logs(logs);
        let heads = para_heads(port, kind).await;
        let finalized_now = finalized_number(port).await;
        panic!(
            "port {port}: {kind} para heads {heads:?}, relay finalized #{finalized_now}; \
             wanted {at_least:?} and #{finalized}"
        );
    }
}

/// What `log` says was signed: `(kind, relay block, core or candidate position)`, with how
/// many times each.
fn signed(log: &str) -> BTreeMap<(&'static str, String, String), usize> {
    let mut seen = BTreeMap::new();
    for line in log.lines() {
        let (kind, list) = if line.contains("signed assignment") {
            ("assignment", "cores=[")
        } else if line.contains("signed approval") {
            ("approval", "candidates=[")
        } else {
            continue;
        };
        let field = |start: &str, end: char| {
            let from = line.find(start).map(|i| i + start.len())?;
            let rest = &line[from..];
            Some(rest[..rest.find(end).unwrap_or(rest.len())].to_string())
        };
        let block = field("block=", ' ').expect("a signed message names its block");
        let positions = field(list, ']').expect("a signed message names its candidates");
        for position in positions.split(", ") {
            *seen
                .entry((kind, block.clone(), position.to_string()))
                .or_insert(0) += 1;
        }
    }
    seen
}

/// SIGKILLs `member` as soon as its log says `what` once more.
async fn kill_after(member: &mut Member, what: &str) {
    let said = |member: &Member| member.log().matches(what).count();
    let before = said(member);
    tokio::time::timeout(Duration::from_secs(120), async {
        while said(member) == before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("no `{what}` to kill after"));
    member.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkilled_checker_and_para_node_resume_from_disk_and_the_checker_never_signs_twice() {
    let _turn = crate::EXCLUSIVE.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut validators, mut collators) = start_network(
        dir.path(),
        &VALIDATORS,
        |index| (index == WITHHOLDER).then_some("withhold-chunks"),
        Some(LOG),
    );
    let alice = validators[0].rpc;
    // Every validator checks (recovering without the withholder's chunks) and finalizes.
    wait_heads(alice, "finalized", [2, 2], 2, dir.path()).await;

    // Dave, killed right after it announced an assignment and before it could approve, is a
    // no-show: later tranches cover it and both paras and the relay chain go on finalizing.
    kill_after(&mut validators[NO_SHOW], "signed assignment").await;
    let finalized = finalized_number(alice).await;
    let heads = para_heads(alice, "finalized").await;
    wait_heads(
        alice,
        "finalized",
        [heads[0] + 2, heads[1] + 2],
        finalized + 4,
        dir.path(),
    )
    .await;

    // Para 1001's collator, SIGKILLed at whatever it was doing and restarted: it is the para's
    // only node, so nobody could send it the chain again. The para goes on below only if the
    // chain (and the candidate it may have had pending) came back from its disk.
    let only_node = &mut collators[1];
    only_node.kill();
    only_node.restart();

    // Charlie, killed right after it signed an approval: five of six must vote, so finality
    // waits for it. Restarted, it takes its messages back from disk (sent again, not signed
    // again, while their block is unfinalized), catches up and approves on.
    kill_after(&mut validators[RESTARTED], "signed approval").await;
    validators[RESTARTED].restart();
    let restarted = validators[RESTARTED].rpc;
    let heads = para_heads(alice, "finalized").await;
    let finalized = finalized_number(alice).await;
    wait_heads(
        restarted,
        "approved",
        [heads[0] + 2, heads[1] + 2],
        finalized + 2,
        dir.path(),
    )
    .await;
    wait_heads(
        alice,
        "finalized",
        [heads[0] + 2, heads[1] + 2],
        finalized + 2,
        dir.path(),
    )
    .await;
    // Checkers fetch a backer's whole data first; the withholder's groups fall back to chunks.
    let fetched_whole = validators
        .iter()
        .any(|v| v.log().contains("whole available data from a backer"));
    assert!(
        fetched_whole,
        "no checker recovered from a backer's whole data"
    );
    // It read its kept messages back. (Whether it also sent them again depends on whether
    // their block was finalized before it fed it: its vote may have gone out before the kill.)
    let log = validators[RESTARTED].log();
    assert!(
        log.contains("resuming approval work from disk"),
        "the restarted validator did not resume from disk"
    );
    assert!(
        collators[1]
            .log()
            .contains("para chain opened at its stored head"),
        "the restarted collator did not open its para's chain from disk"
    );
    for (name, validator) in VALIDATORS.iter().zip(&validators) {
        let twice: Vec<_> = signed(&validator.log())
            .into_iter()
            .filter(|(_, n)| *n > 1)
            .collect();
        assert!(twice.is_empty(), "{name} signed twice: {twice:?}");
    }
}
