-- GCRA over several buckets, all or nothing, in one round trip. ratelimit/base.py has the
-- arithmetic and its reasoning; this is the same, step for step: time in units of each
-- bucket's emission interval since keyplane's epoch, so a spend adds an integer.
-- KEYS[i]: bucket i.  ARGV[1]: now (seconds since the epoch of base.EPOCH), ARGV[2]: cost,
-- ARGV[1 + 2i]: limit of bucket i, ARGV[2 + 2i]: window seconds of bucket i.
-- Returns {allowed (0/1), tat_1, ..., tat_n}, tats as strings in units (Redis would
-- truncate Lua numbers to integers).
local now_s = tonumber(ARGV[1])
local cost = tonumber(ARGV[2])
local allowed = 1
local current = {}
local units = {}
for i = 1, #KEYS do
  local limit = tonumber(ARGV[1 + 2 * i])
  local window = tonumber(ARGV[2 + 2 * i])
  local now = now_s * limit / window
  local tat = tonumber(redis.call('GET', KEYS[i]))
  if tat == nil or tat < now then tat = now end
  units[i] = now
  current[i] = tat
  if tat + cost - now > limit + math.abs(now) * 1e-14 + 1e-9 then allowed = 0 end
end
local result = {allowed}
for i = 1, #KEYS do
  local tat = current[i]
  if allowed == 1 and cost > 0 then
    tat = tat + cost
    local window = tonumber(ARGV[2 + 2 * i])
    local limit = tonumber(ARGV[1 + 2 * i])
    local ttl_ms = math.ceil((tat - units[i]) * window / limit * 1000) + 1000
    redis.call('SET', KEYS[i], string.format('%.17g', tat), 'PX', ttl_ms)
  end
  result[i + 1] = string.format('%.17g', tat)
end
return result
