/**
 * AuditLog batching: into a destination the broker opened, every line — the token route's audit
 * records and the proxy's lines alike — is joined into batches of about 60 KB (one destination write per
 * batch, not per line); a destination given in code gets each line at once.
 */
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../../src/apps/broker/audit.js';

const RECORD = {
  reqId: 'req-1',
  consumer: 'billing',
  keyId: 'k1',
  ip: '127.0.0.1',
  provider: 'ap',
  outcome: 'issued' as const,
  code: undefined,
  status: 200,
  fingerprint: 'abcdefabcdef',
  latencyMs: 0.5,
};
const PROXY_LINE = `{"type":"proxy","reqId":"req-2","path":"/customers"}\n`;

describe('AuditLog', () => {
  it('batches proxy lines and audit records together, handing them over when a batch is full or on flush', () => {
    const writes: string[] = [];
    const log = new AuditLog({ write: (text: string) => writes.push(text) }, { batched: true });
    log.line(PROXY_LINE);
    log.write(RECORD);
    log.line(PROXY_LINE);
    expect(writes).toEqual([]);
    log.flush();
    expect(writes).toHaveLength(1);
    const lines = writes[0]!
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { type: string });
    expect(lines.map((line) => line.type)).toEqual(['proxy', 'audit', 'proxy']);

    writes.length = 0;
    for (let i = 0; i < 2400; i++) log.line(PROXY_LINE);
    // 2,400 lines of 55 characters (132,000): two full batches handed over on the way, the rest on flush.
    expect(writes).toHaveLength(2);
    log.flush();
    expect(writes.join('')).toBe(PROXY_LINE.repeat(2400));
  });

  it('keeps every character and the order: lines in any script, and a line too long for a batch', () => {
    const writes: string[] = [];
    const log = new AuditLog({ write: (text: string) => writes.push(text) }, { batched: true });
    const lines = [
      `{"path":"/customers/café"}\n`,
      `{"path":"/客户/🧾"}\n`,
      `{"path":"/${'é'.repeat(30_000)}"}\n`,
      `{"path":"/after"}\n`,
      ...Array.from({ length: 3000 }, (_, i) => `{"path":"/ü/${i}"}\n`),
    ];
    for (const line of lines) log.line(line);
    log.flush();
    expect(writes.join('')).toBe(lines.join(''));
  });

  it('writes each line at once into a destination given in code', () => {
    const writes: string[] = [];
    const log = new AuditLog({ write: (text: string) => writes.push(text) });
    log.line(PROXY_LINE);
    log.write(RECORD);
    expect(writes).toHaveLength(2);
    expect(writes[0]).toBe(PROXY_LINE);
  });
});
