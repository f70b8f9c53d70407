-- dead-requeue.lua: put a dead letter's task back in the queue, if the record is still in the dead-letter list.
-- KEYS[1] dead     (list of failure records, '<now_ms>|<json>', newest on the left)
-- KEYS[2] waiting  (the same partition's list the entry goes to: `waiting`, or the list of the entry's priority
--         level when the queue has it, src/level-status.ts `levelHome`)
-- ARGV[1] the record exactly as read from KEYS[1] (its bytes are the token: whoever removes it requeues it)
-- ARGV[2] the entry to enqueue (made by the client from the entry inside the record: attempt + 1, cut-offs 0)
-- ARGV[3] '-1' to search the list from its old end (the record is nearer that end), else from the new end
-- Returns 1 if the record was removed and the entry pushed, 0 if the record was gone (nothing written).
-- Errors with 'WRONGTYPE waiting ...' having written nothing when waiting is not a list (checked before the
-- record is removed: Redis keeps the writes a script made before an error).
-- Safe to run twice: the second call finds no record and writes nothing, so a task is requeued once per
-- record even when two operators click at once or a reply is lost and the call is sent again.
local bad = expect_list(redis.call('TYPE', KEYS[2]).ok, 'waiting', 'the record was kept')
if bad then
  return bad
end
local from = 1
if ARGV[3] == '-1' then
  from = -1
end
if redis.call('LREM', KEYS[1], from, ARGV[1]) == 0 then
  return 0
end
redis.call('LPUSH', KEYS[2], ARGV[2])
return 1
