-- cancel.lua: the steps of `queue.cancel(id)`, each atomic; the client looks for the entry in between (the
-- keys a script touches must be named in KEYS, and a task's place is found by reading, as lookups do).
-- KEYS[1] cancel    (hash: task id -> deadline of the request, ms, Redis clock)
-- KEYS[2] scheduled (zset: entry -> due time)
-- KEYS[3] waiting   (list; for 'remove' of a waiting entry: the list the client found it in, `waiting` or a
--         priority level's list)
-- KEYS[4] 'remove': result:<task id> (the 'cancelled' outcome is written there when ARGV[5] is not '')
-- KEYS[5] 'remove': unique:<key> (released when ARGV[7] is '1' and it names the task)
-- KEYS[6] 'remove': results (stream: the waits hear of the outcome there; with ARGV[5] not '')
-- ARGV[1] step:
--   'request': records a durable request for task ARGV[2], lasting ARGV[3] ms (the hash expires by itself
--              that long after the last request). Done first: from then on a run of the task that is put
--              back (requeue.lua, retry.lua, recover.lua) is dropped instead, and a worker running it hears
--              of it with its next lease renewal (renew.lua). Returns 1.
--   'remove':  removes the entry ARGV[3], found by the client in ARGV[4] ('scheduled' or 'waiting'), and
--              drops the request; writes the outcome ARGV[5] (unless '') to KEYS[4], kept ARGV[6] ms, and
--              releases the unique key KEYS[5] when ARGV[7] is '1'.
--              Returns 1 if removed here (it never runs), 0 if it had moved on.
--   'forget':  drops the request for task ARGV[2]. Returns 1 if it was still there (no worker or sweep
--              consumed it: the task was not found anywhere), 0 if something consumed it meanwhile.
-- Safe to run twice: a second 'request' only moves the deadline; a second 'remove' or 'forget' finds nothing.
local step = ARGV[1]
local id = ARGV[2]
if step == 'request' then
  local ttl = tonumber(ARGV[3])
  redis.call('HSET', KEYS[1], id, now_ms() + ttl)
  if redis.call('PTTL', KEYS[1]) < ttl then
    redis.call('PEXPIRE', KEYS[1], ttl)
  end
  return 1
end
if step == 'remove' then
  local removed
  if ARGV[4] == 'scheduled' then
    removed = redis.call('ZREM', KEYS[2], ARGV[3])
  else
    removed = redis.call('LREM', KEYS[3], 1, ARGV[3])
  end
  if removed == 0 then
    return 0
  end
  redis.call('HDEL', KEYS[1], id)
  end_writes(id, ARGV[7], KEYS[5], ARGV[5], KEYS[4], KEYS[6], ARGV[6])
  return 1
end
if step == 'forget' then
  return redis.call('HDEL', KEYS[1], id)
end
return redis.error_reply('ERR cancel.lua: unknown step ' .. tostring(step))
