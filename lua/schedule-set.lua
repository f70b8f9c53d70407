-- schedule-set.lua: register a repeating schedule, or leave it as it is when it is registered already.
-- KEYS[1] schedules      (hash: schedule id -> spec JSON)
-- KEYS[2] schedule-times (zset: schedule id -> next due time, ms on the Redis clock)
-- ARGV[1] schedule id
-- ARGV[2] the spec (JSON made by the client; compared as bytes, never decoded)
-- ARGV[3] its first due time, ms on the Redis clock (computed by the client from a TIME it read just before)
-- Returns {changed, next_due_ms, now_ms}: changed 0 when the same spec was registered (its armed due time is
-- kept, so every process may call this at start, any number of times, without moving or repeating a tick);
-- 1 when it is new or its spec changed (armed at ARGV[3]).
-- Safe to run twice: the second call finds the same spec.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZSCORE', KEYS[2], ARGV[1])
if due and redis.call('HGET', KEYS[1], ARGV[1]) == ARGV[2] then
  return {0, tonumber(due), now}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], tonumber(ARGV[3]), ARGV[1])
return {1, tonumber(ARGV[3]), now}
