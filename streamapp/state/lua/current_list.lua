-- The HTTP API's read of a user's list, in one call: the stored list and the items of its
-- published list that went out of stock since (the API leaves them out).
-- KEYS = {t:u:U:record, t:oos}; returns {stored list or false, {item, ...}}.
local _, raw = record_parts(redis.call('GET', KEYS[1]))
local ids = shown_in(raw)
local gone = {}
if #ids > 0 then
  for i, out_of_stock in ipairs(redis.call('SMISMEMBER', KEYS[2], unpack(ids))) do
    if out_of_stock == 1 then gone[#gone + 1] = ids[i] end
  end
end
return {raw, gone}
