-- dequeue.lua: move up to N waiting entries into a worker's in-flight list, if its lease holds.
-- KEYS[1] waiting  (list: newest on the left, oldest on the right)
-- KEYS[2] workers  (zset: worker id -> lease deadline, ms)
-- KEYS[3] the worker's in-flight list
-- KEYS[4] rate     (string with a TTL: the theoretical arrival time of the next dispatch, ms, Redis clock; only
--         for a queue with `rate`, src/rate.ts)
-- ARGV[1] worker id
-- ARGV[2] N, 1..1000 (Lua's unpack fails near 8000 values)
-- ARGV[3] with KEYS[4]: the interval between two dispatches, ms (may be fractional)
-- ARGV[4] with KEYS[4]: the tolerance τ, ms ((burst - 1) intervals)
-- Returns {1, entry...} oldest first, {0} when the lease is gone (nothing moved), or, with KEYS[4], {2, wait_ms}
-- when the rate lets nothing start now (nothing moved; the next dispatch conforms wait_ms from now).
-- With KEYS[4] it moves at most as many entries as conform now (GCRA: a dispatch at `now` conforms when
-- max(TAT, now) - now <= τ) and moves TAT on by one interval per entry moved.
-- Validates before it writes; the moves happen together or not at all. For N > 1 the in-flight list's type is
-- checked before anything is removed from waiting (Redis keeps the writes a script made before an error):
-- errors with 'WRONGTYPE <key> ...' having moved nothing. For N = 1, LMOVE checks both keys' types itself
-- before it moves anything (one command fewer on the hot path); a wrong type fails it with Redis' WRONGTYPE,
-- also having moved nothing.
-- Run twice (a resent command), it moves a second batch: the worker reconciles its list after any error.
local now = now_ms()
local deadline = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not deadline or tonumber(deadline) <= now then
  return {0}
end
local n = tonumber(ARGV[2])
local tat = now
if KEYS[4] then
  local conform
  conform, tat = gcra_room(KEYS[4], now, tonumber(ARGV[3]), tonumber(ARGV[4]))
  if conform < 1 then
    return {2, math.max(1, math.ceil(tat - tonumber(ARGV[4]) - now))}
  end
  n = math.min(n, conform)
end
local function charge(moved)
  if KEYS[4] and moved > 0 then
    gcra_charge(KEYS[4], now, tat, moved, tonumber(ARGV[3]))
  end
end
if n == 1 then
  -- one entry: one command instead of three
  local item = redis.call('LMOVE', KEYS[1], KEYS[3], 'RIGHT', 'LEFT')
  if not item then
    return {1}
  end
  charge(1)
  return {1, item}
end
local bad = expect_list(redis.call('TYPE', KEYS[3]).ok, 'the in-flight list', 'nothing was moved')
if bad then
  return bad
end
local items = redis.call('LRANGE', KEYS[1], -n, -1)
if #items == 0 then
  return {1}
end
redis.call('LTRIM', KEYS[1], 0, -(#items + 1))
redis.call('LPUSH', KEYS[3], unpack(items))
charge(#items)
local out = {1}
for i = #items, 1, -1 do
  out[#out + 1] = items[i]
end
return out
