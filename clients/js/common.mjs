// What the client tests share: the unit, the network's addresses from the environment, and
// timestamped lines.

export const UNIT = 10n ** 12n;

// The address in environment variable `name` (set by node/tests/it/clients.rs).
export function endpoint (name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`${name} is not set: the address of a Tessera node's JSON-RPC (ws://…)`);
  }
  return value;
}

export function log (...parts) {
  console.log(new Date().toISOString(), ...parts);
}
