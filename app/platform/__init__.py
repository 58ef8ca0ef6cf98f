"""Shared infrastructure: logging, metrics, request context, Redis."""
