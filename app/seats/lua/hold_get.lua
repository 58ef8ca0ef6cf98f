--[[ hold_get: a live hold of a user.
KEYS: seats, holds, exp, users, meta, events (see _lib.lua)
ARGV: hold id, user id
Returns {'OK', expires at ms, seat index...} or {'NOT_FOUND'} (also once expired).
]]
local raw = redis.call('HGET', K.holds, ARGV[1])
if not raw then return {'NOT_FOUND'} end
local hold = cjson.decode(raw)
if hold.u ~= ARGV[2] or hold.e <= now_ms() then return {'NOT_FOUND'} end
local reply = {'OK', hold.e}
for _, index in ipairs(hold.s) do reply[#reply + 1] = index end
return reply
