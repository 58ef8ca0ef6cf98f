--[[ Join the queue: ARGV user id, on-sale (ms), presale place (a random number in [0, 1)).
Joining twice keeps the first place; a shopper already admitted stays admitted.
Returns {state, value}: {"admitted", pass expiry ms} or {"waiting", rank (0-based)}. ]]
local user, on_sale, draw = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local now = now_ms()
drop_expired(now)
local until_ms = redis.call('ZSCORE', K.admitted, user)
if until_ms then
  return {'admitted', tonumber(until_ms)}
end
if not redis.call('ZSCORE', K.line, user) then
  local place = draw
  if now >= on_sale then
    place = 1 + redis.call('HINCRBY', K.meta, 'seq', 1)
  end
  redis.call('ZADD', K.line, 'NX', place, user)
end
return {'waiting', redis.call('ZRANK', K.line, user)}
