-- A rule's effect on the state, one chunk of its target's items at a time
-- (streamapp/worker/rule_effects.py resolves a category or a brand to its items).
--
-- add / remove: the rule joins or leaves its target's entry in one of the tables ruled.lua
-- reads -- `ruled` (blocks), `allowed` (approved allows) or `sensitive` (the tenant's
-- sensitive categories) -- and each item is judged again: held out, it goes out as at a
-- stock-out (into t:oos, out of t:instock), and the users whose current list shows it are
-- returned, read atomically with the change, so their lists are corrected: every list
-- committed after this call drops it (commit.lua), and every list committed before is named
-- here. An item shown to more than `chunk` users is named for paging instead (see
-- inventory.lua). Not held out and in stock, it comes back (out of t:oos, into t:instock by
-- its last update). An inventory update of an item keeps to the same judgement
-- (inventory.lua), so the entry also covers items that arrive later. Repeated (a start or an
-- end carried out again after a worker stopped half-way), it changes nothing more and names
-- the users again.
-- touch: nothing changes; the users shown each item are returned (a pin, boost or bury that
-- started or ended: their lists are ranked again).
--
-- ARGV[1] = JSON {prefix (every key's, keys.py), tenant, table, target, rule, mode, items,
--                 horizon = ms, chunk}
-- returns JSON [[item, [user, ...], page the index (true|false)], ...] for the items shown
-- to anyone.
local req = cjson.decode(ARGV[1])
local t = req.prefix .. req.tenant
if req.mode ~= 'touch' then
  local entry = t .. ':' .. req.table
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
  local shown = req.mode == 'touch'
  if not shown then
    local f = redis.call('HMGET', t .. ':item:' .. item, 'stock', 'category', 'brand', 'ts',
                         'sensitive')
    if ruled(t, item, f[2], f[3], f[5]) then
      redis.call('SADD', t .. ':oos', item)
      redis.call('ZREM', t .. ':instock', item)
      shown = true
    elseif tonumber(f[1] or '0') > 0 then
      redis.call('SREM', t .. ':oos', item)
      redis.call('ZADD', t .. ':instock', tonumber(f[4] or '0'), item)
    end
  end
  if shown then
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
