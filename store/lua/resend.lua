-- Send a registration's notice again, at most once per lock period.
-- KEYS: 1 meeting hash, 2 emails hash, 3 outbox
-- ARGV: 1 normalised email, 2 now (unix ms), 3 lock (ms), 4 key prefix
--       of the meeting ("cv:{m:ID}")
-- Returns {"none"} | {"limited"} | {"ok", intent}
if redis.call('HGET', KEYS[1], 'st') ~= 'scheduled' then return {'none'} end
local rid = redis.call('HGET', KEYS[2], ARGV[1])
if not rid then return {'none'} end
local reg = ARGV[4] .. ':r:' .. rid
local s = redis.call('HGET', reg, 's')
local kind
if s == 'confirmed' then kind = 'confirmation' elseif s == 'waitlisted' then kind = 'waitlisted' else return {'none'} end
if not redis.call('SET', ARGV[4] .. ':rs:' .. rid, '1', 'NX', 'PX', ARGV[3]) then return {'limited'} end
local n = redis.call('HINCRBY', reg, 'rv', 1)
redis.call('HSET', reg, 'es', 'pending')
local m = 'e|' .. rid .. '|' .. kind .. '|' .. tostring(n + 1)
redis.call('ZADD', KEYS[3], ARGV[2], m)
return {'ok', m}
