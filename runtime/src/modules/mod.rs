//! Modules shared by the relay chain and parachains.

pub mod balances;
pub mod parachain_system;
pub mod sudo;
pub mod system;
