-- Create a meeting unless its id is taken, and record that its reminders
-- must be scheduled.
-- KEYS: 1 meeting hash, 2 outbox; ARGV: 1 now (unix ms), 2.. field, value pairs
-- Returns {"taken"} | {"ok", intent}
if redis.call('EXISTS', KEYS[1]) == 1 then return {'taken'} end
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('ZADD', KEYS[2], ARGV[1], 's|1')
return {'ok', 's|1'}
