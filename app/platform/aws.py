"""What every AWS client of the service shares: its credentials and its bounded waits.

The DynamoDB store (app/storage/dynamo/), the EventBridge forwarder (app/events/eventbridge.py)
and the capacity plan (app/workers/capacity.py) each open their own aioboto3 client from here.
"""

from __future__ import annotations

import os

import aioboto3
from aiobotocore.config import AioConfig

# A request that cannot connect in this many seconds, or is not answered in that many, fails
# (and is retried by botocore's standard mode, with its own backoff and throttling quota).
CONNECT_TIMEOUT_S = 3.0
READ_TIMEOUT_S = 5.0
MAX_ATTEMPTS = 3


def local_credentials(endpoint: str | None) -> tuple[str | None, str | None]:
    """Dummy keys for a local endpoint (moto, DynamoDB Local) when none are configured.

    Without them botocore would search further (shared files, then the instance metadata
    service, which is slow to time out off AWS); a local server accepts any signature.
    """
    configured = any(os.environ.get(v) for v in ("AWS_ACCESS_KEY_ID", "AWS_PROFILE"))
    if endpoint and not configured:
        return "test", "test"
    return None, None  # botocore's own chain


def aws_session(endpoint: str | None, region: str) -> aioboto3.Session:
    """A session in `region`: botocore's credential chain, or dummy keys for a local endpoint."""
    key_id, secret = local_credentials(endpoint)
    return aioboto3.Session(
        aws_access_key_id=key_id, aws_secret_access_key=secret, region_name=region
    )


def client_config(*, max_attempts: int = MAX_ATTEMPTS, max_pool_connections: int = 10) -> AioConfig:
    """Bounded connect and read waits, botocore's standard retries."""
    return AioConfig(
        connect_timeout=CONNECT_TIMEOUT_S,
        read_timeout=READ_TIMEOUT_S,
        retries={"mode": "standard", "max_attempts": max_attempts},
        max_pool_connections=max_pool_connections,
    )
