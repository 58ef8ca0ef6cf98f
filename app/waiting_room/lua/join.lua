--[[ Join the queue: ARGV user id, on-sale (ms), presale place (a random number in [0, 1)), an
epoch id for the state if it has none yet, then a fixed place or '' (a lottery's registrant:
their tier and draw order, docs/waiting-room.md "Presale lottery"; a fixed place replaces a
later one, never an earlier one).
Joining twice keeps the first place; a shopper already admitted stays admitted.
Returns what status.lua returns, so a join needs no second call, and then 1 if this is the
state's first join (a new queue, or one whose state was lost): the caller registers the queue
for the admission job at once. ]]
local user, on_sale, draw = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local now = now_ms()
drop_expired(now)
redis.call('HSETNX', K.meta, 'epoch', ARGV[4])
local first = redis.call('HSETNX', K.meta, 'registered', 1)
local fixed = tonumber(ARGV[5] or '')
local current = redis.call('ZSCORE', K.line, user)
if fixed and not redis.call('ZSCORE', K.admitted, user) then
  if not current or tonumber(current) > fixed then
    redis.call('ZADD', K.line, fixed, user)
  end
elseif not redis.call('ZSCORE', K.admitted, user) and not current then
  local place = draw
  if now >= on_sale then
    place = 1 + redis.call('HINCRBY', K.meta, 'seq', 1)
  end
  redis.call('ZADD', K.line, 'NX', place, user)
end
local out = status_of(user, now)
out[#out + 1] = first
return out
