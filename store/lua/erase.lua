-- Erase a registration and every trace of its person in the meeting's
-- keys; a freed seat goes to the first waitlisted participant.
-- KEYS: 1 meeting hash, 2 registration hash, 3 emails hash, 4 order,
--       5 waitlist, 6 outbox, 7 cancellation log, 8 bounce log,
--       9 notices outbox
-- ARGV: 1 registration id, 2 normalised email, 3 now (unix ms), 4 key
--       prefix of the meeting ("cv:{m:ID}")
-- Returns {"notfound"} | {"ok", n, intents (n of them)..., messages...}
-- where messages are the "kind|variant" of every email the ledger knew.
local h = redis.call('HGETALL', KEYS[2])
if #h == 0 then return {'notfound'} end
local s, msgs = nil, {}
for i = 1, #h, 2 do
  if h[i] == 's' then s = h[i + 1] end
  if string.sub(h[i], 1, 2) == 'm:' then table.insert(msgs, string.sub(h[i], 3)) end
end
redis.call('DEL', KEYS[2], ARGV[4] .. ':rs:' .. ARGV[1])
if redis.call('HGET', KEYS[3], ARGV[2]) == ARGV[1] then redis.call('HDEL', KEYS[3], ARGV[2]) end
redis.call('ZREM', KEYS[4], ARGV[1])
redis.call('ZREM', KEYS[7], ARGV[1])
redis.call('ZREM', KEYS[8], ARGV[1])
redis.call('ZREM', KEYS[9], 'e|' .. ARGV[1] .. '|confirmation|1', 'e|' .. ARGV[1] .. '|waitlisted|1')
for _, m in ipairs(redis.call('ZRANGE', KEYS[6], 0, -1)) do
  if string.find(m, '|' .. ARGV[1] .. '|', 1, true) then redis.call('ZREM', KEYS[6], m) end
end
local out = {}
if s == 'confirmed' then
  redis.call('HINCRBY', KEYS[1], 'nc', -1)
  out = promote(KEYS[1], KEYS[5], KEYS[6], ARGV[4] .. ':r:', ARGV[3])
elseif s == 'waitlisted' then
  redis.call('ZREM', KEYS[5], ARGV[1])
  redis.call('HINCRBY', KEYS[1], 'nw', -1)
elseif s == 'cancelled' then
  redis.call('HINCRBY', KEYS[1], 'nx', -1)
end
return {'ok', tostring(#out), unpack(append(out, msgs))}
