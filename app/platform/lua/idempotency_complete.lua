-- Replace the caller's own "running" record with the finished response.
--
-- KEYS[1]  idem:{u:<user id>}:<sha256 of the key>
-- ARGV[1]  the exact "running" record the caller claimed with (it carries a random token)
-- ARGV[2]  the "done" record: state, fingerprint, status and body to replay
-- ARGV[3]  how long to keep it, in milliseconds (24 h by default)
--
-- Returns 1 when stored, 0 when the record is no longer the caller's: its in-flight lifetime
-- lapsed and another request claimed the key (or nothing is there). A late finisher must never
-- overwrite the newer request's record.
if redis.call('GET', KEYS[1]) ~= ARGV[1] then
  return 0
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
