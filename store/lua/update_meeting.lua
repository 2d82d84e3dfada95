-- Change a meeting, unless it changed since it was read.
-- KEYS: 1 meeting hash, 2 waitlist zset, 3 outbox zset
-- ARGV: 1 expected revision (the one read), 2 now (unix ms), 3 moved
--       ("1" when time or place changed), 4 new version, 5 registration
--       key prefix, 6.. field, value pairs
-- Returns {"notfound"} | {"cancelled"} | {"stale"} | {"ok", intents...}
local cur = redis.call('HMGET', KEYS[1], 'st', 's', 'e', 'loc', 'url', 'rev')
if not cur[1] then return {'notfound'} end
if cur[1] == 'cancelled' then return {'cancelled'} end
if (cur[6] or '0') ~= ARGV[1] then return {'stale'} end
redis.call('HINCRBY', KEYS[1], 'rev', 1)
local out = {}
if ARGV[3] == '1' then
  redis.call('HSET', KEYS[1], 'ps', cur[2], 'pe', cur[3], 'ploc', cur[4], 'purl', cur[5], 'v', ARGV[4], 'vt', ARGV[2])
  local m = 'f|updated|v' .. ARGV[4]
  redis.call('ZADD', KEYS[3], ARGV[2], m)
  table.insert(out, m)
end
redis.call('HSET', KEYS[1], unpack(ARGV, 6))
local s = 's|' .. ARGV[4]
redis.call('ZADD', KEYS[3], ARGV[2], s)
table.insert(out, s)
append(out, promote(KEYS[1], KEYS[2], KEYS[3], ARGV[5], ARGV[2]))
return {'ok', unpack(out)}
