-- push.lua: enqueue one entry in a priority level other than the default (a queue with `priorities`).
-- KEYS[1] waiting   (the default level's list, the one idle workers block on)
-- KEYS[2] the entry's level list
-- KEYS[3..] every other level's list (so that all of them are known empty or not)
-- ARGV[1] the entry
-- ARGV[2] 'front' to put it at the taking end (`atFront`), else '' (the back of the line)
-- Returns 1 when it went to its level's list, 0 when every level was empty and it went to `waiting`, where an
-- idle worker's blocking move takes it at once (the order of levels does not matter when nothing else waits;
-- the entry names its level, so a put-back goes to that level's list).
-- Run twice (a resent command) it pushes twice, as a resent LPUSH would; the client never resends.
local target = 2
if redis.call('LLEN', KEYS[1]) == 0 then
  target = 1
  for i = 2, #KEYS do
    if redis.call('LLEN', KEYS[i]) > 0 then
      target = 2
      break
    end
  end
end
if ARGV[2] == 'front' then
  redis.call('RPUSH', KEYS[target], ARGV[1])
else
  redis.call('LPUSH', KEYS[target], ARGV[1])
end
return target - 1
