"""The buyer's mails: an order confirmed (with the tickets as a PDF and the show as an .ics),
an order refunded. Sent by the ticket-delivery consumer of the event stream, never inside a
request: `sender.py` (dedup, retries, metrics), `compose.py` (the messages), `transport.py`
(SMTP, or .eml files in an outbox). docs/mail.md."""
