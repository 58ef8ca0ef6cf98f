--[[ unsell: a confirmed order was refunded; its sold seats go back on sale.
KEYS: seats, holds, exp, users, meta, events (see _lib.lua)
ARGV: user id, sweep limit, seat index...
Returns {'OK', version} or {'NOT_LOADED'}.
]]
if not is_loaded() then return {'NOT_LOADED'} end
local user, limit = ARGV[1], tonumber(ARGV[2])
local freed = 0
for i = 3, #ARGV do
  local index = tonumber(ARGV[i])
  if redis.call('GETRANGE', K.seats, index, index) == 'S' then
    set_seat(index, 'A')
    freed = freed + 1
  end
end
add_user_seats(user, -freed)
expire_due(now_ms(), limit)
return {'OK', publish()}
