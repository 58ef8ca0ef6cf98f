--[[ sim_refund: refund a succeeded simulated payment intent in full, once.
KEYS[1]  sim:pi:{<intent id>}
ARGV[1]  a fresh refund id (re_sim_...), used only if the intent has no refund yet
ARGV[2]  now (unix seconds)
Returns {'OK', refund id} (this call's or the earlier one: one refund per intent, whatever the
idempotency key), {'NOT_FOUND'} or {'NOT_REFUNDABLE', status}. The intent keeps its status
'succeeded', as with Stripe; the refund is recorded beside it.
]]
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return {'NOT_FOUND'}
end
local existing = redis.call('HGET', KEYS[1], 'refund_id')
if existing then
  return {'OK', existing}
end
if status ~= 'succeeded' then
  return {'NOT_REFUNDABLE', status}
end
redis.call('HSET', KEYS[1], 'refund_id', ARGV[1], 'refund_status', 'succeeded',
  'refunded_at', ARGV[2], 'amount_refunded', redis.call('HGET', KEYS[1], 'amount'))
return {'OK', ARGV[1]}
