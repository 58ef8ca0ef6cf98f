--[[ One buyer's status: ARGV user id.
Returns {state, value, depth, active, rate}: state "admitted" (value = pass expiry ms),
"waiting" (value = rank, 0-based) or "none" (not in the queue); depth = people waiting;
active = admitted shoppers; rate = measured admissions per minute (a string). ]]
local user = ARGV[1]
local now = now_ms()
local state, value = 'none', -1
local until_ms = redis.call('ZSCORE', K.admitted, user)
if until_ms and tonumber(until_ms) > now then
  state, value = 'admitted', tonumber(until_ms)
else
  local rank = redis.call('ZRANK', K.line, user)
  if rank then
    state, value = 'waiting', rank
  end
end
local rate = redis.call('HGET', K.meta, 'rate') or '0'
return {state, value, redis.call('ZCARD', K.line), redis.call('ZCOUNT', K.admitted, now, '+inf'),
        rate}
