-- Apply one batch of interactions and gather what ranking needs for the users it touched.
-- One call per batch: Redis runs it atomically, so an event's dedupe mark and its increments
-- land together or not at all (a crash between them cannot double-count on replay).
-- Keys follow the table in streamapp/state/keys.py (a unit test checks every segment used here).
--
-- A batch must continue from its partitions' watermarks (continues() in guard.lua).
--
-- ARGV[1] = JSON {prefix (every key's, keys.py), wm, guard (see guard.lua), spans, cfg,
--           events = [[tenant, tp, offset, event_id, user, item, category|false,
--                      forward_weight, ts, purchased(0|1), price|false], ...],
--           users = [[tenant, user], ...], cosine = true|false, kinds = true|false}
-- returns JSON {lost = true} and changes nothing when the state is not the epoch the caller
--   knows (Redis lost it, or it was rebuilt since); otherwise the array {JSON, vector, ...}:
--   JSON {status = [1 applied | 2 duplicate | 3 replayed, ...],
--   users = [[tenant, user, recent items, flat categories, purchased, flat history], ...],
--   tenants = {t = {popular, catalog, covisit = {item = flat}, sequence = {item = flat},
--                   popularity = {item = score} (session items and their co-visited ones;
--                                                 only with cosine),
--                   category = {cat = flat},
--                   new = {cat = flat new arrivals}, blocked, attributes,
--                   kinds (flat {item, category|false, brand|false, ...}; only with kinds:
--                          rules that boost or bury a category or a brand)}}},
--   then per user, in order, its factor vector (float32 bytes, t:u:U:factors) or nil: binary,
--   so it stays out of the JSON.
local req = cjson.decode(ARGV[1])
if lost(req.guard) then return '{"lost":true}' end
local watermarks, gaps = continues(req.wm, req.spans)
if gaps then return cjson.encode({gaps = gaps}) end
local cfg = req.cfg
local status = {}
local touched_users = {}
local touched = {}  -- key -> bound, trimmed once per batch

-- Increments are summed per (key, member) in Lua and written once per batch: a user's session
-- items pair up again and again within a batch, and one ZINCRBY replaces many. A summed key is
-- trimmed only if it gained a member (ZINCRBY answering the increment itself: the old score
-- was 0), which repeat increments (a popular item, a frequent pair) do not.
local acc = {}
local bounds = {}
local function add(key, member, f, limit)
  local k = acc[key]
  if k == nil then k = {}; acc[key] = k; bounds[key] = limit end
  k[member] = (k[member] or 0) + f
end

-- How many items have co-visitation rows, and categories have popularity rows, is bounded too:
-- t:cvitems and t:categories hold each by its last event time, and beyond covisit_items_max
-- (categories_max) the idlest lose their rows (an item seen once in a stream of new ids would
-- otherwise keep its row for ever).
local stamps = {}
local function stamp(t, index, member, ts)
  local key = t .. ':' .. index
  local s = stamps[key]
  if s == nil then s = {}; stamps[key] = s end
  if (s[member] or -1) < ts then s[member] = ts end
end
local idle_rows = {cvitems = {':cv:', ':nx:'}, categories = {':catpop:', ':new:'}}
local function drop_idle(key, members, limit, prefixes)
  for member, ts in pairs(members) do redis.call('ZADD', key, 'GT', ts, member) end
  local n = redis.call('ZCARD', key)
  if n <= limit then return end
  local t = string.match(key, '^(.*):[^:]+$')
  for _, member in ipairs(redis.call('ZRANGE', key, 0, n - limit - 1)) do
    for _, prefix in ipairs(prefixes) do redis.call('DEL', t .. prefix .. member) end
  end
  redis.call('ZREMRANGEBYRANK', key, 0, n - limit - 1)
end

-- The top `covisit_window` of each session, read once and kept current in Lua. Scores only
-- ever rise (ZADD GT), so the new top-W is always within the old top-W plus the new item.
local sessions = {}
local session_writes = {}
local function session(u)
  local s = sessions[u]
  if s == nil then
    local flat = redis.call('ZREVRANGE', u .. ':recent', 0, cfg.covisit_window - 1, 'WITHSCORES')
    s = {}
    for i = 1, #flat, 2 do s[#s + 1] = {flat[i], tonumber(flat[i + 1])} end
    sessions[u] = s
    session_writes[u] = {}
  end
  return s
end
local function visit(u, s, item, ts)
  local found = false
  for _, e in ipairs(s) do
    if e[1] == item then
      if ts > e[2] then e[2] = ts end
      found = true
    end
  end
  if not found then s[#s + 1] = {item, ts} end
  table.sort(s, function(a, b) return a[2] > b[2] end)
  while #s > cfg.covisit_window do table.remove(s) end
  local w = session_writes[u]
  if (w[item] or -1) < ts then w[item] = ts end
end

-- The dedupe window: a user's last cfg.seen_event_ids event ids, each as the first 6 bytes of
-- its SHA-1, the first part of the user's record (t:u:U:record, record.lua), read once and
-- written once per batch with the stored list it holds as it was. Redeliveries are caught by
-- the offset watermark however old; the window only has to span a producer's retries. 48 bits
-- make a new event's chance of being taken for one of the 32 before it 32 / 2^48 ≈ 1e-13, and
-- keep the 32 in 192 bytes.
local DIGEST = 6
local windows = {}
local function window(u)
  local w = windows[u]
  if w == nil then
    local raw, list = record_parts(redis.call('GET', u .. ':record'))
    w = {known = {}, order = {}, list = list}
    for i = 1, #raw - DIGEST + 1, DIGEST do
      local d = string.sub(raw, i, i + DIGEST - 1)
      w.known[d] = true
      w.order[#w.order + 1] = d
    end
    windows[u] = w
  end
  return w
end
local function first_sighting(u, event_id)
  local w = window(u)
  local h = redis.sha1hex(event_id)
  local d = struct.pack('>I4I2', tonumber(string.sub(h, 1, 8), 16),
                        tonumber(string.sub(h, 9, 12), 16))
  if w.known[d] then return false end
  w.known[d] = true
  w.order[#w.order + 1] = d
  return true
end

local categories = {}
local function category_of(t, item)
  local key = t .. ':item:' .. item
  local c = categories[key]
  if c == nil then
    c = redis.call('HGET', key, 'category')
    categories[key] = c
  end
  return c
end

for idx, ev in ipairs(req.events) do
  local tenant, tp, offset, eid, user, item, cat, f, ts, bought, price = unpack(ev)  -- an EventRow
  local t = req.prefix .. tenant
  local wm = watermarks[tp]
  if wm == nil then
    wm = tonumber(redis.call('HGET', req.wm, tp) or '-1')
    watermarks[tp] = wm
  end
  local u = t .. ':u:' .. user
  if offset <= wm then
    status[idx] = 3
  elseif not first_sighting(u, eid) then
    status[idx] = 2
  else
    status[idx] = 1
    touched_users[u] = true
    if f ~= 0 then
      if not cat then cat = category_of(t, item) end
      add(u .. ':items', item, f, cfg.user_items_max)
      add(t .. ':pop', item, f, cfg.popularity_max)
      if cat then
        add(u .. ':cats', cat, f, cfg.user_categories_max)
        add(t .. ':catpop:' .. cat, item, f, cfg.category_popularity_max)
        stamp(t, 'categories', cat, ts)
        redis.call('ZREM', t .. ':new:' .. cat, item)  -- no longer cold: it has interactions
      end
      local s = session(u)
      -- What is viewed next: the user's newest item before this one leads to it (directed,
      -- unlike co-visitation; its row shares the co-visitation rows' bound).
      if s[1] ~= nil and s[1][1] ~= item and s[1][2] <= ts then
        add(t .. ':nx:' .. s[1][1], item, f, cfg.covisit_max)
        stamp(t, 'cvitems', s[1][1], ts)
      end
      for _, e in ipairs(s) do
        local other = e[1]
        if other ~= item then
          add(t .. ':cv:' .. other, item, f, cfg.covisit_max)
          add(t .. ':cv:' .. item, other, f, cfg.covisit_max)
          stamp(t, 'cvitems', other, ts)
          stamp(t, 'cvitems', item, ts)
        end
      end
      visit(u, s, item, ts)
    end
    if price then redis.call('HSET', t .. ':price', item, price) end
    if bought == 1 then
      redis.call('ZADD', u .. ':bought', 'GT', ts, item)
      touched[u .. ':bought'] = cfg.purchased_max
    end
  end
  if offset > watermarks[tp] then watermarks[tp] = offset end
end

for key, members in pairs(acc) do
  for member, f in pairs(members) do
    if tonumber(redis.call('ZINCRBY', key, f, member)) == f then touched[key] = bounds[key] end
  end
end
for key, members in pairs(stamps) do
  local index = string.match(key, ':([^:]+)$')
  local limit = index == 'cvitems' and cfg.covisit_items_max or cfg.categories_max
  drop_idle(key, members, limit, idle_rows[index])
end
for u, writes in pairs(session_writes) do
  for item, ts in pairs(writes) do redis.call('ZADD', u .. ':recent', 'GT', ts, item) end
  touched[u .. ':recent'] = cfg.session_items
end
close_spans(req.wm, watermarks, req.spans)
-- A sorted set that once held more than zset-max-listpack-entries members stays a skiplist
-- (several times the bytes) after a trim brings it back under: one whose bound fits a
-- listpack but that a batch pushed over (a catch-up batch adding many items to a user's
-- history) is written anew once trimmed, and is compact again.
local function compact(key)
  local flat = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  local args = {}
  for i = 1, #flat, 2 do args[#args + 1] = flat[i + 1]; args[#args + 1] = flat[i] end
  redis.call('DEL', key)
  redis.call('ZADD', key, unpack(args))
end
for key, limit in pairs(touched) do
  -- Everything below the top `limit` (nothing when there are no more): one call, no ZCARD.
  local n = limit + redis.call('ZREMRANGEBYRANK', key, 0, -limit - 1)
  if n > cfg.listpack_entries and limit <= cfg.listpack_entries then compact(key) end
end
for u, _ in pairs(touched_users) do
  local order = windows[u].order
  local first = math.max(1, #order - cfg.seen_event_ids + 1)
  local window = table.concat(order, '', first)
  redis.call('SET', u .. ':record', record(window, windows[u].list), 'EX', cfg.user_ttl_s)
  for _, suffix in ipairs({':items', ':cats', ':recent', ':bought'}) do
    redis.call('EXPIRE', u .. suffix, cfg.user_ttl_s)
  end
end

-- Gather: per requested user its session, categories and purchases; per tenant the ranked
-- lists those point at (co-visitation per item, popularity per category, global popularity),
-- each read once per batch however many users share it, and the candidates that are blocked.
-- Ranked lists are flat {item, score, item, score, ...} as ZREVRANGE WITHSCORES gives them,
-- scores (and prices, margins) as the strings Redis answers: the worker turns them into
-- numbers. Converting here (tonumber, then cjson's %.14g) cost Redis ≈ 0.6 µs a number, and
-- Redis is the one process every worker shares.
local tenants = {}
local users = {}
local vectors = {}
-- Notes the items of a flat list as candidates.
local function remember(tenant, flat)
  for i = 1, #flat, 2 do tenant.seen[flat[i]] = true end
end
for _, pair in ipairs(req.users) do
  local tenant_id, user = pair[1], pair[2]
  local t = req.prefix .. tenant_id
  local tenant = tenants[tenant_id]
  if tenant == nil then
    tenant = {
      popular = redis.call('ZREVRANGE', t .. ':pop', 0, cfg.popular_candidates - 1, 'WITHSCORES'),
      catalog = redis.call('ZREVRANGE', t .. ':instock', 0, cfg.top_k * 2 - 1),
      covisit = {}, sequence = {}, popularity = {}, category = {}, new = {}, seen = {},
    }
    remember(tenant, tenant.popular)
    for _, item in ipairs(tenant.catalog) do tenant.seen[item] = true end
    tenants[tenant_id] = tenant
  end
  local u = t .. ':u:' .. user
  local recent = redis.call('ZREVRANGE', u .. ':recent', 0, cfg.session_items - 1)
  for n, other in ipairs(recent) do
    tenant.seen[other] = true
    if n <= cfg.covisit_window and tenant.covisit[other] == nil then
      local flat = redis.call('ZREVRANGE', t .. ':cv:' .. other, 0, cfg.covisit_per_item - 1, 'WITHSCORES')
      tenant.covisit[other] = flat
      remember(tenant, flat)
      -- The popularity of the item and of its co-visited items (the cosine source), one call,
      -- only while some weight set uses that source.
      if req.cosine then
        local members = {other}
        for i = 1, #flat, 2 do members[#members + 1] = flat[i] end
        local scores = redis.call('ZMSCORE', t .. ':pop', unpack(members))
        for i, member in ipairs(members) do
          if scores[i] then tenant.popularity[member] = scores[i] end
        end
      end
      local next_items = redis.call('ZREVRANGE', t .. ':nx:' .. other, 0, cfg.covisit_per_item - 1, 'WITHSCORES')
      tenant.sequence[other] = next_items
      remember(tenant, next_items)
    end
  end
  local cats = redis.call('ZREVRANGE', u .. ':cats', 0, cfg.categories_per_user - 1, 'WITHSCORES')
  for i = 1, #cats, 2 do
    local c = cats[i]
    if tenant.category[c] == nil then
      local flat = redis.call('ZREVRANGE', t .. ':catpop:' .. c, 0, cfg.category_candidates - 1, 'WITHSCORES')
      tenant.category[c] = flat
      remember(tenant, flat)
      local arrivals = redis.call('ZREVRANGE', t .. ':new:' .. c, 0, cfg.new_arrival_candidates - 1, 'WITHSCORES')
      tenant.new[c] = arrivals
      remember(tenant, arrivals)
    end
  end
  local history = redis.call('ZREVRANGE', u .. ':items', 0, cfg.history_candidates - 1, 'WITHSCORES')
  remember(tenant, history)
  local bought = redis.call('ZRANGE', u .. ':bought', 0, -1)
  users[#users + 1] = {tenant_id, user, recent, cats, bought, history}
  vectors[#users] = redis.call('GET', u .. ':factors')
end

-- The stream-table join: which candidates are out of stock (or, if configured, unknown), and
-- the price and margin of those the product table knows (flat {item, price|false,
-- margin|false, ...}; the ranker's content features). One SMISMEMBER and two HMGETs per
-- thousand candidates instead of calls per candidate.
for tenant_id, tenant in pairs(tenants) do
  local t = req.prefix .. tenant_id
  local blocked = {}
  local attributes = {}
  local kinds = {}
  local items = {}
  for item, _ in pairs(tenant.seen) do items[#items + 1] = item end
  for first = 1, #items, 1000 do
    local chunk = {unpack(items, first, math.min(first + 999, #items))}
    local member = redis.call('SMISMEMBER', t .. ':oos', unpack(chunk))
    local prices = redis.call('HMGET', t .. ':price', unpack(chunk))
    local margins = redis.call('HMGET', t .. ':margin', unpack(chunk))
    for i, item in ipairs(chunk) do
      if member[i] == 1
        or (cfg.drop_unknown_stock and redis.call('EXISTS', t .. ':item:' .. item) == 0) then
        blocked[#blocked + 1] = item
      end
      if prices[i] or margins[i] then
        attributes[#attributes + 1] = item
        attributes[#attributes + 1] = prices[i] or false
        attributes[#attributes + 1] = margins[i] or false
      end
    end
    if req.kinds then
      local categories = redis.call('HMGET', t .. ':category', unpack(chunk))
      local brands = redis.call('HMGET', t .. ':brand', unpack(chunk))
      for i, item in ipairs(chunk) do
        if categories[i] or brands[i] then
          kinds[#kinds + 1] = item
          kinds[#kinds + 1] = categories[i] or false
          kinds[#kinds + 1] = brands[i] or false
        end
      end
    end
  end
  tenant.seen = nil
  tenant.blocked = blocked
  tenant.attributes = attributes
  tenant.kinds = kinds
end

local reply = {cjson.encode({status = status, users = users, tenants = tenants})}
for i = 1, #users do reply[i + 1] = vectors[i] end
return reply
