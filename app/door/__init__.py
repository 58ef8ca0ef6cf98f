"""Door check-in: organisers scan ticket codes at the venue (docs/door.md)."""
