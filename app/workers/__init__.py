"""Background loops: run inside the app processes, or alone with `python -m app worker`."""
