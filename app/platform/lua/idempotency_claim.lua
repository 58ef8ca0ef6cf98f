-- Claim an Idempotency-Key for one request, or report who holds it.
--
-- KEYS[1]  idem:{u:<user id>}:<sha256 of the key>   (one per user and key; the hash tag keeps
--          a user's records in one Redis Cluster slot)
-- ARGV[1]  the caller's "running" record (JSON with state, fingerprint and a random owner token)
-- ARGV[2]  in-flight lifetime in milliseconds: a crashed process frees the key after this
--
-- Returns nil when the key was free and is now claimed by the caller, else the record that is
-- already there (running or done), unchanged.
--
-- One script instead of SET NX followed by GET: no window in which the record can vanish
-- between the failed claim and the read.
local current = redis.call('GET', KEYS[1])
if current then
  return current
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
