//! Integration tests of the node: import checks, the pool, and crash recovery on RocksDB.

mod bad_input;
mod chain_head;
mod cli;
mod clients;
mod crash;
mod messaging;
mod metrics;
mod network;
mod parachains;
mod paranet;
#[path = "../common/process.rs"]
mod process;
mod processes;
mod reorg;
mod rpc;
mod substitutes;
mod support;
mod sync;
mod validation;
mod validator_sets;
mod xcmnet;
