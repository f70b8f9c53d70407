-- cancel.lua: the steps of `queue.cancel(id)`, each atomic; the client looks for the entry in between (the
-- keys a script touches must be named in KEYS, and a task's place is found by reading, as lookups do).
-- KEYS[1] cancel    (hash: task id -> deadline of the request, ms, Redis clock)
-- KEYS[2] scheduled (zset: entry -> due time)
-- KEYS[3] waiting   (list)
-- KEYS[4] 'remove' of a task that keeps its result: result:<task id> (its 'cancelled' outcome is written)
-- ARGV[1] step:
--   'request': records a durable request for task ARGV[2], lasting ARGV[3] ms (the hash expires by itself
--              that long after the last request). Done first: from then on a run of the task that is put
--              back (requeue.lua, retry.lua, recover.lua) is dropped instead, and a worker running it hears
--              of it with its next lease renewal (renew.lua). Returns 1.
--   'remove':  removes the entry ARGV[3], found by the client in ARGV[4] ('scheduled' or 'waiting'), and
--              drops the request; with KEYS[4], writes the outcome ARGV[5] there, kept ARGV[6] ms.
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
  if KEYS[4] then
    redis.call('DEL', KEYS[4])
    redis.call('XADD', KEYS[4], '*', 'o', ARGV[5])
    redis.call('PEXPIRE', KEYS[4], tonumber(ARGV[6]))
  end
  return 1
end
if step == 'forget' then
  return redis.call('HDEL', KEYS[1], id)
end
return redis.error_reply('ERR cancel.lua: unknown step ' .. tostring(step))
