--[[ One buyer's status: ARGV user id. See status_of in _lib.lua. ]]
return status_of(ARGV[1], now_ms())
