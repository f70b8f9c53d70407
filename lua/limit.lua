-- limit.lua: one call of `limit(key, { limit, perMs, burst })` inside a task (src/flow.ts): GCRA on Redis' clock.
-- KEYS[1] limit:<key> (string with a TTL: the theoretical arrival time (TAT) of the key's next call, ms, Redis
--         clock; partition 0's tag)
-- ARGV[1] the interval between two calls, ms (perMs / limit; may be fractional)
-- ARGV[2] the tolerance τ, ms ((burst - 1) intervals)
-- Returns {0, now_ms} when the call conforms now (TAT moves on by one interval: the call is charged), or
-- {wait_ms, now_ms}, wait_ms >= 1, when it does not: nothing is written (a refused call is not charged) and the
-- next call conforms wait_ms from now (max(TAT, now) - τ). A call at `now` conforms when max(TAT, now) - now <= τ,
-- so over any stretch of time T at most T / interval + burst calls conform.
-- Validates before it writes: a key of another type fails with WRONGTYPE from GET, having written nothing.
-- Run twice (a resent command), it charges twice: the next call waits one interval more, never less.
local now = now_ms()
local tat = math.max(tonumber(redis.call('GET', KEYS[1]) or '0'), now)
local interval = tonumber(ARGV[1])
if tat - now > tonumber(ARGV[2]) then
  return {math.max(1, math.ceil(tat - tonumber(ARGV[2]) - now)), now}
end
local next = tat + interval
redis.call('SET', KEYS[1], string.format('%.3f', next), 'PX', math.max(1, math.ceil(next - now)))
return {0, now}
