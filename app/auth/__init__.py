"""Accounts: signup, login, refresh with rotation, the current user."""
