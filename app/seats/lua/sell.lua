--[[ sell: mark seats sold after the durable store has recorded the sale (the store is the
truth for sold seats, so this never refuses). The hold, if still there, is consumed: its
seats move from the user's held count to their bought count. Seats already sold are not
counted again, so a repeated call (a payment event delivered again, the expiry job or
reconciliation confirming first) leaves the user's count as it is.
KEYS: seats, holds, exp, users, meta, events (see _lib.lua)
ARGV: hold id (may be empty), user id, sweep limit, seat index...
Returns {'OK', version} or {'NOT_LOADED'}.
Every call also counts in meta `sells`, even when the seats were already S (no version bump
then): reconciliation guards its S -> A repairs on version and sell count, so a sale
confirmed while it was looking is never undone (see reconcile.lua).
]]
if not is_loaded() then return {'NOT_LOADED'} end
local hold_id, user, limit = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = now_ms()
local held = 0
redis.call('HINCRBY', K.meta, 'sells', 1)
local raw = hold_id ~= '' and redis.call('HGET', K.holds, hold_id)
if raw then
  local hold = cjson.decode(raw)
  if hold.u == user then
    redis.call('HDEL', K.holds, hold_id)
    redis.call('ZREM', K.exp, hold_id)
    held = counted(hold)
  end
end
local newly = 0
for i = 4, #ARGV do
  local index = tonumber(ARGV[i])
  if redis.call('GETRANGE', K.seats, index, index) ~= 'S' then
    newly = newly + 1
  end
  set_seat(index, 'S')
end
add_user_seats(user, newly - held)
expire_due(now, limit)
return {'OK', publish()}
