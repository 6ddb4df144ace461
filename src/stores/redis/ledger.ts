/**
 * The issuance ledger in a sorted set per credential: fleet-wide, it outlives every process, and it
 * counts by the Redis server's clock (see scripts.ts), so processes whose clocks disagree still share
 * one budget exactly.
 */
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import type { IssuanceLedger, LedgerDecision } from '../types.js';
import type { RedisClient } from './connection.js';
import { CONFIRM, RESERVE } from './scripts.js';

/** Runs one bounded Redis operation (the store's `#run`). */
export type Runner = <T>(what: string, op: (client: RedisClient) => Promise<T>) => Promise<T>;

/** The {@link IssuanceLedger} of the Redis store. */
export class RedisLedger implements IssuanceLedger {
  readonly #run: Runner;
  readonly #keyOf: (key: string) => string;

  constructor(run: Runner, keyOf: (key: string) => string) {
    this.#run = run;
    this.#keyOf = keyOf;
  }

  /** `_now` (the caller's clock) is not used: the window is counted by the server's `TIME`. */
  async reserve(key: string, _now: number, limit: number, windowMs: number): Promise<LedgerDecision> {
    const reservation = randomBytes(12).toString('base64url');
    const reply = await this.#run('ledger reserve', (client) => client.eval(RESERVE, 1, this.#keyOf(key), Math.ceil(windowMs), limit, reservation));
    const [allowed, retryAfterMs] = reply as [number, number];
    return allowed === 1 ? { allowed: true, reservation } : { allowed: false, retryAfterMs: Math.max(1, Number(retryAfterMs)) };
  }

  async release(key: string, reservation: string): Promise<void> {
    await this.#run('ledger release', (client) => client.zrem(this.#keyOf(key), reservation));
  }

  /** `_now` is not used: the reservation moves to the server's `TIME`. */
  async confirm(key: string, reservation: string, _now: number): Promise<void> {
    await this.#run('ledger confirm', (client) => client.eval(CONFIRM, 1, this.#keyOf(key), reservation));
  }

  [inspect.custom](): string {
    return 'RedisLedger';
  }

  toJSON(): unknown {
    return { kind: 'redis-ledger' };
  }
}
