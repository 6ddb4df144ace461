/**
 * The audit log: one JSON line per token handed out, refused or invalidated, whatever the access log's
 * level. It holds who (consumer, key id, client IP), what (provider, a fingerprint of the token) and
 * the outcome — never a token, a key or a secret. Written through pino's asynchronous destination
 * (sonic-boom), so the request never waits for the disk.
 */
import { createHash } from 'node:crypto';
import type { Token } from '../../base/token.js';

/** Anything with `write(text)`. */
export interface AuditDestination {
  /** Takes one or more complete audit lines (JSON, newline-terminated). */
  write(text: string): unknown;
}

/** One audit record. */
export interface AuditRecord {
  readonly reqId: string;
  readonly consumer: string | undefined;
  readonly keyId: string | undefined;
  /** The client's address; undefined on a unix socket. */
  readonly ip: string | undefined;
  readonly provider: string | undefined;
  /** `issued` (a token handed out), `invalidated` (a reported token dropped, then a token handed out), `refused`. */
  readonly outcome: 'issued' | 'invalidated' | 'refused';
  /** The error code when refused; `already_replaced` when a reported token was no longer current. */
  readonly code: string | undefined;
  readonly status: number;
  readonly fingerprint: string | undefined;
  readonly latencyMs: number;
}

const fingerprints = new WeakMap<Token, string>();

/**
 * A duration in ms as a JSON number with at most three decimals, built from integers: V8's
 * double-to-text conversion cost about 1 µs a field in the proxy's load-test profile (its cache of
 * number texts misses on timings, which differ every time); integers convert at once.
 */
export function msJson(ms: number): string {
  const us = Math.round(ms * 1000);
  if (!Number.isSafeInteger(us) || us < 0) return Number.isFinite(ms) ? String(Math.round(ms * 1000) / 1000) : 'null';
  const whole = Math.floor(us / 1000);
  const fraction = us - whole * 1000;
  if (fraction === 0) return String(whole);
  return `${whole}.${fraction < 10 ? '00' : fraction < 100 ? '0' : ''}${fraction}`;
}

/** Socket addresses as Node gives them (IPv4, IPv6): nothing to escape. */
const PLAIN_ADDRESS = /^[0-9A-Fa-f.:]+$/;

/**
 * The client's address as a JSON value: quoted as it is when it is a plain IPv4 or IPv6 address (no
 * escaping pass per line), escaped otherwise (an IPv6 zone id), `null` when there is none (a unix socket).
 */
export function addressJson(ip: string | undefined): string {
  if (ip === undefined) return 'null';
  return PLAIN_ADDRESS.test(ip) ? `"${ip}"` : JSON.stringify(ip);
}

/**
 * A token's fingerprint: the first 12 characters of the base64url SHA-256 of its access token. It tells
 * tokens apart in the log and matches a token someone holds; it cannot be turned back into the token.
 * Computed once per token.
 */
export function fingerprint(token: Token): string {
  let value = fingerprints.get(token);
  if (value === undefined) {
    value = createHash('sha256').update(token.accessToken, 'utf8').digest('base64url').slice(0, 12);
    fingerprints.set(token, value);
  }
  return value;
}

/**
 * Past this many bytes a batch is handed to its destination without waiting for `flush()`: just under
 * what the broker's destinations write at once (64 KiB, logging.ts), so under load one write carries
 * about two hundred lines: an asynchronous write costs about 40 µs of CPU whether it carries 4 KB or
 * 60 KB (measured on the development machine), which a write per line pays for every line
 * (bench/audit-write.ts).
 */
const BATCH_BYTES = 60_000;
/** The batch buffer: a batch, plus the longest line that can still go in before it is handed over. */
const BUFFER_BYTES = 64 * 1024;

/** Writes audit records as JSON lines. */
export class AuditLog {
  readonly #destination: AuditDestination;
  /** The batch being filled (batched logs only). */
  readonly #batch: Buffer | undefined;
  #used = 0;

  /**
   * `batched`: lines are joined into batches of about 60 KB, handed to the destination when full and on
   * `flush()` (the broker calls it every second and on close). For the broker's own sonic-boom
   * destinations: one line per write cost 5–6 µs of CPU under load. Each line is copied into the batch
   * as it comes, so its string dies young: strings kept until the batch is full outlive the young
   * generation, and a batch of them cost several µs per line in collections (the proxy's load test).
   * A destination given in code gets one line per write, at once.
   */
  constructor(destination: AuditDestination, { batched = false }: { batched?: boolean } = {}) {
    this.#destination = destination;
    this.#batch = batched ? Buffer.allocUnsafe(BUFFER_BYTES) : undefined;
  }

  write(record: AuditRecord): void {
    // Built by hand, in a fixed key order, on the hot path: every field but `ip` comes from a closed
    // character set (validated ids and names, hex, base64url, fixed codes), so only `ip` is escaped.
    let line = `{"type":"audit","time":${Date.now()},"reqId":"${record.reqId}"`;
    if (record.consumer !== undefined) line += `,"consumer":"${record.consumer}"`;
    if (record.keyId !== undefined) line += `,"keyId":"${record.keyId}"`;
    line += `,"ip":${addressJson(record.ip)}`;
    if (record.provider !== undefined) line += `,"provider":"${record.provider}"`;
    line += `,"outcome":"${record.outcome}"`;
    if (record.code !== undefined) line += `,"code":"${record.code}"`;
    line += `,"status":${record.status}`;
    if (record.fingerprint !== undefined) line += `,"fingerprint":"${record.fingerprint}"`;
    line += `,"latencyMs":${msJson(record.latencyMs)}}\n`;
    this.line(line);
  }

  /** Hands the lines batched so far to the destination. */
  flush(): void {
    if (this.#used === 0) return;
    const text = this.#batch!.toString('utf8', 0, this.#used);
    this.#used = 0;
    this.#destination.write(text);
  }

  /** Writes one complete line (this class's own, or the proxy's `"type":"proxy"`), newline-terminated. */
  line(text: string): void {
    const batch = this.#batch;
    if (batch === undefined) {
      this.#destination.write(text);
      return;
    }
    // At most three bytes per UTF-16 unit: a line that might not fit goes after the batch, or alone.
    if (this.#used + text.length * 3 > BUFFER_BYTES) {
      this.flush();
      if (text.length * 3 > BUFFER_BYTES) {
        this.#destination.write(text);
        return;
      }
    }
    this.#used += batch.write(text, this.#used, 'utf8');
    if (this.#used >= BATCH_BYTES) this.flush();
  }
}
