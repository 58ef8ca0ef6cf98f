"""Seats: the live seat map, holds (explicit and best available) and the SSE stream."""
