--[[ A pass from a lost state whose slot the store says was used (an order confirmed since its
admission): ARGV user id, the pass's expiry (ms). Remembered as freed until the pass runs out,
so the pass is refused from now on without asking the store again. ]]
local user, expires = ARGV[1], tonumber(ARGV[2])
local known = redis.call('ZSCORE', K.freed, user)
if not known or tonumber(known) < expires then
  redis.call('ZADD', K.freed, expires, user)
end
return 1
