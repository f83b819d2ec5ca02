// PAPI (polkadot-api, unchanged, without generated descriptors) against a running `tessera dev`:
// it speaks only the new JSON-RPC spec (chainHead_v1_*, transaction_v1_broadcast), reads the
// metadata through runtime calls and checks each transaction with
// TaggedTransactionQueue_validate_transaction before it broadcasts it. Run by
// `node/tests/it/clients.rs`; by hand:
//
//   TESSERA_FULL_NODE=ws://… TESSERA_PARA_1000=ws://… node clients/js/papi.mjs
//
// On the relay chain (through the node that does not author) and on para 1000: reads Alice's
// account, quotes a transfer to a new account, signs, broadcasts and follows it to finality,
// then checks the events, the fee charged against the quote and both balances to the unit.
import assert from 'node:assert/strict';
import { createClient, Enum } from 'polkadot-api';
import { getWsProvider } from 'polkadot-api/ws';
import { getPolkadotSigner } from 'polkadot-api/signer';
import { sr25519CreateDerive } from '@polkadot-labs/hdkd';
import { DEV_PHRASE, entropyToMiniSecret, mnemonicToEntropy, ss58Encode } from '@polkadot-labs/hdkd-helpers';
import { WebSocket } from 'ws';
import { UNIT, endpoint, log } from './common.mjs';


const derive = sr25519CreateDerive(entropyToMiniSecret(mnemonicToEntropy(DEV_PHRASE)));
const alice = derive('//Alice');
const signer = getPolkadotSigner(alice.publicKey, 'Sr25519', alice.sign);
const aliceAddress = ss58Encode(alice.publicKey, 42);

// Sends `tx` signed by Alice and collects what PAPI reports until it is finalized. When it is
// first seen in a best block, `snapshot(block)` reads what the checks need at that block and its
// parent while PAPI still holds both (it lets go of finalized blocks' ancestors soon after).
function sendFinalized (tx, snapshot) {
  return new Promise((resolve, reject) => {
    const seen = [];
    let taken;
    tx.signSubmitAndWatch(signer).subscribe({
      next: (event) => {
        seen.push(event.type);
        if (event.type === 'txBestBlocksState' && event.found && taken?.hash !== event.block.hash) {
          const values = snapshot(event.block.hash);
          values.catch(() => {}); // a block it left in a reorg is read for nothing
          taken = { hash: event.block.hash, values };
        }
        if (event.type === 'finalized') {
          if (taken?.hash !== event.block.hash) {
            reject(new Error(`finalized in ${event.block.hash}, last seen in ${taken?.hash}`));
            return;
          }
          taken.values.then((values) => resolve({ seen, values, ...event }), reject);
        }
      },
      error: reject
    });
  });
}

async function transferOn (name, url) {
  const client = createClient(getWsProvider(url, { websocketClass: WebSocket }));
  try {
    const api = client.getUnsafeApi();
    const finalized = await client.getFinalizedBlock();
    log(name, 'connected; finalized block', finalized.number);
    const account = await api.query.System.Account.getValue(aliceAddress);
    assert.ok(account.data.free > 0n, `Alice has a balance on ${name}`);

    // A new account each run, so its balance after is exactly what it was sent.
    const recipient = derive(`//Papi/${name}/${Date.now()}`);
    const to = ss58Encode(recipient.publicKey, 42);
    const value = 3n * UNIT;
    const tx = api.tx.Balances.transfer_keep_alive({ dest: Enum('Id', to), value });
    const quoted = await tx.getEstimatedFees(alice.publicKey);
    const free = async (who, at) => (await api.query.System.Account.getValue(who, { at })).data.free;
    const result = await sendFinalized(tx, async (at) => {
      const parent = (await client.getBlockHeader(at)).parentHash;
      return {
        received: await free(to, at),
        before: await free(aliceAddress, parent),
        after: await free(aliceAddress, at),
        events: await api.query.System.Events.getValue({ at })
      };
    });
    log(name, 'finalized in block', result.block.number, 'after', result.seen.join(' → '));
    assert.equal(result.ok, true, `the transfer succeeded on ${name}`);
    assert.deepEqual(result.seen.slice(0, 2), ['signed', 'broadcasted']);
    assert.ok(result.seen.includes('txBestBlocksState'), 'PAPI saw it in a best block');

    // Its events, as PAPI decodes them with the runtime's metadata.
    const event = (pallet, name) => result.events.find((e) => e.type === pallet && e.value.type === name);
    const transfer = event('Balances', 'Transfer');
    assert.ok(transfer, `a Balances.Transfer event on ${name}`);
    assert.equal(transfer.value.value.from, aliceAddress);
    assert.equal(transfer.value.value.to, to);
    assert.equal(transfer.value.value.amount, value);
    const fee = event('TransactionPayment', 'TransactionFeePaid').value.value.actual_fee;
    assert.equal(event('Balances', 'Withdraw').value.value.amount, fee, 'the fee withdrawn is the fee paid');
    assert.equal(fee, quoted, `the fee charged is the fee quoted on ${name}`);
    assert.ok(event('System', 'ExtrinsicSuccess'), 'ExtrinsicSuccess');

    // Balances at the block against its parent: the recipient holds what it was sent; Alice
    // paid it and the fee, less any fee she collected as the block's author.
    const { received, before, after, events } = result.values;
    assert.equal(received, value, `the recipient holds the transfer on ${name}`);
    const collected = events
      .filter((r) => r.event.type === 'Balances' && r.event.value.type === 'Deposit' && r.event.value.value.who === aliceAddress)
      .reduce((sum, r) => sum + r.event.value.value.amount, 0n);
    assert.equal(before - after, value + fee - collected, `Alice's balance on ${name}`);
    log(name, `sent ${value} with a fee of ${fee} (quoted ${quoted})`);
  } finally {
    client.destroy();
  }
}

await transferOn('relay', endpoint('TESSERA_FULL_NODE'));
await transferOn('para 1000', endpoint('TESSERA_PARA_1000'));
log('PAPI: every check passed');
process.exit(0);
