-- put-back.lua: put a run back in the queue to run later, uncounted: its task called `limit()` or `semaphore()`
-- (src/flow.ts) and was refused, so it gave way; if this worker still holds it.
-- KEYS[1] the worker's in-flight list
-- KEYS[2] scheduled (zset: entry -> due time, ms on the Redis clock)
-- KEYS[3] waiting   (the same partition's list)
-- KEYS[4] cancel    (hash: task id -> deadline of a cancel request, `queue.cancel`; optional)
-- KEYS[5] result:<task id> (optional: for a task that keeps its result, see ARGV[3])
-- KEYS[6] unique:<key>     (optional: for a task that holds a unique key until it finishes, see ARGV[5])
-- KEYS[7] results          (optional, with KEYS[5]: the stream the waits hear of the outcome on)
--         KEYS[4..7] are given whenever level lists follow (as for retry.lua: the same keys, in the same order)
-- KEYS[8..] the lists of the priority levels named in ARGV[6], in that order (a queue with `priorities` only)
-- ARGV[1] the entry exactly as the worker holds it (its bytes are the lease token)
-- ARGV[2] delay, ms (>= 0): when the limit next lets the call through (a duration Redis measured); the instant
--         is TIME + delay
-- ARGV[3..6] as retry.lua's: the 'cancelled' outcome and its ttl, '1' to release the unique key, level names
-- Returns {1, due_ms, now_ms} if put back (due_ms = now_ms: pushed onto waiting at once), {0, 0, now_ms} if the
-- worker no longer held the run (nothing written), {-1, 0, now_ms} if the entry is not one this script can
-- read (nothing written), {2, 0, now_ms} if a cancel request for the task was pending: the run is removed and
-- finished as cancelled (the request dropped, the outcome and the key's release of ARGV[3..5] written).
-- The entry goes back with attempt + 1 (a new token for the next run; `taskContext().attempt` counts runs);
-- failures, cut-offs and the cut-off reason stay: a put-back is neither a failure nor a cut-off, so it never
-- uses up `maxAttempts` or a retry policy. Validates before it writes: both destinations' types are checked
-- before the run is removed. Safe to run twice: the second call finds nothing to remove.
local now = now_ms()
local id = entry_id(ARGV[1])
if not id then
  return {-1, 0, now}
end
local kind = redis.call('TYPE', KEYS[2]).ok
if kind ~= 'zset' and kind ~= 'none' then
  return redis.error_reply('WRONGTYPE scheduled is a ' .. kind .. ', not a sorted set: nothing was moved')
end
local target = home(ARGV[1], 3, 8, ARGV[6])
local bad = expect_list(redis.call('TYPE', KEYS[target]).ok, 'waiting', 'nothing was moved')
if bad then
  return bad
end
if redis.call('LREM', KEYS[1], -1, ARGV[1]) == 0 then
  return {0, 0, now}
end
if KEYS[4] and redis.call('HDEL', KEYS[4], id) == 1 then
  if ARGV[5] == '1' then
    release_unique(KEYS[6], id)
  end
  if ARGV[3] and ARGV[3] ~= '' then
    keep_outcome(KEYS[5], KEYS[7], id, ARGV[3], ARGV[4])
  end
  return {2, 0, now}
end
local entry = bump(ARGV[1], 0, '')
local due = now + tonumber(ARGV[2])
if due <= now then
  redis.call('LPUSH', KEYS[target], entry)
else
  redis.call('ZADD', KEYS[2], due, entry)
end
return {1, due, now}
