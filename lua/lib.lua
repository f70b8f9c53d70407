-- lib.lua: helpers shared by every script; src/scripts.ts puts this text in front of each script it loads,
-- so a script calls them as if it had defined them (and a change here changes every script's SHA).
-- Reads no key and writes nothing.

-- Redis' clock in ms (one TIME call): every instant the queue stores is taken from here, never from a client.
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- An error reply when a key's TYPE (`kind`, from redis.call('TYPE', KEYS[n]).ok) is other than a list, else
-- nil. Call it before the first write and return what it gives: Redis keeps the writes a script made before
-- an error. (The caller makes the TYPE call, so every key a script touches is a KEYS[n] in that script.)
local function expect_list(kind, name, what)
  if kind ~= 'list' and kind ~= 'none' then
    return redis.error_reply('WRONGTYPE ' .. name .. ' is a ' .. kind .. ', not a list: ' .. what)
  end
  return nil
end

-- The queue rate limit (GCRA, src/rate.ts) on string `key` (the theoretical arrival time, TAT, of the next
-- dispatch, ms): how many dispatches conform at `now` (a dispatch conforms when max(TAT, now) - now <= τ),
-- and that TAT. With none conforming, the wait until the next does is max(1, ceil(TAT - τ - now)).
local function gcra_room(key, now, interval, tolerance)
  local tat = math.max(tonumber(redis.call('GET', key) or '0'), now)
  return math.floor((now + tolerance - tat) / interval + 1e-9) + 1, tat
end

-- Moves the TAT in `key` on past `moved` dispatches from `tat`; the key expires once its TAT is in the past
-- (it then changes nothing). Returns the new TAT.
local function gcra_charge(key, now, tat, moved, interval)
  local next = tat + moved * interval
  redis.call('SET', key, string.format('%.3f', next), 'PX', math.max(1, math.ceil(next - now)))
  return next
end

-- The entry put back after a run ended: attempt + 1 (so the next run's token differs), cut-offs + cut, and
-- the reason recorded when the run counts as cut off (cut = 1). An entry of another format is kept as it is.
-- The grammar is src/payload.ts': '1|<attempt>|<cutoffs>|<reason>|<rest>'.
local function bump(entry, cut, reason)
  local attempt, cutoffs, old, rest = string.match(entry, '^1|(%d+)|(%d+)|(%a*)|(.*)$')
  if not attempt then
    return entry
  end
  if cut == 0 then
    reason = old
  end
  return '1|' .. (tonumber(attempt) + 1) .. '|' .. (tonumber(cutoffs) + cut) .. '|' .. reason .. '|' .. rest
end


-- The task id in an entry of src/payload.ts' grammar ('1|<attempt>|<cutoffs>|<reason>|<id>|...'), or nil.
local function entry_id(entry)
  return string.match(entry, '^1|%d+|%d+|%a*|([^|]*)|')
end

-- The KEYS index of the list an entry goes back to: its priority level's (`;p=<level>` in its option segment)
-- when `names` ('high,low', the queue's levels other than the default) lists it, else `default`. The levels'
-- lists are KEYS[first], KEYS[first + 1], ... in the order of `names`. Without levels (`names` nil or '') it
-- is always `default`, and nothing is read.
local function home(entry, default, first, names)
  if not names or names == '' then
    return default
  end
  local level = string.match(entry, '^1|%d+|%d+|%a*|[^|]*|[^|]*|%d+|%d+|f=[^|]*;p=([%w_%-]+)')
  if not level then
    return default
  end
  local i = 0
  for name in string.gmatch(names, '[^,]+') do
    if name == level then
      return first + i
    end
    i = i + 1
  end
  return default
end

-- Releases unique key `key` if it still names task `id` (a newer holder's key is left alone).
local function release_unique(key, id)
  if redis.call('GET', key) == id then
    redis.call('DEL', key)
  end
end

-- Keeps `outcome` (JSON made by the client) of task `id` in string `key` ('<now_ms>|<outcome>') for `ttl` ms,
-- replacing an earlier one, and tells the waits: the id goes into stream `notify_key` (the partition's
-- `results`, trimmed to about 1,000 items, gone a minute after the last), which a `queue.result()` wait reads
-- with one blocking XREAD for all its ids (src/results.ts: no pub/sub a reconnect could lose; a wait that
-- starts late reads the string). A string, not a stream per task: a stream's first node takes 4 KB.
local function keep_outcome(key, notify_key, id, outcome, ttl)
  redis.call('SET', key, now_ms() .. '|' .. outcome, 'PX', tonumber(ttl))
  redis.call('XADD', notify_key, 'MAXLEN', '~', 1000, '*', 'i', id)
  redis.call('PEXPIRE', notify_key, 60000)
end

-- The writes that end task `id` besides its release: frees unique key `unique_key` when `release` is '1', and
-- keeps `outcome` in `result_key` (lib.lua keep_outcome) when one is given (not nil or '').
local function end_writes(id, release, unique_key, outcome, result_key, notify_key, ttl)
  if release == '1' then
    release_unique(unique_key, id)
  end
  if outcome and outcome ~= '' then
    keep_outcome(result_key, notify_key, id, outcome, ttl)
  end
end

-- The options of an entry that say its end must write something besides the release: `k=<ttl>` (it keeps
-- its result) or `u=f<key>` (it holds a unique key until it finishes). True when the option segment has
-- either (src/payload.ts writes the segment: it starts with 'f=', and keys are URI-encoded, so ';' and '|'
-- within a value never occur).
local function ends_with_writes(entry)
  local opts = string.match(entry, '^1|%d+|%d+|%a*|[^|]*|[^|]*|%d+|%d+|(f=[^|]*)|')
  return opts ~= nil and (string.find(opts, ';k=', 1, true) ~= nil or string.find(opts, ';u=f', 1, true) ~= nil)
end
