--[[ load: install a concert's rebuilt state, only if none is there (a concurrent rebuild or
live traffic must never be overwritten).
KEYS: seats, holds, exp, users, meta, events (see _lib.lua)
ARGV: seats string, cjson {hold id: {u, e, s[, n, o]}} (see _lib.lua), cjson {user id: seat count}
Returns {1, version} when installed, {0, version} when state already existed.
The version restarts from the current time in microseconds (or continues from a higher one
still there): after a FLUSHALL or a reset the old counter is gone, and listeners must never
see versions go backwards.
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
local t = redis.call('TIME')
local floor = tonumber(t[1]) * 1000000 + tonumber(t[2])
local version = math.max(floor, tonumber(redis.call('HGET', K.meta, 'v') or '0') + 1)
redis.call('HSET', K.meta, 'v', string.format('%d', version))
redis.call('PUBLISH', K.events, cjson.encode({v = string.format('%d', version), reload = true}))
return {1, version}
