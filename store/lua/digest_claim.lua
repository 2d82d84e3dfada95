-- Claim the digest of one organiser for one tick.
-- KEYS[1] organiser digest hash; ARGV: 1 tick (unix s), 2 now (unix ms),
-- 3 lock ttl (ms)
-- Returns "ok", "done" (this tick or a later one was done), "busy" or
-- "unsubscribed".
local h = redis.call('HMGET', KEYS[1], 't', 'p', 'unsub')
if h[3] == '1' then return 'unsubscribed' end
if h[1] and tonumber(h[1]) >= tonumber(ARGV[1]) then return 'done' end
if h[2] then
  local since = tonumber(string.match(h[2], ':(%d+)$'))
  if since and tonumber(ARGV[2]) - since < tonumber(ARGV[3]) then return 'busy' end
end
redis.call('HSET', KEYS[1], 'p', ARGV[1] .. ':' .. ARGV[2])
return 'ok'
