-- The HTTP API's read, in one call (every key is in the deployment's slot): the user's stored
-- list and the items of its published list that went out of stock since (the API leaves them
-- out), and in-stock items by decayed popularity for lists that need topping up: the ranking
-- walked a page at a time, skipping items out of stock, bought by the user, or excluded by the
-- caller, until `limit` are found. For the merchandising rules the API applies: which of the
-- pinned items cannot be shown (out of stock, or bought), and, when a rule in force picks
-- items by category or brand, the category and brand of the popular and pinned items.
-- KEYS = {t:u:U:record, t:oos, t:pop, t:u:U:bought, t:category, t:brand};
-- ARGV = {limit, JSON {exclude = [item, ...], pinned = [item, ...], kinds = bool}};
-- returns {stored list or false, {gone item, ...}, flat {item, score, item, score, ...},
--          {unavailable pinned item, ...}, flat {item, category|false, brand|false, ...}}.
local _, raw = record_parts(redis.call('GET', KEYS[1]))
local ids = shown_in(raw)
local gone = {}
if #ids > 0 then
  for i, out_of_stock in ipairs(redis.call('SMISMEMBER', KEYS[2], unpack(ids))) do
    if out_of_stock == 1 then gone[#gone + 1] = ids[i] end
  end
end

local limit = tonumber(ARGV[1])
local asked = cjson.decode(ARGV[2])
local excluded = {}
for _, item in ipairs(asked.exclude) do excluded[item] = true end
local popular = {}
local named = {}
local start = 0
while #popular < 2 * limit do
  local page = redis.call('ZREVRANGE', KEYS[3], start, start + 99, 'WITHSCORES')
  if #page == 0 then break end
  for i = 1, #page, 2 do
    local item = page[i]
    if #popular < 2 * limit and not excluded[item]
        and redis.call('SISMEMBER', KEYS[2], item) == 0
        and not redis.call('ZSCORE', KEYS[4], item) then
      popular[#popular + 1] = item
      popular[#popular + 1] = page[i + 1]
      named[#named + 1] = item
    end
  end
  start = start + 100
end

local unavailable = {}
for _, item in ipairs(asked.pinned) do
  if redis.call('SISMEMBER', KEYS[2], item) == 1 or redis.call('ZSCORE', KEYS[4], item) then
    unavailable[#unavailable + 1] = item
  end
  named[#named + 1] = item
end
local kinds = {}
if asked.kinds and #named > 0 then
  local categories = redis.call('HMGET', KEYS[5], unpack(named))
  local brands = redis.call('HMGET', KEYS[6], unpack(named))
  for i, item in ipairs(named) do
    kinds[#kinds + 1] = item
    kinds[#kinds + 1] = categories[i] or false
    kinds[#kinds + 1] = brands[i] or false
  end
end
return {raw, gone, popular, unavailable, kinds}
