-- promote.lua: move the due entries of the scheduled set onto the waiting list, at most N per call.
-- KEYS[1] scheduled (zset: entry -> due time, ms on the Redis clock)
-- KEYS[2] waiting   (the same partition's list)
-- KEYS[3] optional: schedule-times (zset: schedule id -> next due time; partition 0 only), only read
-- ARGV[1] N, 1..1000 (Lua's unpack fails near 8000 values)
-- Returns {moved, next_due_ms, now_ms, schedule_due_ms}: next_due_ms is the earliest due time still scheduled,
-- -1 when none (the key is gone then); schedule_due_ms the earliest due time of the schedules in KEYS[3], -1 when
-- none or not asked (so an idle timekeeper round is this one command: fire.lua runs only when one is due). Due entries join the back of the line as a fresh enqueue does, earliest due first.
-- Removal and push are one script, so a crash at any instant neither loses nor duplicates an entry. Validates
-- before it writes: a `waiting` of another type fails the call with nothing moved. Safe to run twice and
-- concurrently: a second call finds nothing due.
local now = now_ms()
local items = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[1]))
if #items > 0 then
  local bad = expect_list(redis.call('TYPE', KEYS[2]).ok, 'waiting', 'nothing was moved')
  if bad then
    return bad
  end
  redis.call('ZREM', KEYS[1], unpack(items))
  redis.call('LPUSH', KEYS[2], unpack(items))
end
local head = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local nextDue = -1
if #head > 0 then
  nextDue = tonumber(head[2])
end
local scheduleDue = -1
if KEYS[3] then
  local first = redis.call('ZRANGE', KEYS[3], 0, 0, 'WITHSCORES')
  if #first > 0 then
    scheduleDue = tonumber(first[2])
  end
end
return {#items, nextDue, now, scheduleDue}
