//! Integration tests of the consensus engines, mostly through the deterministic simulator.

mod authorship;
mod finality;
mod sim;
