#!lua
-- Record the outcome of a send.
-- KEYS: 1 ledger hash, 2 registration hash, 3 outbox zset
-- ARGV: 1 message key, 2 outcome ("s" sent, "b" bounced, "r" retry later,
--       "x" skipped), 3 email status for the registration ("" = leave)
if ARGV[2] == 's' or ARGV[2] == 'b' then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
elseif ARGV[2] == 'r' then
  redis.call('HDEL', KEYS[1], ARGV[1])
end
if ARGV[3] ~= '' and redis.call('EXISTS', KEYS[2]) == 1 then
  redis.call('HSET', KEYS[2], 'es', ARGV[3])
end
if ARGV[2] ~= 'r' then
  redis.call('ZREM', KEYS[3], ARGV[1])
end
return 1
