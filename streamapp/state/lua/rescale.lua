-- Move one tenant's forward-decay landmark forward (streamapp/state/decay.py), atomically: every
-- decayed score of the tenant is multiplied by `factor` (exp(-rate * (new - old))) and rounded
-- to whole units, the landmark is set, and the state's epoch changes, so that every worker's
-- next call is refused until it has re-read the landmark (a weight computed against the old
-- landmark is never added). A score that rounds to nothing (less than a millionth of a fresh
-- click) is removed.
-- It reads every key of the tenant: Redis is blocked for as long (the price of one script for
-- the whole tenant); it runs when a tenant's exponent passes decay.RESCALE_EXPONENT, once in
-- 26 half-lives.
--
-- It also converts a state from weights to units (decay.UNITS, store.py's landmark): new = old,
-- factor = UNITS, and the unit is set.
--
-- ARGV[1] = JSON {guard (see guard.lua), prefix (every key's, keys.py), tenant, old, new,
--                 factor, from_units, units, epoch_key,
--                 epoch (absent within a rebuild that has not set one yet)}
-- returns JSON {lost = true}, {moved = false} (another worker rescaled or converted first), or
-- {moved = true, keys = how many were rescaled}
local req = cjson.decode(ARGV[1])
if lost(req.guard) then return '{"lost":true}' end
local t = req.prefix .. req.tenant
local et = (string.gsub(t, '%p', '%%%0'))  -- the tenant as a literal in a Lua pattern
local current = tonumber(redis.call('GET', t .. ':landmark'))
-- What the sums count now must be what the caller's factor assumes (1: weights, a state from
-- before the units): a conversion that another process made first is not made twice.
local units = tonumber(redis.call('GET', t .. ':units') or '1')
if current ~= req.old or units ~= req.from_units then return '{"moved":false}' end
local decayed = {
  '^' .. et .. ':u:.+:items$', '^' .. et .. ':u:.+:cats$', '^' .. et .. ':pop$',
  '^' .. et .. ':catpop:.+$', '^' .. et .. ':cv:.+$',
}
local function is_decayed(key)
  for _, pattern in ipairs(decayed) do
    if string.find(key, pattern) then return true end
  end
  return false
end
local keys = 0
local cursor = '0'
repeat
  local page = redis.call('SCAN', cursor, 'MATCH', t .. ':*', 'COUNT', 1000)
  cursor = page[1]
  for _, key in ipairs(page[2]) do
    if is_decayed(key) and redis.call('TYPE', key).ok == 'zset' then
      local flat = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
      local args, gone = {}, {}
      for i = 1, #flat, 2 do
        local score = math.floor(tonumber(flat[i + 1]) * req.factor + 0.5)
        if score > 0 then
          args[#args + 1] = score
          args[#args + 1] = flat[i]
        else
          gone[#gone + 1] = flat[i]
        end
        if #args >= 1000 then redis.call('ZADD', key, 'XX', unpack(args)); args = {} end
        if #gone >= 1000 then redis.call('ZREM', key, unpack(gone)); gone = {} end
      end
      if #args > 0 then redis.call('ZADD', key, 'XX', unpack(args)) end
      if #gone > 0 then redis.call('ZREM', key, unpack(gone)) end
      keys = keys + 1
    end
  end
until cursor == '0'
redis.call('SET', t .. ':landmark', req.new)
redis.call('SET', t .. ':units', req.units)
if req.epoch then redis.call('SET', req.epoch_key, req.epoch) end
return cjson.encode({moved = true, keys = keys})
