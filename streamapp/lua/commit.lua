-- Make ranked lists current, atomically with the out-of-stock set: an item that went out of
-- stock after ranking is dropped here, and an item that goes out of stock after this call finds
-- the user in its reverse index (t:shown:<item>) and triggers a refresh. Either way no list
-- stays current with an out-of-stock item.
--
-- A new ranking (deeper than the list) is kept with the version that made it, so a later
-- stock-out can be answered from it (reserve.lua); a list answered from a kept ranking has
-- version false and leaves it as it is.
--
-- ARGV[1] = JSON {k, ttl, now,
--                 lists = [[tenant, user, head, [[item, fragment, source], ...], version], ...]}
-- returns {top source, final JSON message} of every list, in order.
local req = cjson.decode(ARGV[1])
local out = {}
local horizon = req.now - req.ttl * 1000
for idx, list in ipairs(req.lists) do
  local t, user, head, ranked = list[1], list[2], list[3], list[4]
  local oos = t .. ':oos'
  local kept, frags, source = {}, {}, 'empty'
  for _, r in ipairs(ranked) do
    if redis.call('SISMEMBER', oos, r[1]) == 0 then
      kept[#kept + 1] = r[1]
      frags[#frags + 1] = r[2]
      if #kept == 1 then source = r[3] end
      if #kept == req.k then break end
    end
  end
  local u = t .. ':u:' .. user
  local shown = u .. ':shown'
  local now_shown = {}
  for _, item in ipairs(kept) do now_shown[item] = true end
  for _, item in ipairs(redis.call('SMEMBERS', shown)) do
    if not now_shown[item] then redis.call('ZREM', t .. ':shown:' .. item, user) end
  end
  redis.call('DEL', shown)
  for _, item in ipairs(kept) do
    local by_item = t .. ':shown:' .. item
    redis.call('ZADD', by_item, req.now, user)
    redis.call('ZREMRANGEBYSCORE', by_item, '-inf', horizon)
  end
  if #kept > 0 then
    redis.call('SADD', shown, unpack(kept))
    redis.call('EXPIRE', shown, req.ttl)
  end
  local message = head .. table.concat(frags, ',') .. '],"source":"' .. source .. '"}'
  redis.call('SET', u .. ':last', message, 'EX', req.ttl)
  if list[5] then
    redis.call('SET', u .. ':ranked', cjson.encode({list[5], ranked}), 'EX', req.ttl)
  end
  out[idx] = {source, message}
end
return out
