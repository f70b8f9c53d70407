-- schedule-done.lua: an occurrence of a schedule with overlap 'skip' finished: let the next one run.
-- KEYS[1] schedule-runs (hash: schedule id -> '<occurrence id> <hold until ms>')
-- ARGV[1] schedule id
-- ARGV[2] the occurrence's task id (only the occurrence that holds the schedule can free it)
-- Returns 1 if the hold was this occurrence's and is gone, 0 otherwise. Safe to run twice.
local held = redis.call('HGET', KEYS[1], ARGV[1])
if held and string.sub(held, 1, #ARGV[2] + 1) == ARGV[2] .. ' ' then
  return redis.call('HDEL', KEYS[1], ARGV[1])
end
return 0
