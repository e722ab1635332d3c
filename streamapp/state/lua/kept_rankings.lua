-- The stored rankings a stock-out can be answered from without ranking again.
--
-- A stock-out changes no signal of the users who were shown the item, so their corrected list is
-- their last ranking (stored with the list by commit.lua, twice the list length deep) without
-- the items now out of stock. That holds while the ranking still has a full list in stock, or
-- held every candidate there was and some of it is in stock; otherwise the user is ranked again.
--
-- ARGV[1] = JSON {prefix (every key's, keys.py), k, users = [[tenant, user], ...]}
-- returns, per user, the stored list (see commit.lua) or false.
local req = cjson.decode(ARGV[1])
local out = {}
for idx, pair in ipairs(req.users) do
  local t, user = req.prefix .. pair[1], pair[2]
  local _, raw = record_parts(redis.call('GET', t .. ':u:' .. user .. ':record'))
  out[idx] = false
  if raw then
    local list = cjson.decode(raw)
    local whole, flat = list[3], list[4]
    local ids = {}
    for i = 1, #flat, 3 do ids[#ids + 1] = flat[i] end
    local in_stock = 0
    if #ids > 0 then
      for _, out_of_stock in ipairs(redis.call('SMISMEMBER', t .. ':oos', unpack(ids))) do
        if out_of_stock == 0 then in_stock = in_stock + 1 end
      end
    end
    if in_stock >= req.k or (in_stock > 0 and whole) then out[idx] = raw end
  end
end
return out
