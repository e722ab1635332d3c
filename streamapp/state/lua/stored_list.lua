-- A user's stored list (the second part of t:u:U:record, record.lua; written by commit.lua;
-- layout in streamapp/state/lists.py), read in Lua. shown_in(raw): the items of its published
-- list, in order; none when there is no list (raw is false) or it is in an earlier layout (its
-- ranking not the fourth element).
local function shown_in(raw)
  if not raw then return {} end
  local list = cjson.decode(raw)
  local flat, ids = list[4], {}
  if type(flat) ~= 'table' then return ids end
  for i = 1, math.min(list[2], #flat / 3) do ids[i] = flat[3 * i - 2] end
  return ids
end
