--[[ sim_confirm: the buyer pays (or fails to pay) a simulated payment intent.
KEYS[1]  sim:pi:{<intent id>}
ARGV[1]  outcome: 'succeeded' or 'failed'
ARGV[2]  a fresh event id (evt_sim_...), used only if this call changes something
ARGV[3]  now (unix seconds)
ARGV[4]  the last_payment_error object (JSON) of a failed attempt
Returns {code, fields} with fields as HGETALL, code one of
  'SUCCEEDED'    this call moved requires_payment_method -> succeeded; the intent now names
                 ARGV[2] as its succeeded event (succeeded_event_id, succeeded_event_at)
  'REDELIVERED'  it had already succeeded (whatever the outcome asked): the caller re-sends
                 the succeeded event with its original id, as Stripe re-delivers an event
  'FAILED'       a failed attempt was recorded; the status stays requires_payment_method and
                 the buyer may try again, as with Stripe
or {'NOT_FOUND'}, or {'NOT_CONFIRMABLE', status} (canceled).
One script: of any number of concurrent confirmations exactly one sees requires_payment_method
and flips it, so there is one succeeded event id, whoever asks.
]]
local status = redis.call('HGET', KEYS[1], 'status')
if not status then
  return {'NOT_FOUND'}
end
if status == 'succeeded' then
  return {'REDELIVERED', redis.call('HGETALL', KEYS[1])}
end
if status ~= 'requires_payment_method' then
  return {'NOT_CONFIRMABLE', status}
end
if ARGV[1] == 'succeeded' then
  redis.call('HSET', KEYS[1], 'status', 'succeeded', 'succeeded_event_id', ARGV[2],
    'succeeded_event_at', ARGV[3], 'last_payment_error', '')
  return {'SUCCEEDED', redis.call('HGETALL', KEYS[1])}
end
redis.call('HINCRBY', KEYS[1], 'failed_attempts', 1)
redis.call('HSET', KEYS[1], 'last_payment_error', ARGV[4])
return {'FAILED', redis.call('HGETALL', KEYS[1])}
