--[[ Register for a concert's presale lottery: one atomic script, so any number of concurrent
registrations of any number of accounts leave each account once.
KEYS[1] entries  hash  entry id -> "<user id> <registered at ms>"
KEYS[2] result   string  the draw (JSON) once it is committed (lottery_draw.lua)
ARGV entry id, user id, registration opens (ms), closes (ms).
The window is judged by Redis's clock (TIME), the same one the draw goes by, so no entry can
land after the draw has read the entries.
Returns {outcome, registered at ms, entries}: outcome 'created', 'existing', 'early' or
'closed' (the window is over or the draw is done; registered at = 0 then). ]]
local entry, user = ARGV[1], ARGV[2]
local opens, closes = tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local known = redis.call('HGET', KEYS[1], entry)
if known then
  local at = string.match(known, ' (%d+)$')
  return {'existing', tonumber(at) or 0, redis.call('HLEN', KEYS[1])}
end
if now < opens then
  return {'early', 0, redis.call('HLEN', KEYS[1])}
end
if now >= closes or redis.call('EXISTS', KEYS[2]) == 1 then
  return {'closed', 0, redis.call('HLEN', KEYS[1])}
end
redis.call('HSET', KEYS[1], entry, user .. ' ' .. now)
return {'created', now, redis.call('HLEN', KEYS[1])}
