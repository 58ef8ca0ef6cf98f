--[[ hold: hold explicit seats for a user, all or nothing.
KEYS: seats, holds, exp, users, meta, events (see _lib.lua) [, the domain event stream]
ARGV: hold id, user id, ttl ms, per-user cap, sweep limit,
      the seat.held event's data around its two times (prefix, middle, suffix; prefix '' for
      no event), the stream's approximate max length, seat index...
  With an event, a hold that succeeds appends its seat.held entry to the stream (KEYS[7]) in
  the same atomic step: data = prefix .. occurred_at .. middle .. expires_at .. suffix, the
  times in the ISO 8601 form the service writes (app/events/schemas.py). One round trip fewer
  per hold than appending it afterwards. If the append fails the hold still stands, and the
  reply has no entry id: the caller then publishes the event itself.
Returns one of:
  {'OK', expires at ms, version[, stream entry id]}
  {'NOT_LOADED'}                  the concert's state is not in Redis: rebuild, then retry
  {'CAP', seats the user already has}
  {'TAKEN', index...}             these seats are not available; nothing was held
  {'BAD_SEAT', index}             an index outside the venue
]]
if not is_loaded() then return {'NOT_LOADED'} end
local hold_id, user = ARGV[1], ARGV[2]
local ttl_ms, cap, limit = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_ms()
expire_due(now, limit)

local size = tonumber(redis.call('HGET', K.meta, 'n'))
local indexes, taken = {}, {}
for i = 10, #ARGV do
  local index = tonumber(ARGV[i])
  if index == nil or index < 0 or index >= size then
    publish()
    return {'BAD_SEAT', ARGV[i]}
  end
  indexes[#indexes + 1] = index
  if redis.call('GETRANGE', K.seats, index, index) ~= 'A' then
    taken[#taken + 1] = index
  end
end
if #taken > 0 then
  publish()
  table.insert(taken, 1, 'TAKEN')
  return taken
end
local have = user_seats(user)
if have + #indexes > cap then
  publish()
  return {'CAP', have}
end
local expires = hold_seats(hold_id, user, ttl_ms, now, indexes)
local version = publish()
if ARGV[6] == '' then return {'OK', expires, version} end
local data = ARGV[6] .. iso_utc(now) .. ARGV[7] .. iso_utc(expires) .. ARGV[8]
-- pcall: a failed append (the stream key of another type, out of memory) must not fail the
-- hold, which stands; the caller sees no entry id and publishes the event its own way.
local entry = redis.pcall('XADD', KEYS[7], 'MAXLEN', '~', ARGV[9], '*',
                          'v', '1', 'type', 'seat.held', 'data', data)
if type(entry) ~= 'string' then return {'OK', expires, version} end
return {'OK', expires, version, entry}
