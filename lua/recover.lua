-- recover.lua: put a worker's in-flight entries back in the queue, at most N per call.
-- KEYS[1] workers  (zset: worker id -> lease deadline, ms)
-- KEYS[2] the worker's in-flight list
-- KEYS[3] waiting
-- KEYS[4] info     (hash: worker id -> facts)
-- KEYS[5] epoch    (string)
-- KEYS[6] retired  (zset: worker id -> when its registration was removed after a lost lease, ms)
-- KEYS[7] cancel   (hash: task id -> deadline of a cancel request, `queue.cancel`; optional: without it
--         nothing is checked and the reply has three fields; given whenever later KEYS are)
-- KEYS[8] results  (stream the waits hear of outcomes on; used by a keyed call; optional, given whenever later
--         KEYS are)
-- KEYS[9] config   (string: the partition's copy of the queue's configuration record; optional, given
--         whenever later KEYS are)
-- KEYS[10] dispatches (string: the priority levels' dispatch counter; optional, given whenever later KEYS are)
-- KEYS[11..10+L] the lists of the L priority levels named in ARGV[6], in that order (a queue with `priorities`)
-- KEYS[11+L], KEYS[12+L], ... in pairs, one pair per task named in ARGV[8..]: result:<task id>, unique:<key>
-- ARGV[1] worker id
-- ARGV[2] N, 1..1000
-- ARGV[3] 'lost': the sweeper recovers a worker whose lease ran out (each run counts as cut off);
--         'stop': the worker itself leaves in good order (nothing counts as cut off);
--         'retired': the sweeper checks the list of a registration it removed earlier, in case a blocking
--         move issued before the lease ran out landed there later (a held packet): such entries never ran,
--         and go back uncounted
-- ARGV[4] 'lost': grace, ms: the registration is removed only when the list is empty and the lease ended
--         more than this long ago, so that a blocking move issued just before the lease ran out finds it;
--         it then stays in `retired` for ARGV[5] ms more, checked now and then by 'retired' calls.
--         'retired': how long a removed registration is watched, ms (it leaves `retired` after that).
-- ARGV[5] 'lost': how long the removed registration is then watched, ms (ignored in the other modes)
-- ARGV[6] the queue's levels other than the default, 'high,low' ('' or absent without levels; given whenever
--         later ARGV are): an entry of one goes back to that level's list (`home` in lib.lua); every level
--         list's type is checked first
-- ARGV[7] optional: the 'cancelled' outcome (JSON) for the tasks named next; given, the call is a keyed call
-- ARGV[8..] optional, in threes, one per task: task id, ms to keep its outcome ('' keeps none), '1' to release
--         its unique key ('' not): what finishing it as cancelled writes, in the KEYS pair of the same rank
-- In 'stop' mode the last worker to leave an empty partition also deletes its epoch, so a drained queue
-- without workers holds no keys (the next worker to register sets a new one); the configuration record goes
-- with it (the next process to start writes its own), and so does the levels' dispatch counter.
-- An entry whose task has a cancel request pending is not put back: it is finished as cancelled, its request
-- dropped (the worker that ran it died or left after the cancel; the task never runs again). When the entry
-- keeps its result or holds a unique key until it finishes (lib.lua ends_with_writes), finishing it also
-- writes the 'cancelled' outcome and releases the key, which needs their names in KEYS: a call that is not
-- keyed leaves such an entry in the list (at its right end, taken first) and returns it; the client then
-- makes a keyed call naming its keys. A keyed call finishes such an entry whose keys it does not name
-- without those writes (only bytes the client could not read back make that happen).
-- Returns {moved, left, removed, cancelled, entry...}: entries put back, entries still in the list, 1 if the
-- registration was removed, entries finished as cancelled, then the entries left for a keyed call.
-- Validates before it writes: in 'lost' mode a live lease is left alone; a `waiting` (or level list) key of
-- another type than a list fails the call with nothing changed. Safe to run twice.
local now = now_ms()
local mode = ARGV[3]
local lost = mode == 'lost'
local deadline = redis.call('ZSCORE', KEYS[1], ARGV[1])
if lost and deadline and tonumber(deadline) > now then
  if not KEYS[7] then
    return {0, redis.call('LLEN', KEYS[2]), 0}
  end
  return {0, redis.call('LLEN', KEYS[2]), 0, 0}
end
local bad = expect_list(redis.call('TYPE', KEYS[3]).ok, 'waiting', 'nothing was moved')
if bad then
  return bad
end
local levels = 0
if ARGV[6] and ARGV[6] ~= '' then
  for _ in string.gmatch(ARGV[6], '[^,]+') do
    levels = levels + 1
    local list = 10 + levels
    bad = expect_list(redis.call('TYPE', KEYS[list]).ok, 'a level list', 'nothing was moved')
    if bad then
      return bad
    end
  end
end
local cut = 0
if lost then
  cut = 1
end
local items = redis.call('LRANGE', KEYS[2], -tonumber(ARGV[2]), -1)
local cancelled = 0
local keyed = ARGV[7] ~= nil
local pairs_at = 11 + levels
local named = {}
if keyed then
  for rank = 0, (#ARGV - 8) / 3 do
    named[ARGV[8 + 3 * rank]] = rank
  end
end
local pending = {}
if #items > 0 then
  redis.call('LTRIM', KEYS[2], 0, -(#items + 1))
  local back = {}
  local check = KEYS[7] and redis.call('EXISTS', KEYS[7]) == 1
  for i = 1, #items do
    local id = check and entry_id(items[i])
    if id and redis.call('HEXISTS', KEYS[7], id) == 1 then
      local writes = ends_with_writes(items[i])
      if writes and not keyed then
        pending[#pending + 1] = items[i]
      else
        redis.call('HDEL', KEYS[7], id)
        cancelled = cancelled + 1
        local rank = writes and named[id]
        if rank and ARGV[10 + 3 * rank] == '1' then
          release_unique(KEYS[pairs_at + 1 + 2 * rank], id)
        end
        if rank and ARGV[9 + 3 * rank] ~= '' then
          keep_outcome(KEYS[pairs_at + 2 * rank], KEYS[8], id, ARGV[7], ARGV[9 + 3 * rank])
        end
      end
    else
      back[#back + 1] = bump(items[i], cut, 'lost')
    end
  end
  -- the oldest entry is last in `back`, so it ends up rightmost (of its level's list) and is taken first
  if levels == 0 and #back > 0 then
    redis.call('RPUSH', KEYS[3], unpack(back))
  elseif levels > 0 then
    for i = 1, #back do
      local target = home(back[i], 3, 11, ARGV[6])
      redis.call('RPUSH', KEYS[target], back[i])
    end
  end
  if #pending > 0 then
    redis.call('RPUSH', KEYS[2], unpack(pending))
  end
end
local left = redis.call('LLEN', KEYS[2])
local removed = 0
if mode == 'retired' then
  local since = redis.call('ZSCORE', KEYS[6], ARGV[1])
  if left == 0 and (not since or tonumber(since) + tonumber(ARGV[4]) < now) then
    removed = redis.call('ZREM', KEYS[6], ARGV[1])
  end
  return KEYS[7] and {#items - cancelled - #pending, left, removed, cancelled, unpack(pending)} or {#items, left, removed}
end
if left == 0 and (not lost or not deadline or tonumber(deadline) + tonumber(ARGV[4]) < now) then
  removed = redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('HDEL', KEYS[4], ARGV[1])
  if lost and removed == 1 and tonumber(ARGV[5] or '0') > 0 then
    redis.call('ZADD', KEYS[6], now, ARGV[1])
  end
  local function levels_empty()
    for i = 11, 10 + levels do
      if redis.call('LLEN', KEYS[i]) > 0 then
        return false
      end
    end
    return true
  end
  if not lost and redis.call('ZCARD', KEYS[1]) == 0 and redis.call('LLEN', KEYS[3]) == 0 and levels_empty() then
    redis.call('DEL', KEYS[5])
    if KEYS[9] then
      redis.call('DEL', KEYS[9])
    end
    if levels > 0 then
      redis.call('DEL', KEYS[10])
    end
  end
end
return KEYS[7] and {#items - cancelled - #pending, left, removed, cancelled, unpack(pending)} or {#items, left, removed}
