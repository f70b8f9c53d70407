-- dead-delete.lua: drop one record from the dead-letter list.
-- KEYS[1] dead     (list of failure records, '<now_ms>|<json>', newest on the left)
-- ARGV[1] the record exactly as read from KEYS[1] (its bytes are the token)
-- Returns 1 if the record was removed, 0 if it was gone already.
-- Why a script for one LREM: every action on dead letters goes through a token-checked script that says
-- what it did, so the dashboard can answer "gone already" instead of pretending it deleted something.
-- Safe to run twice: the second call finds nothing to remove.
return redis.call('LREM', KEYS[1], 1, ARGV[1])
