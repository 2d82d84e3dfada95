-- Register a participant for a meeting, atomically with its capacity.
-- KEYS: 1 meeting hash, 2 emails hash, 3 order zset, 4 waitlist zset,
--       5 notices outbox zset, 6 registration hash
-- ARGV: 1 normalised email, 2 registration id, 3 name, 4 email,
--       5 organisation, 6 language, 7 now (unix ms),
--       8 notice intent if confirmed, 9 notice intent if waitlisted,
--       10 after how long (ms) a notices sender that took no batch is
--          presumed gone
-- Returns {"notfound"} | {"cancelled"} | {"started"} | {"closed"}
--       | {"exists", id} | {"created", status, seq, position, intent, start}
-- where start is "" when a notices sender runs for the meeting, else the
-- nonce of the one the caller must start.
local m = redis.call('HMGET', KEYS[1], 'st', 'cap', 's', 'c', 'nc', 'nd')
if not m[1] then return {'notfound'} end
if m[1] == 'cancelled' then return {'cancelled'} end
local now = tonumber(ARGV[7])
if now >= tonumber(m[3]) then return {'started'} end
local closes = tonumber(m[4] or '0')
if closes > 0 and now >= closes then return {'closed'} end
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing then return {'exists', existing} end

local seq = redis.call('HINCRBY', KEYS[1], 'seq', 1)
local cap = tonumber(m[2] or '0')
local confirmed = tonumber(m[5] or '0')
local status, member, position = 'confirmed', ARGV[8], 0
if cap > 0 and confirmed >= cap then
  status, member = 'waitlisted', ARGV[9]
  redis.call('HINCRBY', KEYS[1], 'nw', 1)
  redis.call('ZADD', KEYS[4], seq, ARGV[2])
  position = redis.call('ZCARD', KEYS[4])
else
  redis.call('HINCRBY', KEYS[1], 'nc', 1)
end
redis.call('HSET', KEYS[6], 'n', ARGV[3], 'e', ARGV[4], 'o', ARGV[5], 'l', ARGV[6],
  's', status, 'es', 'pending', 't', ARGV[7], 'q', seq)
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[3], seq, ARGV[2])
redis.call('ZADD', KEYS[5], now, member)
local start = ''
local nd = tonumber(m[6] or '0')
if now - nd >= tonumber(ARGV[10]) then
  redis.call('HSET', KEYS[1], 'nd', ARGV[7])
  start = tostring(seq)
end
return {'created', status, tostring(seq), tostring(position), member, start}
