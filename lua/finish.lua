-- finish.lua: finish a run that writes something besides its release: a task that keeps its result
-- (`keepResult`), holds a unique key until it finishes (`unique`), or was stopped by a cancel
-- (`queue.cancel`: never put back). The release (or the failure, or the cancel), the outcome and the key's
-- release are written together, or none is.
-- KEYS[1] the worker's in-flight list
-- KEYS[2] dead     (list: newest record on the left)
-- KEYS[3] cancel   (hash: task id -> deadline of a cancel request; the task's request is dropped)
-- KEYS[4] result:<task id>  (string: '<ms>|<outcome>', lib.lua keep_outcome); optional: only with ARGV[3] ~= ''
-- KEYS[5] unique:<key>      (string: the id of the task holding the key); optional: only with ARGV[7] == '1'
-- KEYS[6] results           (stream: ids of tasks whose outcome was just kept); optional: only with ARGV[3] ~= ''
-- ARGV[1] the entry exactly as the worker holds it (the lease token)
-- ARGV[2] the task id
-- ARGV[3] the outcome (JSON made by the worker: {"ok":true,"value":...} or {"ok":false,"reason":...,"message":...}),
--         or '' when the task keeps no result
-- ARGV[4] how long the outcome is kept, ms
-- ARGV[5] a dead-letter record to keep (JSON, stored after '<now_ms>|'), or '' for none
-- ARGV[6] how many records the dead-letter list keeps at most (>= 1; ignored with no record)
-- ARGV[7] '1' to release the unique key KEYS[5] (if it still names this task), else ''
-- Returns 1 if the run was finished here, 0 if the worker no longer held it: a stale run (its lease was lost
-- and its entry put back, or dropped by a cancel: requeue/retry/recover.lua then write what is written here)
-- writes nothing. Under at-least-once, the last run that held its lease when it finished wins: its outcome
-- replaces any earlier one.
-- Errors with 'WRONGTYPE dead ...' having written nothing when a record is to be kept and `dead` is not a list.
-- Safe to run twice: the second call finds nothing to remove and writes nothing.
if ARGV[5] ~= '' then
  local bad = expect_list(redis.call('TYPE', KEYS[2]).ok, 'dead', 'nothing was written')
  if bad then
    return bad
  end
end
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then
  return 0
end
redis.call('HDEL', KEYS[3], ARGV[2])
if ARGV[5] ~= '' then
  redis.call('LPUSH', KEYS[2], now_ms() .. '|' .. ARGV[5])
  redis.call('LTRIM', KEYS[2], 0, tonumber(ARGV[6]) - 1)
end
end_writes(ARGV[2], ARGV[7], KEYS[5], ARGV[3], KEYS[4], KEYS[6], ARGV[4])
return 1
