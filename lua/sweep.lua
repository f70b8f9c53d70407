-- sweep.lua: take this interval's sweep lock and list the workers whose lease ran out.
-- KEYS[1] workers      (zset: worker id -> lease deadline, ms)
-- KEYS[2] sweep lock   (string with a TTL)
-- KEYS[3] retired      (zset: worker id -> when its registration was removed after a lost lease, ms)
-- KEYS[4] retired lock (string with a TTL: held while the retired registrations are checked this round)
-- ARGV[1] lock length, ms (0: sweep without taking the lock)
-- ARGV[2] offset into the expired workers (for paging)
-- ARGV[3] how many worker ids to return at most
-- ARGV[4] a token naming this sweeper (stored in the locks, for debugging)
-- ARGV[5] how often the retired registrations are checked, ms (0: not in this call)
-- Returns {now_ms, 1, #retired, retired id..., expired id...}, or {now_ms, 0} when another sweeper holds the
-- lock. Retired ids (at most ARGV[3]) come only when the retired lock was free: one check per ARGV[5] ms.
-- Writes only the locks. recover.lua checks each lease again before it moves anything.
local now = now_ms()
local lock = tonumber(ARGV[1])
if lock > 0 and not redis.call('SET', KEYS[2], ARGV[4], 'NX', 'PX', lock) then
  return {now, 0}
end
local out = {now, 1, 0}
local every = tonumber(ARGV[5])
if every > 0 and redis.call('ZCARD', KEYS[3]) > 0 and redis.call('SET', KEYS[4], ARGV[4], 'NX', 'PX', every) then
  local retired = redis.call('ZRANGE', KEYS[3], 0, tonumber(ARGV[3]) - 1)
  out[3] = #retired
  for i = 1, #retired do
    out[#out + 1] = retired[i]
  end
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', tonumber(ARGV[2]), tonumber(ARGV[3]))
for i = 1, #expired do
  out[#out + 1] = expired[i]
end
return out
