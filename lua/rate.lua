-- rate.lua: charge a queue's rate limit for one dispatch made by a blocking move (an idle worker's BLMOVE took
-- the entry, with no rate check; a plain queue's `waiting` or, on a queue with priority levels, the default
-- level's list, which is `waiting` too), and say how long the worker waits before it starts the task.
-- KEYS[1] rate (string with a TTL: the theoretical arrival time of the next dispatch, ms, Redis clock)
-- ARGV[1] the interval between two dispatches, ms (may be fractional)
-- ARGV[2] the tolerance τ, ms ((burst - 1) intervals)
-- Returns the wait, ms: 0 when the dispatch conforms now, else how long until its slot on the GCRA schedule
-- (max(TAT, now) - τ). TAT moves on by one interval either way: the slot is the task's.
-- Run twice (a resent command), it charges twice: the next dispatch waits one interval more, never less.
local now = now_ms()
local _, tat = gcra_room(KEYS[1], now, tonumber(ARGV[1]), tonumber(ARGV[2]))
gcra_charge(KEYS[1], now, tat, 1, tonumber(ARGV[1]))
return math.max(0, math.ceil(tat - tonumber(ARGV[2]) - now))
