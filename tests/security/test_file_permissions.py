"""The files the app creates are its own: the data directory 0700, the SQLite database and its
`-wal`/`-shm` files 0600, the dev secrets 0600, whatever the umask (`data/encore.db` was
world-readable: 0644 under the usual umask 022, with every account's password hash in it).
"""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.settings import Settings
from app.storage.sql.store import SqlStore
from tests.security.launch import command_for, launched


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@contextlib.contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def test_the_app_creates_its_data_directory_and_database_private(tmp_path: Path) -> None:
    data = tmp_path / "data"
    database = data / "db" / "encore.db"
    command, port = command_for("app.serve")
    with (
        umask(0o022),  # the child inherits it
        launched(
            command,
            port,
            tmp_path / "run",
            APP_ENV="dev",  # as `make run`: dev secrets on disk
            DATA_DIR=str(data),
            DATABASE_URL=f"sqlite+aiosqlite:///{database}",
        ),
    ):
        assert mode(data) == 0o700
        assert mode(database.parent) == 0o700
        for name in ("encore.db", "encore.db-wal", "encore.db-shm"):
            assert mode(database.parent / name) == 0o600, name
        secrets = sorted(data.glob(".dev-*-secret"))
        assert secrets
        assert all(mode(s) == 0o600 for s in secrets)


@pytest.mark.parametrize("auto_migrate", [True, False])
async def test_a_sqlite_store_creates_private_files(tmp_path: Path, auto_migrate: bool) -> None:
    """Migrated at startup or not (DB_AUTO_MIGRATE=false, in a directory that exists: only the
    migrations make one), the first connection finds a private file."""
    database = tmp_path / "a" / "b" / "store.db"
    if not auto_migrate:
        database.parent.mkdir(mode=0o700, parents=True)
        (tmp_path / "a").chmod(0o700)
    with umask(0o022):
        store = SqlStore(f"sqlite+aiosqlite:///{database}", auto_migrate=auto_migrate)
        try:
            await store.initialize()
            await store.ping()
            assert mode(tmp_path / "a") == 0o700
            assert mode(tmp_path / "a" / "b") == 0o700
            assert mode(database) == 0o600
            # The first write (the migrations) makes the WAL files, with the database's mode.
            for suffix in ("-wal", "-shm") if auto_migrate else ():
                assert mode(Path(f"{database}{suffix}")) == 0o600, suffix
        finally:
            await store.close()


def test_existing_files_keep_the_permissions_their_owner_gave_them(tmp_path: Path) -> None:
    """Only what the app creates is made private: a directory an operator made is theirs."""
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o750)
    shared.chmod(0o750)
    settings = Settings(app_env="dev", data_dir=str(shared))
    assert settings.signing_secret
    assert mode(shared) == 0o750
    assert mode(shared / ".dev-jwt-secret") == 0o600
