-- renew.lua: extend a worker's lease, unless it already ran out.
-- KEYS[1] workers  (zset: worker id -> lease deadline, ms)
-- KEYS[2] epoch    (string)
-- KEYS[3] info     (hash: worker id -> '<now_ms> <facts JSON>')
-- KEYS[4] cancel   (hash: task id -> deadline of a cancel request, `queue.cancel`; optional, with KEYS[5])
-- KEYS[5] paused   (string: set while the queue is paused, `queue.pause`; optional, with KEYS[4])
-- ARGV[1] worker id
-- ARGV[2] lease length, ms
-- ARGV[3] the epoch the worker registered under
-- ARGV[4] the worker's current facts (JSON: counters, running tasks), stored with the time
-- ARGV[5...] the ids of the tasks the worker runs in this partition (none when idle)
-- Returns {status, now_ms, paused, cancelled id...}: status 1 renewed; 0 the lease is gone (expired or
-- swept); -1 the epoch changed or vanished, so Redis lost the queue's data. paused is 1 while the queue is
-- paused (one EXISTS per renewal: how workers learn to stop taking tasks). The ids that follow are those of
-- ARGV[5...] with a cancel request pending (one HMGET per renewal, none per task: how a cancel reaches a
-- running task).
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
if not KEYS[5] then
  return {1, now}
end
local out = {1, now, redis.call('EXISTS', KEYS[5])}
if #ARGV >= 5 then
  local ids = {unpack(ARGV, 5)}
  local found = redis.call('HMGET', KEYS[4], unpack(ids))
  for i = 1, #ids do
    if found[i] then
      out[#out + 1] = ids[i]
    end
  end
end
return out
