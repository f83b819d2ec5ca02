//! End-to-end tests of Tessera; the tests live in `tests/`.
