#!lua
-- Create a meeting unless its id is taken.
-- KEYS[1] meeting hash; ARGV: field, value, field, value, ...
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('HSET', KEYS[1], unpack(ARGV))
return 1
