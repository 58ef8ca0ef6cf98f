--[[ expire: release holds whose time has passed (the sweeper's call).
KEYS: seats, holds, exp, users, meta, events (see _lib.lua)
ARGV: sweep limit
Returns {expired count, live holds left, version} or {-1} when the concert is not loaded.
]]
if not is_loaded() then return {-1} end
local expired = expire_due(now_ms(), tonumber(ARGV[1]))
return {expired, redis.call('ZCARD', K.exp), publish()}
