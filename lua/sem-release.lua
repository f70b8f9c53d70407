-- sem-release.lua: give back semaphore slots of one worker registration (src/flow.ts): those a run ends with
-- (or releases early), or, for the sweeper, all the slots of a registration whose lease ran out.
-- KEYS[1] holds:<worker id> (sorted set: '<task id>|<k>|<name>' -> ms; partition 0's tag)
-- KEYS[2] workers   (partition 0's: worker id -> lease deadline, ms)
-- KEYS[3..] sem:<name> of each slot, in the order of ARGV[3..]
-- ARGV[1] worker id
-- ARGV[2] 'release': the worker gives the slots back; 'lost': the sweeper frees them, only if the registration is
--         gone or its lease deadline passed (a live one is left alone)
-- ARGV[3..] the slots, '<task id>|<k>|<name>' as in KEYS[1] (the client read them there, or made them when it
--         acquired): each holder '<worker id>|<task id>|<k>' leaves KEYS[2 + i], the slot leaves KEYS[1]
-- Returns the number of holders removed, or -1 ('lost' with a live lease: nothing written).
-- Writes only removals (nothing to validate first: ZREM on a key of another type fails before any write of its
-- own, and the slots are removed holder first, so a half-done call leaves slots that a resent call finishes).
-- Safe to run twice: the second call finds nothing to remove. Empty sorted sets vanish, so a semaphore nobody
-- holds and a registration that holds nothing leave no key.
if ARGV[2] == 'lost' then
  local deadline = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if deadline and tonumber(deadline) > now_ms() then
    return -1
  end
end
local removed = 0
for i = 3, #ARGV do
  local task, k = string.match(ARGV[i], '^([^|]*)|([^|]*)|')
  if task then
    removed = removed + redis.call('ZREM', KEYS[i], ARGV[1] .. '|' .. task .. '|' .. k)
  end
  redis.call('ZREM', KEYS[1], ARGV[i])
end
return removed
