-- sem-acquire.lua: take a slot of `semaphore(name, n)` for a task a worker runs (src/flow.ts), if one is free.
-- KEYS[1] sem:<name>  (sorted set: holder '<worker id>|<task id>|<k>' -> when it took the slot, ms; partition 0's tag)
-- KEYS[2] workers     (partition 0's: worker id -> lease deadline, ms; every registration is there)
-- KEYS[3] holds:<worker id> (sorted set: '<task id>|<k>|<name>' -> ms, the slots this registration holds)
-- ARGV[1] worker id (the registration whose in-flight list holds the task's entry)
-- ARGV[2] task id
-- ARGV[3] k: a number the worker never gives twice within a registration (one per acquire)
-- ARGV[4] n, the most holders at once (1..1,000,000)
-- ARGV[5] the semaphore's name (as in KEYS[1])
-- Returns {1, holders, now_ms}: the slot is taken (or was already: a resent command takes none more);
-- {0, holders, now_ms}: all n slots are held, nothing written; {-1, 0, now_ms}: the worker's own lease ran out
-- (its runs are being put back elsewhere), nothing written.
-- The fence: first it drops every holder whose registration is gone from `workers` or whose lease deadline
-- passed (its worker is dead or cut off, and its runs were or will be put back), so a dead worker's slots are
-- free the moment its lease ends; the sweep also frees them (sem-release.lua 'lost') so that no key stays.
-- Validates before it writes: both sorted sets' types are checked first.
local now = now_ms()
local names = {[1] = 'the semaphore', [3] = 'the holds set'}
for i = 1, 3, 2 do
  local kind = redis.call('TYPE', KEYS[i]).ok
  if kind ~= 'zset' and kind ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. names[i] .. ' is a ' .. kind .. ', not a sorted set: nothing was written')
  end
end
local mine = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not mine or tonumber(mine) <= now then
  return {-1, 0, now}
end
local live = {}
for _, holder in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  local worker = string.match(holder, '^([^|]*)|') or ''
  if live[worker] == nil then
    local deadline = redis.call('ZSCORE', KEYS[2], worker)
    live[worker] = false
    if deadline and tonumber(deadline) > now then
      live[worker] = true
    end
  end
  if not live[worker] then
    redis.call('ZREM', KEYS[1], holder)
  end
end
local holder = ARGV[1] .. '|' .. ARGV[2] .. '|' .. ARGV[3]
local holders = redis.call('ZCARD', KEYS[1])
if redis.call('ZSCORE', KEYS[1], holder) then
  return {1, holders, now}
end
if holders >= tonumber(ARGV[4]) then
  return {0, holders, now}
end
redis.call('ZADD', KEYS[1], now, holder)
redis.call('ZADD', KEYS[3], now, ARGV[2] .. '|' .. ARGV[3] .. '|' .. ARGV[5])
return {1, holders + 1, now}
