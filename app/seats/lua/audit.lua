--[[ audit: the seat state and the guard reconciliation compares with the durable store, read
together. The holds are read after it, in HSCAN pages (SeatEngine.holds_of): all of a stadium's
holds in this one call would block Redis for everyone (docs/performance.md, "Figures moved out
of code comments").
KEYS: seats, holds, exp, users, meta, events (see _lib.lua)
ARGV: none
Returns {version, sell count, seats string} or {'NOT_LOADED'}. Version and sell count are the
guard the caller hands back to `reconcile`.
]]
if not is_loaded() then return {'NOT_LOADED'} end
local meta = redis.call('HMGET', K.meta, 'v', 'sells')
return {meta[1] or '0', meta[2] or '0', redis.call('GET', K.seats)}
