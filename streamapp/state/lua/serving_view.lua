-- The HTTP API's read, in one call (every key is in the deployment's slot): the user's stored
-- list and the items of its published list that went out of stock since (the API leaves them
-- out), and in-stock items by decayed popularity for lists that need topping up: the ranking
-- walked a page at a time, skipping items out of stock, bought by the user, or excluded by the
-- caller, until `limit` are found.
-- KEYS = {t:u:U:record, t:oos, t:pop, t:u:U:bought}; ARGV = {limit, excluded item, ...};
-- returns {stored list or false, {gone item, ...}, flat {item, score, item, score, ...}}.
local _, raw = record_parts(redis.call('GET', KEYS[1]))
local ids = shown_in(raw)
local gone = {}
if #ids > 0 then
  for i, out_of_stock in ipairs(redis.call('SMISMEMBER', KEYS[2], unpack(ids))) do
    if out_of_stock == 1 then gone[#gone + 1] = ids[i] end
  end
end

local limit = tonumber(ARGV[1])
local excluded = {}
for i = 2, #ARGV do excluded[ARGV[i]] = true end
local popular = {}
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
    end
  end
  start = start + 100
end
return {raw, gone, popular}
