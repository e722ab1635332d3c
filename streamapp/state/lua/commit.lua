-- Make ranked lists current, atomically with the out-of-stock set: an item that went out of
-- stock after ranking is dropped here, and an item that goes out of stock after this call finds
-- the user in its reverse index (t:shown:<item>) and triggers a refresh. Either way no list
-- stays current with an out-of-stock item.
--
-- A user's list is stored once, with the ranking behind it (in t:u:U:record, record.lua): the
-- in-stock items of the ranking in order, the first `shown` of them the published list, so a
-- later stock-out can be answered from it (kept_rankings.lua) and the HTTP API can answer the
-- current list from it. JSON [model version, shown, whole, [item, score, source code, ...],
-- message head, {item = [rule id, ...]}] (streamapp/state/lists.py): whole says the ranking
-- held every candidate there was (shorter than asked for); the head is the message without
-- items, as an object; the last element names the merchandising rules that moved each item.
--
-- ARGV[1] = JSON {prefix (every key's, keys.py), k, ttl, now, codes = {source = code},
--                 lists = [ListToCommit, ...]}
--                 (streamapp/state/types.py: tenant, user, head, [RankedItem = [item,
--                 fragment, source, score, [rule id, ...]], ...], version, whole)
-- returns {top source, final JSON message} of every list, in order.
local req = cjson.decode(ARGV[1])
local out = {}
local horizon = req.now - req.ttl * 1000
for idx, list in ipairs(req.lists) do
  local tenant, user, head, ranked, version, whole = unpack(list)
  local t = req.prefix .. tenant
  local ids = {}
  for i, r in ipairs(ranked) do ids[i] = r[1] end
  local out_of_stock = #ids > 0 and redis.call('SMISMEMBER', t .. ':oos', unpack(ids)) or {}
  local kept, frags, stored, source, tags, tagged = {}, {}, {}, 'empty', {}, false
  for i, r in ipairs(ranked) do
    if out_of_stock[i] == 0 then
      if #kept < req.k then
        kept[#kept + 1] = r[1]
        frags[#frags + 1] = r[2]
        if #kept == 1 then source = r[3] end
      end
      stored[#stored + 1] = r[1]
      stored[#stored + 1] = r[4]
      stored[#stored + 1] = req.codes[r[3]]
      if r[5] and #r[5] > 0 then
        tags[r[1]] = r[5]
        tagged = true
      end
    end
  end
  -- The reverse index changes by the list's difference from the last one (the stored list
  -- this one replaces, read by stored_list.lua, which store.py prepends). Every entry of the
  -- list gets the commit time and moves the index's expiry to a list's lifetime from now (an
  -- index expires with the last list that holds its item); a user's entry is added (and that
  -- item's entries older than the horizon trimmed) only when the item enters the user's list:
  -- an entry nobody adds to never grows, and inventory.lua reads only entries within the
  -- horizon.
  local u = t .. ':u:' .. user
  local window, stored_before = record_parts(redis.call('GET', u .. ':record'))
  local before = shown_in(stored_before)
  local was, now_shown = {}, {}
  for _, item in ipairs(before) do was[item] = true end
  for _, item in ipairs(kept) do
    now_shown[item] = true
    local by_item = t .. ':shown:' .. item
    redis.call('ZADD', by_item, req.now, user)
    redis.call('EXPIRE', by_item, req.ttl)
    if not was[item] then redis.call('ZREMRANGEBYSCORE', by_item, '-inf', horizon) end
  end
  for _, item in ipairs(before) do
    if not now_shown[item] then redis.call('ZREM', t .. ':shown:' .. item, user) end
  end
  local message = head .. table.concat(frags, ',') .. '],"source":"' .. source .. '"}'
  local items = #stored > 0 and cjson.encode(stored) or '[]'
  local list_json = '[' .. cjson.encode(version) .. ',' .. #kept .. ',' .. tostring(whole) ..
                    ',' .. items .. ',' .. head .. ']},' ..
                    (tagged and cjson.encode(tags) or '{}') .. ']'
  redis.call('SET', u .. ':record', record(window, list_json), 'EX', req.ttl)
  out[idx] = {source, message}
end
return out
