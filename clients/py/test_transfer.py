"""py-substrate-interface (unchanged) against a running `tessera dev`: what a Python dapp does.

Run by `node/tests/it/clients.rs`, which starts the network and passes its addresses; by hand:

    TESSERA_RELAY=ws://127.0.0.1:9944 TESSERA_PARA_1000=ws://127.0.0.1:9945 \\
        clients/py/.venv/bin/python clients/py/test_transfer.py

Exits 0 when every check passes.
"""

import os
import sys
import time

from substrateinterface import Keypair, SubstrateInterface

UNIT = 10**12


def endpoint(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        sys.exit(f"{name} is not set: the address of a Tessera node's JSON-RPC (ws://…)")
    return value


def log(message: str) -> None:
    print(time.strftime("%H:%M:%S"), message, flush=True)


def free_at(chain: SubstrateInterface, who: str, block_hash: str) -> int:
    return chain.query("System", "Account", [who], block_hash=block_hash).value["data"]["free"]


def author_fees_at(chain: SubstrateInterface, who: str, block_hash: str) -> int:
    """What block `block_hash` paid `who` as its author (its fees, deposited at finalization)."""
    paid = 0
    for record in chain.get_events(block_hash=block_hash):
        event = record.value
        if (
            event["phase"] == "Finalization"
            and event["module_id"] == "Balances"
            and event["event_id"] == "Deposit"
            and event["attributes"]["who"] == who
        ):
            paid += event["attributes"]["amount"]
    return paid


def transfer_keep_alive(chain: SubstrateInterface, label: str) -> None:
    """Alice pays Bob with `Balances.transfer_keep_alive` and waits for finality; both
    balances, the fee quoted beforehand and the `Balances.Transfer` event are checked."""
    alice = Keypair.create_from_uri("//Alice")
    bob = Keypair.create_from_uri("//Bob")
    account = chain.query("System", "Account", [alice.ss58_address])
    assert account.value["data"]["free"] > 0, f"{label}: Alice's account is read"

    amount = 7 * UNIT
    call = chain.compose_call(
        call_module="Balances",
        call_function="transfer_keep_alive",
        call_params={"dest": bob.ss58_address, "value": amount},
    )
    quoted = chain.get_payment_info(call, keypair=alice)["partialFee"]
    assert quoted > 0, f"{label}: a fee is quoted"
    extrinsic = chain.create_signed_extrinsic(call=call, keypair=alice)
    receipt = chain.submit_extrinsic(extrinsic, wait_for_finalization=True)
    assert receipt.is_success, f"{label}: {receipt.error_message}"

    transfers = [
        e.value["attributes"]
        for e in receipt.triggered_events
        if e.value["module_id"] == "Balances" and e.value["event_id"] == "Transfer"
    ]
    assert transfers == [
        {"from": alice.ss58_address, "to": bob.ss58_address, "amount": amount}
    ], f"{label}: the Balances.Transfer event, got {transfers}"
    assert receipt.total_fee_amount == quoted, (
        f"{label}: fee charged {receipt.total_fee_amount}, quoted {quoted}"
    )

    block = receipt.block_hash
    parent = chain.get_block_header(block)["header"]["parentHash"]
    alice_fees = author_fees_at(chain, alice.ss58_address, block)
    bob_fees = author_fees_at(chain, bob.ss58_address, block)
    assert free_at(chain, alice.ss58_address, block) == (
        free_at(chain, alice.ss58_address, parent) - amount - quoted + alice_fees
    ), f"{label}: Alice's balance"
    assert free_at(chain, bob.ss58_address, block) == (
        free_at(chain, bob.ss58_address, parent) + amount + bob_fees
    ), f"{label}: Bob's balance"
    number = chain.get_block_number(block)
    finalized = chain.get_block_number(chain.get_chain_finalised_head())
    assert finalized >= number, f"{label}: finalized"
    log(f"{label}: transfer_keep_alive finalized in #{number} (fee {quoted})")


def main() -> None:
    relay = SubstrateInterface(url=endpoint("TESSERA_RELAY"))
    assert relay.ss58_format == 42 and relay.token_decimals == 12
    log(f"connected to {relay.chain} ({relay.name} {relay.version})")
    transfer_keep_alive(relay, "relay")
    para = SubstrateInterface(url=endpoint("TESSERA_PARA_1000"))
    transfer_keep_alive(para, "para 1000")
    log("all checks passed")


if __name__ == "__main__":
    main()
