-- schedule.lua: enqueue a task to run later, its due time read on Redis' clock.
-- KEYS[1] scheduled (zset: entry -> due time, ms on the Redis clock; exists only while it holds entries)
-- KEYS[2] waiting   (the same partition's list of waiting entries)
-- KEYS[3..] the lists of the priority levels named in ARGV[4], in that order (a queue with `priorities` only)
-- ARGV[1] the entry
-- ARGV[2] delay, ms (>= 0): due = TIME + delay
-- ARGV[3] an absolute due time, ms on the Redis clock, or '' (then ARGV[2] applies): `runAt` read as a time on
--         Redis' clock, so the producer's own clock never matters
-- ARGV[4] the queue's levels other than the default, 'high,low' (absent without levels): a due entry goes to
--         its own level's list (`home` in lib.lua)
-- Returns {due_ms, now_ms}. A due time not after now pushes the entry onto waiting at once (a plain enqueue).
-- Run twice (a resent command), the second ZADD sets the same entry's due time again from its own TIME: one
-- entry, never two (ids are unique); a due entry pushed twice would be two entries, as with a resent LPUSH,
-- which the client never resends.
local now = now_ms()
local due = now + tonumber(ARGV[2])
if ARGV[3] ~= '' then
  due = tonumber(ARGV[3])
end
if due <= now then
  local target = home(ARGV[1], 2, 3, ARGV[4])
  redis.call('LPUSH', KEYS[target], ARGV[1])
else
  redis.call('ZADD', KEYS[1], due, ARGV[1])
end
return {due, now}
