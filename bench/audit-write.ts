/**
 * `npx tsx bench/audit-write.ts`: CPU time per audit line, written one line per write into pino's
 * asynchronous destination (sonic-boom, as the broker opens it: 4 KiB minimum write) against batched
 * (what the broker does with the destinations it opens) and against a destination that does nothing
 * (the cost of building the line). 300,000 lines each, yielding to the event loop every 50 lines as a
 * server does between requests; two passes, the second after the JIT has settled. See docs/broker.md
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
    const destination = kind === kinds[0] ? { write: () => true } : pino.destination({ dest: '/dev/null', sync: false, minLength: 4096 });
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
