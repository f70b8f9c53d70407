-- sweep.lua: take this interval's sweep lock and list the workers whose lease ran out.
-- KEYS[1] workers    (zset: worker id -> lease deadline, ms)
-- KEYS[2] sweep lock (string with a TTL)
-- ARGV[1] lock length, ms (0: sweep without taking the lock)
-- ARGV[2] offset into the expired workers (for paging)
-- ARGV[3] how many worker ids to return at most
-- ARGV[4] a token naming this sweeper (stored in the lock, for debugging)
-- Returns {now_ms, 1, worker id...}, or {now_ms, 0} when another sweeper holds the lock.
-- Writes only the lock. recover.lua checks each lease again before it moves anything.
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lock = tonumber(ARGV[1])
if lock > 0 and not redis.call('SET', KEYS[2], ARGV[4], 'NX', 'PX', lock) then
  return {now, 0}
end
local out = {now, 1}
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', tonumber(ARGV[2]), tonumber(ARGV[3]))
for i = 1, #expired do
  out[#out + 1] = expired[i]
end
return out
