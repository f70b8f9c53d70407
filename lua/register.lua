-- register.lua: a worker registration starts its lease.
-- KEYS[1] workers  (zset: worker id -> lease deadline, ms on the Redis clock)
-- KEYS[2] epoch    (string: the queue's epoch, set once)
-- KEYS[3] info     (hash: worker id -> JSON facts for `status`)
-- KEYS[4] paused   (string: set while the queue is paused; optional, and given whenever KEYS[5] is)
-- KEYS[5] config   (string: the partition's copy of the queue's configuration record, src/config.ts; optional)
-- ARGV[1] worker id (fresh random per registration, never reused)
-- ARGV[2] lease length, ms
-- ARGV[3] an epoch to set if the queue has none yet
-- ARGV[4] the worker's facts (JSON; stored as '<now_ms> <json>')
-- ARGV[5] the worker's configuration record (with KEYS[5])
-- Returns {epoch, now_ms, paused, recorded}: paused is 1 while the queue is paused (0 without KEYS[4]);
-- recorded is the configuration record ('' without KEYS[5]). When the record is not ARGV[5], nothing was
-- written (the worker refuses to start): {'', now_ms, 0, recorded}.
-- Safe to run twice: SET NX and ZADD NX change nothing the second time.
local now = now_ms()
local recorded = ''
if KEYS[5] then
  redis.call('SET', KEYS[5], ARGV[5], 'NX')
  recorded = redis.call('GET', KEYS[5])
  if recorded ~= ARGV[5] then
    return {'', now, 0, recorded}
  end
end
redis.call('SET', KEYS[2], ARGV[3], 'NX')
local epoch = redis.call('GET', KEYS[2])
redis.call('ZADD', KEYS[1], 'NX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], now .. ' ' .. ARGV[4])
local paused = 0
if KEYS[4] then
  paused = redis.call('EXISTS', KEYS[4])
end
return {epoch, now, paused, recorded}
