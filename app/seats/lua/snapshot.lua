--[[ snapshot: the seat states and their version, read together.
KEYS: seats, holds, exp, users, meta, events (see _lib.lua)
ARGV: [the version the caller already has, or nothing]
Returns {version, seats string}, or {version} alone when it equals the caller's version (the
caller's copy is current: no need to ship 50 KB), or {'NOT_LOADED'}.
]]
if not is_loaded() then return {'NOT_LOADED'} end
local version = tonumber(redis.call('HGET', K.meta, 'v') or '0')
if ARGV[1] ~= nil and tonumber(ARGV[1]) == version then return {version} end
return {version, redis.call('GET', K.seats)}
