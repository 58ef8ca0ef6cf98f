--[[ Shared preamble, prepended to every seat-engine script when it is loaded.

Key layout of one concert (every key carries the hash tag {c:<concert id>}, so a script only
ever touches one cluster slot):
  KEYS[1] seats   string, one byte per seat index: A available, H held, S sold, X not for sale
  KEYS[2] holds   hash   hold id -> cjson {u = user id, e = expires at (ms), s = {seat index...}}
  KEYS[3] exp     zset   hold id -> expires at (ms)
  KEYS[4] users   hash   user id -> seats held + bought by that user for this concert
  KEYS[5] meta    hash   v = version (bumped on every change), n = seat count,
                         A / H / S = how many seats are in each state,
                         sells = how many `sell` calls ran (reconciliation's guard)
  KEYS[6] events  pub/sub channel: cjson {v = "version", c = {index, state, index, state, ...}}
                  or {v = "version", reload = true} after a rebuild
Time comes from Redis (TIME), never from the app servers, whose clocks drift.
]]

local K = {seats = KEYS[1], holds = KEYS[2], exp = KEYS[3], users = KEYS[4], meta = KEYS[5],
           events = KEYS[6]}

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function is_loaded()
  return redis.call('EXISTS', K.seats) == 1
end

-- Changes made by this script call, published once at the end: {index, state, ...}.
local changes = {}

local function set_seat(index, state)
  local old = redis.call('GETRANGE', K.seats, index, index)
  if old ~= state then
    redis.call('SETRANGE', K.seats, index, state)
    redis.call('HINCRBY', K.meta, old, -1)
    redis.call('HINCRBY', K.meta, state, 1)
    changes[#changes + 1] = index
    changes[#changes + 1] = state
  end
end

local function add_user_seats(user, delta)
  if delta ~= 0 and redis.call('HINCRBY', K.users, user, delta) <= 0 then
    redis.call('HDEL', K.users, user)
  end
end

-- Seats a hold counts against its buyer's cap: its seats, or `n` when set. A checked-out
-- hold (`o` set) rebuilt after Redis lost its state with some of its order's seats gone keeps
-- `n` = the whole order: a buyer's pending order counts in full until it ends.
local function counted(hold)
  return tonumber(hold.n) or #hold.s
end

-- Remove a hold; its seats still marked H become `state` (A to free them).
local function drop_hold(hold_id, hold, state)
  for _, index in ipairs(hold.s) do
    if redis.call('GETRANGE', K.seats, index, index) == 'H' then
      set_seat(index, state)
    end
  end
  redis.call('HDEL', K.holds, hold_id)
  redis.call('ZREM', K.exp, hold_id)
end

-- Lazy, exact expiry: release at most `limit` holds whose time has passed.
local function expire_due(now, limit)
  local due = redis.call('ZRANGEBYSCORE', K.exp, '-inf', now, 'LIMIT', 0, limit)
  for _, hold_id in ipairs(due) do
    local raw = redis.call('HGET', K.holds, hold_id)
    if raw then
      local hold = cjson.decode(raw)
      drop_hold(hold_id, hold, 'A')
      add_user_seats(hold.u, -counted(hold))
    else
      redis.call('ZREM', K.exp, hold_id)
    end
  end
  return #due
end

-- Bump the version and tell listeners, once per script call, only if something changed.
local function publish()
  if #changes == 0 then
    return tonumber(redis.call('HGET', K.meta, 'v') or '0')
  end
  local version = redis.call('HINCRBY', K.meta, 'v', 1)
  -- The version as a string: cjson prints numbers with 14 significant digits, and versions
  -- start from a microsecond timestamp (see load.lua).
  redis.call('PUBLISH', K.events, cjson.encode({v = string.format('%d', version), c = changes}))
  return version
end

local function hold_seats(hold_id, user, ttl_ms, now, indexes)
  for _, index in ipairs(indexes) do
    set_seat(index, 'H')
  end
  local expires = now + ttl_ms
  redis.call('HSET', K.holds, hold_id, cjson.encode({u = user, e = expires, s = indexes}))
  redis.call('ZADD', K.exp, expires, hold_id)
  add_user_seats(user, #indexes)
  return expires
end

local function user_seats(user)
  return tonumber(redis.call('HGET', K.users, user) or '0')
end
