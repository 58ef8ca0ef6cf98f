--[[ sim_claim: bind an idempotency key to an intent id, first come first served.
KEYS[1]  sim:idem:{<sha256 of the idempotency key>}
ARGV[1]  the caller's candidate intent id
ARGV[2]  lifetime of the binding in seconds (24 h, like Stripe's keys)
Returns the intent id bound to the key: the caller's candidate if the key was free, else the
id bound by whoever came first. One script instead of SET NX then GET: no window in which the
binding can expire between the two.
]]
local bound = redis.call('GET', KEYS[1])
if bound then
  return bound
end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return ARGV[1]
