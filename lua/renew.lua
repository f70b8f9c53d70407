-- renew.lua: extend a worker's lease, unless it already ran out.
-- KEYS[1] workers  (zset: worker id -> lease deadline, ms)
-- KEYS[2] epoch    (string)
-- KEYS[3] info     (hash: worker id -> '<now_ms> <facts JSON>')
-- ARGV[1] worker id
-- ARGV[2] lease length, ms
-- ARGV[3] the epoch the worker registered under
-- ARGV[4] the worker's current facts (JSON: counters, running tasks), stored with the time
-- Returns {status, now_ms}: 1 renewed; 0 the lease is gone (expired or swept); -1 the epoch changed or
-- vanished, so Redis lost the queue's data.
-- A lease that has run out is never extended: the sweeper may already be handing its tasks to others.
-- Safe to run twice: a second renew only moves the deadline again.
local now = now_ms()
if redis.call('GET', KEYS[2]) ~= ARGV[3] then
  return {-1, now}
end
local deadline = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not deadline or tonumber(deadline) <= now then
  return {0, now}
end
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], now .. ' ' .. ARGV[4])
return {1, now}
