-- Move a partition's watermark up to an offset whose records are all applied or no longer in
-- the log (a replay that found the log starting later than it asked for).
-- ARGV[1] = JSON {wm, guard (see guard.lua), tp, offset}; returns JSON {} or {lost = true}.
local req = cjson.decode(ARGV[1])
if lost(req.guard) then return '{"lost":true}' end
local wm = tonumber(redis.call('HGET', req.wm, req.tp) or '-1')
if req.offset > wm then redis.call('HSET', req.wm, req.tp, req.offset) end
return '{}'
