--[[ load: install a concert's rebuilt state, only if none is there (a concurrent rebuild or
live traffic must never be overwritten).
KEYS: seats, holds, exp, users, meta, events (see _lib.lua)
ARGV: seats string, cjson {hold id: {u, e, s}}, cjson {user id: seat count}
Returns {1, version} when installed, {0, version} when state already existed.
The version continues from any earlier one, so listeners never see it go backwards.
]]
if is_loaded() then return {0, tonumber(redis.call('HGET', K.meta, 'v') or '0')} end
local seats = ARGV[1]
redis.call('SET', K.seats, seats)
redis.call('DEL', K.holds, K.exp, K.users)
for hold_id, hold in pairs(cjson.decode(ARGV[2])) do
  redis.call('HSET', K.holds, hold_id, cjson.encode(hold))
  redis.call('ZADD', K.exp, hold.e, hold_id)
end
for user, count in pairs(cjson.decode(ARGV[3])) do
  redis.call('HSET', K.users, user, count)
end
local counts = {A = 0, H = 0, S = 0, X = 0}
for state in string.gmatch(seats, '.') do counts[state] = counts[state] + 1 end
redis.call('HSET', K.meta, 'n', #seats, 'A', counts.A, 'H', counts.H, 'S', counts.S, 'X', counts.X)
local version = redis.call('HINCRBY', K.meta, 'v', 1)
redis.call('PUBLISH', K.events, cjson.encode({v = version, reload = true}))
return {1, version}
