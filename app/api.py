"""The public API's path prefix. Each domain router carries it in full, so a route's template
(used as a metrics label and in logs) is the path a client sees."""

API_PREFIX = "/api/v1"
