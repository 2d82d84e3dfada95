-- Shared by every script (prepended when the scripts are loaded).

-- promote moves waitlisted registrations, first come first served, into
-- free seats, and records a "promoted" email intent for each. regprefix is
-- the registration key prefix of the meeting (same hash slot).
local function promote(mkey, wkey, qkey, regprefix, now)
  local out = {}
  if redis.call('HGET', mkey, 'st') == 'cancelled' then return out end
  local cap = tonumber(redis.call('HGET', mkey, 'cap') or '0')
  while true do
    local nc = tonumber(redis.call('HGET', mkey, 'nc') or '0')
    if cap > 0 and nc >= cap then break end
    local first = redis.call('ZPOPMIN', wkey)
    if #first == 0 then break end
    local rid = first[1]
    redis.call('HSET', regprefix .. rid, 's', 'confirmed', 'es', 'pending')
    redis.call('HINCRBY', mkey, 'nc', 1)
    redis.call('HINCRBY', mkey, 'nw', -1)
    local member = 'e|' .. rid .. '|promoted|1'
    redis.call('ZADD', qkey, now, member)
    table.insert(out, member)
  end
  return out
end

local function append(dst, src)
  for _, v in ipairs(src) do table.insert(dst, v) end
  return dst
end
