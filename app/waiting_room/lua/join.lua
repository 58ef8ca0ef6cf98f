--[[ Join the queue: ARGV user id, on-sale (ms), presale place (a random number in [0, 1)).
Joining twice keeps the first place; a shopper already admitted stays admitted.
Returns what status.lua returns, so a join needs no second call. ]]
local user, on_sale, draw = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local now = now_ms()
drop_expired(now)
if not redis.call('ZSCORE', K.admitted, user) and not redis.call('ZSCORE', K.line, user) then
  local place = draw
  if now >= on_sale then
    place = 1 + redis.call('HINCRBY', K.meta, 'seq', 1)
  end
  redis.call('ZADD', K.line, 'NX', place, user)
end
return status_of(user, now)
