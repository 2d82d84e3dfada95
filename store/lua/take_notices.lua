-- Take the oldest pending registration notices of a meeting, for the job
-- that sends them (they stay in the notices outbox until each is sent,
-- bounced or handed to a job of its own).
-- KEYS: 1 meeting hash, 2 notices outbox
-- ARGV: 1 the most to take, 2 now (unix ms)
-- Returns the notice intents, oldest first. When none is left the
-- meeting's sender mark "nd" is dropped in the same step, so the next
-- registration starts a new sender; otherwise it is renewed.
local out = redis.call('ZRANGE', KEYS[2], 0, tonumber(ARGV[1]) - 1)
if #out == 0 then
  redis.call('HDEL', KEYS[1], 'nd')
else
  redis.call('HSET', KEYS[1], 'nd', ARGV[2])
end
return out
