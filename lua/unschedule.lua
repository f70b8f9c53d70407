-- unschedule.lua: remove a repeating schedule (occurrences already enqueued stay and run).
-- KEYS[1] schedules      (hash: schedule id -> spec JSON)
-- KEYS[2] schedule-times (zset: schedule id -> next due time)
-- KEYS[3] schedule-runs  (hash: schedule id -> the occurrence that holds it, for overlap 'skip')
-- ARGV[1] schedule id
-- Returns 1 if it was registered, 0 if not. Safe to run twice: the second call finds nothing.
local removed = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
return removed
