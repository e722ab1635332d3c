-- In-stock items by decayed popularity, for lists that need topping up: walk the ranking a page
-- at a time, skipping items out of stock, bought by the user, or excluded by the caller, until
-- `limit` are found.
-- KEYS = {t:pop, t:oos, u:bought}; ARGV = {limit, excluded item, ...};
-- returns flat {item, score, item, score, ...}.
local limit = tonumber(ARGV[1])
local excluded = {}
for i = 2, #ARGV do excluded[ARGV[i]] = true end
local out = {}
local start = 0
while #out < 2 * limit do
  local page = redis.call('ZREVRANGE', KEYS[1], start, start + 99, 'WITHSCORES')
  if #page == 0 then break end
  for i = 1, #page, 2 do
    local item = page[i]
    if #out < 2 * limit and not excluded[item]
        and redis.call('SISMEMBER', KEYS[2], item) == 0
        and not redis.call('ZSCORE', KEYS[3], item) then
      out[#out + 1] = item
      out[#out + 1] = page[i + 1]
    end
  end
  start = start + 100
end
return out
