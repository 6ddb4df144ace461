/**
 * The Lua scripts: each runs atomically inside Redis, so a check and the write it guards cannot be
 * separated by another process. Each touches the keys of one credential only, which share one hash
 * tag (see keys.ts), so under Redis Cluster each runs on the one node that owns that slot.
 *
 * Times come from the server's `TIME`, never from an argument: the fleet's processes may disagree
 * about the time by minutes, the server they share is one clock. Lock lifetimes are relative (`PX`,
 * `PEXPIRE`), so the server's clock counts them too.
 */

/** The server's clock in ms since the epoch (a Lua number holds it exactly). */
export const SERVER_NOW = `
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
`;

/**
 * KEYS[1] token, ARGV[1] value, ARGV[2] ttl ms, ARGV[3] channel, ARGV[4] '1' for a sharded channel:
 * store, then tell the waiters. A sharded publish that the server does not know (before Redis 7) is
 * skipped: the waiters' polling finds the token.
 */
export const SET_AND_PUBLISH = `
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
if ARGV[4] == '1' then
  redis.pcall('SPUBLISH', ARGV[3], '1')
else
  redis.call('PUBLISH', ARGV[3], '1')
end
return 1
`;

/**
 * KEYS[1] token, ARGV[1] fingerprint: deletes the token only while it is still the one with that
 * fingerprint (a newer token stored meanwhile by another process is kept).
 */
export const COMPARE_AND_DELETE_TOKEN = `
local raw = redis.call('GET', KEYS[1])
if not raw then return 0 end
local ok, value = pcall(cjson.decode, raw)
if ok and type(value) == 'table' and value['fp'] == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

/** KEYS[1] lock, ARGV[1] owner: releases the lock only if this owner still holds it. */
export const RELEASE_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
`;

/** KEYS[1] lock, ARGV[1] owner, ARGV[2] ttl ms: extends the lock only if this owner still holds it. */
export const EXTEND_LOCK = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
`;

/**
 * KEYS[1] ledger (sorted set: member = reservation, score = server time), ARGV windowMs, limit, member.
 * Forgets entries at or before now − window; refuses at `limit`, saying when the oldest leaves;
 * otherwise records the reservation. Returns {1, 0} or {0, retryAfterMs}.
 */
export const RESERVE = `${SERVER_NOW}
local window = tonumber(ARGV[1])
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local count = redis.call('ZCARD', KEYS[1])
if count >= limit then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  local wait = tonumber(oldest[2]) + window - now
  if wait < 1 then wait = 1 end
  return {0, wait}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
-- Never shorten: another process may count over a longer window (it saw a longer-lived token).
if redis.call('PTTL', KEYS[1]) < window then redis.call('PEXPIRE', KEYS[1], window) end
return {1, 0}
`;

/**
 * KEYS[1] ledger, ARGV[1] member: moves a reservation to the server's now, when its token was issued.
 * Only a reservation still there (not released, not aged out), and only forward. The set's expiry moves
 * forward by as much: it was set for the reservation's window, and must not drop the entry before its own.
 */
export const CONFIRM = `${SERVER_NOW}
local old = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not old or tonumber(old) >= now then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now, ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then redis.call('PEXPIRE', KEYS[1], ttl + now - tonumber(old)) end
return 1
`;
