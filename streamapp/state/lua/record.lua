-- A user's record (t:u:U:record): the dedupe window (ingest.lua) and the stored list
-- (commit.lua; layout in streamapp/state/lists.py) in one string, so that a user pays one key's
-- overhead for both (docs/performance.md has what it saves). Layout: the window's
-- length L as 2 bytes, big-endian; the window (L bytes); the stored list's JSON, empty until
-- the user's first list. Each script that writes one part reads the other and writes it back.
-- record_parts(raw): window, stored list (false for none); record(window, list): the string.
local function record_parts(raw)
  if not raw or #raw < 2 then return '', false end
  local length = string.byte(raw, 1) * 256 + string.byte(raw, 2)
  local list = string.sub(raw, 3 + length)
  return string.sub(raw, 3, 2 + length), #list > 0 and list
end

local function record(window, list)
  return string.char(math.floor(#window / 256), #window % 256) .. window .. (list or '')
end
