-- Delete the caller's own "running" record so the client may retry with the same key (after a
-- 5xx, a 429 or a crash: outcomes that must not be replayed).
--
-- KEYS[1]  idem:{u:<user id>}:<sha256 of the key>
-- ARGV[1]  the exact "running" record the caller claimed with (it carries a random token)
--
-- Returns 1 when deleted, 0 when the record is not the caller's (its in-flight lifetime lapsed
-- and another request owns the key now, or nothing is there).
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('DEL', KEYS[1])
return 1
