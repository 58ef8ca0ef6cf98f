--[[ Shared preamble, prepended to every waiting-room script when it is loaded.

Keys of one concert's queue (hash tag {q:<concert id>}: one cluster slot per queue, apart from
the concert's seat keys so a crowd of pollers does not load the node serving the holds):
  KEYS[1] line      zset  user id -> place. Joined before the sale: a random number in [0, 1)
                          drawn by the server (the draw *is* the shuffle: those places form a
                          uniformly random order whatever the arrival times). Joined after:
                          1 + a sequence number, so first come, first served behind them.
  KEYS[2] admitted  zset  user id -> pass expiry (ms): the active shoppers
  KEYS[3] meta      hash  seq = join counter, tokens / refill = admission token bucket,
                          rate = measured admissions per minute (time-weighted average),
                          admitted = total admitted, restored = passes restored after a loss,
                          epoch = this state's id (random, set by whichever script first
                          writes the state, carried in every pass: a pass of another epoch
                          predates a loss of the state), horizon = the latest pass expiry
                          granted in this epoch (a pass expiring later than that was issued by
                          a state that was lost since, as after a failover to a lagging replica),
                          registered = set by the state's first join (which registers the queue)
  KEYS[4] freed     zset  user id -> the expiry of the pass whose slot was freed (order
                          confirmed): such a pass is refused even after a loss of the state
Time comes from Redis (TIME), never from the app servers, whose clocks drift.
]]

local K = {line = KEYS[1], admitted = KEYS[2], meta = KEYS[3], freed = KEYS[4]}

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Passes that ran out stop counting as active shoppers (and as freed: they are refused as
-- expired anyway).
local function drop_expired(now)
  redis.call('ZREMRANGEBYSCORE', K.admitted, '-inf', now)
  redis.call('ZREMRANGEBYSCORE', K.freed, '-inf', now)
end

-- {state, value, depth, active, rate, epoch}: state "admitted" (value = pass expiry ms),
-- "waiting" (value = rank, 0-based) or "none" (not in the queue); depth = people waiting;
-- active = admitted shoppers; rate = measured admissions per minute (a string); epoch = the
-- state's id ('' while it has none).
local function status_of(user, now)
  local state, value = 'none', -1
  local until_ms = redis.call('ZSCORE', K.admitted, user)
  if until_ms and tonumber(until_ms) > now then
    state, value = 'admitted', tonumber(until_ms)
  else
    local rank = redis.call('ZRANK', K.line, user)
    if rank then
      state, value = 'waiting', rank
    end
  end
  local meta = redis.call('HMGET', K.meta, 'rate', 'epoch')
  return {state, value, redis.call('ZCARD', K.line), redis.call('ZCOUNT', K.admitted, now, '+inf'),
          meta[1] or '0', meta[2] or ''}
end
