-- Cancel a meeting (once).
-- KEYS: 1 meeting hash, 2 outbox zset; ARGV: 1 now (unix ms)
-- Returns {"notfound"} | {"already"} | {"ok", intent}
local st = redis.call('HGET', KEYS[1], 'st')
if not st then return {'notfound'} end
if st == 'cancelled' then return {'already'} end
redis.call('HSET', KEYS[1], 'st', 'cancelled', 'ua', ARGV[1])
local m = 'f|cancelled|meeting'
redis.call('ZADD', KEYS[2], ARGV[1], m)
return {'ok', m}
