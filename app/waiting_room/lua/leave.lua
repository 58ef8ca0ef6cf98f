--[[ A shopper is done (order confirmed, or they left): ARGV user id. Frees their active slot
and their place in the line; the freed slot is remembered until its pass runs out, so that the
pass is refused even if the rest of the state is lost meanwhile. Returns 1 if they were
admitted or waiting. ]]
local user = ARGV[1]
local until_ms = redis.call('ZSCORE', K.admitted, user)
if until_ms then
  local known = redis.call('ZSCORE', K.freed, user)
  if not known or tonumber(known) < tonumber(until_ms) then
    redis.call('ZADD', K.freed, until_ms, user)
  end
end
return redis.call('ZREM', K.admitted, user) + redis.call('ZREM', K.line, user)
