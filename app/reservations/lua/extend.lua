--[[ extend: keep a live hold until at least now + ttl (checkout covers the payment window).
KEYS: seats, holds, exp, users, meta, events (see _lib.lua)
ARGV: hold id, user id, ttl ms, sweep limit
Returns {'OK', expires at ms, seat index...} or {'NOT_FOUND'} or {'NOT_LOADED'}.
A hold is never shortened.
]]
if not is_loaded() then return {'NOT_LOADED'} end
local hold_id, user = ARGV[1], ARGV[2]
local ttl_ms, limit = tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_ms()
expire_due(now, limit)
publish()
local raw = redis.call('HGET', K.holds, hold_id)
if not raw then return {'NOT_FOUND'} end
local hold = cjson.decode(raw)
if hold.u ~= user then return {'NOT_FOUND'} end
if hold.e < now + ttl_ms then
  hold.e = now + ttl_ms
  redis.call('HSET', K.holds, hold_id, cjson.encode(hold))
  redis.call('ZADD', K.exp, hold.e, hold_id)
end
local reply = {'OK', hold.e}
for _, index in ipairs(hold.s) do reply[#reply + 1] = index end
return reply
