--[[ Admit the next buyers: ARGV on-sale (ms), admit per minute, max active, pass lifetime (ms),
burst (seconds of admissions a bucket may save up), an epoch id for the state if it has none,
then for a lottery (docs/waiting-room.md, "Presale lottery") a gate: until ARGV[7] (ms, Redis's
clock) only places below ARGV[8] are admitted (the winners' tier; '-inf' admits nobody, as
before the draw); '0' and '' (no gate) admit the line in order.
A token bucket in Redis paces admissions at `admit per minute`, and never more than `max
active` passes are live at once. The whole step is one script, so any number of admission loops
(workers, app replicas) may run it concurrently: together they admit exactly what one would.
Returns {admitted count, depth after, active after, user id, pass expiry, user id, ...}. ]]
local on_sale, per_minute = tonumber(ARGV[1]), tonumber(ARGV[2])
local max_active, ttl, burst_s = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_ms()
drop_expired(now)
local depth = redis.call('ZCARD', K.line)
local active = redis.call('ZCARD', K.admitted)
if now < on_sale then
  return {0, depth, active}
end
local per_ms = per_minute / 60000
local burst = math.max(1, per_minute / 60 * burst_s)
local meta = redis.call('HMGET', K.meta, 'tokens', 'refill', 'rate', 'horizon')
local last = tonumber(meta[2]) or now
local tokens = tonumber(meta[1]) or 1
tokens = math.min(burst, tokens + math.max(0, now - last) * per_ms)
local n = math.min(math.floor(tokens), max_active - active, depth)
local gated = (tonumber(ARGV[7]) or 0) > now
local out = {0, depth, active}
if n > 0 then
  local popped
  if gated then
    -- The winners' window: only places below the gate, lowest first.
    popped = redis.call('ZRANGEBYSCORE', K.line, '-inf', '(' .. ARGV[8], 'WITHSCORES', 'LIMIT', 0, n)
    for i = 1, #popped, 2 do
      redis.call('ZREM', K.line, popped[i])
    end
  else
    popped = redis.call('ZPOPMIN', K.line, n)
  end
  local expires = now + ttl
  for i = 1, #popped, 2 do
    redis.call('ZADD', K.admitted, expires, popped[i])
    out[#out + 1] = popped[i]
    out[#out + 1] = expires
  end
  n = #popped / 2
  tokens = tokens - n
  redis.call('HINCRBY', K.meta, 'admitted', n)
  -- The passes carry the epoch; no pass of it expires after the horizon (see _lib.lua).
  redis.call('HSETNX', K.meta, 'epoch', ARGV[6])
  redis.call('HSET', K.meta, 'horizon', math.max(tonumber(meta[4]) or 0, expires))
else
  n = 0
end
-- Measured rate (per minute), a time-weighted average over about 30 s. Only while people
-- wait: an empty queue admits nobody because nobody is there, not because it is slow.
if depth > 0 and now > last then
  -- Starts at the configured rate: an average starting at 0 would give ETAs far too long
  -- in the first minute, exactly when everyone is looking.
  local measured = tonumber(meta[3]) or per_minute
  local dt = now - last
  local weight = 1 - math.exp(-dt / 30000)
  measured = measured + weight * (n * 60000 / dt - measured)
  redis.call('HSET', K.meta, 'rate', tostring(measured))
end
redis.call('HSET', K.meta, 'tokens', tostring(tokens), 'refill', now)
out[1], out[2], out[3] = n, depth - n, active + n
return out
