-- Move the latest enqueued digest tick forward (never back).
-- KEYS[1] the last-tick key; ARGV[1] tick (unix s). Returns the latest tick.
local t = redis.call('GET', KEYS[1])
if not t or tonumber(t) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1])
  return ARGV[1]
end
return t
