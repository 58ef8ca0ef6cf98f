--[[ reconcile: repair drift between the seat state and the durable store. The caller read the
state with `audit`, then the store, and proposes repairs; every one is re-checked here, so a
repair never overrides what live traffic did in between.
KEYS: seats, holds, exp, users, meta, events (see _lib.lua)
ARGV: version and sell count seen by `audit` (the guard), sweep limit,
      cjson {sold = {index...}, unsold = {index...}, orphans = {index...}, holds = {hold id...}}
  sold     the store records these seats as sold: each becomes S (always safe: the store is
           the truth for sales, and nothing turns S back into A but a refund's `unsell`).
  unsold   these seats were S while the store had no sale for them: each still S becomes H if a
           hold lists it, else A. Only if version and sell count are still the guard's: a sale
           (or refund, or reload) since the audit may have made the store read stale, so then
           nothing of this list is touched and it is reported as deferred.
  orphans  these seats were H with no hold listing them: each still H and still listed by no
           hold becomes A (holds are all in this hash, so this is exact).
  holds    holds whose order is over (cancelled, failed, expired, refunded): each still there is
           removed and its seats still H, listed by no other hold, become A.
Returns {'OK', cjson {v = "version", sold = {index...}, unsold = {{index, state}...},
                      orphans = {index...}, released = {hold id...}, deferred = {index...}}}
or {'NOT_LOADED'}. Only what changed is listed, so a second call with the same proposal
reports nothing. The version is bumped and the changes published once, as by every script.
]]
if not is_loaded() then return {'NOT_LOADED'} end
local meta = redis.call('HMGET', K.meta, 'v', 'sells')
local unchanged = (meta[1] or '0') == ARGV[1] and (meta[2] or '0') == ARGV[2]
local limit = tonumber(ARGV[3])
local proposal = cjson.decode(ARGV[4])
expire_due(now_ms(), limit)

local function state_of(index)
  return redis.call('GETRANGE', K.seats, index, index)
end

-- How many holds list each seat index (every hold is in the hash, expired or not yet swept).
local listed = {}
if #proposal.unsold > 0 or #proposal.orphans > 0 or #proposal.holds > 0 then
  local all = redis.call('HGETALL', K.holds)
  for i = 2, #all, 2 do
    for _, index in ipairs(cjson.decode(all[i]).s) do
      listed[index] = (listed[index] or 0) + 1
    end
  end
end

local sold, unsold, orphans, released, deferred = {}, {}, {}, {}, {}

for _, index in ipairs(proposal.sold) do
  if state_of(index) ~= 'S' then
    set_seat(index, 'S')
    sold[#sold + 1] = index
  end
end

for _, hold_id in ipairs(proposal.holds) do
  local raw = redis.call('HGET', K.holds, hold_id)
  if raw then
    local hold = cjson.decode(raw)
    for _, index in ipairs(hold.s) do
      listed[index] = (listed[index] or 1) - 1
      if listed[index] <= 0 and state_of(index) == 'H' then
        set_seat(index, 'A')
      end
    end
    redis.call('HDEL', K.holds, hold_id)
    redis.call('ZREM', K.exp, hold_id)
    add_user_seats(hold.u, -counted(hold))
    released[#released + 1] = hold_id
  end
end

for _, index in ipairs(proposal.unsold) do
  if not unchanged then
    deferred[#deferred + 1] = index
  elseif state_of(index) == 'S' then
    local state = (listed[index] or 0) > 0 and 'H' or 'A'
    set_seat(index, state)
    unsold[#unsold + 1] = {index, state}
  end
end

for _, index in ipairs(proposal.orphans) do
  if state_of(index) == 'H' and (listed[index] or 0) <= 0 then
    set_seat(index, 'A')
    orphans[#orphans + 1] = index
  end
end

local version = publish()
return {'OK', cjson.encode({v = string.format('%d', version), sold = sold, unsold = unsold,
                            orphans = orphans, released = released, deferred = deferred})}
