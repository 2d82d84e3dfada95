#!lua
-- Claim the right to send one message, via the delivery ledger.
-- KEYS[1] ledger hash; ARGV: 1 message key, 2 now (unix ms), 3 lock ttl (ms)
-- Returns "ok" (claimed: send it), "sent", "bounced", or "busy" (another
-- run is sending it right now).
local v = redis.call('HGET', KEYS[1], ARGV[1])
if v == 's' then return 'sent' end
if v == 'b' then return 'bounced' end
if v and string.sub(v, 1, 2) == 'p:' then
  local since = tonumber(string.sub(v, 3))
  if since and tonumber(ARGV[2]) - since < tonumber(ARGV[3]) then return 'busy' end
end
redis.call('HSET', KEYS[1], ARGV[1], 'p:' .. ARGV[2])
return 'ok'
