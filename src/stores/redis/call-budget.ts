/**
 * The call budget in Redis: a fleet paces one credential's API calls together. The log is a sorted set
 * (member = call id, score = its slot on the server's clock) and the pause a plain key, both under the
 * credential's hash tag (keys.ts), so under Cluster each script runs on the one node owning the slot.
 * The algorithm is the one of `../call-budget.ts`, in Lua, each operation atomic.
 *
 * Written by hand: rate-limiter-flexible's `RateLimiterRedis` (the well-kept Redis limiter) counts
 * fixed windows with keys of its own naming; it has neither a sliding log whose reservations can be
 * re-checked, confirmed and given back, nor a pause that every waiter sees — which pacing needs.
 */
import { inspect } from 'node:util';
import type { CallBudget, RateLimit } from '../call-budget.js';
import type { Names } from './keys.js';
import type { Runner } from './ledger.js';
import { SERVER_NOW } from './scripts.js';

/**
 * KEYS[1] log, KEYS[2] pause; ARGV perMs, requests, maxWaitMs, id. Returns the wait in ms (the call
 * kept at now + wait), or minus the wait when it is longer than maxWaitMs (the call not kept).
 */
const RESERVE_CALL = `${SERVER_NOW}
local perMs = tonumber(ARGV[1])
local requests = tonumber(ARGV[2])
local maxWait = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - perMs)
local mine = redis.call('ZSCORE', KEYS[1], ARGV[4])
local kth
if mine then
  redis.call('ZREM', KEYS[1], ARGV[4])
  kth = redis.call('ZREVRANGEBYSCORE', KEYS[1], mine, '-inf', 'WITHSCORES', 'LIMIT', requests - 1, 1)
else
  kth = redis.call('ZREVRANGE', KEYS[1], requests - 1, requests - 1, 'WITHSCORES')
end
local at = now
local paused = tonumber(redis.call('GET', KEYS[2]) or '0')
if paused > at then at = paused end
if #kth > 0 then
  local after = tonumber(kth[2]) + perMs
  if after > at then at = after end
end
local wait = at - now
if wait > maxWait then return -wait end
redis.call('ZADD', KEYS[1], at, ARGV[4])
local keep = wait + perMs + 1000
if redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end
return wait
`;

/** KEYS[1] log; ARGV id, perMs: moves the call to the server's now (forward only), when its answer arrived. */
const CONFIRM_CALL = `${SERVER_NOW}
local old = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not old or tonumber(old) >= now then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
local keep = tonumber(ARGV[2]) + 1000
if redis.call('PTTL', KEYS[1]) < keep then redis.call('PEXPIRE', KEYS[1], keep) end
return 1
`;

/** KEYS[1] pause; ARGV pauseMs: no call placed before now + pauseMs (a later pause already set stays). */
const PAUSE_CALLS = `${SERVER_NOW}
local untilAt = now + tonumber(ARGV[1])
local old = tonumber(redis.call('GET', KEYS[1]) or '0')
if old >= untilAt then return 0 end
redis.call('SET', KEYS[1], untilAt, 'PX', untilAt - now + 1000)
return 1
`;

/** The {@link CallBudget} of the Redis store. */
export class RedisCallBudget implements CallBudget {
  readonly #run: Runner;
  readonly #names: (key: string) => Names;

  constructor(run: Runner, names: (key: string) => Names) {
    this.#run = run;
    this.#names = names;
  }

  async reserve(key: string, id: string, limit: RateLimit, maxWaitMs: number): Promise<number> {
    const names = this.#names(key);
    const reply = await this.#run('call reserve', (client) =>
      client.eval(RESERVE_CALL, 2, names.calls, names.callsPaused, limit.perMs, limit.requests, Math.max(0, Math.floor(maxWaitMs)), id),
    );
    return Number(reply);
  }

  async confirm(key: string, id: string): Promise<void> {
    // The window is not passed here: reserve gave the log its window plus a second past the slot, which
    // covers an answer that takes up to a second; the script keeps at least that second (ARGV[2] = 0).
    await this.#run('call confirm', (client) => client.eval(CONFIRM_CALL, 1, this.#names(key).calls, id, 0));
  }

  async release(key: string, id: string): Promise<void> {
    await this.#run('call release', (client) => client.zrem(this.#names(key).calls, id));
  }

  async pause(key: string, pauseMs: number): Promise<void> {
    await this.#run('call pause', (client) => client.eval(PAUSE_CALLS, 1, this.#names(key).callsPaused, Math.max(0, Math.ceil(pauseMs))));
  }

  [inspect.custom](): string {
    return 'RedisCallBudget';
  }

  toJSON(): unknown {
    return { kind: 'redis-call-budget' };
  }
}
