--[[ Commit a lottery's draw, once: whichever process commits first wins, every later commit
(another process that computed the same draw) is a no-op.
KEYS[1] entries  hash    entry id -> "<user id> <registered at ms>" (lottery_register.lua)
KEYS[2] result   string  the draw: JSON (seed, drawn_at, entries, winners, digests)
KEYS[3] order    list    entry ids in draw order (winners first, then the waitlist)
KEYS[4] sorted   list    entry ids in ascending (byte) order: the published entry list
KEYS[5] ranks    hash    entry id -> 0-based place in the draw order
ARGV result JSON, registration closes (ms), then the entry ids in draw order.
The caller read the entries after the registration closed (by Redis's clock); the script
checks that the window is over and that the entries are still exactly as many as it drew
(entries are only ever added, so the same count is the same set).
Returns {outcome, result JSON}: 'committed' (by this call), 'drawn' (by an earlier one: its
result), 'early' (the window is not over) or 'changed' (the entries changed: read again). ]]
local existing = redis.call('GET', KEYS[2])
if existing then
  return {'drawn', existing}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now < tonumber(ARGV[2]) then
  return {'early', ''}
end
local count = #ARGV - 2
if redis.call('HLEN', KEYS[1]) ~= count then
  return {'changed', ''}
end
redis.call('DEL', KEYS[3], KEYS[4], KEYS[5])
local ids = {}
local chunk = 500
for i = 3, #ARGV, chunk do
  local last = math.min(i + chunk - 1, #ARGV)
  local batch, ranks = {}, {}
  for j = i, last do
    if redis.call('HEXISTS', KEYS[1], ARGV[j]) == 0 then
      return redis.error_reply('ERR lottery draw names an entry that is not registered')
    end
    batch[#batch + 1] = ARGV[j]
    ranks[#ranks + 1] = ARGV[j]
    ranks[#ranks + 1] = j - 3
    ids[#ids + 1] = ARGV[j]
  end
  redis.call('RPUSH', KEYS[3], unpack(batch))
  redis.call('HSET', KEYS[5], unpack(ranks))
end
table.sort(ids)
for i = 1, #ids, chunk do
  local batch = {}
  for j = i, math.min(i + chunk - 1, #ids) do
    batch[#batch + 1] = ids[j]
  end
  redis.call('RPUSH', KEYS[4], unpack(batch))
end
redis.call('SET', KEYS[2], ARGV[1])
return {'committed', ARGV[1]}
