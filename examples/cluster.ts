/**
 * Workers on one host, one token: Node's cluster module forks 4 workers, each with its own token
 * manager on the same SQLite file, so the provider sees one token request between them — and a
 * worker started later (or after a restart) sees none.
 *
 * npx tsx examples/cluster.ts
 * Runs against the built-in emulator; needs nothing else (node:sqlite is built into Node.js).
 */
import cluster from 'node:cluster';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { alternativePayments, createTokenManager } from 'tokenbroker';
import { SAMPLE_CLIENTS, startEmulator } from 'tokenbroker/emulator';
import { sqliteStore } from 'tokenbroker/sqlite';

const WORKERS = 4;
const CALLS = 250;

if (cluster.isPrimary) {
  const emulator = await startEmulator({ latencyMs: 200 }); // a slow provider: the workers really race
  const dir = mkdtempSync(join(tmpdir(), 'tokenbroker-cluster-'));
  const env = { EMULATOR_URL: emulator.alternativePaymentsBaseUrl, TOKEN_FILE: join(dir, 'tokens.sqlite') };
  const runWorkers = (count: number) =>
    Promise.all(
      Array.from({ length: count }, () => {
        const worker = cluster.fork(env);
        return new Promise<string[]>((resolve) => worker.once('message', (tokens: string[]) => resolve(tokens)));
      }),
    );
  try {
    const tokens = new Set((await runWorkers(WORKERS)).flat());
    const requests = () => emulator.stats().providers['alternative-payments'].tokenRequests;
    console.log(`${WORKERS} workers × ${CALLS} calls → ${tokens.size} token, ${requests()} token request to the provider`);
    const late = new Set((await runWorkers(1)).flat());
    console.log(`a worker started later → the same token: ${[...late].every((token) => tokens.has(token))}, ${requests()} token request in all`);
  } finally {
    await emulator.close();
    rmSync(dir, { recursive: true, force: true });
  }
} else {
  const [sample] = SAMPLE_CLIENTS;
  const tokens = createTokenManager({
    providers: { ap: alternativePayments({ clientId: sample.clientId, clientSecret: sample.clientSecret, baseUrl: process.env.EMULATOR_URL }) },
    store: sqliteStore({ path: process.env.TOKEN_FILE! }), // every worker: the same file
  });
  const results = await Promise.all(Array.from({ length: CALLS }, () => tokens.getToken('ap')));
  await tokens.close(); // closes the file
  process.send!([...new Set(results.map((token) => token.accessToken))], () => process.exit(0));
}
