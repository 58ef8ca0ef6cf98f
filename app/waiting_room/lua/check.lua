--[[ May this pass shop? ARGV user id, the pass's epoch ('' for a pass without one), the pass's
expiry (ms), an epoch id for the state if it has none yet, '1' to restore a pass from a lost
state (else such a pass answers 'lost', for the caller to ask the store first). The signature, concert and user of
the pass are checked before (passes.py); this is whether its holder is still an active shopper.
Returns
  'active'    the holder is admitted, with a live expiry;
  'restored'  the holder is not, but the pass was issued by a state lost since (the state has
              no epoch or another one, or never granted an expiry that late) and its slot was
              not freed: the holder is admitted again until the pass's expiry;
  'lost'      the same, when not asked to restore;
  'freed'     the holder's slot was freed (their order was confirmed), in this epoch or before
              a loss (remembered in `freed` until the pass runs out);
  'inactive'  the holder is not an active shopper and the pass is of this state (a freed slot
              that is not remembered, as for a pass from before epochs existed);
  'expired'   the pass has run out by Redis's clock. ]]
local user, epoch, expires = ARGV[1], ARGV[2], tonumber(ARGV[3])
local now = now_ms()
if expires <= now then
  return 'expired'
end
local until_ms = redis.call('ZSCORE', K.admitted, user)
if until_ms and tonumber(until_ms) > now then
  return 'active'
end
local meta = redis.call('HMGET', K.meta, 'epoch', 'horizon')
-- A pass without an epoch (issued before epochs existed) is never restored.
local lost = epoch ~= '' and (meta[1] ~= epoch or (tonumber(meta[2]) or 0) < expires)
local freed = redis.call('ZSCORE', K.freed, user)
if freed and tonumber(freed) > now then
  return 'freed'
end
if not lost then
  return 'inactive'
end
if ARGV[5] ~= '1' then
  return 'lost'
end
redis.call('HSETNX', K.meta, 'epoch', ARGV[4])
redis.call('ZADD', K.admitted, expires, user)
redis.call('ZREM', K.line, user)  -- re-joined after the loss: one slot, not two
redis.call('HINCRBY', K.meta, 'restored', 1)
return 'restored'
