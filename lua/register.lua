-- register.lua: a worker registration starts its lease.
-- KEYS[1] workers  (zset: worker id -> lease deadline, ms on the Redis clock)
-- KEYS[2] epoch    (string: the queue's epoch, set once)
-- KEYS[3] info     (hash: worker id -> JSON facts for `status`)
-- KEYS[4] paused   (string: set while the queue is paused; optional)
-- ARGV[1] worker id (fresh random per registration, never reused)
-- ARGV[2] lease length, ms
-- ARGV[3] an epoch to set if the queue has none yet
-- ARGV[4] the worker's facts (JSON; stored as '<now_ms> <json>')
-- Returns {epoch, now_ms, paused}: paused is 1 while the queue is paused (0 without KEYS[4]).
-- Safe to run twice: SET NX and ZADD NX change nothing the second time.
local now = now_ms()
redis.call('SET', KEYS[2], ARGV[3], 'NX')
local epoch = redis.call('GET', KEYS[2])
redis.call('ZADD', KEYS[1], 'NX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], now .. ' ' .. ARGV[4])
local paused = 0
if KEYS[4] then
  paused = redis.call('EXISTS', KEYS[4])
end
return {epoch, now, paused}
