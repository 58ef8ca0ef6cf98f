"""Configuration: one pydantic-settings class, read from the environment (and `.env`)."""

from __future__ import annotations

import os
import secrets
from email.utils import parseaddr
from functools import cached_property
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from app.platform.client_ip import parse_header_name, parse_networks

AppEnv = Literal["dev", "test", "prod"]

# Outside dev/test every secret and key must look random (`_refuse_unsafe`): at least this
# long, not one character repeated, at least this many distinct characters (a random value of
# 32 characters has far more; "abab..." or "passwordpassword..." have fewer), and none of the
# values below.
MIN_SECRET_LENGTH = 32
MIN_SECRET_DISTINCT_CHARACTERS = 10
# The random part of a Stripe key (after `sk_live_`, `rk_test_`, ...) is at least this long.
MIN_STRIPE_KEY_RANDOM_PART = 24
# ADMIN_PASSWORD: a person types it, so shorter, but it opens every organiser route.
MIN_ADMIN_PASSWORD_LENGTH = 12
MIN_ADMIN_PASSWORD_DISTINCT_CHARACTERS = 6
# Values this repository shows anyone (README.md, docker-compose.yml, Makefile, the tests:
# tests/test_settings.py::test_every_documented_demo_value_is_refused scans them) and the
# usual guesses; compared case-insensitively.
DEMO_VALUES = frozenset(
    {
        "admin",
        "admin-password",
        "admin-password-123",
        "change-me",
        "changeme",
        "dev",
        "jwt-secret",
        "password",
        "postgres",
        "secret",
        "sk_live_x",
        "sk_test_x",
        "test",
        "whsec_x",
    }
)
_GENERATE = "`python -c 'import secrets; print(secrets.token_urlsafe(48))'`"


class UnsafeConfiguration(RuntimeError):
    """The configuration would be unsafe to run in this environment."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", frozen=True)

    app_env: AppEnv = "dev"
    app_name: str = "Encore tickets"
    log_level: str = "INFO"
    log_json: bool = True
    access_log: bool = True  # one INFO line per request (app.access)

    data_dir: str = "./data"

    redis_url: str = "redis://127.0.0.1:6379/0"
    # A Redis Cluster even when REDIS_URL has no cluster scheme (redis+cluster://, ?cluster=true).
    redis_cluster: bool = False
    redis_timeout_seconds: float = 2.0
    redis_max_connections: int = Field(default=64, ge=1)
    # How long a command waits for a free pooled connection. Longer than the socket timeout:
    # in a burst the connections are busy because this process's event loop is, not because
    # Redis is down (a dead Redis fails on the socket timeouts), and a buyer is better served
    # by a late 409 than by a 503 that makes them retry (docs/performance.md).
    redis_pool_wait_seconds: float = Field(default=10.0, gt=0)
    # The hot path's batches (limiter windows, holds, events) over one pipelining connection
    # per process instead of redis-py pipelines (app/platform/redis_lane.py). Single server
    # over plain TCP only; a cluster, TLS or a Unix socket always use redis-py.
    redis_lane_enabled: bool = True

    store: Literal["sql", "mongo", "dynamodb"] = "sql"
    database_url: str = "sqlite+aiosqlite:///./data/encore.db"
    database_pool_size: int = 10
    sql_echo: bool = False
    mongo_url: str = "mongodb://127.0.0.1:27017/?replicaSet=rs0"
    mongo_db: str = "encore"

    dynamodb_endpoint: str | None = None  # None: AWS itself; DynamoDB Local / moto in dev and tests
    dynamodb_table_prefix: str = "encore-"
    aws_region: str = "eu-west-1"

    # Apply Alembic migrations at startup. On by default so the embedded default just works;
    # production deployments usually run `alembic upgrade head` as a release step instead.
    db_auto_migrate: bool = True

    # JWT: the current key signs; JWT_PREVIOUS_SECRETS (comma separated, "kid:secret" or
    # "secret") are still accepted for verification during a key rotation overlap.
    jwt_secret: SecretStr | None = None
    jwt_kid: str = "k1"
    jwt_previous_secrets: str = ""
    jwt_issuer: str = "encore"
    jwt_audience: str = "encore-api"
    access_token_ttl_seconds: int = Field(default=900, ge=30, le=86_400)
    refresh_token_ttl_seconds: int = Field(default=30 * 86_400, ge=300)

    admin_email: str | None = None
    admin_password: SecretStr | None = None
    seed_demo: bool = False

    concert_cache_ttl_seconds: float = Field(default=5.0, ge=0)
    # Allocations between collections of the youngest GC generation (app/platform/collector.py);
    # 0 keeps CPython's 700.
    gc_young_threshold: int = Field(default=50_000, ge=0)
    hold_ttl_seconds: int = Field(default=300, ge=1)
    # The hold-expiry sweeper runs inside each app process unless a separate `worker` does it.
    sweeper_in_process: bool = True
    sweeper_interval_seconds: float = Field(default=0.25, gt=0, le=60)
    sse_heartbeat_seconds: float = Field(default=15.0, gt=0)
    # Seat changes of a concert within this window go to its live maps as one event (0: each
    # change at once): app/seats/stream.py.
    sse_coalesce_seconds: float = Field(default=0.25, ge=0, le=5)
    # Seat streams one process serves at once per client address (a family behind one NAT, a
    # few tabs each) and in all (a stadium's open maps, each holding memory and a file
    # descriptor (docs/performance.md, "Figures moved out of code comments"); at most half the
    # process's descriptor limit); beyond, 429 RateLimited with Retry-After. 0: no cap.
    # app/seats/stream.py.
    sse_max_streams_per_ip: int = Field(default=20, ge=0)
    sse_max_streams: int = Field(default=10_000, ge=0)
    # A stream ends after at most this long (each a random 75-100 % of it, so a crowd that
    # came together does not come back together) with a `retry:` hint; the browser reconnects
    # to a fresh snapshot. Bounds a stream's life and spreads streams over restarted or added
    # workers. 0: never.
    sse_max_stream_seconds: float = Field(default=600.0, ge=0)

    # Signs ticket codes (door scanners verify them offline with it).
    ticket_secret: SecretStr | None = None

    payment_provider: Literal["simulated", "stripe"] = "simulated"
    stripe_secret_key: SecretStr | None = None
    stripe_publishable_key: str | None = None
    # Verifies webhook signatures (and signs the simulated provider's events). In dev/test
    # without one, a per-process value is used.
    stripe_webhook_secret: SecretStr | None = None
    stripe_api_base: str | None = None  # a Stripe-compatible server, e.g. localstripe in tests
    stripe_timeout_seconds: float = Field(default=5.0, gt=0)  # per attempt (3 attempts)
    # How long a checked-out hold is kept for the buyer to pay.
    payment_window_seconds: int = Field(default=900, ge=1)
    # Resilience: every call to the store and the payment provider is bounded, and a circuit
    # breaker per dependency refuses calls at once (503 + Retry-After) once it is known down.
    store_timeout_seconds: float = Field(default=8.0, gt=0)
    payment_deadline_seconds: float = Field(default=15.0, gt=0)
    breaker_failure_threshold: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=10.0, gt=0)
    # Domain events: one Redis Stream other systems read with consumer groups (docs/events.md).
    events_enabled: bool = True
    events_stream: str = Field(default="encore:events", min_length=1)
    # Approximate trimming (XADD MAXLEN ~): the stream keeps at least this many recent entries.
    events_stream_maxlen: int = Field(default=1_000_000, ge=1)
    # The ticket-delivery consumer group, run with the background jobs.
    events_consumer_group: str = Field(default="ticket-delivery", min_length=1)
    events_consumer_block_seconds: float = Field(default=5.0, gt=0, le=60)
    # An entry pending this long with one consumer is taken over (that consumer is presumed dead).
    events_claim_min_idle_seconds: float = Field(default=60.0, gt=0)
    # The events also forwarded to this Amazon EventBridge bus (a name or an ARN) by the
    # `eventbridge` consumer group (app/events/eventbridge.py); unset or empty: not forwarded.
    # The region is AWS_REGION; the endpoint None means AWS itself (moto in the tests).
    eventbridge_bus_name: str | None = None
    eventbridge_endpoint: str | None = None
    eventbridge_source: str = Field(default="encore", min_length=1, max_length=256)
    # The buyer's mails (app/mail/, docs/mail.md), sent by the ticket-delivery consumer:
    # smtp://user:pass@host:587 (STARTTLS when the server offers it) or smtps://host:465.
    # Unset: each mail is written as an .eml file under DATA_DIR/outbox/ instead.
    smtp_url: SecretStr | None = None
    mail_from: str = "Encore tickets <tickets@encore.invalid>"
    # Where buyers reach the web app: links in mails (an order is PUBLIC_BASE_URL/orders/<id>).
    public_base_url: str = "http://127.0.0.1:8000"
    # Background jobs. Reconciliation runs in one process at a time (a Redis lease); warm-up
    # in every process, for its own cache. An interval of 0 turns the job off in this process.
    reconcile_interval_seconds: float = Field(default=60.0, ge=0)
    # Orders waiting for payment this long after checkout are looked up at the provider.
    reconcile_payment_after_seconds: int = Field(default=120, ge=0)
    reconcile_batch: int = Field(default=200, ge=1)  # orders looked up per run, at most
    warmup_interval_seconds: float = Field(default=30.0, ge=0)
    # Concerts whose on-sale opens within this many seconds (and have not started) are warmed.
    warmup_lead_seconds: int = Field(default=900, ge=0)
    # Rate limits (app/platform/ratelimit.py): each one "<count>/<period>", e.g. "20/minute"
    # (period: second, minute, hour or day; "100/5minutes" works too). RATE_LIMIT_ENABLED=false
    # turns them all off: for trusted load tests only.
    rate_limit_enabled: bool = True
    rate_limit_default_per_ip: str = "600/minute"  # every /api/ request, per client IP
    rate_limit_per_user: str = "300/minute"  # requests with a valid access token, per user
    rate_limit_auth_per_ip: str = "20/minute"  # login, signup, refresh, token: per client IP
    rate_limit_login_per_email: str = "10/minute"  # login and token: per email address
    rate_limit_holds_per_user: str = "30/minute"  # POST /concerts/{id}/holds: per user
    rate_limit_queue_join_per_ip: str = "30/minute"  # POST /concerts/{id}/queue: per client IP
    # GET /concerts/{id}/queue/challenge (a proof-of-work challenge): per client IP.
    rate_limit_queue_challenge_per_ip: str = "30/minute"
    # POST /auth/verify-email/resend: per account, and per client IP.
    rate_limit_verify_resend_per_user: str = "3/hour"
    rate_limit_verify_resend_per_ip: str = "20/hour"
    # POST /concerts/{id}/check-ins by an organiser: per organiser, instead of the per-IP and
    # per-user windows (a venue's scanners share the account and often one address).
    rate_limit_check_ins_per_user: str = "6000/minute"
    # A limiter call Redis does not answer within this (down or hung) lets the request through.
    rate_limit_timeout_seconds: float = Field(default=0.5, gt=0, le=5)
    # API requests one process works on at once; beyond, 429 at once (0: no cap). Bounds the
    # queue on each event loop in a stampede: app/platform/in_flight.py.
    http_max_in_flight: int = Field(default=256, ge=0)
    # Proxies whose X-Forwarded-For is believed: comma separated IPs or CIDRs (none by default).
    trusted_proxies: str = ""
    # A header in which those proxies write the client's address (IP[:port]), believed before
    # X-Forwarded-For, e.g. CloudFront-Viewer-Address; unset: X-Forwarded-For alone.
    client_ip_header: str = ""

    @model_validator(mode="after")
    def _check_mail(self) -> Settings:
        if self.smtp_url is not None:
            url = urlsplit(self.smtp_url.get_secret_value())
            if url.scheme not in ("smtp", "smtps") or not url.hostname:
                raise ValueError(
                    "SMTP_URL must look like smtp://user:password@host:587 (STARTTLS when the "
                    "server offers it) or smtps://user:password@host:465 (TLS from the start); "
                    "leave it unset to write mails to DATA_DIR/outbox/ instead."
                )
        if not self.mail_from or "@" not in parseaddr(self.mail_from)[1]:
            raise ValueError(
                f"MAIL_FROM={self.mail_from!r} is not an address: use "
                "'Encore tickets <tickets@example.com>' or 'tickets@example.com'."
            )
        base = urlsplit(self.public_base_url)
        if base.scheme not in ("http", "https") or not base.netloc:
            raise ValueError(
                f"PUBLIC_BASE_URL={self.public_base_url!r} is not a web address: use where "
                "buyers open the web app, e.g. https://tickets.example.com."
            )
        return self

    @model_validator(mode="after")
    def _check_rate_limits(self) -> Settings:
        for name in (
            "rate_limit_default_per_ip",
            "rate_limit_per_user",
            "rate_limit_auth_per_ip",
            "rate_limit_login_per_email",
            "rate_limit_holds_per_user",
            "rate_limit_queue_join_per_ip",
            "rate_limit_queue_challenge_per_ip",
            "rate_limit_verify_resend_per_user",
            "rate_limit_verify_resend_per_ip",
            "rate_limit_check_ins_per_user",
        ):
            value = getattr(self, name)
            try:
                items = parse_many(value)
            except ValueError:
                items = []
            if len(items) != 1 or items[0].amount < 1:
                raise ValueError(
                    f"{name.upper()}={value!r} is not a rate limit: use one "
                    "'<count>/<period>' such as '20/minute' (second, minute, hour or day)."
                )
        parse_networks(self.trusted_proxies)  # a ValueError names the entry to fix
        parse_header_name(self.client_ip_header)
        if self.client_ip_header.strip() and not self.trusted_proxies.strip():
            raise ValueError(
                f"CLIENT_IP_HEADER={self.client_ip_header!r} is believed only from "
                "TRUSTED_PROXIES, and none are set: set TRUSTED_PROXIES to your load balancer's "
                "addresses, or leave CLIENT_IP_HEADER unset."
            )
        return self

    # Waiting room (per-concert switches are in each concert's `queue` settings).
    queue_pass_ttl_seconds: int = Field(default=600, ge=30)  # how long an admitted buyer may shop
    queue_admit_interval_seconds: float = Field(default=1.0, gt=0, le=60)
    # How often the admission job lists queued concerts from the store and puts back in the
    # registry those with people waiting that Redis lost track of (a failover); 0: never.
    queue_discover_interval_seconds: float = Field(default=30.0, ge=0)
    # Presale lottery (docs/waiting-room.md, "Presale lottery"): registering needs a verified
    # email address unless this is false; how often the draw job looks for lotteries whose
    # registration has closed.
    lottery_require_verified_email: bool = True
    lottery_draw_interval_seconds: float = Field(default=2.0, gt=0, le=60)
    # Status calls per second one queue may cause: `poll_after_seconds` grows with the crowd.
    queue_poll_budget_per_second: float = Field(default=500.0, gt=0)
    # The proof-of-work challenges of queues with `challenge` on (app/waiting_room/challenge.py,
    # docs/waiting-room.md "Proof of work"): the key that signs them (in dev/test without one, a
    # generated key), and how long one may be solved and used.
    altcha_hmac_key: SecretStr | None = None
    altcha_challenge_ttl_seconds: int = Field(default=900, ge=60, le=86_400)
    # Email verification (app/auth/verification.py, docs/mail.md): how long a link works, and
    # whether signup mails one (false: only the account page's "Resend the link" does).
    email_verification_ttl_seconds: int = Field(default=48 * 3600, ge=300)
    email_verification_at_signup: bool = True
    cors_origins: str = ""
    # Request bodies larger than this are refused with 413 before they are read or parsed.
    max_body_bytes: int = Field(default=256 * 1024, ge=1024)

    @model_validator(mode="after")
    def _refuse_unsafe(self) -> Settings:
        """Outside dev/test, refuse every weak secret and key at once, one line per problem."""
        if self.app_env in ("dev", "test"):
            return self
        problems = _production_problems(self)
        if problems:
            count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
            raise UnsafeConfiguration(
                "\n- ".join([f"APP_ENV={self.app_env} needs these fixed ({count}):", *problems])
            )
        return self

    @cached_property
    def signing_secret(self) -> str:
        """The JWT signing secret; in dev/test without one, a random per-process secret."""
        if self.jwt_secret is not None and self.jwt_secret.get_secret_value():
            return self.jwt_secret.get_secret_value()
        if self.app_env == "dev":
            return _dev_secret(Path(self.data_dir) / ".dev-jwt-secret")
        return _PROCESS_SECRET

    @cached_property
    def verification_keys(self) -> dict[str, str]:
        """kid -> secret for every key a token may be signed with (current first)."""
        keys = {self.jwt_kid: self.signing_secret}
        for kid, secret in _previous_secrets(self.jwt_previous_secrets):
            keys.setdefault(kid, secret)
        return keys

    @cached_property
    def ticket_signing_secret(self) -> str:
        if self.ticket_secret is not None and self.ticket_secret.get_secret_value():
            return self.ticket_secret.get_secret_value()
        if self.app_env == "dev":
            return _dev_secret(Path(self.data_dir) / ".dev-ticket-secret")
        return "ticket-" + _PROCESS_SECRET

    @cached_property
    def webhook_secret(self) -> str:
        if self.stripe_webhook_secret is not None and self.stripe_webhook_secret.get_secret_value():
            return self.stripe_webhook_secret.get_secret_value()
        if self.app_env == "dev":
            return "whsec_" + _dev_secret(Path(self.data_dir) / ".dev-webhook-secret")
        return "whsec_" + _PROCESS_SECRET

    @cached_property
    def challenge_key(self) -> str:
        """The proof-of-work challenges' HMAC key; in dev/test without one, a generated one."""
        if self.altcha_hmac_key is not None and self.altcha_hmac_key.get_secret_value():
            return self.altcha_hmac_key.get_secret_value()
        if self.app_env == "dev":
            return _dev_secret(Path(self.data_dir) / ".dev-altcha-key")
        return "altcha-" + _PROCESS_SECRET

    @property
    def sqlite_path(self) -> Path | None:
        prefix = "sqlite+aiosqlite:///"
        if self.database_url.startswith(prefix):
            return Path(self.database_url.removeprefix(prefix))
        return None

    @property
    def cors_origin_list(self) -> list[str]:
        return [o.strip() for o in self.cors_origins.split(",") if o.strip()]


def _plain(secret: SecretStr | None) -> str:
    return secret.get_secret_value() if secret is not None else ""


def _weakness(value: str, minimum: int, distinct: int) -> str | None:
    """Why `value` is not plausibly random (never quoting it), or None."""
    if not value:
        return "is not set"
    if value.strip().lower() in DEMO_VALUES:
        return "is a demo value shown in this repository or a common guess"
    if len(set(value)) == 1:
        return "is one character repeated"
    if len(value) < minimum:
        return f"has {len(value)} characters, fewer than {minimum}"
    if len(set(value)) < distinct:
        return f"has only {len(set(value))} distinct characters (a random value has many more)"
    return None


def _secret_problem(name: str, value: str, also: str = "") -> str | None:
    why = _weakness(value, MIN_SECRET_LENGTH, MIN_SECRET_DISTINCT_CHARACTERS)
    if why is None:
        return None
    return (
        f"{name} {why}: set a random value of at least {MIN_SECRET_LENGTH} characters{also}, "
        f"e.g. {_GENERATE}."
    )


def _previous_secrets(value: str) -> list[tuple[str, str]]:
    """JWT_PREVIOUS_SECRETS: comma separated "kid:secret" or "secret" (then kid previous-<n>,
    n counting from 0)."""
    entries = []
    for n, item in enumerate(filter(None, (s.strip() for s in value.split(",")))):
        kid, sep, secret = item.partition(":")
        entries.append((kid, secret) if sep else (f"previous-{n}", item))
    return entries


def _previous_secret_problems(value: str) -> list[str]:
    """Each JWT_PREVIOUS_SECRETS entry is checked as JWT_SECRET."""
    problems = []
    for kid, secret in _previous_secrets(value):
        problem = _secret_problem(f"JWT_PREVIOUS_SECRETS entry '{kid}'", secret)
        if problem:
            problems.append(
                problem.removesuffix(".")
                + " (or drop the entry: tokens signed with it stop working at once)."
            )
    return problems


def _stripe_problems(settings: Settings) -> list[str]:
    problems = []
    key = _plain(settings.stripe_secret_key)
    where = "copy it from the Stripe dashboard (Developers > API keys)"
    if not key:
        problems.append(f"STRIPE_SECRET_KEY is not set: {where}.")
    elif not key.startswith(("sk_", "rk_")):
        problems.append(
            "STRIPE_SECRET_KEY is not a Stripe secret key: it starts with sk_ (secret key) or "
            f"rk_ (restricted key); {where}."
        )
    else:
        random_part = key.split("_", 2)[-1] if key.count("_") >= 2 else key[3:]
        if key.lower() in DEMO_VALUES:
            problems.append(f"STRIPE_SECRET_KEY is a demo value shown in this repository: {where}.")
        elif why := _weakness(
            random_part, MIN_STRIPE_KEY_RANDOM_PART, MIN_SECRET_DISTINCT_CHARACTERS
        ):
            problems.append(f"STRIPE_SECRET_KEY's random part {why}: {where}.")
    webhook = _plain(settings.stripe_webhook_secret)
    where = (
        "copy it from the Stripe dashboard (Developers > Webhooks > your endpoint > Signing "
        "secret), or from `stripe listen`"
    )
    if not webhook:
        problems.append(f"STRIPE_WEBHOOK_SECRET is not set: {where}.")
    elif not webhook.startswith("whsec_") or webhook.lower() in DEMO_VALUES:
        problems.append(
            f"STRIPE_WEBHOOK_SECRET is not a Stripe signing secret (whsec_ and a random "
            f"part of at least {MIN_SECRET_LENGTH} characters): {where}."
        )
    else:
        why = _weakness(
            webhook.removeprefix("whsec_"), MIN_SECRET_LENGTH, MIN_SECRET_DISTINCT_CHARACTERS
        )
        if why:
            problems.append(f"STRIPE_WEBHOOK_SECRET's random part {why}: {where}.")
    return problems


def _production_problems(settings: Settings) -> list[str]:
    """Every reason `settings` must not run outside dev/test, one line each."""
    problems: list[str] = []
    jwt = _plain(settings.jwt_secret)
    if problem := _secret_problem("JWT_SECRET", jwt):
        problems.append(problem)
    problems += _previous_secret_problems(settings.jwt_previous_secrets)
    ticket = _plain(settings.ticket_secret)
    if problem := _secret_problem("TICKET_SECRET", ticket, ", different from JWT_SECRET"):
        problems.append(problem)
    elif ticket == jwt:
        problems.append(
            f"TICKET_SECRET is JWT_SECRET: set a different random value, e.g. {_GENERATE}."
        )
    altcha = _plain(settings.altcha_hmac_key)
    if problem := _secret_problem("ALTCHA_HMAC_KEY", altcha, ", different from JWT_SECRET"):
        problems.append(problem)
    elif altcha == jwt:
        problems.append(
            f"ALTCHA_HMAC_KEY is JWT_SECRET: set a different random value, e.g. {_GENERATE}."
        )
    if settings.payment_provider == "simulated":
        problems.append(
            "PAYMENT_PROVIDER=simulated lets anyone confirm their own payment: set "
            "PAYMENT_PROVIDER=stripe with STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET."
        )
    else:
        problems += _stripe_problems(settings)
    password = _plain(settings.admin_password)
    if settings.admin_password is not None and (
        why := _weakness(
            password, MIN_ADMIN_PASSWORD_LENGTH, MIN_ADMIN_PASSWORD_DISTINCT_CHARACTERS
        )
    ):
        problems.append(
            f"ADMIN_PASSWORD {why}: choose one of at least {MIN_ADMIN_PASSWORD_LENGTH} "
            "characters that is written down nowhere in this repository, or leave "
            "ADMIN_PASSWORD unset and run `python -m app create-admin --email ...` once."
        )
    return problems


_PROCESS_SECRET = secrets.token_urlsafe(48)


def _dev_secret(path: Path) -> str:
    """A dev-only secret kept on disk so tokens survive restarts and work across workers.

    Workers starting together on a new data directory race to create it: the file appears
    whole (written aside, then linked into place, which fails if it exists) and a worker that
    loses reads the winner's, so every worker signs with the same secret."""
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)  # private when created here
    secret = secrets.token_urlsafe(48)
    draft = path.with_name(f"{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    with os.fdopen(os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "w") as out:
        out.write(secret)  # 0600 from the start, never readable by others
    try:
        os.link(draft, path)
    except FileExistsError:
        return path.read_text().strip()
    finally:
        draft.unlink()
    return secret


def load_settings() -> Settings:
    return Settings()
