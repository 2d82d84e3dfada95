-- Load a meeting and many of its registrations and claim one message to
-- each in the delivery ledger, in one step.
-- KEYS: 1 meeting hash, 2 waitlist zset, 3… registration hashes
-- ARGV: 1 now (unix ms), 2 lock ttl (ms), then one ledger field per
--       registration, then the registration ids
-- Returns {meeting fields, then per registration: claim, registration
-- fields, waiting-list rank (-1: none)}; {{}} when the meeting does not
-- exist (nothing is claimed then).
local m = redis.call('HGETALL', KEYS[1])
if #m == 0 then return {m} end
local n = #KEYS - 2
local now, ttl = tonumber(ARGV[1]), tonumber(ARGV[2])
local out = {m}
for i = 1, n do
  local key = KEYS[i + 2]
  local answer = claim(key, ARGV[i + 2], now, ttl, ARGV[1])
  table.insert(out, answer)
  table.insert(out, redis.call('HGETALL', key))
  table.insert(out, redis.call('ZRANK', KEYS[2], ARGV[n + i + 2]) or -1)
end
return out
