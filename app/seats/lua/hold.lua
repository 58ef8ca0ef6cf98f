--[[ hold: hold explicit seats for a user, all or nothing.
KEYS: seats, holds, exp, users, meta, events (see _lib.lua)
ARGV: hold id, user id, ttl ms, per-user cap, sweep limit, seat index...
Returns one of:
  {'OK', expires at ms, version}
  {'NOT_LOADED'}                  the concert's state is not in Redis: rebuild, then retry
  {'CAP', seats the user already has}
  {'TAKEN', index...}             these seats are not available; nothing was held
  {'BAD_SEAT', index}             an index outside the venue
]]
if not is_loaded() then return {'NOT_LOADED'} end
local hold_id, user = ARGV[1], ARGV[2]
local ttl_ms, cap, limit = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_ms()
expire_due(now, limit)

local size = tonumber(redis.call('HGET', K.meta, 'n'))
local indexes, taken = {}, {}
for i = 6, #ARGV do
  local index = tonumber(ARGV[i])
  if index == nil or index < 0 or index >= size then
    publish()
    return {'BAD_SEAT', ARGV[i]}
  end
  indexes[#indexes + 1] = index
  if redis.call('GETRANGE', K.seats, index, index) ~= 'A' then
    taken[#taken + 1] = index
  end
end
if #taken > 0 then
  publish()
  table.insert(taken, 1, 'TAKEN')
  return taken
end
local have = user_seats(user)
if have + #indexes > cap then
  publish()
  return {'CAP', have}
end
local expires = hold_seats(hold_id, user, ttl_ms, now, indexes)
local version = publish()
return {'OK', expires, version}
