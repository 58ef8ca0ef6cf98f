--[[ receive: a sold ticket was given to another buyer (a transfer at face value); it counts
toward the receiver's cap like a seat they bought. The sender's count is left as it is: what
they bought still counts against them (buying the cap, giving it away and buying again is
refused).
KEYS: seats, holds, exp, users, meta, events (see _lib.lua)
ARGV: user id, cap, delta (1: count one received ticket, refused past the cap; -1: undo one,
      when the store did not record the transfer after all)
Returns {'OK', count}, {'OVER_CAP', already} or {'NOT_LOADED'}.
Nothing in the seat map changes, so nothing is published and the version stays.
]]
if not is_loaded() then return {'NOT_LOADED'} end
local user, cap, delta = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local have = tonumber(redis.call('HGET', K.users, user) or '0')
if delta > 0 and have + delta > cap then
  return {'OVER_CAP', have}
end
add_user_seats(user, delta)
return {'OK', have + delta}
