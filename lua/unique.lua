-- unique.lua: enqueue a unique task: take its key and push it, or neither.
-- KEYS[1] unique:<key> (string with a TTL: the id of the task holding the key)
-- KEYS[2] the list it waits in: waiting, or its priority level's list (a queue with `priorities`)
-- KEYS[3] scheduled    (zset: entry -> due time, ms, Redis clock)
-- KEYS[4] optional, when KEYS[2] is a priority level's list other than the default: waiting (where idle workers
--         block); KEYS[5..] the queue's other level lists. When every one of these lists and KEYS[2] is empty, a
--         task that runs now goes to KEYS[4] instead, so that a blocked worker wakes (as push.lua does; the
--         entry names its level, so a put-back still goes home)
-- ARGV[1] the entry
-- ARGV[2] the task id
-- ARGV[3] how long the key is held at most, ms (the bound after a Redis data loss)
-- ARGV[4] delay, ms ('' to run at once)
-- ARGV[5] run at, ms on Redis' clock ('' unless given; not with ARGV[4])
-- ARGV[6] 'front' to put it at the taking end of its list (`atFront`; never with a delay), else '' or absent
-- Returns {1, id} when enqueued here, {0, holder id} when the key was held (nothing written).
-- Validates before it writes: the destination's type is checked before the key is taken.
-- Run twice (a resent command), the second finds the key held by this very id and writes nothing.
local kind = redis.call('TYPE', KEYS[2]).ok
if kind ~= 'list' and kind ~= 'none' then
  return redis.error_reply('WRONGTYPE waiting is a ' .. kind .. ', not a list: nothing was written')
end
if not redis.call('SET', KEYS[1], ARGV[2], 'NX', 'PX', tonumber(ARGV[3])) then
  return {0, redis.call('GET', KEYS[1])}
end
local now = now_ms()
local due = now
if ARGV[4] ~= '' then
  due = now + tonumber(ARGV[4])
elseif ARGV[5] ~= '' then
  due = tonumber(ARGV[5])
end
if due > now then
  redis.call('ZADD', KEYS[3], due, ARGV[1])
else
  local target = 2
  if KEYS[4] and redis.call('LLEN', KEYS[2]) == 0 then
    target = 4
    for i = 4, #KEYS do
      if redis.call('LLEN', KEYS[i]) > 0 then
        target = 2
        break
      end
    end
  end
  if ARGV[6] == 'front' then
    redis.call('RPUSH', KEYS[target], ARGV[1])
  else
    redis.call('LPUSH', KEYS[target], ARGV[1])
  end
end
return {1, ARGV[2]}
