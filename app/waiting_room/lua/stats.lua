--[[ The queue at a glance, for organisers: {waiting, active, admitted total, rate}. ]]
local now = now_ms()
local meta = redis.call('HMGET', K.meta, 'admitted', 'rate')
return {redis.call('ZCARD', K.line), redis.call('ZCOUNT', K.admitted, now, '+inf'),
        tonumber(meta[1]) or 0, meta[2] or '0'}
