--[[ release: a hold is given back; its seats are free at once.
KEYS: seats, holds, exp, users, meta, events (see _lib.lua)
ARGV: hold id, user id, sweep limit, force ('1': the hold's order has ended, release it even if
      checked out; '0': the buyer asks, and a checked-out hold stays with its order)
Returns {'OK', version, seat index...} (the seats freed), {'NOT_FOUND'} (no such live hold
of this user), {'CHECKED_OUT'} (the buyer asked, but the hold has an order: cancel the order
instead; nothing changed) or {'NOT_LOADED'}.
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
if hold.o and ARGV[4] ~= '1' then
  publish()
  return {'CHECKED_OUT'}
end
drop_hold(hold_id, hold, 'A')
add_user_seats(user, -counted(hold))
local reply = {'OK', publish()}
for _, index in ipairs(hold.s) do reply[#reply + 1] = index end
return reply
