// Polkadot's own JavaScript client (@polkadot/api, unchanged) against a running `tessera dev`:
// what a dapp does. Run by `node/tests/it/clients.rs`, which starts the network and passes its
// addresses; by hand:
//
//   TESSERA_RELAY=ws://127.0.0.1:9944 TESSERA_FULL_NODE=ws://… TESSERA_PARA_1000=ws://127.0.0.1:9945 \
//   TESSERA_PARA_1001=ws://127.0.0.1:9946 node clients/js/test.mjs
//
// Exits 0 when every check passes; prints what failed otherwise.
import assert from 'node:assert/strict';
import { ApiPromise, Keyring, WsProvider } from '@polkadot/api';
import { UNIT, endpoint, log } from './common.mjs';


const keyring = new Keyring({ type: 'sr25519', ss58Format: 42 });
const alice = keyring.addFromUri('//Alice');
const bob = keyring.addFromUri('//Bob');

async function connect (url) {
  return ApiPromise.create({ noInitWarn: true, provider: new WsProvider(url), throwOnConnect: true });
}

// Signs and sends `tx`, resolves with the block it is finalized in and its events; rejects if
// the transaction is invalid, dropped, or its call fails.
function sendFinalized (api, tx, signer, options = {}) {
  return new Promise((resolve, reject) => {
    let unsubscribe = () => {};
    tx.signAndSend(signer, options, (result) => {
      const { status, events, dispatchError } = result;
      if (status.isInvalid || status.isDropped || status.isUsurped) {
        unsubscribe();
        reject(new Error(`transaction ${status.type}`));
      } else if (status.isFinalized) {
        unsubscribe();
        if (dispatchError) {
          const { section, name } = dispatchError.isModule
            ? api.registry.findMetaError(dispatchError.asModule)
            : { section: 'dispatch', name: dispatchError.type };
          reject(new Error(`call failed: ${section}.${name}`));
        } else {
          resolve({ blockHash: status.asFinalized, events });
        }
      }
    }).then((u) => { unsubscribe = u; }, reject);
  });
}

// The free balance of `who` at block `hash`.
async function freeAt (api, hash, who) {
  const at = await api.at(hash);
  return (await at.query.system.account(who)).data.free.toBigInt();
}

// What block `hash` paid `who` as its author (the fees, deposited at finalization).
async function authorFeesAt (api, hash, who) {
  const at = await api.at(hash);
  let paid = 0n;
  for (const { phase, event } of await at.query.system.events()) {
    if (phase.isFinalization && api.events.balances.Deposit.is(event) && event.data.who.eq(who)) {
      paid += event.data.amount.toBigInt();
    }
  }
  return paid;
}

// Alice pays Bob with `balances.transferKeepAlive` and waits for finality; both balances, the
// fee quoted beforehand and the `Balances.Transfer` event are checked against the chain.
async function transferKeepAlive (api, label) {
  const amount = 12_345n * UNIT / 1000n;
  const tx = api.tx.balances.transferKeepAlive(bob.address, amount);
  const quoted = (await tx.paymentInfo(alice)).partialFee.toBigInt();
  assert.ok(quoted > 0n, `${label}: a fee is quoted`);
  const { blockHash, events } = await sendFinalized(api, tx, alice);
  const header = await api.rpc.chain.getHeader(blockHash);
  const parent = header.parentHash;

  const transfer = events.find(({ event }) => api.events.balances.Transfer.is(event));
  assert.ok(transfer, `${label}: a Balances.Transfer event`);
  assert.equal(transfer.event.data.from.toString(), alice.address);
  assert.equal(transfer.event.data.to.toString(), bob.address);
  assert.equal(transfer.event.data.amount.toBigInt(), amount);
  assert.ok(events.some(({ event }) => api.events.system.ExtrinsicSuccess.is(event)));
  const withdrawn = events.find(({ event }) => api.events.balances.Withdraw.is(event));
  assert.equal(withdrawn?.event.data.amount.toBigInt(), quoted, `${label}: the fee charged is the fee quoted`);
  const paid = events.find(({ event }) => api.events.transactionPayment.TransactionFeePaid.is(event));
  assert.equal(paid?.event.data.actualFee.toBigInt(), quoted, `${label}: TransactionPayment.TransactionFeePaid`);

  // Exact to the unit: Alice or Bob may have authored the block (relay validators) and been
  // paid its fees.
  const [aliceBefore, bobBefore, aliceAfter, bobAfter] = await Promise.all([
    freeAt(api, parent, alice.address), freeAt(api, parent, bob.address),
    freeAt(api, blockHash, alice.address), freeAt(api, blockHash, bob.address)
  ]);
  const [aliceFees, bobFees] = await Promise.all([
    authorFeesAt(api, blockHash, alice.address), authorFeesAt(api, blockHash, bob.address)
  ]);
  assert.equal(aliceAfter, aliceBefore - amount - quoted + aliceFees, `${label}: Alice's balance`);
  assert.equal(bobAfter, bobBefore + amount + bobFees, `${label}: Bob's balance`);
  const finalized = await api.rpc.chain.getFinalizedHead();
  const finalizedNumber = (await api.rpc.chain.getHeader(finalized)).number.toNumber();
  assert.ok(finalizedNumber >= header.number.toNumber(), `${label}: finalized`);
  log(`${label}: transferKeepAlive finalized in #${header.number} (fee ${quoted})`);
}

// 100 transfers from 10 accounts, all submitted to a relay node that does not author: each
// reaches an author by gossip and is finalized.
async function hundredTransfers (authoring, fullNode) {
  const senders = Array.from({ length: 10 }, (_, i) => keyring.addFromUri(`//Alice//client-${i}`));
  const sink = keyring.addFromUri('//Alice//client-sink');
  const amount = UNIT / 100n;
  // Fund the senders from Alice, nonces in a row, through the authoring node.
  const nonce = (await authoring.rpc.system.accountNextIndex(alice.address)).toNumber();
  await Promise.all(senders.map((sender, i) =>
    sendFinalized(authoring, authoring.tx.balances.transferKeepAlive(sender.address, 10n * UNIT), alice, { nonce: nonce + i })));
  const sinkBefore = (await fullNode.query.system.account(sink.address)).data.free.toBigInt();
  const started = Date.now();
  const sent = [];
  for (const sender of senders) {
    // A new account's first nonce is not 0 on Tessera (docs/adr/008): ask the node.
    const first = (await fullNode.rpc.system.accountNextIndex(sender.address)).toNumber();
    for (let n = 0; n < 10; n++) {
      const tx = fullNode.tx.balances.transferKeepAlive(sink.address, amount);
      sent.push(sendFinalized(fullNode, tx, sender, { nonce: first + n }));
    }
  }
  const results = await Promise.all(sent);
  const blocks = new Set(results.map(({ blockHash }) => blockHash.toHex()));
  const sinkAfter = (await fullNode.query.system.account(sink.address)).data.free.toBigInt();
  assert.equal(sinkAfter - sinkBefore, 100n * amount, 'all 100 transfers credited');
  log(`100 transfers through the full node finalized in ${blocks.size} blocks, ${(Date.now() - started) / 1000} s`);
}

// Alice on para 1000 sends 1000's token to Bob on para 1001 with the call Polkadot's
// `polkadotXcm.transferAssets` takes; 1001 credits Bob with the derivative, less its fee.
async function xcmTransfer (paraA, paraB) {
  const amount = 5n * UNIT;
  const dest = { V5: { parents: 1, interior: { X1: [{ Parachain: 1001 }] } } };
  const beneficiary = { V5: { parents: 0, interior: { X1: [{ AccountId32: { network: null, id: bob.publicKey } }] } } };
  const assets = { V5: [{ id: { parents: 0, interior: 'Here' }, fun: { Fungible: amount } }] };
  const token = { parents: 1, interior: { X1: [{ Parachain: 1000 }] } };
  const before = (await paraB.query.polkadotXcm.foreignBalances([token, bob.address])).toBigInt?.() ?? 0n;
  const tx = paraA.tx.polkadotXcm.transferAssets(dest, beneficiary, assets, 0, 'Unlimited');
  const { events } = await sendFinalized(paraA, tx, alice);
  assert.ok(events.some(({ event }) => event.section === 'polkadotXcm'), 'a PolkadotXcm event on 1000');
  const deadline = Date.now() + 90_000;
  for (;;) {
    const now = await paraB.query.polkadotXcm.foreignBalances([token, bob.address]);
    const credited = BigInt(now.toString()) - BigInt(before.toString());
    if (credited > 0n) {
      assert.ok(credited <= amount, 'credited at most what was sent');
      log(`XCM 1000 → 1001: Bob credited ${credited} of ${amount} (the rest paid 1001's execution)`);
      return;
    }
    assert.ok(Date.now() < deadline, 'para 1001 credits Bob within 90 s');
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

// Staking as a wallet sees it: the dev validators' bonds and terms, then Eve bonds (moving
// funds to her reserved balance) and nominates Alice, read back through the same queries a
// staking dashboard makes.
async function staking (api) {
  const eve = keyring.addFromUri('//Eve');
  assert.equal((await api.query.staking.bonded(alice.address)).toString(), alice.address);
  const aliceLedger = (await api.query.staking.ledger(alice.address)).unwrap();
  assert.equal(aliceLedger.active.toBigInt(), 100_000n * UNIT, "Alice's dev bond");
  assert.ok((await api.query.staking.validators(alice.address)).isSome, 'Alice is a candidate');
  const era = (await api.query.staking.activeEra()).unwrap().index.toNumber();
  const exposure = await api.query.staking.erasStakersOverview([era, alice.address]);
  assert.equal(exposure.unwrap().own.toBigInt(), 100_000n * UNIT, "Alice's exposure in the era");

  const bond = 1_000n * UNIT;
  const reservedBefore = (await api.query.system.account(eve.address)).data.reserved.toBigInt();
  const { events } = await sendFinalized(api, api.tx.staking.bond(bond, 'Stash'), eve);
  assert.ok(events.some(({ event }) => api.events.staking.Bonded.is(event)), 'a Staking.Bonded event');
  await sendFinalized(api, api.tx.staking.nominate([alice.address]), eve);
  const account = await api.query.system.account(eve.address);
  assert.equal(account.data.reserved.toBigInt() - reservedBefore, bond, "Eve's bond is reserved");
  const nominations = (await api.query.staking.nominators(eve.address)).unwrap();
  assert.deepEqual(nominations.targets.map((t) => t.toString()), [alice.address]);
  log(`staking: Eve bonded ${bond} and nominates Alice (era ${era})`);
}

const relay = await connect(endpoint('TESSERA_RELAY'));
const fullNode = await connect(endpoint('TESSERA_FULL_NODE'));
const paraA = await connect(endpoint('TESSERA_PARA_1000'));
const paraB = await connect(endpoint('TESSERA_PARA_1001'));
try {
  assert.equal(relay.runtimeVersion.specName.toString(), 'tessera-relay');
  assert.equal(relay.registry.chainSS58, 42);
  assert.equal(relay.registry.chainDecimals[0], 12);
  const account = await relay.query.system.account(alice.address);
  assert.ok(account.data.free.toBigInt() > 0n, "Alice's account is read");
  log(`connected to ${(await relay.rpc.system.chain()).toString()}; Alice has ${account.data.free.toHuman()}`);

  await transferKeepAlive(relay, 'relay');
  await staking(relay);
  await transferKeepAlive(paraA, 'para 1000');
  await hundredTransfers(relay, fullNode);
  await xcmTransfer(paraA, paraB);
  log('all checks passed');
} finally {
  await Promise.all([relay, fullNode, paraA, paraB].map((api) => api.disconnect()));
}
