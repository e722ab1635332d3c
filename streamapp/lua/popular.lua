-- In-stock items by decayed popularity, for a user without a list of their own: walk the
-- ranking a page at a time, skipping out-of-stock items, until `limit` are found.
-- KEYS = {t:pop, t:oos}; ARGV = {limit}; returns flat {item, score, item, score, ...}.
local limit = tonumber(ARGV[1])
local out = {}
local start = 0
while #out < 2 * limit do
  local page = redis.call('ZREVRANGE', KEYS[1], start, start + 99, 'WITHSCORES')
  if #page == 0 then break end
  for i = 1, #page, 2 do
    if #out < 2 * limit and redis.call('SISMEMBER', KEYS[2], page[i]) == 0 then
      out[#out + 1] = page[i]
      out[#out + 1] = page[i + 1]
    end
  end
  start = start + 100
end
return out
