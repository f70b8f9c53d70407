-- limit.lua: one call of `limit(key, { limit, perMs, burst })` inside a task (src/flow.ts): GCRA on Redis' clock.
-- KEYS[1] limit:<key>      (string with a TTL: the theoretical arrival time (TAT) of the key's next call, ms)
-- KEYS[2] limit-line:<key> (string with a TTL: the end of the line of refused calls, as a TAT, ms)
--         both with partition 0's tag
-- ARGV[1] the interval between two calls, ms (perMs / limit; may be fractional)
-- ARGV[2] the tolerance τ, ms ((burst - 1) intervals)
-- Returns {0, now_ms} when the call conforms now (TAT moves on by one interval: the call is charged), or
-- {wait_ms, now_ms}, wait_ms >= 1, when it does not. A refused call is not charged (TAT stays): it is given a turn
-- in the line of refused calls instead, one interval after the previous refused call's turn (the first one's
-- turn is the next conforming time, max(TAT, now) - τ), so that tasks put back together come back one interval
-- apart rather than all at once (each then calls again, and conforms at its turn unless a newer call took it).
-- A call at `now` conforms when max(TAT, now) - now <= τ, so over any stretch of time T at most
-- T / interval + burst calls conform, whatever the turns. Each key lives until its time is past.
-- Validates before it writes: a key of another type fails with WRONGTYPE from GET, having written nothing.
-- Run twice (a resent command), it charges twice, or gives a second turn: later, never earlier.
local now = now_ms()
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local line = tonumber(redis.call('GET', KEYS[2]) or '0')
if tat - now <= tolerance then
  local next = tat + interval
  redis.call('SET', KEYS[1], string.format('%.3f', next), 'PX', math.max(1, math.ceil(next - now)))
  return {0, now}
end
local turn = math.max(line, tat)
redis.call('SET', KEYS[2], string.format('%.3f', turn + interval), 'PX', math.max(1, math.ceil(turn + interval - now)))
return {math.max(1, math.ceil(turn - tolerance - now)), now}
