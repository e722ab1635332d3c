-- Whether the rules hold an item out (streamapp/recommend/rules.py): a block in force covers
-- it by its id, category or brand (t:ruled: target → block ids), or it is sensitive -- flagged
-- so by the inventory topic, or of one of the tenant's sensitive categories (t:sensitive) --
-- and no approved allow covers it (t:allowed: target → allow ids).
local function covered(entry, item, category, brand)
  local fields = {'item_id:' .. item}
  if category then fields[#fields + 1] = 'category:' .. category end
  if brand then fields[#fields + 1] = 'brand:' .. brand end
  for _, on in ipairs(redis.call('HMGET', entry, unpack(fields))) do
    if on then return true end
  end
  return false
end

local function ruled(t, item, category, brand, flagged)
  if covered(t .. ':ruled', item, category, brand) then return true end
  local sensitive = flagged == '1'
    or (category and redis.call('HEXISTS', t .. ':sensitive', 'category:' .. category) == 1)
  return sensitive and not covered(t .. ':allowed', item, category, brand)
end
