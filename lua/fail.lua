-- fail.lua: finish a failed run and keep a record of it in the bounded dead-letter list.
-- KEYS[1] the worker's in-flight list
-- KEYS[2] dead     (list: newest record on the left)
-- ARGV[1] the entry exactly as the worker holds it (the lease token)
-- ARGV[2] the record to keep (JSON made by the worker; stored as is, after '<now_ms>|')
-- ARGV[3] how many records the list keeps at most (>= 1)
-- Returns 1 if the run was finished here, 0 if the worker no longer held it (nothing written).
-- Errors with 'WRONGTYPE dead ...' having written nothing when the dead-letter list is not a list (checked
-- before the run is removed: Redis keeps the writes a script made before an error); the caller retries.
-- Safe to run twice: the second call finds nothing to remove and writes nothing.
local bad = expect_list(redis.call('TYPE', KEYS[2]).ok, 'dead', 'nothing was written')
if bad then
  return bad
end
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then
  return 0
end
local now = now_ms()
redis.call('LPUSH', KEYS[2], now .. '|' .. ARGV[2])
redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[3]) - 1)
return 1
