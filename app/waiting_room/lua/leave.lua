--[[ A shopper is done (order confirmed, or they left): ARGV user id. Frees their active slot
and their place in the line. Returns 1 if they were admitted or waiting. ]]
local user = ARGV[1]
return redis.call('ZREM', K.admitted, user) + redis.call('ZREM', K.line, user)
