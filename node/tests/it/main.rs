//! Integration tests of the node: import checks, the pool, and crash recovery on RocksDB.

mod bad_input;
mod cli;
mod crash;
mod load;
mod messaging;
mod metrics;
mod network;
mod parachains;
mod paranet;
mod processes;
mod reorg;
mod rpc;
mod support;
mod sync;
mod validation;
mod xcmnet;
