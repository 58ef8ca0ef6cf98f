--[[ Mirror a stored lottery registration in Redis. The store's record is the registration
(written first, once per account by the store's own key); Redis keeps a copy for the fast
paths ("am I registered", the count) and the draw's staging.
KEYS[1] entries  hash    entry id -> "<user id> <registered at ms>"
KEYS[2] result   string  the draw (JSON) once it is committed (lottery_draw.lua)
ARGV entry id, user id, registered at (ms).
Returns {outcome, entries}: 'existing' (mirrored already), 'added', or 'late': the draw was
committed without this entry (its registration arrived after the draw had read the entries),
so it is not added and the caller takes the stored registration back. The draw commits only
when the entries hash holds exactly the entries it drew (lottery_draw.lua), so an entry added
before the commit is either in the draw or makes the commit fail and read again. ]]
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then
  return {'existing', redis.call('HLEN', KEYS[1])}
end
if redis.call('EXISTS', KEYS[2]) == 1 then
  return {'late', redis.call('HLEN', KEYS[1])}
end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2] .. ' ' .. ARGV[3])
return {'added', redis.call('HLEN', KEYS[1])}
