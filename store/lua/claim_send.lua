-- Load what one message needs and claim it, in one round trip: the
-- meeting, the registration, its waiting-list rank, and the ledger claim.
-- KEYS: 1 meeting hash, 2 registration hash, 3 waitlist zset
-- ARGV: 1 ledger field, 2 now (unix ms), 3 lock ttl (ms), 4 registration id
-- Returns {claim, meeting fields, registration fields, rank (-1: none)};
-- nothing is claimed when the meeting does not exist.
local m = redis.call('HGETALL', KEYS[1])
if #m == 0 then return {'nomeeting', m, {}, -1} end
local answer = claim(KEYS[2], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), ARGV[2])
local r = redis.call('HGETALL', KEYS[2])
local rank = redis.call('ZRANK', KEYS[3], ARGV[4])
return {answer, m, r, rank or -1}
