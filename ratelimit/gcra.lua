-- GCRA (the generic cell rate algorithm) for one limit key: at most n
-- requests at once, and one more every interval after that, which is n per
-- period. KEYS[1] holds the theoretical arrival time (TAT) of the next
-- request, in microseconds of Redis's clock (TIME), so that every web
-- replica counts on the same clock.
--
-- ARGV[1] interval: period / n, in microseconds
-- ARGV[2] period, in microseconds: how far ahead of now the TAT may run
--
-- Returns {1, 0} when the request is allowed (and counted), or
-- {0, wait} when it is not (and not counted), wait being the microseconds
-- until one would be.
local interval = tonumber(ARGV[1])
local period = tonumber(ARGV[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1])) or now
if tat < now then
  tat = now
end
local next = tat + interval
local allowAt = next - period
if allowAt > now then
  return {0, math.ceil(allowAt - now)}
end
redis.call('SET', KEYS[1], string.format('%.0f', next), 'PX', math.ceil((next - now) / 1000))
return {1, 0}
