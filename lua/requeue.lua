-- requeue.lua: put one run back in the queue, if this worker still holds it.
-- KEYS[1] the worker's in-flight list
-- KEYS[2] waiting
-- KEYS[3] cancel   (hash: task id -> deadline of a cancel request, `queue.cancel`; optional, and given
--         whenever level lists follow)
-- KEYS[4..] the lists of the priority levels named in ARGV[4], in that order (a queue with `priorities` only)
-- ARGV[1] the entry exactly as the worker holds it (its bytes are the lease token)
-- ARGV[2] 1 if the run was cut off (counts towards maxAttempts), else 0 (an orderly stop)
-- ARGV[3] the cut-off reason to record: 'lost' or 'crashed' (ignored when ARGV[2] is 0)
-- ARGV[4] the queue's levels other than the default, 'high,low' (absent without levels): an entry of one goes
--         back to that level's list (`home` in lib.lua)
-- Returns 1 if put back, 0 if the worker no longer held it (the sweeper or an earlier call did it), 2 if
-- removed without being put back because a cancel request for the task was pending (the request is dropped).
-- Errors with 'WRONGTYPE waiting ...' (having written nothing) when the entry's list is not a list: Redis keeps
-- the writes a script made before an error, so both keys are checked before the entry is removed. The entry
-- then stays in the worker's list, and the caller retries.
-- The entry goes to the right end of its level's list, so it is taken next. Its attempt counter goes up, which
-- makes the next run's token differ from this one. Safe to run twice: the second call finds nothing to remove.
local target = home(ARGV[1], 2, 4, ARGV[4])
local bad = expect_list(redis.call('TYPE', KEYS[target]).ok, 'waiting', 'nothing was moved')
if bad then
  return bad
end
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then
  return 0
end
local id = entry_id(ARGV[1])
if KEYS[3] and id and redis.call('HDEL', KEYS[3], id) == 1 then
  return 2
end
redis.call('RPUSH', KEYS[target], bump(ARGV[1], tonumber(ARGV[2]), ARGV[3]))
return 1
