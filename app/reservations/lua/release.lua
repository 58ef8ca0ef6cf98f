--[[ release: a user gives a hold back; its seats are free at once.
KEYS: seats, holds, exp, users, meta, events (see _lib.lua)
ARGV: hold id, user id, sweep limit
Returns {'OK', version, seat index...} (the seats freed) or {'NOT_FOUND'} (no such live hold
of this user) or {'NOT_LOADED'}.
]]
if not is_loaded() then return {'NOT_LOADED'} end
local hold_id, user, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
expire_due(now_ms(), limit)
local raw = redis.call('HGET', K.holds, hold_id)
if not raw then
  publish()
  return {'NOT_FOUND'}
end
local hold = cjson.decode(raw)
if hold.u ~= user then
  publish()
  return {'NOT_FOUND'}
end
drop_hold(hold_id, hold, 'A')
add_user_seats(user, -#hold.s)
local reply = {'OK', publish()}
for _, index in ipairs(hold.s) do reply[#reply + 1] = index end
return reply
