-- promote.lua: move the due entries of the scheduled set onto the waiting list, at most N per call.
-- KEYS[1] scheduled (zset: entry -> due time, ms on the Redis clock)
-- KEYS[2] waiting   (the same partition's list)
-- KEYS[3..2+L] the lists of the L priority levels named in ARGV[2], in that order (a queue with `priorities` only)
-- KEYS[3+L] optional: schedule-times (zset: schedule id -> next due time; partition 0 only), only read
-- ARGV[1] N, 1..1000 (Lua's unpack fails near 8000 values)
-- ARGV[2] the queue's levels other than the default, 'high,low' (absent or '' without levels): each entry goes to
--         its own level's list (`home` in lib.lua); every level list's type is checked first
-- Returns {moved, next_due_ms, now_ms, schedule_due_ms}: next_due_ms is the earliest due time still scheduled,
-- -1 when none (the key is gone then); schedule_due_ms the earliest due time of the schedules in KEYS[3+L], -1
-- when none or not asked (so an idle timekeeper round is this one command: fire.lua runs only when one is due).
-- Due entries join the back of the line as a fresh enqueue does, earliest due first. With levels, when every
-- list is empty the first goes to `waiting` (where idle workers block), the others to their own levels.
-- Removal and push are one script, so a crash at any instant neither loses nor duplicates an entry. Validates
-- before it writes: a `waiting` of another type fails the call with nothing moved. Safe to run twice and
-- concurrently: a second call finds nothing due.
local now = now_ms()
local levels = 0
if ARGV[2] and ARGV[2] ~= '' then
  for _ in string.gmatch(ARGV[2], '[^,]+') do
    levels = levels + 1
  end
end
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
if #items > 0 then
  local bad = expect_list(redis.call('TYPE', KEYS[2]).ok, 'waiting', 'nothing was moved')
  if bad then
    return bad
  end
  for i = 3, 2 + levels do
    bad = expect_list(redis.call('TYPE', KEYS[i]).ok, 'a level list', 'nothing was moved')
    if bad then
      return bad
    end
  end
  redis.call('ZREM', KEYS[1], unpack(items))
  if levels == 0 then
    redis.call('LPUSH', KEYS[2], unpack(items))
  else
    -- Idle workers block on `waiting` only: when every list is empty the first entry goes there, whatever its
    -- level, so that a blocked worker wakes at once (as push.lua does; the entry names its level, so a later
    -- put-back still goes home). The others go to their levels, taken by that worker's next fetch.
    local all_empty = redis.call('LLEN', KEYS[2]) == 0
    for i = 3, 2 + levels do
      if all_empty and redis.call('LLEN', KEYS[i]) > 0 then
        all_empty = false
      end
    end
    for i = 1, #items do
      local target = home(items[i], 2, 3, ARGV[2])
      if i == 1 and all_empty then
        target = 2
      end
      redis.call('LPUSH', KEYS[target], items[i])
    end
  end
end
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local nextDue = -1
if #head > 0 then
  nextDue = tonumber(head[2])
end
local scheduleDue = -1
local times = 3 + levels
if KEYS[times] then
  local first = redis.call('ZRANGE', KEYS[times], 0, 0, 'WITHSCORES')
  if #first > 0 then
    scheduleDue = tonumber(first[2])
  end
end
return {#items, nextDue, now, scheduleDue}
