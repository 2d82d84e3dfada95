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

-- claim takes the right to send one message (ledger field) to the
-- registration whose hash is key: "ok" (claimed: send it), "sent",
-- "bounced", "busy" (another run claimed it less than ttl ms ago) or
-- "gone" (no such registration).
local function claim(key, field, now, ttl, nowarg)
  local v = redis.call('HGET', key, field)
  local answer = 'ok'
  if v == 's' then answer = 'sent'
  elseif v == 'b' then answer = 'bounced'
  elseif v and string.sub(v, 1, 2) == 'p:' and now - tonumber(string.sub(v, 3)) < ttl then answer = 'busy'
  elseif redis.call('EXISTS', key) == 0 then answer = 'gone'
  end
  if answer == 'ok' then redis.call('HSET', key, field, 'p:' .. nowarg) end
  return answer
end
