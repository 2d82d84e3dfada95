-- Record the outcome of a send in the registration's ledger.
-- KEYS: 1 registration hash, 2 outbox zset, 3 meeting hash, 4 bounce log
-- ARGV: 1 ledger field, 2 outcome ("s" sent, "b" bounced, "r" retry later,
--       "x" skipped), 3 email status ("" = leave), 4 outbox member,
--       5 registration id
if redis.call('EXISTS', KEYS[1]) == 1 then
  if ARGV[2] == 's' or ARGV[2] == 'b' then
    redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
    if ARGV[2] == 'b' then
      redis.call('ZADD', KEYS[4], redis.call('HINCRBY', KEYS[3], 'bseq', 1), ARGV[5])
    end
  elseif ARGV[2] == 'r' or ARGV[2] == 'x' then
    redis.call('HDEL', KEYS[1], ARGV[1])
  end
  if ARGV[3] ~= '' then redis.call('HSET', KEYS[1], 'es', ARGV[3]) end
end
if ARGV[2] ~= 'r' then redis.call('ZREM', KEYS[2], ARGV[4]) end
return 1
