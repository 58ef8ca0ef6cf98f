--[[ extend: keep a live hold until at least now + ttl (checkout covers the payment window).
KEYS: seats, holds, exp, users, meta, events (see _lib.lua)
ARGV: hold id, user id, ttl ms, sweep limit, checked out ('1': mark the hold as an order's, so
      the buyer can no longer release it on its own; '0': leave the mark as it is)
Returns {'OK', expires at ms, seat index...} or {'NOT_FOUND'} or {'NOT_LOADED'}.
A hold is never shortened, and a mark is never taken off.
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
local changed = false
if ARGV[5] == '1' and not hold.o then
  hold.o = 1
  changed = true
end
if hold.e < now + ttl_ms then
  hold.e = now + ttl_ms
  redis.call('ZADD', K.exp, hold.e, hold_id)
  changed = true
end
if changed then redis.call('HSET', K.holds, hold_id, cjson.encode(hold)) end
local reply = {'OK', hold.e}
for _, index in ipairs(hold.s) do reply[#reply + 1] = index end
return reply
