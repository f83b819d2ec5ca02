//! Modules shared by the relay chain and parachains.

pub mod balances;
pub mod sudo;
pub mod system;
