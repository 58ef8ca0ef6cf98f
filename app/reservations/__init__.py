"""The Redis seat engine: atomic holds, sales and expiry in Lua (the hot path)."""
