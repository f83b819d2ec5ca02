// A dapp's first steps against Tessera with @polkadot/api, unchanged from Polkadot:
// connect, read a balance, quote a fee, send a transfer and follow it to finality.
//
//   make dev                                   # in one terminal
//   cd clients/js && npm ci && node example.mjs  # in another (or: node example.mjs ws://HOST:PORT)
import { ApiPromise, Keyring, WsProvider } from '@polkadot/api';

const api = await ApiPromise.create({ provider: new WsProvider(process.argv[2] ?? 'ws://127.0.0.1:9944') });
const keyring = new Keyring({ type: 'sr25519' });
const alice = keyring.addFromUri('//Alice');
const bob = keyring.addFromUri('//Bob');

const { data } = await api.query.system.account(alice.address);
console.log(`${await api.rpc.system.chain()}: Alice has ${data.free.toHuman()}`);

const transfer = api.tx.balances.transferKeepAlive(bob.address, 10n ** 12n);
const { partialFee } = await transfer.paymentInfo(alice);
console.log(`sending 1 UNIT to Bob for a fee of ${partialFee.toHuman()}`);

await new Promise((resolve, reject) => {
  transfer.signAndSend(alice, ({ status, events, dispatchError }) => {
    console.log(`  ${status.type}`);
    if (dispatchError) {
      reject(new Error(dispatchError.toString()));
    } else if (status.isFinalized) {
      for (const { event } of events) {
        console.log(`  ${event.section}.${event.method} ${JSON.stringify(event.data.toHuman())}`);
      }
      resolve();
    }
  }).catch(reject);
});
await api.disconnect();
