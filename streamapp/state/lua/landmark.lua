-- A tenant's forward-decay landmark and the unit its decayed sums count (streamapp/state/decay.py),
-- set together by the tenant's first event. A landmark without a unit beside it belongs to a
-- state written before sums were whole units (its scores are weights): the caller converts it
-- (store.py, Store.landmark).
-- KEYS = {t:landmark, t:units}; ARGV = {the first event's ts, units}
-- returns {landmark, units or nil}
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then redis.call('SET', KEYS[2], ARGV[2]) end
return {redis.call('GET', KEYS[1]), redis.call('GET', KEYS[2])}
