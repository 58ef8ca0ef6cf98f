"""SMTP_URL smtp://: STARTTLS whenever the server offers it, and its certificate is checked."""

from __future__ import annotations

import asyncio
import ipaddress
import ssl
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.mail.transport import SmtpTransport
from tests.mail.conftest import Inbox, SmtpServer


def self_signed(folder: Path) -> tuple[Path, Path]:
    """A certificate for localhost and 127.0.0.1, and its key (PEM files)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "cert.pem", folder / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_file, key_file


@pytest.fixture
async def tls_smtp(tmp_path: Path) -> AsyncIterator[tuple[SmtpServer, Path]]:
    """An SMTP server that offers STARTTLS and refuses mail without it (and AUTH before it);
    its certificate file, for the client to trust."""
    cert_file, key_file = self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    inbox = Inbox()
    server = await asyncio.get_running_loop().create_server(
        lambda: SMTP(
            inbox,
            hostname="mail.test",
            tls_context=context,
            require_starttls=True,
            authenticator=inbox.authenticate,
        ),
        "127.0.0.1",
        0,
    )
    try:
        yield SmtpServer(inbox, server.sockets[0].getsockname()[1]), cert_file
    finally:
        server.close()
        await server.wait_closed()


def message() -> EmailMessage:
    m = EmailMessage()
    m["From"] = "tickets@example.com"
    m["To"] = "fan@example.com"
    m["Subject"] = "Hello over TLS"
    m.set_content("Your tickets.")
    return m


async def test_starttls_is_used_when_offered_and_the_login_goes_over_it(
    tls_smtp: tuple[SmtpServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    smtp, cert_file = tls_smtp
    monkeypatch.setenv("SSL_CERT_FILE", str(cert_file))  # trust this server's certificate

    await SmtpTransport(f"smtp://mailer:pw@localhost:{smtp.port}").send(message(), "m")

    [received] = smtp.inbox.messages
    assert received["Subject"] == "Hello over TLS"
    assert smtp.inbox.over_tls == [True]
    assert smtp.inbox.logins == [("mailer", "pw")]  # refused before STARTTLS: it came after


async def test_a_certificate_nobody_vouches_for_is_refused(
    tls_smtp: tuple[SmtpServer, Path],
) -> None:
    smtp, _ = tls_smtp

    with pytest.raises(Exception, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        await SmtpTransport(f"smtp://localhost:{smtp.port}", timeout=5).send(message(), "m")

    assert smtp.inbox.messages == []
