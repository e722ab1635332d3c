-- Whether a block rule in force covers an item: t:ruled holds, per target (item_id:I,
-- category:C, brand:B), the ids of the blocks on it (streamapp/recommend/rules.py).
local function ruled(t, item, category, brand)
  local fields = {'item_id:' .. item}
  if category then fields[#fields + 1] = 'category:' .. category end
  if brand then fields[#fields + 1] = 'brand:' .. brand end
  for _, on in ipairs(redis.call('HMGET', t .. ':ruled', unpack(fields))) do
    if on then return true end
  end
  return false
end
