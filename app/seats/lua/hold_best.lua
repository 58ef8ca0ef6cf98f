--[[ hold_best: hold the best `quantity` available seats for a user, all or nothing.
Best: rows in the order given (front first); within a row, adjacent seats, never leaving a
single orphan seat when another placement exists, as close to the row's centre as possible.
If no row has `quantity` adjacent seats, the first free seats in row order are held.
KEYS: seats, holds, exp, users, meta, events (see _lib.lua)
ARGV: hold id, user id, ttl ms, per-user cap, sweep limit, quantity,
      then for each candidate row: first seat index, seat count
Returns one of:
  {'OK', expires at ms, version, index...}
  {'NOT_LOADED'}
  {'CAP', seats the user already has}
  {'SOLD_OUT'}                    fewer than `quantity` seats are free in these rows
]]
if not is_loaded() then return {'NOT_LOADED'} end
local hold_id, user = ARGV[1], ARGV[2]
local ttl_ms, cap, limit = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local quantity = tonumber(ARGV[6])
local now = now_ms()
expire_due(now, limit)

local have = user_seats(user)
if have + quantity > cap then
  publish()
  return {'CAP', have}
end

-- Placement of `quantity` seats inside a free run [run_start, run_end] (offsets in the row):
-- the offset closest to the row centre whose leftover gaps on both sides are not exactly 1.
local function place(run_start, run_end, row_len)
  local slack = run_end - run_start + 1 - quantity
  if slack < 0 then return nil, nil end
  local centre = (row_len - quantity) / 2
  local best, best_distance, best_orphans = nil, nil, nil
  for offset = run_start, run_start + slack do
    local left, right = offset - run_start, run_start + slack - offset
    local orphans = (left == 1 and 1 or 0) + (right == 1 and 1 or 0)
    local distance = math.abs(offset - centre)
    if best == nil or orphans < best_orphans
       or (orphans == best_orphans and distance < best_distance) then
      best, best_distance, best_orphans = offset, distance, orphans
    end
  end
  return best, best_orphans
end

local chosen, chosen_orphans = nil, nil
local fallback = {}
for i = 7, #ARGV, 2 do
  local first, len = tonumber(ARGV[i]), tonumber(ARGV[i + 1])
  local row = redis.call('GETRANGE', K.seats, first, first + len - 1)
  local search_from = 1
  while true do
    local s, e = string.find(row, 'A+', search_from)
    if s == nil then break end
    local offset, orphans = place(s - 1, e - 1, len)
    if offset ~= nil and (chosen == nil or orphans < chosen_orphans) then
      chosen, chosen_orphans = first + offset, orphans
    end
    for k = s, e do
      if #fallback < quantity then fallback[#fallback + 1] = first + k - 1 end
    end
    search_from = e + 1
  end
  if chosen ~= nil and chosen_orphans == 0 then break end
end

local indexes = {}
if chosen ~= nil then
  for k = 0, quantity - 1 do indexes[#indexes + 1] = chosen + k end
elseif #fallback == quantity then
  indexes = fallback
else
  publish()
  return {'SOLD_OUT'}
end
local expires = hold_seats(hold_id, user, ttl_ms, now, indexes)
local reply = {'OK', expires, publish()}
for _, index in ipairs(indexes) do reply[#reply + 1] = index end
return reply
