-- dequeue-levels.lua: dequeue.lua for a queue with priority levels: move up to N waiting entries, taken level by
-- level in the queue's order, into a worker's in-flight list, if its lease holds.
-- KEYS[1] workers     (zset: worker id -> lease deadline, ms)
-- KEYS[2] the worker's in-flight list
-- KEYS[3] dispatches  (string: entries taken since the levels were last all empty; weighted order only)
-- KEYS[4..3+L] the L levels' waiting lists in declared order, most urgent first (the default level's is `waiting`)
-- KEYS[4+L] rate    (string with a TTL: the rate limit's TAT, as in dequeue.lua; given with ARGV[4] only, for a
--         queue with `rate`)
-- ARGV[1] worker id
-- ARGV[2] N, 1..1000
-- ARGV[3] the weighted pattern (src/priorities.ts: one character '0' + level index per dispatch, Σw of them),
--         or '' for strict order
-- ARGV[4] optional, with the rate key: the interval between two dispatches, ms (may be fractional)
-- ARGV[5] with ARGV[4]: the tolerance τ, ms ((burst - 1) intervals)
-- Each move prefers the level the pattern names for dispatch number `dispatches` (mod its length), or the first
-- level in strict order; an empty level passes the move on to the first non-empty level in declared order.
-- With the rate key it takes at most as many entries as conform now (GCRA, as dequeue.lua) and moves the TAT on
-- by one interval per entry taken; the weighted order counts only dispatches made, so the rate does not
-- change which level goes next.
-- Returns {1, entry...} in the order taken, {0} when the lease is gone (nothing moved), or, with the rate key,
-- {2, wait_ms} when the rate lets nothing start now (nothing moved; the next dispatch conforms wait_ms from now).
-- Each move is one LMOVE, which checks both keys' types before it moves anything: a wrong type fails the call
-- with Redis' WRONGTYPE, the moves before it done (the worker reconciles its list after any error, as after a
-- resent call, which moves a second batch).
local now = now_ms()
local deadline = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not deadline or tonumber(deadline) <= now then
  return {0}
end
local n = tonumber(ARGV[2])
local pattern = ARGV[3]
local levels = #KEYS - 3
local tat = now
if ARGV[4] then
  levels = levels - 1
  local conform
  conform, tat = gcra_room(KEYS[4 + levels], now, tonumber(ARGV[4]), tonumber(ARGV[5]))
  if conform < 1 then
    return {2, math.max(1, math.ceil(tat - tonumber(ARGV[5]) - now))}
  end
  n = math.min(n, conform)
end
local d = 0
if pattern ~= '' then
  d = tonumber(redis.call('GET', KEYS[3]) or '0')
end
local out = {1}
local empty = {}
local emptied = 0
while #out - 1 < n and emptied < levels do
  local first = 1
  if pattern ~= '' then
    first = string.byte(pattern, (d % #pattern) + 1) - 47
  end
  local item = nil
  for j = 0, levels do
    local i = j
    if j == 0 then
      i = first
    end
    if i > 0 and (j == 0 or i ~= first) and not empty[i] then
      local from = 3 + i
      item = redis.call('LMOVE', KEYS[from], KEYS[2], 'RIGHT', 'LEFT')
      if item then
        break
      end
      empty[i] = true
      emptied = emptied + 1
    end
  end
  if not item then
    break
  end
  out[#out + 1] = item
  d = d + 1
end
if ARGV[4] and #out > 1 then
  gcra_charge(KEYS[4 + levels], now, tat, #out - 1, tonumber(ARGV[4]))
end
if pattern ~= '' then
  if emptied == levels then
    -- every level is empty: the next busy stretch starts the pattern from its beginning
    redis.call('DEL', KEYS[3])
  elseif #out > 1 then
    redis.call('SET', KEYS[3], d)
  end
end
return out
