--[[ expire: release holds whose time has passed (the sweeper's call).
KEYS: seats, holds, exp, users, meta, events (see _lib.lua)
ARGV: sweep limit
Returns {expired count, live holds left, version, hold id, hold, hold id, hold, ...} where each
hold is the released hold's cjson record {u, e, s} (for the sweeper's seat.released events),
or {-1} when the concert is not loaded.
]]
if not is_loaded() then return {-1} end
local now, limit = now_ms(), tonumber(ARGV[1])
-- The same holds expire_due is about to release (same time, same bound), read first.
local released = {}
for _, hold_id in ipairs(redis.call('ZRANGEBYSCORE', K.exp, '-inf', now, 'LIMIT', 0, limit)) do
  local raw = redis.call('HGET', K.holds, hold_id)
  if raw then
    released[#released + 1] = hold_id
    released[#released + 1] = raw
  end
end
local expired = expire_due(now, limit)
local reply = {expired, redis.call('ZCARD', K.exp), publish()}
for _, item in ipairs(released) do reply[#reply + 1] = item end
return reply
