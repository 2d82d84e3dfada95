-- Claim the right to send one message to each of the given registrations,
-- via the delivery ledger kept in each registration's hash.
-- KEYS: registration hashes (one meeting); ARGV: 1 ledger field
-- ("m:kind|variant"), 2 now (unix ms), 3 lock ttl (ms)
-- Returns, per key: "ok" (claimed: send it), "sent", "bounced", "busy"
-- (another run is sending it now) or "gone" (no such registration).
local out = {}
local now, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
for i, key in ipairs(KEYS) do
  local v = redis.call('HGET', key, ARGV[1])
  local answer = 'ok'
  if v == 's' then answer = 'sent'
  elseif v == 'b' then answer = 'bounced'
  elseif v and string.sub(v, 1, 2) == 'p:' and now - tonumber(string.sub(v, 3)) < ttl then answer = 'busy'
  elseif redis.call('EXISTS', key) == 0 then answer = 'gone'
  end
  if answer == 'ok' then redis.call('HSET', key, ARGV[1], 'p:' .. ARGV[2]) end
  out[i] = answer
end
return out
