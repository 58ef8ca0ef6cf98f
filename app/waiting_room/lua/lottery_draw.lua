--[[ Commit a lottery's draw, once: whichever process commits first wins, every later commit
(another process that computed the same draw) is a no-op.
KEYS[1] entries  hash    entry id -> "<user id> <registered at ms>" (lottery_register.lua)
KEYS[2] result   string  the draw: JSON (seed, drawn_at, entries, winners, digests)
KEYS[3] order    list    entry ids in draw order (winners first, then the waitlist)
KEYS[4] sorted   list    entry ids in ascending order: the published entry list
KEYS[5] ranks    hash    entry id -> 0-based place in the draw order
KEYS[6..8]       this caller's staged order, sorted and ranks, written before in small
                 batches (so that no single call holds Redis for long): renamed into place
                 on commit (O(1)), unlinked otherwise
ARGV result JSON, registration closes (ms), the number of entries drawn.
The caller read the entries from the store after the registration closed and put every one
of them in KEYS[1] first; the script checks that the window is over (by Redis's clock) and
that KEYS[1] holds exactly as many entries as it drew. KEYS[1] only ever gets entries of
stored registrations, so it holds the drawn set plus any registration stored since the read:
the same count is the same set. A registration mirrored after this commit is refused as late
(lottery_register.lua).
Returns {outcome, result JSON}: 'committed' (by this call), 'drawn' (by an earlier one: its
result), 'early' (the window is not over) or 'changed' (the entries changed: read again). ]]
local function discard()
  redis.call('UNLINK', KEYS[6], KEYS[7], KEYS[8])
end
local existing = redis.call('GET', KEYS[2])
if existing then
  discard()
  return {'drawn', existing}
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if now < tonumber(ARGV[2]) then
  discard()
  return {'early', ''}
end
local count = tonumber(ARGV[3])
if redis.call('HLEN', KEYS[1]) ~= count or redis.call('LLEN', KEYS[6]) ~= count then
  discard()
  return {'changed', ''}
end
redis.call('UNLINK', KEYS[3], KEYS[4], KEYS[5])
for i = 0, 2 do
  if redis.call('EXISTS', KEYS[6 + i]) == 1 then
    redis.call('RENAME', KEYS[6 + i], KEYS[3 + i])
    redis.call('PERSIST', KEYS[3 + i])
  end
end
redis.call('SET', KEYS[2], ARGV[1])
return {'committed', ARGV[1]}
