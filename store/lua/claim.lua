-- Claim the right to send one message to each of the given registrations,
-- via the delivery ledger kept in each registration's hash.
-- KEYS: registration hashes (one meeting); ARGV: 1 ledger field
-- ("m:kind|variant"), 2 now (unix ms), 3 lock ttl (ms)
-- Returns, per key: "ok" (claimed: send it), "sent", "bounced", "busy"
-- (another run is sending it now) or "gone" (no such registration).
local out = {}
local now, ttl = tonumber(ARGV[2]), tonumber(ARGV[3])
for i, key in ipairs(KEYS) do
  out[i] = claim(key, ARGV[1], now, ttl, ARGV[2])
end
return out
