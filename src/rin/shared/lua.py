"""The Lua scripts that make shared state atomic: one EVALSHA per budget reserve, per settle, per
shared failure count.

Money is integer nano-dollars. Lua numbers are doubles, so values computed in Lua are only compared,
never written back: every amount a script writes arrives as a decimal string in ARGV (or is cut
from a hold's name), which keeps HINCRBY exact to 2^63 nano-dollars. Comparisons are exact below
2^53 nano-dollars ($9 million).

Budget keys, per scope and window (`<prefix>budget:<scope>:<window start, unix seconds>`):
  hash          spent, reserved (sum of live holds), alerted (set once the alert fired)
  hash:holds    sorted set of live holds "<hold id>:<nano-dollars>", scored by lease end (ms), and of
                recent settles "<id>:s"; one whose lease ended is swept out by the next script
"""

from __future__ import annotations

#: Shared by the budget scripts: the time, and sweeping out holds (and settle marks) whose lease ended.
_PRELUDE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function sweep(hash, holds)
  for _, dead in ipairs(redis.call('ZRANGEBYSCORE', holds, '-inf', now, 'LIMIT', 0, 100)) do
    local held = string.match(dead, ':(%d+)$')
    if redis.call('ZREM', holds, dead) == 1 and held and held ~= '0' then
      redis.call('HINCRBY', hash, 'reserved', '-' .. held)
    end
  end
end
"""

#: KEYS: n pairs (hash, holds) to hold on, then m pairs holding the previous hold to release, then
#:       optionally the marker that Redis still has the fleet's data (budgets.py: `reseed`).
#: ARGV: n, m, hold, amount, lease ms, previous hold, -previous amount,
#:       then per scope: limit (-1: soft, only counted), seed for spent, expire-at ms (0: never),
#:       spend this instance still has to book there (counted as spent; see budgets.py's backlog).
#: Returns {refused scope (0: admitted), spent_1, reserved_1, ..., spent_n, reserved_n}, or {-1}
#: without touching anything when the marker is gone (Redis lost its data: no seed is trusted).
RESERVE = _PRELUDE + """
local n, m = tonumber(ARGV[1]), tonumber(ARGV[2])
if #KEYS > 2 * (n + m) and redis.call('EXISTS', KEYS[#KEYS]) == 0 then return {-1} end
local hold, amount, lease = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
for j = 1, m do
  if redis.call('ZREM', KEYS[2 * (n + j)], ARGV[6]) == 1 then
    redis.call('HINCRBY', KEYS[2 * (n + j) - 1], 'reserved', ARGV[7])
  end
end
-- a retried call whose first run went through must not hold twice
local again = n > 0 and amount > 0 and redis.call('ZSCORE', KEYS[2], hold)
local refused, out = 0, {}
for i = 1, n do
  local hash, holds, at = KEYS[2 * i - 1], KEYS[2 * i], 7 + 4 * (i - 1)
  redis.call('HSETNX', hash, 'spent', ARGV[at + 2])
  redis.call('HSETNX', hash, 'reserved', '0')
  sweep(hash, holds)
  local spent = tonumber(redis.call('HGET', hash, 'spent'))
  local reserved = tonumber(redis.call('HGET', hash, 'reserved'))
  local limit = tonumber(ARGV[at + 1])
  local owed = tonumber(ARGV[at + 4])
  if not again and refused == 0 and limit >= 0 and spent + owed + reserved + amount > limit then refused = i end
  out[2 * i - 1], out[2 * i] = spent, reserved
end
if refused == 0 and not again and amount > 0 then
  for i = 1, n do
    local hash, holds, expire = KEYS[2 * i - 1], KEYS[2 * i], ARGV[7 + 4 * (i - 1) + 3]
    out[2 * i] = redis.call('HINCRBY', hash, 'reserved', ARGV[4])
    redis.call('ZADD', holds, now + lease, hold)
    if expire ~= '0' then
      redis.call('PEXPIREAT', hash, expire)
      redis.call('PEXPIREAT', holds, expire)
    end
  end
end
table.insert(out, 1, refused)
return out
"""

#: Releases a hold and books a cost, once per settle id: the settle leaves a mark "<id>:s" in each
#: window's holds set for `mark ms`, so a replay of a settle whose reply was lost books nothing.
#: With no hold, no id and cost 0 it only seeds and reads (startup, refresh).
#: KEYS: m pairs (hash, holds) holding the hold, then k pairs (hash, holds) to book on.
#: ARGV: m, k, hold, -hold amount, settle id ('' for none), mark ms, then per booked window:
#:       cost, seed for spent, expire-at ms (0: never), alert-at (spent at which the alert fires
#:       once per window; -1: none).
#: Returns {spent_1, reserved_1, alert_1, ..., spent_k, reserved_k, alert_k}.
SETTLE = _PRELUDE + """
local m, k = tonumber(ARGV[1]), tonumber(ARGV[2])
for j = 1, m do
  if redis.call('ZREM', KEYS[2 * j], ARGV[3]) == 1 then
    redis.call('HINCRBY', KEYS[2 * j - 1], 'reserved', ARGV[4])
  end
end
local mark = ARGV[5] .. ':s'
local out = {}
for i = 1, k do
  local hash, holds, at = KEYS[2 * (m + i) - 1], KEYS[2 * (m + i)], 6 + 4 * (i - 1)
  redis.call('HSETNX', hash, 'spent', ARGV[at + 2])
  redis.call('HSETNX', hash, 'reserved', '0')
  local spent, alert = nil, 0
  if ARGV[5] ~= '' and redis.call('ZSCORE', holds, mark) then
    spent = tonumber(redis.call('HGET', hash, 'spent'))
  else
    spent = redis.call('HINCRBY', hash, 'spent', ARGV[at + 1])
    if ARGV[5] ~= '' then redis.call('ZADD', holds, now + tonumber(ARGV[6]), mark) end
    local alert_at = tonumber(ARGV[at + 4])
    if alert_at >= 0 and spent >= alert_at and redis.call('HSETNX', hash, 'alerted', '1') == 1 then alert = 1 end
  end
  sweep(hash, holds)
  if ARGV[at + 3] ~= '0' then
    redis.call('PEXPIREAT', hash, ARGV[at + 3])
    redis.call('PEXPIREAT', holds, ARGV[at + 3])
  end
  out[3 * i - 2], out[3 * i - 1], out[3 * i] = spent, tonumber(redis.call('HGET', hash, 'reserved')), alert
end
return out
"""

#: Extends the leases of live holds. KEYS: holds sets; ARGV: lease ms, then the hold in each set.
RENEW = """
local t = redis.call('TIME')
local lease_end = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000) + tonumber(ARGV[1])
for i = 1, #KEYS do redis.call('ZADD', KEYS[i], 'XX', lease_end, ARGV[i + 1]) end
return #KEYS
"""

#: Counts a failure of a deployment fleet-wide and opens its breaker for everyone at the limit;
#: with allowed fails 0 it opens at once (an instance's own breaker opened).
#: KEYS: failure counter, cooldown key. ARGV: allowed fails, counting window ms,
#:       cooling-until (wall clock ms), its TTL ms, channel, message.
#: Returns 1 when it opened (or lengthened) the breaker, else 0.
COOL = """
if ARGV[1] ~= '0' then
  local failures = redis.call('INCR', KEYS[1])
  if failures == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
  if failures < tonumber(ARGV[1]) then return 0 end
end
redis.call('DEL', KEYS[1])
local current = redis.call('GET', KEYS[2])
if current and tonumber(current) >= tonumber(ARGV[3]) then return 0 end
redis.call('SET', KEYS[2], ARGV[3], 'PX', ARGV[4])
redis.call('PUBLISH', ARGV[5], ARGV[6])
return 1
"""

#: A virtual key's rpm / tpm for one wall-clock minute (rin.shared.keyrates).
#: KEYS: requests counter, tokens counter.  ARGV: rpm limit, tpm limit (-1: none), expiry ms.
#: Counts the request only when both limits leave room. Returns {refused (0, 1: rpm, 2: tpm),
#: requests this minute, tokens this minute}.
KEY_RATE = """
local requests = tonumber(redis.call('GET', KEYS[1]) or '0')
local tokens = tonumber(redis.call('GET', KEYS[2]) or '0')
local rpm, tpm = tonumber(ARGV[1]), tonumber(ARGV[2])
if tpm >= 0 and tokens >= tpm then return {2, requests, tokens} end
if rpm >= 0 and requests >= rpm then return {1, requests, tokens} end
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return {0, requests + 1, tokens}
"""
