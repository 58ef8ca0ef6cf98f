"""Concerts and their venue layouts (sections, rows, seats, price tiers)."""
