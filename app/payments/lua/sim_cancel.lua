--[[ sim_cancel: cancel a simulated payment intent; idempotent.
KEYS[1]  sim:pi:{<intent id>}
ARGV[1]  now (unix seconds), recorded as canceled_at
Returns {'OK', fields} (canceled now or before; fields as HGETALL), {'NOT_FOUND'} or
{'NOT_CANCELABLE', status} once the payment succeeded.
]]
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return {'NOT_FOUND'}
end
if status == 'succeeded' then
  return {'NOT_CANCELABLE', status}
end
if status ~= 'canceled' then
  redis.call('HSET', KEYS[1], 'status', 'canceled', 'canceled_at', ARGV[1])
end
return {'OK', redis.call('HGETALL', KEYS[1])}
