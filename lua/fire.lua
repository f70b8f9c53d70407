-- fire.lua: enqueue a schedule's due occurrence(s) and arm its next due time, in one step.
-- KEYS[1] schedules      (hash: schedule id -> spec JSON)
-- KEYS[2] schedule-times (zset: schedule id -> next due time, ms on the Redis clock)
-- KEYS[3] waiting        (list, the partition of KEYS[1])
-- KEYS[4] schedule-runs  (hash: schedule id -> '<occurrence id> <hold until ms>', overlap 'skip' only)
-- ARGV[1] schedule id
-- ARGV[2] the spec exactly as the caller read it (a token: a re-registered or removed schedule fires nothing)
-- ARGV[3] the due time the caller read (the compare-and-set value)
-- ARGV[4] the next due time to arm, computed by the caller from the due times (never from its own clock)
-- ARGV[5] '1' for overlap 'skip', else '0'
-- ARGV[6] overlap 'skip': how long an occurrence holds the schedule at most, ms, if its run never reports
-- ARGV[7] overlap 'skip': the id of the last occurrence below (what the hold names)
-- ARGV[8..] the occurrences' entries, oldest first (none: the due ticks were missed and are dropped)
-- Returns {status, now_ms}: 1 enqueued and armed; 2 armed only (overlap 'skip' and an earlier occurrence still
-- holds the schedule); 0 not due yet on Redis' clock (nothing written); -1 the due time or the spec is not what
-- the caller read (someone else fired it, or the schedule changed: nothing written).
-- Any number of processes may call this for the same tick at once: the first moves the due time, so the others
-- find it changed. Enqueueing and arming cannot be separated by a crash. Safe to run twice.
local now = now_ms()
local due = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not due or tonumber(due) ~= tonumber(ARGV[3]) or redis.call('HGET', KEYS[1], ARGV[1]) ~= ARGV[2] then
  return {-1, now}
end
if tonumber(due) > now then
  return {0, now}
end
local bad = expect_list(redis.call('TYPE', KEYS[3]).ok, 'waiting', 'nothing was written')
if bad then
  return bad
end
local status = 1
if #ARGV >= 8 then
  if ARGV[5] == '1' then
    local held = redis.call('HGET', KEYS[4], ARGV[1])
    local untilMs = held and tonumber(string.match(held, ' (%d+)$'))
    if untilMs and untilMs > now then
      status = 2
    else
      redis.call('HSET', KEYS[4], ARGV[1], ARGV[7] .. ' ' .. (now + tonumber(ARGV[6])))
    end
  end
  if status == 1 then
    for i = 8, #ARGV do
      redis.call('LPUSH', KEYS[3], ARGV[i])
    end
  end
end
redis.call('ZADD', KEYS[2], tonumber(ARGV[4]), ARGV[1])
return {status, now}
