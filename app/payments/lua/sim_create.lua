--[[ sim_create: create a simulated payment intent unless it exists.
KEYS[1]  sim:pi:{<intent id>}   (a hash; the hash tag keeps each intent in one cluster slot)
ARGV     intent id, amount in cents, currency, metadata (JSON), client secret, created (unix s)
Returns the intent's fields as HGETALL does, new or existing. Callers reach an existing intent
only through the same idempotency key (see sim_claim.lua), so "exists" means "already created
by an earlier attempt with that key", possibly one that crashed before answering.
]]
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1],
    'id', ARGV[1], 'amount', ARGV[2], 'currency', ARGV[3], 'metadata', ARGV[4],
    'client_secret', ARGV[5], 'created', ARGV[6],
    'status', 'requires_payment_method', 'failed_attempts', '0')
end
return redis.call('HGETALL', KEYS[1])
