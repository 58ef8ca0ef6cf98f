--[[ snapshot: the seat states and their version, read together.
KEYS: seats, holds, exp, users, meta, events (see _lib.lua)
ARGV: none
Returns {version, seats string} or {'NOT_LOADED'}.
]]
if not is_loaded() then return {'NOT_LOADED'} end
return {tonumber(redis.call('HGET', K.meta, 'v') or '0'), redis.call('GET', K.seats)}
