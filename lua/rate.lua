-- rate.lua: charge a queue's rate limit for one dispatch made by a blocking move (an idle worker's BLMOVE took
-- the entry, with no rate check), and say how long the worker waits before it starts the task.
-- KEYS[1] rate (string with a TTL: the theoretical arrival time of the next dispatch, ms, Redis clock)
-- ARGV[1] the interval between two dispatches, ms (may be fractional)
-- ARGV[2] the tolerance τ, ms ((burst - 1) intervals)
-- Returns the wait, ms: 0 when the dispatch conforms now, else how long until its slot on the GCRA schedule
-- (max(TAT, now) - τ). TAT moves on by one interval either way: the slot is the task's.
-- Run twice (a resent command), it charges twice: the next dispatch waits one interval more, never less.
local now = now_ms()
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local wait = math.max(0, math.ceil(tat - tonumber(ARGV[2]) - now))
local next = tat + tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.3f', next), 'PX', math.max(1, math.ceil(next - now)))
return wait
