-- unique-release.lua: a task of mode 'until-start' started: its key is free again, if it still names it.
-- KEYS[1] unique:<key> (string: the id of the task holding the key)
-- ARGV[1] the task id
-- Returns 1 if released here, 0 if the key is gone or held by another task (left alone).
-- Safe to run twice: the second call finds the key gone.
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
