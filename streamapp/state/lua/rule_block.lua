-- A merchandising rule's effect on the state, one chunk of its target's items at a time
-- (streamapp/worker/rule_effects.py resolves a category or brand to its items).
--
-- add: the block joins its target's entry in t:ruled (so an inventory update of an item it
-- covers keeps the item out, inventory.lua), and each item goes out as at a stock-out: into
-- t:oos, out of t:instock. Every list committed after this call drops the items (commit.lua);
-- the users whose current list shows one are returned, read atomically with the SADD, so their
-- lists are refreshed -- the stock-out's path and bound. An item shown to more than `chunk`
-- users is named for paging instead (see inventory.lua). Repeated (the rule's effect redone
-- after a worker stopped half-way), it returns the users again.
-- remove: the block leaves its target's entry; an item no other block covers and in stock
-- comes back (out of t:oos, into t:instock by its last update).
-- touch: nothing changes; the users shown each item are returned (a boost, bury or pin
-- started or ended: their lists are ranked again).
--
-- ARGV[1] = JSON {prefix (every key's, keys.py), tenant, target, rule, mode, items,
--                 horizon = ms, chunk}
-- returns JSON [[item, [user, ...], page the index (true|false)], ...] for the items shown
-- to anyone.
local req = cjson.decode(ARGV[1])
local t = req.prefix .. req.tenant
local entry = t .. ':ruled'
if req.mode ~= 'touch' then
  local on = cjson.decode(redis.call('HGET', entry, req.target) or '[]')
  local ids = {}
  for _, id in ipairs(on) do
    if id ~= req.rule then ids[#ids + 1] = id end
  end
  if req.mode == 'add' then ids[#ids + 1] = req.rule end
  if #ids > 0 then
    redis.call('HSET', entry, req.target, cjson.encode(ids))
  else
    redis.call('HDEL', entry, req.target)
  end
end
local out = {}
for _, item in ipairs(req.items) do
  local key = t .. ':item:' .. item
  if req.mode == 'remove' then
    local fields = redis.call('HMGET', key, 'stock', 'category', 'brand', 'ts')
    local stock, category, brand, ts = tonumber(fields[1] or '0'), fields[2], fields[3], fields[4]
    if stock > 0 and not ruled(t, item, category, brand) then
      redis.call('SREM', t .. ':oos', item)
      redis.call('ZADD', t .. ':instock', tonumber(ts or '0'), item)
    end
  else
    if req.mode == 'add' then
      redis.call('SADD', t .. ':oos', item)
      redis.call('ZREM', t .. ':instock', item)
    end
    local index = t .. ':shown:' .. item
    if redis.call('ZCARD', index) > req.chunk then
      out[#out + 1] = {item, {}, true}
    else
      local users = redis.call('ZRANGE', index, req.horizon, '+inf', 'BYSCORE')
      if #users > 0 then out[#out + 1] = {item, users, false} end
    end
  end
end
return cjson.encode(out)
