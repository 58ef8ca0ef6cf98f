-- Sliding window counters (the algorithm and keys of `limits`' SlidingWindowCounter), any
-- number of windows in one call (app/platform/ratelimit.py).
-- Window i: KEYS[2i-1] its previous window, KEYS[2i] its current one (same hash tag);
-- ARGV[2i-1] its limit, ARGV[2i] its length in milliseconds.
-- Each window counts the hit if it is within its limit. Reply, per window: 0 if counted,
-- otherwise the milliseconds until it would be (at least 1).
local reply = {}
for i = 1, #KEYS / 2 do
    local previous, current = KEYS[2 * i - 1], KEYS[2 * i]
    local limit = tonumber(ARGV[2 * i - 1])
    local expiry = tonumber(ARGV[2 * i])

    local current_ttl = redis.call('pttl', current)
    if current_ttl > 0 and current_ttl < expiry then
        -- The current window is over: it becomes the previous one.
        redis.call('rename', current, previous)
        redis.call('set', current, 0, 'PX', current_ttl + expiry)
    end
    local previous_count = tonumber(redis.call('get', previous)) or 0
    local previous_ttl = math.max(0, redis.call('pttl', previous))
    local current_count = tonumber(redis.call('get', current)) or 0
    current_ttl = math.max(0, redis.call('pttl', current))
    local weighted = math.floor(previous_count * previous_ttl / expiry) + current_count

    if weighted + 1 > limit then
        -- As limits' get_window_stats: the sooner of one previous hit dropping out of the
        -- weighting and the current window ending.
        local wait = nil
        if previous_count > 0 then
            wait = previous_ttl % (expiry / previous_count)
        end
        if current_count > 0 then
            local ends = current_ttl % expiry
            if wait == nil or ends < wait then
                wait = ends
            end
        end
        reply[i] = math.max(1, math.ceil(wait or expiry))
    else
        if current_ttl > 0 then
            redis.call('incr', current)
        else
            redis.call('set', current, 1, 'PX', expiry * 2)
        end
        reply[i] = 0
    end
end
return reply
