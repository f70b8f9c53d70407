-- retry.lua: put a run that threw back in the queue after a delay, if this worker still holds it.
-- KEYS[1] the worker's in-flight list
-- KEYS[2] scheduled (zset: entry -> due time, ms on the Redis clock)
-- KEYS[3] waiting   (the same partition's list)
-- KEYS[4] cancel    (hash: task id -> deadline of a cancel request, `queue.cancel`; optional)
-- KEYS[5] result:<task id> (optional: for a task that keeps its result, see ARGV[3])
-- KEYS[6] unique:<key>     (optional: for a task that holds a unique key until it finishes, see ARGV[5])
-- KEYS[7] results          (optional, with KEYS[5]: the stream the waits hear of the outcome on)
--         KEYS[4..7] are given whenever level lists follow (KEYS[5..7] then name keys of the partition that
--         nothing touches when ARGV[3] and ARGV[5] ask for no write)
-- KEYS[8..] the lists of the priority levels named in ARGV[6], in that order (a queue with `priorities` only)
-- ARGV[1] the entry exactly as the worker holds it (its bytes are the lease token)
-- ARGV[2] delay, ms (>= 0), computed by the worker (backoff, jitter); the instant is TIME + delay
-- ARGV[3] optional: the 'cancelled' outcome (JSON) to keep in KEYS[5] for ARGV[4] ms if the run is dropped
--         because of a cancel request ('' or absent: none)
-- ARGV[4] optional: how long that outcome is kept, ms
-- ARGV[5] optional: '1' to release the unique key KEYS[6] (if it names the task) if the run is dropped
-- ARGV[6] the queue's levels other than the default, 'high,low' (absent without levels): a retry due at once
--         goes to its own level's list (`home` in lib.lua); a later one waits in scheduled, and promote.lua does
-- Returns {1, due_ms, now_ms} if the retry was scheduled (due_ms = now_ms: pushed onto waiting at once), {0, 0, now_ms}
-- if the worker no longer held the run (a stale run: nothing written), {-1, 0, now_ms} if the entry is not one
-- this script can rewrite (nothing written; the worker fails the task instead), {2, 0, now_ms} if the run was
-- removed without a retry because a cancel request for the task was pending (the request is dropped; the
-- outcome and the key's release of ARGV[3..5] are written with it, as finish.lua would have).
-- The entry goes back with attempt + 1 (a new token for the next run) and failures + 1 (`f=` of the option
-- segment, added when the entry had none); cut-offs and the cut-off reason stay. Validates before it writes:
-- both destinations' types are checked before the run is removed (Redis keeps the writes a script made
-- before an error). Safe to run twice: the second call finds nothing to remove.
local now = now_ms()
local attempt, cutoffs, reason, head, tail =
  string.match(ARGV[1], '^1|(%d+)|(%d+)|(%a*)|([^|]*|[^|]*|%d+|%d+|)(.*)$')
if not attempt then
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
local id = string.match(head, '^([^|]*)')
if KEYS[4] and redis.call('HDEL', KEYS[4], id) == 1 then
  end_writes(id, ARGV[5], KEYS[6], ARGV[3], KEYS[5], KEYS[7], ARGV[4])
  return {2, 0, now}
end
local failures, rest = string.match(tail, '^f=(%d+)(.*)$')
if failures then
  tail = 'f=' .. (tonumber(failures) + 1) .. rest
else
  tail = 'f=1|' .. tail
end
local entry = '1|' .. (tonumber(attempt) + 1) .. '|' .. cutoffs .. '|' .. reason .. '|' .. head .. tail
local due = now + tonumber(ARGV[2])
if due <= now then
  redis.call('LPUSH', KEYS[target], entry)
else
  redis.call('ZADD', KEYS[2], due, entry)
end
return {1, due, now}
