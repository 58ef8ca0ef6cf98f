"""A DynamoDB endpoint for the tests: TEST_DYNAMODB_ENDPOINT, or moto's server in a thread
(moto.py: how it runs, and why one request at a time). Without either the dynamodb tests are
skipped, unless REQUIRE_DYNAMODB=1, which turns that into a failure.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import NoReturn

from tests.servers.moto import dummy_credentials, moto_server, skip_or_fail


def _unavailable(reason: str) -> NoReturn:
    skip_or_fail(
        f"no DynamoDB for the tests: TEST_DYNAMODB_ENDPOINT is not set and {reason}",
        require="REQUIRE_DYNAMODB",
    )


@asynccontextmanager
async def dynamodb_server() -> AsyncIterator[str]:
    """The URL of a DynamoDB endpoint for the tests, running until the context exits."""
    external = os.environ.get("TEST_DYNAMODB_ENDPOINT")
    if external:
        with dummy_credentials():
            yield external
        return
    async with moto_server(unavailable=_unavailable) as url:
        yield url
