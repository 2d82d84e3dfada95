-- Add an extra reminder to a meeting and record that its reminders must
-- be scheduled.
-- KEYS: 1 meeting hash, 2 reminders hash, 3 outbox
-- ARGV: 1 reminder id, 2 reminder JSON, 3 now (unix ms)
-- Returns {"notfound"} | {"cancelled"} | {"ok", intent}
local m = redis.call('HMGET', KEYS[1], 'st', 'v')
if not m[1] then return {'notfound'} end
if m[1] == 'cancelled' then return {'cancelled'} end
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
local s = 's|' .. m[2]
redis.call('ZADD', KEYS[3], ARGV[3], s)
return {'ok', s}
