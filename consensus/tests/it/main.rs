//! Integration tests of the consensus engines, mostly through the deterministic simulator.

mod attacks;
mod authorship;
mod finality;
mod sim;
mod support;
