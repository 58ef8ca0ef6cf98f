"""Where a mail goes: an SMTP server (aiosmtplib), or an outbox folder of .eml files when no
SMTP_URL is set (dev: `make run` writes them under data/outbox/)."""

from __future__ import annotations

import asyncio
import os
import secrets
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol
from urllib.parse import unquote, urlsplit

import aiosmtplib

from app.settings import Settings


class MailTransport(Protocol):
    async def send(self, message: EmailMessage, name: str) -> None:
        """Deliver one message; raise if it was not accepted. `name`: a stable name for it
        (the outbox's file name)."""


class SmtpTransport:
    """One connection per mail: mails are few (one per order change) and a pooled connection
    would only go stale between them. smtp://: STARTTLS whenever the server offers it (and
    certificates are checked); smtps://: TLS from the first byte."""

    def __init__(self, url: str, *, timeout: float = 30.0) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must be smtp://user:password@host:port or smtps://...")
        self._tls = parts.scheme == "smtps"
        self._host = parts.hostname
        self._port = parts.port or (465 if self._tls else 587)
        self._username = unquote(parts.username) if parts.username else None
        self._password = unquote(parts.password) if parts.password else None
        self._timeout = timeout

    @property
    def address(self) -> tuple[str, int]:
        return self._host, self._port

    async def send(self, message: EmailMessage, name: str) -> None:
        await aiosmtplib.send(
            message,
            hostname=self._host,
            port=self._port,
            username=self._username,
            password=self._password,
            use_tls=self._tls,
            start_tls=False if self._tls else None,  # None: STARTTLS if offered
            timeout=self._timeout,
        )


class OutboxTransport:
    """Each mail as `<name>.eml` in a folder: open it with any mail program. Written aside and
    renamed into place, so a reader never sees half a file; a second write replaces the first."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    async def send(self, message: EmailMessage, name: str) -> None:
        await asyncio.to_thread(self._write, bytes(message), name)

    def _write(self, data: bytes, name: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        target = self.folder / f"{name}.eml"
        draft = self.folder / f".{name}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        draft.write_bytes(data)
        draft.replace(target)


def outbox_folder(settings: Settings) -> Path:
    return Path(settings.data_dir) / "outbox"


def build_transport(settings: Settings) -> MailTransport:
    if settings.smtp_url is None:
        return OutboxTransport(outbox_folder(settings))
    return SmtpTransport(settings.smtp_url.get_secret_value())
