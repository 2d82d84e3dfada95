-- A participant cancels their registration; the seat goes to the first
-- waitlisted participant.
-- KEYS: 1 meeting hash, 2 registration hash, 3 emails hash, 4 waitlist,
--       5 outbox, 6 cancellation log
-- ARGV: 1 now (unix ms), 2 registration id, 3 normalised email,
--       4 registration key prefix
-- Returns {"notfound"} | {"already"} | {"meetingcancelled"} | {"ok", intents...}
local s = redis.call('HGET', KEYS[2], 's')
if not s then return {'notfound'} end
if s == 'cancelled' then return {'already'} end
if redis.call('HGET', KEYS[1], 'st') == 'cancelled' then return {'meetingcancelled'} end
redis.call('HSET', KEYS[2], 's', 'cancelled', 'xt', ARGV[1], 'es', 'pending')
if redis.call('HGET', KEYS[3], ARGV[3]) == ARGV[2] then redis.call('HDEL', KEYS[3], ARGV[3]) end
if s == 'confirmed' then
  redis.call('HINCRBY', KEYS[1], 'nc', -1)
else
  redis.call('ZREM', KEYS[4], ARGV[2])
  redis.call('HINCRBY', KEYS[1], 'nw', -1)
end
redis.call('HINCRBY', KEYS[1], 'nx', 1)
redis.call('ZADD', KEYS[6], redis.call('HINCRBY', KEYS[1], 'xseq', 1), ARGV[2])
local m = 'e|' .. ARGV[2] .. '|cancelled|self'
redis.call('ZADD', KEYS[5], ARGV[1], m)
local out = {m}
if s == 'confirmed' then append(out, promote(KEYS[1], KEYS[4], KEYS[5], ARGV[4], ARGV[1])) end
return {'ok', unpack(out)}
