//! The Tessera node: everything that does I/O.
//!
//! - [`store`]: the chain store (headers, bodies, trie nodes, metadata) over RocksDB, one
//!   atomic batch per block;
//! - [`client`]: block import with full checks, block authoring, state queries;
//! - [`pool`]: the transaction pool;
//! - [`workload`]: signed dev transfers, for `tessera dev`, tests and benchmarks;
//! - [`blocks`]: the block file format of `export-blocks` / `import-blocks`;
//! - [`service`]: what a running node shares between tasks (client, pool, chain events);
//! - [`network`]: libp2p (TCP, noise, yamux, gossipsub, request-response) with peer scores;
//! - [`validation`]: the Wasm validation host (wasmtime) that runs paras' validation functions
//!   and checks candidates; [`collation`]: a para block made into a signed candidate;
//! - [`sync`], [`finality`], [`transactions`], [`run`]: a running node: gossip and sync
//!   through the network, finality votes, transaction gossip to the authors, authoring in
//!   claimed slots;
//! - [`metrics`]: Prometheus metrics at `/metrics`;
//! - [`rpc`]: JSON-RPC over HTTP and WebSocket with Substrate's method names;
//! - [`cli`]: the `tessera` command line.
//!
//! ```no_run
//! use tessera_node::{client::Client, pool::Pool, store::RocksDb};
//! use tessera_relay_chain::ChainSpec;
//! let genesis = ChainSpec::dev().build_genesis()?;
//! let db = RocksDb::open(std::path::Path::new("/tmp/tessera-example"))?;
//! let mut client = Client::open(Box::new(db), &genesis)?;
//! let alice = tessera_runtime::crypto::Pair::dev("Alice");
//! client.set_author(tessera_consensus::AuthorityKey::from_pair(&alice))?;
//! let authored = client.author_next(&mut Pool::default())?;
//! assert_eq!(authored.block.header.number, 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub mod blocks;
pub mod cli;
pub mod client;
pub mod collation;
pub mod finality;
pub mod keystore;
pub mod malus;
pub mod metrics;
pub mod network;
pub mod offences;
pub mod parachains;
pub mod pool;
pub mod rpc;
pub mod run;
pub mod service;
pub mod store;
pub mod sync;
pub mod transactions;
pub mod validation;
pub mod warp;
pub mod warp_sync;
pub mod workload;
