--[[ One buyer's status: ARGV user id, then optionally a place: the reply (status_of in
_lib.lua) then also counts the people in line below that place (a lottery's winners still
waiting, during the winners' window). ]]
local out = status_of(ARGV[1], now_ms())
if ARGV[2] and ARGV[2] ~= '' then
  out[#out + 1] = redis.call('ZCOUNT', K.line, '-inf', '(' .. ARGV[2])
end
return out
