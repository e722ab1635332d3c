-- Prepended to every script that changes state (store.py).
--
-- lost(guard): does the state in Redis still match what the caller works in? guard = nil (not checked: the evaluator, tools),
-- ['epoch', key, value]: the state's epoch is value (a worker at work), or
-- ['rebuild', key, value]: the note of rebuild value is still there (a rebuild under way).
-- Redis that lost its data (restarted empty, flushed) fails both; the script then changes
-- nothing and answers {lost = true}.
local function lost(guard)
  if not guard then return false end
  local kind, key, value = guard[1], guard[2], guard[3]
  if kind == 'epoch' then return redis.call('GET', key) ~= value end
  return redis.call('SISMEMBER', key, value) == 0
end

-- continues(wm_key, spans): a batch's span of each partition (spans = {tp = [first, last]},
-- dead-lettered records included) must continue from the partition's watermark: a batch that
-- starts past watermark + 1 would hide the records in between for good (a watermark only
-- grows). Returns the watermarks read (tp -> offset, -1 for none) and the gaps found (tp ->
-- watermark) or nil; the script then changes nothing and answers {gaps = ...}, and the caller
-- applies the records in between first.
local function continues(wm_key, spans)
  local watermarks, gaps = {}, nil
  for tp, span in pairs(spans) do
    local wm = tonumber(redis.call('HGET', wm_key, tp) or '-1')
    watermarks[tp] = wm
    if wm >= 0 and span[1] > wm + 1 then
      gaps = gaps or {}
      gaps[tp] = wm
    end
  end
  return watermarks, gaps
end

-- After the batch each partition's watermark is its span's last offset, also when its last
-- records were dead-lettered (their offsets are done with too).
local function close_spans(wm_key, watermarks, spans)
  for tp, span in pairs(spans) do
    if span[2] > (watermarks[tp] or -1) then watermarks[tp] = span[2] end
  end
  for tp, offset in pairs(watermarks) do
    if offset >= 0 then redis.call('HSET', wm_key, tp, offset) end
  end
end
