--[[ audit: everything reconciliation compares with the durable store, read together.
KEYS: seats, holds, exp, users, meta, events (see _lib.lua)
ARGV: none
Returns {version, sell count, seats string, {hold id, cjson hold, hold id, cjson hold, ...}}
or {'NOT_LOADED'}. Version and sell count are the guard the caller hands back to `reconcile`.
]]
if not is_loaded() then return {'NOT_LOADED'} end
local meta = redis.call('HMGET', K.meta, 'v', 'sells')
return {meta[1] or '0', meta[2] or '0', redis.call('GET', K.seats),
        redis.call('HGETALL', K.holds)}
