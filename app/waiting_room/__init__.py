"""The virtual waiting room for hot on-sales (see service.py)."""
