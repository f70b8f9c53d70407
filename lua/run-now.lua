-- run-now.lua: run a scheduled task now: move its exact entry from the scheduled set to the waiting list.
-- KEYS[1] scheduled (zset: entry -> due time, ms on the Redis clock)
-- KEYS[2] waiting   (the same partition's list the entry goes to: `waiting`, or the list of the entry's
--         priority level when the queue has it, src/level-status.ts `levelHome`)
-- ARGV[1] the entry exactly as read from KEYS[1] (its bytes are the token: whoever removes it enqueues it)
-- Returns 1 if the entry was moved, 0 if it was no longer scheduled (promoted at its due time, run now by
-- someone else, or never there): nothing is written then.
-- The entry joins the back of the line, as a promotion at its due time would; its bytes (attempt, failures)
-- are unchanged. Errors with 'WRONGTYPE waiting ...' having written nothing when waiting is not a list.
-- Safe to run twice: the second call finds no entry, so an operator's double click enqueues the task once.
local bad = expect_list(redis.call('TYPE', KEYS[2]).ok, 'waiting', 'the task stays scheduled')
if bad then
  return bad
end
if redis.call('ZREM', KEYS[1], ARGV[1]) == 0 then
  return 0
end
redis.call('LPUSH', KEYS[2], ARGV[1])
return 1
