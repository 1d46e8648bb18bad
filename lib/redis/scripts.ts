// The Lua scripts the Redis adapter runs: each is one atomic step on the Redis server, sent by
// EVALSHA (EVAL once when Redis does not know it yet, e.g. after a restart).
//
// PUBLISH (Centrifugo's design): for every targeted room that keeps history, the next sequence
// number (HINCRBY), the epoch (created when the room's metadata is missing: a restarted Redis or
// an expired room gets a new one), and the message appended to the room's stream trimmed by
// count (MAXLEN) and age (MINID, Redis's own clock); then the message is PUBLISHed to each
// targeted room's channel, inside the same script, so every process sees the publications of a
// room in sequence order and the copies of one publication back to back (a process subscribed
// to two of its rooms drops the second copy by comparing with the last one). A target whose
// channel nobody listens to may be a socket id (never subscribed: one per socket): the message
// then also goes on the common channel that every process hears.

import { createHash } from "node:crypto";

/** A script and its SHA1 (for EVALSHA). */
export interface Script {
  readonly text: string;
  readonly sha: string;
}

function script(text: string): Script {
  return { text, sha: createHash("sha1").update(text).digest("hex") };
}

/**
 * KEYS: meta1, stream1, meta2, stream2, ... (the rooms that keep history).
 * ARGV: body, size, ttl ms, meta ttl ms, new epoch, common channel, the names of the rooms that
 * keep history (#KEYS/2, in KEYS order), then the channel of every targeted room (none: every
 * socket, the common channel).
 * Returns { positions JSON ("" without history), 1 when the common channel was used else 0 }.
 */
export const PUBLISH = script(`
local body = ARGV[1]
local size = tonumber(ARGV[2])
local ttl = tonumber(ARGV[3])
local metaTtl = tonumber(ARGV[4])
local newEpoch = ARGV[5]
local common = ARGV[6]
local pos = ''
local n = #KEYS / 2
if n > 0 then
  local list = {}
  for i = 1, n do
    local meta = KEYS[2 * i - 1]
    local epoch = redis.call('HGET', meta, 'e')
    if not epoch then
      epoch = newEpoch
      redis.call('HSET', meta, 'e', epoch)
    end
    local seq = redis.call('HINCRBY', meta, 's', 1)
    redis.call('PEXPIRE', meta, metaTtl)
    list[i] = { ARGV[6 + i], epoch, seq }
  end
  pos = cjson.encode(list)
  local t = redis.call('TIME')
  local minid = (tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) - ttl
  for i = 1, n do
    local stream = KEYS[2 * i]
    redis.call('XADD', stream, 'MAXLEN', size, '*', 'o', list[i][3], 'a', pos, 'b', body)
    if minid > 0 then redis.call('XTRIM', stream, 'MINID', minid) end
    redis.call('PEXPIRE', stream, ttl)
  end
end
local msg = pos .. '\\n' .. body
local usedCommon = 0
local first = 7 + n
if first > #ARGV then
  redis.call('PUBLISH', common, msg)
  usedCommon = 1
else
  local missed = false
  for i = first, #ARGV do
    if redis.call('PUBLISH', ARGV[i], msg) == 0 then missed = true end
  end
  if missed then
    redis.call('PUBLISH', common, msg)
    usedCommon = 1
  end
end
return { pos, usedCommon }
`);

/**
 * KEYS: meta. ARGV: new epoch, meta ttl ms. The room's epoch (created when missing), last
 * sequence number and Redis's clock in ms: where a recovery or a gap check starts.
 */
export const HEAD = script(`
local epoch = redis.call('HGET', KEYS[1], 'e')
if not epoch then
  epoch = ARGV[1]
  redis.call('HSET', KEYS[1], 'e', epoch)
end
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
local seq = redis.call('HGET', KEYS[1], 's') or '0'
local t = redis.call('TIME')
return { epoch, seq, tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)) }
`);

/**
 * KEYS: the live-process set. ARGV: this process's id, ttl ms, "1" to stay or "0" to leave.
 * Each live process has an entry scored by its expiry (Redis's clock); expired ones are removed
 * here. Returns the ids of the live processes.
 */
export const HEARTBEAT = script(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[1], now + ttl, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], ttl)
else
  redis.call('ZREM', KEYS[1], ARGV[1])
end
return redis.call('ZRANGE', KEYS[1], 0, -1)
`);
