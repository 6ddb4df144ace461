/**
 * `npx tsx bench/audit-write.ts`: CPU time per audit line, written one line per write into pino's
 * asynchronous destination (sonic-boom, as the broker opens it: 4 KiB minimum write, 64 KiB at most) against batched
 * (what the broker does with the destinations it opens) and against a destination that does nothing
 * (the cost of building the line). 300,000 lines each, yielding to the event loop every 50 lines as a
 * server does between requests; two passes, the second after the JIT has settled. Then the same
 * line in batches of 4, 15 and 60 KB. See docs/broker.md
 * ("Where a request's extra microseconds went").
 */
import pino from 'pino';
import { AuditLog, fingerprint } from '../src/apps/broker/audit.js';
import type { Token } from '../src/base/token.js';

const LINES = 300_000;
const token = { accessToken: 'f'.repeat(56), tokenType: 'Bearer', expiresAt: Date.now() + 3_600_000 } as Token;
const kinds = ['no-op destination', 'sonic-boom, one line per write', 'sonic-boom, batched'] as const;

for (const pass of [1, 2]) {
  for (const kind of kinds) {
    const destination = kind === kinds[0] ? { write: () => true } : pino.destination({ dest: '/dev/null', sync: false, minLength: 4096, maxWrite: 65_536 });
    const audit = new AuditLog(destination, { batched: kind === kinds[2] });
    const before = process.cpuUsage();
    for (let i = 0; i < LINES; i++) {
      audit.write({
        reqId: '1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed',
        consumer: 'load',
        keyId: 'abcdef01',
        ip: '127.0.0.1',
        provider: 'ap',
        outcome: 'issued',
        code: undefined,
        status: 200,
        fingerprint: fingerprint(token),
        latencyMs: (i % 1000) / 1000,
      });
      if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    audit.flush();
    const used = process.cpuUsage(before);
    console.log(`pass ${pass}  ${kind.padEnd(32)} ${((used.user + used.system) / LINES).toFixed(2)} µs CPU per line`);
  }
}

// The batch size: the same lines handed to the broker's destination in batches of about 4 KB, 15 KB and
// 60 KB (AuditLog's size), best of three runs each. An asynchronous write costs about the same CPU
// whatever it carries, so larger batches cost less per line.
const line = `{"type":"audit","time":1748779200000,"reqId":"1b9d6bcd-bbfd-4b2d-9b5d-ab8dfbbd4bed","consumer":"billing","keyId":"9f2c4b1e","ip":"10.0.3.7","provider":"ap","outcome":"issued","status":200,"fingerprint":"pQ3x9Zk0bW1c","latencyMs":0.412}\n`;
for (const batch of [4_000, 15_000, 60_000]) {
  const destination = pino.destination({ dest: '/dev/null', sync: false, minLength: 4096, maxWrite: 65_536 });
  let best = Infinity;
  for (let run = 0; run < 3; run++) {
    let pending = '';
    const before = process.cpuUsage();
    for (let i = 0; i < LINES; i++) {
      pending += line;
      if (pending.length >= batch) {
        destination.write(pending);
        pending = '';
      }
      if (i % 50 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    const used = process.cpuUsage(before);
    best = Math.min(best, (used.user + used.system) / LINES);
  }
  console.log(`batches of ${String(batch).padStart(6)} characters   ${best.toFixed(2)} µs CPU per line`);
}
