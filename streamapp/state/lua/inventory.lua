-- Upsert the product table and the out-of-stock set from a batch of inventory events.
-- An update older than the one stored is refused (stale). For every event at zero stock the
-- users whose current list shows the item are returned, read atomically with the SADD to the
-- out-of-stock set, so a list committed before it is refreshed and one committed after it
-- filters the item (see commit.lua). A replay of the very event that took the item out (same ts:
-- a batch retried, or re-read after a crash) returns them again, so refreshes that may not have
-- been sent are routed again; a newer stock-out of an item already out of stock changes
-- nothing and returns nobody.
--
-- An item shown to more than cfg.refresh_chunk users is not read here (one call would block
-- Redis for as long as the list takes): the reply says so and the caller pages the index with
-- ZSCAN. That is as good as reading it here: once the item is in the out-of-stock set no list
-- adds it to its index, so every user it still holds was there at the SADD.
--
-- Offsets at or below the partition's watermark (the same hash as ingest.lua's) were applied
-- before: they are replays (after a rebuild, or a retried batch) and change nothing, but a
-- stock-out still in effect routes its refreshes again.
--
-- An item the rules hold out (a block on its id, category or brand; sensitive and not allowed:
-- ruled.lua) stays out whatever its stock, so a block outlives restocks and reaches items that
-- arrive after it.
--
-- An in-stock item nobody has interacted with yet (not in the popularity ranking) joins its
-- category's new arrivals (t:new:C, by arrival time, bounded), the cold-start source that
-- ingest.lua empties item by item as interactions arrive.
--
-- Users are read from the reverse index within the list horizon (entries older than a list's
-- lifetime are trimmed only when commit.lua adds to that item's index).
--
-- A batch must continue from its partitions' watermarks (continues() in guard.lua).
--
-- ARGV[1] = JSON {prefix (every key's, keys.py), wm, guard (see guard.lua), spans,
--                 cfg = {new_arrivals_max,
--                 refresh_chunk}, horizon = ms,
--                 events = [[tenant, item, ts, stock, {field = value, ...}, tp, offset], ...]}
-- returns JSON {lost = true} and changes nothing when the state is not the epoch the caller
-- knows (see ingest.lua); otherwise [[status (1 applied | 3 replayed | 4 stale),
-- transition ('out'|'in'|''), [user, ...], page the index (true|false)], ...]
local req = cjson.decode(ARGV[1])
if lost(req.guard) then return '{"lost":true}' end
local watermarks, gaps = continues(req.wm, req.spans)
if gaps then return cjson.encode({gaps = gaps}) end
local out = {}
local function shown_to(t, item)
  local index = t .. ':shown:' .. item
  if redis.call('ZCARD', index) > req.cfg.refresh_chunk then return {}, true end
  return redis.call('ZRANGE', index, req.horizon, '+inf', 'BYSCORE'), false
end
for idx, ev in ipairs(req.events) do
  local tenant, item, ts, stock, fields, tp, offset = unpack(ev)  -- an InventoryRow
  local t = req.prefix .. tenant
  local key = t .. ':item:' .. item
  local stored = tonumber(redis.call('HGET', key, 'ts') or '-1')
  if watermarks[tp] == nil then
    watermarks[tp] = tonumber(redis.call('HGET', req.wm, tp) or '-1')
  end
  if offset <= watermarks[tp] then
    local users, page = {}, false
    if stock <= 0 and ts == stored then users, page = shown_to(t, item) end
    out[idx] = {3, '', users, page}
  elseif ts < stored then
    out[idx] = {4, '', {}, false}
  else
    local args = {'ts', ts, 'stock', stock}
    for name, value in pairs(fields) do
      args[#args + 1] = name
      args[#args + 1] = tostring(value)
    end
    redis.call('HSET', key, unpack(args))
    -- Price and margin also in one hash each, which the gather reads for many items at once.
    if fields.price then redis.call('HSET', t .. ':price', item, fields.price) end
    if fields.margin then redis.call('HSET', t .. ':margin', item, fields.margin) end
    -- Category and brand likewise, for the rules that boost or bury by them.
    if fields.category then redis.call('HSET', t .. ':category', item, fields.category) end
    if fields.brand then redis.call('HSET', t .. ':brand', item, fields.brand) end
    local category, brand, flagged = unpack(redis.call('HMGET', key, 'category', 'brand',
                                                       'sensitive'))
    local transition = ''
    local users, page = {}, false
    if stock <= 0 or ruled(t, item, category, brand, flagged) then
      if redis.call('SADD', t .. ':oos', item) == 1 then transition = 'out' end
      redis.call('ZREM', t .. ':instock', item)
      if transition == 'out' or ts == stored then
        users, page = shown_to(t, item)
      end
    else
      if redis.call('SREM', t .. ':oos', item) == 1 then transition = 'in' end
      redis.call('ZADD', t .. ':instock', ts, item)
      if category and not redis.call('ZSCORE', t .. ':pop', item) then
        local arrivals = t .. ':new:' .. category
        redis.call('ZADD', arrivals, 'NX', ts, item)
        local n = redis.call('ZCARD', arrivals)
        if n > req.cfg.new_arrivals_max then
          redis.call('ZREMRANGEBYRANK', arrivals, 0, n - req.cfg.new_arrivals_max - 1)
        end
      end
    end
    out[idx] = {1, transition, users, page}
  end
  if offset > watermarks[tp] then watermarks[tp] = offset end
end
close_spans(req.wm, watermarks, req.spans)
return cjson.encode(out)
