# Two commands for a newcomer: `make dev` and `make test`. Both install what is missing first.
SHELL := /bin/bash
MULTIARCH := $(shell gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
export ROCKSDB_LIB_DIR ?= /usr/lib/$(MULTIARCH)

.PHONY: setup clients dev test wasm lint bench fuzz

setup:
	@bash scripts/setup.sh

## Builds and starts the local dev chain (Ctrl-C stops it).
dev: setup
	cargo run -p tessera-node --bin tessera -- dev

## Polkadot's client libraries (Node.js and Python) that tests run against `tessera dev`.
clients:
	@bash scripts/setup-clients.sh

## The runtime builds for Wasm without std, the code is formatted and lint-free, and every test passes.
test: setup clients wasm lint
	bash scripts/test.sh

wasm: setup
	bash scripts/build-wasm.sh runtime --no-default-features
	bash scripts/build-wasm.sh xcm --no-default-features

lint: setup
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	@# Only node/ does I/O (docs/layout.md): the logic crates must not pull in I/O libraries.
	@for crate in tessera-runtime tessera-xcm tessera-consensus tessera-validity tessera-relay-chain; do \
	  if cargo tree -p $$crate -e normal --prefix none | grep -qE '^(tokio|libp2p|rocksdb|wasmtime|jsonrpsee|hyper) '; then \
	    echo "error: $$crate depends on an I/O crate"; exit 1; \
	  fi; \
	done

## Criterion benchmarks (see README).
bench: setup
	cargo bench -p tessera-node --bench import
	cargo bench -p tessera-node --bench network
	cargo bench -p tessera-node --bench validation
	cargo bench -p tessera-node --bench paras
	cargo bench -p tessera-relay-chain --bench erasure
	cargo bench -p tessera-xcm --bench executor
	cargo bench -p tessera-node --bench xcm

## Each fuzz target for FUZZ_SECONDS (default 600), with the nightly toolchain; installs
## cargo-fuzz if it is missing.
FUZZ_SECONDS ?= 600
fuzz: setup
	command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
	cd fuzz && for target in extrinsic_decode block_import network_message parachain_message peers validation_code xcm_decode xcm_execute; do \
	  cargo +nightly fuzz run $$target -- -max_total_time=$(FUZZ_SECONDS) || exit 1; \
	done
