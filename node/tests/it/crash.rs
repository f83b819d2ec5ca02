//! Crash recovery: `tessera import-blocks` killed with SIGKILL part way through 200 blocks of
//! random transfers, restarted until done, ends where an uninterrupted run ends; a store that
//! refuses a write leaves the node's view as the store says.

use crate::support::dev_client;
use rand::{Rng, SeedableRng};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tessera_node::blocks::write_block;
use tessera_node::client::Client;
use tessera_node::pool::Pool;
use tessera_node::store::RocksDb;
use tessera_node::workload::TransferGenerator;
use tessera_relay_chain::ChainSpec;
use tessera_runtime::Hash;

const BLOCKS: u32 = 200;
const TRANSFERS_PER_BLOCK: usize = 15;

fn import(base: &Path, file: &Path) -> std::process::Child {
    crate::process::tessera_command()
        .args(["import-blocks", "--chain", "dev", "--base-path"])
        .arg(base)
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

fn open(base: &Path) -> Client {
    let genesis = ChainSpec::dev().build_genesis().unwrap();
    let db = RocksDb::open(&base.join("chains/dev/db")).unwrap();
    Client::open(Box::new(db), &genesis).unwrap()
}

/// Checks a reopened store is a consistent chain prefix of the reference.
fn assert_consistent(client: &Client, roots: &[Hash]) -> u32 {
    let meta = client.info().unwrap();
    for number in 0..=meta.best_number {
        let hash = client.store().canonical_hash(number).unwrap().unwrap();
        let block = client.block(&hash).unwrap().unwrap();
        assert_eq!(
            block.header.state_root, roots[number as usize],
            "block #{number}"
        );
    }
    // The best state is readable in full where the test touches it.
    client.total_issuance(&meta.best_hash).unwrap();
    meta.best_number
}

#[test]
fn killed_import_resumes_with_nothing_lost() {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    // The uninterrupted run, in memory.
    let mut reference = dev_client();
    let mut pool = Pool::default();
    let mut transfers = TransferGenerator::dev(7);
    let dir = tempfile::tempdir().unwrap();
    let file_path = dir.path().join("blocks.scale");
    let mut file = std::io::BufWriter::new(std::fs::File::create(&file_path).unwrap());
    let mut roots = vec![reference.best_header().unwrap().state_root];
    for _ in 0..BLOCKS {
        for xt in transfers
            .next_batch(&reference, TRANSFERS_PER_BLOCK)
            .unwrap()
        {
            reference.submit(&mut pool, xt).unwrap();
        }
        let block = reference.author_next(&mut pool).unwrap().block;
        roots.push(block.header.state_root);
        write_block(&mut file, &block).unwrap();
    }
    drop(file);

    let base = dir.path().join("node");
    // First kill right after a reported import; later kills at random moments.
    let kill_after_line = rng.gen_range(40..120);
    let mut child = import(&base, &file_path);
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut reported = 0;
    for line in stdout.lines() {
        let line = line.unwrap();
        if let Some(rest) = line.strip_prefix("imported #") {
            reported = rest.split(' ').next().unwrap().parse().unwrap();
        }
        if reported >= kill_after_line {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let best = assert_consistent(&open(&base), &roots);
    assert!(
        best >= reported,
        "reported #{reported} imported, store has #{best}"
    );

    for round in 0..3 {
        let mut child = import(&base, &file_path);
        std::thread::sleep(Duration::from_millis(rng.gen_range(50..400)));
        child.kill().unwrap();
        child.wait().unwrap();
        let best = assert_consistent(&open(&base), &roots);
        eprintln!("kill round {round}: store at #{best}");
    }

    let started = Instant::now();
    let status = import(&base, &file_path).wait().unwrap();
    assert!(status.success());
    assert!(started.elapsed() < Duration::from_secs(120));
    let client = open(&base);
    assert_eq!(assert_consistent(&client, &roots), BLOCKS);
    let meta = client.info().unwrap();
    let expected = reference.info().unwrap();
    assert_eq!(meta.best_hash, expected.best_hash);
    let at = meta.best_hash;
    // Genesis also endows the XCM fee account (with the existential deposit); the issuance
    // counts what validators bonded (reserved) too.
    let sum: u128 = transfers
        .accounts()
        .iter()
        .chain([&tessera_runtime::messaging::XCM_FEE_ACCOUNT])
        .map(|who| {
            let data = client.account(&at, who).unwrap().data;
            data.free + data.reserved
        })
        .sum();
    assert_eq!(sum, client.total_issuance(&at).unwrap());
}

#[test]
fn database_of_another_chain_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    {
        let genesis = ChainSpec::dev().build_genesis().unwrap();
        Client::open(Box::new(RocksDb::open(&path).unwrap()), &genesis).unwrap();
    }
    let other = ChainSpec::dev_with_validators(4).build_genesis().unwrap();
    let err = Client::open(Box::new(RocksDb::open(&path).unwrap()), &other)
        .err()
        .unwrap();
    assert!(err.to_string().contains("made for another chain"), "{err}");
}

#[test]
fn availability_data_survives_a_restart_and_is_pruned_block_by_block() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let genesis = ChainSpec::dev().build_genesis().unwrap();
    let (first, second) = (Hash([1; 32]), Hash([2; 32]));
    {
        let client = Client::open(Box::new(RocksDb::open(&path).unwrap()), &genesis).unwrap();
        let store = client.store();
        // A backer's candidate (every chunk and the data) at relay block 5, another
        // validator's one chunk of a candidate at relay block 7.
        let chunks: Vec<(u32, Vec<u8>)> = (0..4).map(|i| (i, vec![i as u8; 10])).collect();
        store
            .put_availability(&first, 5, &chunks, Some(b"available"))
            .unwrap();
        store
            .put_availability(&second, 7, &[(2, vec![9; 10])], None)
            .unwrap();
    }
    let client = Client::open(Box::new(RocksDb::open(&path).unwrap()), &genesis).unwrap();
    let store = client.store();
    assert_eq!(
        store.availability_chunk(&first, 3).unwrap(),
        Some(vec![3; 10])
    );
    assert_eq!(
        store.available_data(&first).unwrap().as_deref(),
        Some(&b"available"[..])
    );
    assert_eq!(
        store.availability_chunk(&second, 2).unwrap(),
        Some(vec![9; 10])
    );
    assert_eq!(store.availability_chunk(&second, 0).unwrap(), None);

    // Up to block 6, three blocks a call: the first candidate goes, the second stays.
    assert_eq!(store.prune_availability(6, 3).unwrap(), 0, "blocks 0 to 2");
    assert_eq!(store.prune_availability(6, 3).unwrap(), 1, "blocks 3 to 5");
    assert_eq!(store.prune_availability(6, 3).unwrap(), 0, "block 6");
    assert_eq!(store.availability_chunk(&first, 3).unwrap(), None);
    assert_eq!(store.available_data(&first).unwrap(), None);
    assert_eq!(
        store.availability_chunk(&second, 2).unwrap(),
        Some(vec![9; 10])
    );
    assert_eq!(store.prune_availability(7, 3).unwrap(), 1);
    assert_eq!(store.availability_chunk(&second, 2).unwrap(), None);

    // Data for a relay parent already pruned goes under the next one, and is pruned with it.
    let late = Hash([3; 32]);
    store
        .put_availability(&late, 2, &[(0, vec![1])], None)
        .unwrap();
    assert_eq!(store.prune_availability(8, 3).unwrap(), 1);
    assert_eq!(store.availability_chunk(&late, 0).unwrap(), None);
}

/// A memory database whose writes fail while `failing` is set.
struct Flaky {
    inner: tessera_node::store::MemoryDb,
    failing: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl tessera_node::store::Database for Flaky {
    fn get(
        &self,
        column: tessera_node::store::Column,
        key: &[u8],
    ) -> Result<Option<Vec<u8>>, tessera_node::store::StoreError> {
        self.inner.get(column, key)
    }

    fn write(
        &self,
        batch: Vec<tessera_node::store::WriteOp>,
    ) -> Result<(), tessera_node::store::StoreError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(tessera_node::store::StoreError::Database(
                "disk full".into(),
            ));
        }
        self.inner.write(batch)
    }
}

#[test]
fn a_finalization_the_store_refused_prunes_nothing_and_succeeds_when_retried() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let genesis = ChainSpec::dev().build_genesis().unwrap();
    let failing = std::sync::Arc::new(AtomicBool::new(false));
    let db = Flaky {
        inner: Default::default(),
        failing: failing.clone(),
    };
    let mut client = Client::open(Box::new(db), &genesis).unwrap();
    let alice = tessera_runtime::crypto::Pair::dev("Alice");
    client
        .set_author(tessera_consensus::AuthorityKey::from_pair(&alice))
        .unwrap();
    let mut pool = Pool::default();
    client.author_next(&mut pool).unwrap();
    let two = client.author_next(&mut pool).unwrap().block.hash();

    failing.store(true, Ordering::SeqCst);
    assert!(client.finalize(&two, None).is_err());
    assert_eq!(client.info().unwrap().finalized_number, 0);
    assert_eq!(
        client.authorship().tree().root(),
        genesis.header.hash(),
        "the engine pruned nothing the store did not finalize"
    );

    failing.store(false, Ordering::SeqCst);
    let done = client
        .finalize(&two, None)
        .unwrap()
        .expect("above the finalized block");
    assert_eq!(done.meta.finalized_number, 2);
    assert_eq!(client.authorship().tree().root(), two);
}
