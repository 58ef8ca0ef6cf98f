"""PyMongo and BSON exceptions -> the store's own errors (app.storage.errors)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from bson.errors import BSONError
from pymongo.errors import (
    BulkWriteError,
    DuplicateKeyError,
    OperationFailure,
    PyMongoError,
)

from app.storage.errors import DuplicateKey, InvalidValue, StoreError, StoreUnavailable

DUPLICATE_KEY_CODE = 11000

# Server error codes that mean "this value cannot be stored", i.e. the caller's bad input:
# BadValue, InvalidBSON, BSONObjectTooLarge, KeyTooLong, document grew too large by an update.
_INVALID_VALUE_CODES = frozenset({2, 22, 10334, 17280, 17419})


def is_duplicate_key(error: BaseException) -> bool:
    return isinstance(error, DuplicateKeyError) or (
        isinstance(error, OperationFailure) and error.code == DUPLICATE_KEY_CODE
    )


def _key_pattern(error: OperationFailure) -> str:
    # Name the index, never the value: a duplicate email must not end up in a log line.
    details = error.details or {}
    pattern = details.get("keyPattern")
    return ", ".join(pattern) if isinstance(pattern, dict) else "a unique index"


@contextmanager
def translated_errors() -> Iterator[None]:
    """Let only store errors out of a repository method.

    A duplicate on a unique index is a DuplicateKey. A value BSON cannot encode (an integer
    beyond 64 bits, a lone surrogate, a document over 16 MiB) or the server refuses is the
    caller's InvalidValue. Everything else the driver or the server can throw (no server
    selected in time, a lost connection, a stepped-down primary, a write conflict we gave up
    retrying) means the store cannot serve the call right now: StoreUnavailable.
    Our own ValueError for a naive datetime is raised before any driver call and passes.
    """
    try:
        yield
    except StoreError:
        raise
    except BulkWriteError as error:
        write_errors = error.details.get("writeErrors", [])
        if write_errors and all(e.get("code") == DUPLICATE_KEY_CODE for e in write_errors):
            raise DuplicateKey("duplicate key in a batch insert") from error
        raise StoreUnavailable(f"batch write failed: {type(error).__name__}") from error
    except OperationFailure as error:
        if is_duplicate_key(error):
            raise DuplicateKey(f"duplicate key on {_key_pattern(error)}") from error
        if error.code in _INVALID_VALUE_CODES:
            raise InvalidValue(f"value refused by MongoDB (code {error.code})") from error
        name = (error.details or {}).get("codeName", "")
        raise StoreUnavailable(f"MongoDB error {error.code} {name}".rstrip()) from error
    except (BSONError, OverflowError, UnicodeEncodeError) as error:
        # Raised while encoding the command, before anything reached the server.
        raise InvalidValue(f"value cannot be stored in MongoDB: {error}") from error
    except (PyMongoError, OSError, TimeoutError) as error:
        raise StoreUnavailable(f"MongoDB unavailable: {type(error).__name__}") from error
