"""The durable store: ports (Protocols over domain records) and backends."""
