-- cancelled.lua: finish a run that a cancel stopped (`queue.cancel`): it is never put back.
-- KEYS[1] the worker's in-flight list
-- KEYS[2] dead     (list: newest record on the left)
-- KEYS[3] cancel   (hash: task id -> deadline of a cancel request)
-- ARGV[1] the entry exactly as the worker holds it (the lease token)
-- ARGV[2] the task id (its cancel request is dropped)
-- ARGV[3] the dead-letter record to keep (JSON, stored after '<now_ms>|'), or '' to keep none
-- ARGV[4] how many records the dead-letter list keeps at most (>= 1; ignored with no record)
-- Returns 1 if the run was finished here, 0 if the worker no longer held it (nothing written: the sweeper
-- recovered it, and recover.lua drops a cancelled entry itself).
-- Errors with 'WRONGTYPE dead ...' having written nothing when a record is to be kept and `dead` is not a list.
-- Safe to run twice: the second call finds nothing to remove and writes nothing.
if ARGV[3] ~= '' then
  local bad = expect_list(redis.call('TYPE', KEYS[2]).ok, 'dead', 'nothing was written')
  if bad then
    return bad
  end
end
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then
  return 0
end
redis.call('HDEL', KEYS[3], ARGV[2])
if ARGV[3] ~= '' then
  redis.call('LPUSH', KEYS[2], now_ms() .. '|' .. ARGV[3])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[4]) - 1)
end
return 1
