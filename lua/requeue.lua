-- requeue.lua: put one run back in the queue, if this worker still holds it.
-- KEYS[1] the worker's in-flight list
-- KEYS[2] waiting
-- KEYS[3] cancel   (hash: task id -> deadline of a cancel request, `queue.cancel`; optional)
-- KEYS[4] result:<task id> (optional: for a task that keeps its result, see ARGV[4])
-- KEYS[5] unique:<key>     (optional: for a task that holds a unique key until it finishes, see ARGV[6])
-- KEYS[6] results          (optional, with KEYS[4]: the stream the waits hear of the outcome on)
--         KEYS[3..6] are given whenever level lists follow (KEYS[4..6] then name keys of the partition that
--         nothing touches when ARGV[4] and ARGV[6] ask for no write)
-- KEYS[7..] the lists of the priority levels named in ARGV[7], in that order (a queue with `priorities` only)
-- ARGV[1] the entry exactly as the worker holds it (its bytes are the lease token)
-- ARGV[2] 1 if the run was cut off (counts towards maxAttempts), else 0 (an orderly stop)
-- ARGV[3] the cut-off reason to record: 'lost' or 'crashed' (ignored when ARGV[2] is 0)
-- ARGV[4] optional: the 'cancelled' outcome (JSON) to keep in KEYS[4] for ARGV[5] ms if the run is dropped
--         because of a cancel request ('' or absent: none)
-- ARGV[5] optional: how long that outcome is kept, ms
-- ARGV[6] optional: '1' to release the unique key KEYS[5] (if it names the task) if the run is dropped
-- ARGV[7] the queue's levels other than the default, 'high,low' (absent without levels): an entry of one goes
--         back to that level's list (`home` in lib.lua)
-- Returns 1 if put back, 0 if the worker no longer held it (the sweeper or an earlier call did it), 2 if
-- removed without being put back because a cancel request for the task was pending (the request is dropped;
-- the outcome and the key's release of ARGV[4..6] are written with it, as finish.lua would have).
-- Errors with 'WRONGTYPE waiting ...' (having written nothing) when the entry's list is not a list: Redis keeps
-- the writes a script made before an error, so both keys are checked before the entry is removed. The entry
-- then stays in the worker's list, and the caller retries.
-- The entry goes to the right end of its level's list, so it is taken next. Its attempt counter goes up, which
-- makes the next run's token differ from this one. Safe to run twice: the second call finds nothing to remove.
local target = home(ARGV[1], 2, 7, ARGV[7])
local bad = expect_list(redis.call('TYPE', KEYS[target]).ok, 'waiting', 'nothing was moved')
if bad then
  return bad
end
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then
  return 0
end
local id = entry_id(ARGV[1])
if KEYS[3] and id and redis.call('HDEL', KEYS[3], id) == 1 then
  end_writes(id, ARGV[6], KEYS[5], ARGV[4], KEYS[4], KEYS[6], ARGV[5])
  return 2
end
redis.call('RPUSH', KEYS[target], bump(ARGV[1], tonumber(ARGV[2]), ARGV[3]))
return 1
