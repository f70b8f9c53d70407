-- dead-delete.lua: drop one record from the dead-letter list.
-- KEYS[1] dead     (list of failure records, '<now_ms>|<json>', newest on the left)
-- ARGV[1] the record exactly as read from KEYS[1] (its bytes are the token)
-- ARGV[2] '-1' to search the list from its old end (the record is nearer that end), else from the new end
-- Returns 1 if the record was removed, 0 if it was gone already.
-- Why a script for one LREM: every action on dead letters goes through a token-checked script that says
-- what it did, so the dashboard can answer "gone already" instead of pretending it deleted something.
-- Safe to run twice: the second call finds nothing to remove.
local from = 1
if ARGV[2] == '-1' then
  from = -1
end
return redis.call('LREM', KEYS[1], from, ARGV[1])
