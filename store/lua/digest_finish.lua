-- Record a digest's outcome: the tick is done and the watermarks move on
-- (sent, or nothing to send), or the claim is released (retry later).
-- KEYS[1] organiser digest hash; ARGV: 1 tick (unix s) or "" to release,
-- 2.. watermark field, value pairs
redis.call('HDEL', KEYS[1], 'p')
if ARGV[1] == '' then return 0 end
local t = redis.call('HGET', KEYS[1], 't')
if not t or tonumber(t) < tonumber(ARGV[1]) then redis.call('HSET', KEYS[1], 't', ARGV[1]) end
if #ARGV > 1 then redis.call('HSET', KEYS[1], unpack(ARGV, 2)) end
return 1
