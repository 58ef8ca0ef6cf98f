"""Domain events on a Redis Stream: what happened to holds and orders, for other systems.

`schemas` defines every event (envelope v1), `publisher` appends them after the durable write,
`consumer` reads them with a consumer group; docs/events.md is the contract for outsiders.
"""
