"""Configuration from environment variables, with safe defaults for the embedded (SQLite) setup."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from lti_tool.portfolio.evidence.storage import KeyRing, StorageError
from lti_tool.store.files import create_exclusive

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise SystemExit(f"Configuration error: {name} must be a whole number, got {raw!r}") from exc


def _env_number(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise SystemExit(f"Configuration error: {name} must be a number, got {raw!r}") from exc


def _check_evidence_key(value: str | bytes) -> None:
    try:
        KeyRing.parse(value)
    except StorageError as exc:
        raise SystemExit(
            f"Configuration error: LTI_TOOL_EVIDENCE_KEY: {exc}. It holds one key, or several "
            "separated by commas during a key rotation (the first encrypts new files)."
        ) from exc


def _persistent_secret(path: Path, make: Any) -> str:
    """Read a generated secret from a file, creating it (mode 0600) on first use.

    Secrets must survive restarts (sessions, encrypted evidence) yet never live in git. Processes starting
    at the same moment (gunicorn workers) must agree on one value: it is written whole to a temporary file
    and linked into place, which fails if another process got there first; then theirs is read.
    """
    if not path.exists():
        # Several workers may start at once: one creates the file, every one reads the same value.
        create_exclusive(path, make().encode())
    value = path.read_text().strip()
    if not value:
        raise SystemExit(f"Configuration error: {path} is empty (remove it to generate a new secret)")
    return value


def _normalise_db_url(url: str) -> str:
    # Heroku-style URLs say postgres://, which SQLAlchemy 2 no longer accepts.
    if url.startswith("postgres://"):
        return "postgresql://" + url[len("postgres://") :]
    return url


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Build the Flask config dict. `overrides` (tests) win over the environment."""
    overrides = dict(overrides or {})
    instance_dir = Path(
        overrides.get("INSTANCE_DIR") or os.environ.get("LTI_TOOL_INSTANCE_DIR") or PROJECT_ROOT / "instance"
    )
    db_url = (
        overrides.get("SQLALCHEMY_DATABASE_URI")
        or os.environ.get("LTI_TOOL_DATABASE_URL")
        or os.environ.get("DATABASE_URL")
        or f"sqlite:///{instance_dir / 'lti_tool.sqlite3'}"
    )
    config: dict[str, Any] = {
        "INSTANCE_DIR": str(instance_dir),
        "SQLALCHEMY_DATABASE_URI": _normalise_db_url(db_url),
        "KEYS_DIR": os.environ.get("LTI_TOOL_KEYS_DIR") or str(PROJECT_ROOT / "keys"),
        "DEMO_PLATFORM": _env_bool("LTI_TOOL_DEMO_PLATFORM", False),
        # The demo platform's AGS answers as a real one's where they differ: "openedx" or "moodle" (demo_platform/
        # services.py says how); empty for the lenient default.
        "DEMO_AGS_PROFILE": os.environ.get("LTI_TOOL_DEMO_AGS_PROFILE", "").strip().lower(),
        # Seconds of clock difference tolerated between the platform and us on iat/exp/nbf.
        "LTI_CLOCK_SKEW": _env_int("LTI_TOOL_CLOCK_SKEW", 60),
        "LTI_JWKS_CACHE_SECONDS": _env_int("LTI_TOOL_JWKS_CACHE_SECONDS", 3600),
        # How long the last fetched platform JWKS may stand in while the platform's JWKS URL is down.
        "LTI_JWKS_STALE_SECONDS": _env_int("LTI_TOOL_JWKS_STALE_SECONDS", 86400),
        # Registrations, deployments and platform key sets are kept in each process's memory this many seconds
        # (store/memo.py): a registration or deployment deactivated (or changed) in another process stops
        # launching here within this bound; in the process that made the change, at once. 0: not kept.
        # Partners' own criteria added or removed show on learner pages of other processes within it too.
        "LAUNCH_CACHE_SECONDS": _env_int("LTI_TOOL_LAUNCH_CACHE_SECONDS", 30),
        # How long a login's state/nonce stays usable: the user must come back from the LMS within it.
        "LTI_LOGIN_TTL": _env_int("LTI_TOOL_LOGIN_TTL", 600),
        # Login state and session cookies are partitioned (CHIPS) so they work inside an LMS iframe in
        # browsers that block third-party cookies; off only to test the new-window handoff (launch/handoff.py).
        "PARTITIONED_COOKIES": _env_bool("LTI_TOOL_PARTITIONED_COOKIES", True),
        # How long the new-window handoff of a verified launch stays usable (seconds).
        "HANDOFF_TTL": _env_int("LTI_TOOL_HANDOFF_TTL", 300),
        "TRUST_PROXY": _env_int("LTI_TOOL_TRUST_PROXY", 0),
        "PUBLIC_URL": os.environ.get("LTI_TOOL_PUBLIC_URL", "").rstrip("/"),
        # Catalogue data files (one TOML file per certification) that `lti-tool catalogue import` reads.
        "CATALOGUE_DIR": os.environ.get("LTI_TOOL_CATALOGUE_DIR") or str(PROJECT_ROOT / "config" / "catalogue"),
        "EVIDENCE_DIR": os.environ.get("LTI_TOOL_EVIDENCE_DIR") or str(instance_dir / "evidence"),
        # local: files under EVIDENCE_DIR; s3: objects in an S3-compatible bucket (credentials from the
        # standard AWS environment variables, profile or instance role).
        "EVIDENCE_STORAGE": os.environ.get("LTI_TOOL_EVIDENCE_STORAGE", "local").strip().lower() or "local",
        "S3_BUCKET": os.environ.get("LTI_TOOL_S3_BUCKET", ""),
        "S3_ENDPOINT_URL": os.environ.get("LTI_TOOL_S3_ENDPOINT_URL", ""),
        "S3_REGION": os.environ.get("LTI_TOOL_S3_REGION", ""),
        "S3_PREFIX": os.environ.get("LTI_TOOL_S3_PREFIX", ""),
        "MAX_UPLOAD_MB": _env_int("LTI_TOOL_MAX_UPLOAD_MB", 25),
        # Audio and video evidence (known by content, file_checks.MEDIA_TYPES): the limit per file.
        "MAX_MEDIA_UPLOAD_MB": _env_int("LTI_TOOL_MAX_MEDIA_UPLOAD_MB", 200),
        # Work queues flag an item as overdue once it has waited this many days (the service level promised to
        # learners for each step: assessment, each verification, an appeal).
        "SERVICE_LEVEL_DAYS": _env_int("LTI_TOOL_SERVICE_LEVEL_DAYS", 10),
        "HTTP_TIMEOUT": _env_int("LTI_TOOL_HTTP_TIMEOUT", 10),
        # Dynamic registration with a platform on plain http or a loopback/link-local address (development
        # and tests only: tokens travel in those requests, and the URLs come from whoever opens the page).
        "REGISTRATION_ALLOW_LOCAL": _env_bool("LTI_TOOL_REGISTRATION_ALLOW_LOCAL", False),
        # Every outbound HTTP call (web/outbound.py): HTTP_TIMEOUT bounds each connect and read, HTTP_DEADLINE
        # the whole call, so a server answering one byte at a time cannot hold a thread for longer.
        "HTTP_DEADLINE": _env_number("LTI_TOOL_HTTP_DEADLINE", 20),
        # Outbound calls to private networks (10/8, 172.16/12, 192.168/16, fc00::/7), e.g. an on-premises LMS.
        # Loopback, link-local, cloud metadata and CGNAT addresses stay refused (OUTBOUND_ALLOW_LOCAL below).
        "OUTBOUND_ALLOW_PRIVATE": _env_bool("LTI_TOOL_OUTBOUND_ALLOW_PRIVATE", False),
        # Outbound fetches at once per process for dynamic registration, which anyone can start: more wait
        # for a 503 instead of tying up the threads that serve pages.
        "REGISTRATION_FETCH_CONCURRENCY": _env_int("LTI_TOOL_REGISTRATION_FETCH_CONCURRENCY", 2),
        # With TRUST_PROXY: the addresses (or networks) of the proxies whose X-Forwarded-* headers are
        # believed. A client reaching the tool directly cannot then choose its own address.
        "TRUSTED_PROXIES": os.environ.get("LTI_TOOL_TRUSTED_PROXIES") or "127.0.0.1,::1",
        # Content-Security-Policy: how long a process reuses the list of platform origins that may frame the
        # tool, and extra origins allowed to frame it (e.g. "https://*.instructure.com": Canvas frames the tool
        # from each school's own domain, which is neither its issuer nor its login URL).
        "FRAME_ORIGINS_CACHE_SECONDS": _env_int("LTI_TOOL_FRAME_ORIGINS_CACHE_SECONDS", 60),
        "FRAME_ANCESTORS_EXTRA": os.environ.get("LTI_TOOL_FRAME_ANCESTORS", "").replace(",", " ").split(),
        # Per client IP on login/launch and on dynamic registration. The counters must be shared by every
        # process: memory:// suits the one-process embedded setup, production uses redis://127.0.0.1:6379.
        "RATE_LIMIT_ENABLED": _env_bool("LTI_TOOL_RATE_LIMIT_ENABLED", True),
        "RATE_LIMIT_LAUNCH": os.environ.get("LTI_TOOL_RATE_LIMIT_LAUNCH") or "60/minute",
        "RATE_LIMIT_REGISTER": os.environ.get("LTI_TOOL_RATE_LIMIT_REGISTER") or "10/minute",
        "RATE_LIMIT_VERIFY": os.environ.get("LTI_TOOL_RATE_LIMIT_VERIFY") or "30/minute",
        "RATE_LIMIT_STORAGE_URI": os.environ.get("LTI_TOOL_RATE_LIMIT_STORAGE_URI") or "memory://",
        "RATE_LIMIT_KEY_PREFIX": os.environ.get("LTI_TOOL_RATE_LIMIT_KEY_PREFIX") or "lti-tool",
        "HOST": os.environ.get("LTI_TOOL_HOST", "127.0.0.1"),
        "PORT": _env_int("LTI_TOOL_PORT", 5000),
        "SESSION_HOURS": _env_int("LTI_TOOL_SESSION_HOURS", 8),
        "LOG_FORMAT": os.environ.get("LTI_TOOL_LOG_FORMAT", "text"),
        # check: refuse a database behind the code; upgrade: migrate at start (embedded); create: tests
        "SCHEMA_MODE": os.environ.get("LTI_TOOL_SCHEMA_MODE", "check"),
        # Who signs the Open Badges credentials of awards (shown to employers and regulators).
        "ISSUER_NAME": os.environ.get("LTI_TOOL_ISSUER_NAME", "Accreditation portfolio"),
        # The printed certificate: the issuer's logo (an SVG, PNG or JPEG file of at most 512 kB; empty: the
        # tool's own), and who signs it (name and position, printed under the signature line; empty: no name).
        "ISSUER_LOGO_FILE": os.environ.get("LTI_TOOL_ISSUER_LOGO_FILE", ""),
        "CERTIFICATE_SIGNATORY": os.environ.get("LTI_TOOL_CERTIFICATE_SIGNATORY", ""),
        "CERTIFICATE_SIGNATORY_TITLE": os.environ.get("LTI_TOOL_CERTIFICATE_SIGNATORY_TITLE", ""),
        # Days a learner has to appeal a not-yet-competent decision.
        "APPEAL_DAYS": _env_int("LTI_TOOL_APPEAL_DAYS", 28),
        # Grade delivery. The in-process worker `lti-tool serve` starts (embedded setup); production runs
        # `lti-tool grading worker` and sets LTI_TOOL_GRADING_THREAD=0.
        "GRADING_WORKER_THREAD": _env_bool("LTI_TOOL_GRADING_THREAD", True),
        "GRADING_POLL_SECONDS": _env_number("LTI_TOOL_GRADING_POLL_SECONDS", 3),
        # Longer than one delivery can take (a few HTTP calls, each with HTTP_TIMEOUT).
        "GRADING_LEASE_SECONDS": _env_number("LTI_TOOL_GRADING_LEASE_SECONDS", 300),
        "GRADING_BACKOFF_SECONDS": _env_number("LTI_TOOL_GRADING_BACKOFF_SECONDS", 30),
        "GRADING_BACKOFF_MAX_SECONDS": _env_number("LTI_TOOL_GRADING_BACKOFF_MAX_SECONDS", 3600),
        "GRADING_MAX_ATTEMPTS": _env_int("LTI_TOOL_GRADING_MAX_ATTEMPTS", 20),
        # Jobs claimed per transaction: fewer round trips to the database per score; a worker that dies
        # mid-batch leaves at most this many scores to be delivered again after the lease.
        "GRADING_BATCH_SIZE": _env_int("LTI_TOOL_GRADING_BATCH_SIZE", 50),
        "GRADING_ROSTER_CACHE_SECONDS": _env_int("LTI_TOOL_GRADING_ROSTER_CACHE_SECONDS", 60),
        # EQA packs (lti_tool/eqa): where the ZIPs are written, how long a ready pack can be downloaded before
        # housekeeping deletes it, the most portfolios in one pack, and the background builder (`lti-tool serve`
        # runs it in a thread; production runs `lti-tool pack work` and sets LTI_TOOL_PACK_THREAD=0). A build
        # whose worker stopped beating for PACK_LEASE_SECONDS is taken over by another worker.
        "PACK_DIR": os.environ.get("LTI_TOOL_PACK_DIR") or str(instance_dir / "packs"),
        "PACK_TTL_HOURS": _env_number("LTI_TOOL_PACK_TTL_HOURS", 72),
        "PACK_MAX_PORTFOLIOS": _env_int("LTI_TOOL_PACK_MAX_PORTFOLIOS", 500),
        "PACK_WORKER_THREAD": _env_bool("LTI_TOOL_PACK_THREAD", True),
        "PACK_POLL_SECONDS": _env_number("LTI_TOOL_PACK_POLL_SECONDS", 3),
        "PACK_LEASE_SECONDS": _env_number("LTI_TOOL_PACK_LEASE_SECONDS", 600),
        # Notifications by e-mail (lti_tool/notifications): the SMTP server the delivery worker hands mail to.
        # No host: no e-mail (people get the notices in the tool), except with the demo platform, whose mailbox
        # page (/demo/mailbox) receives them. Security: starttls (default, port 587), tls (implicit, port 465)
        # or none (port 25; only for a relay on this machine or a trusted network).
        "MAIL_SMTP_HOST": os.environ.get("LTI_TOOL_MAIL_SMTP_HOST", "").strip(),
        "MAIL_SMTP_PORT": _env_int("LTI_TOOL_MAIL_SMTP_PORT", 0),  # 0: 587, 465 or 25 by MAIL_SMTP_SECURITY
        "MAIL_SMTP_SECURITY": os.environ.get("LTI_TOOL_MAIL_SMTP_SECURITY", "starttls").strip().lower() or "starttls",
        "MAIL_SMTP_USER": os.environ.get("LTI_TOOL_MAIL_SMTP_USER", ""),
        "MAIL_SMTP_PASSWORD": os.environ.get("LTI_TOOL_MAIL_SMTP_PASSWORD", ""),
        # Certificates the SMTP server's is checked against, besides the system's (a relay with a private CA).
        "MAIL_SMTP_CA_FILE": os.environ.get("LTI_TOOL_MAIL_SMTP_CA_FILE", ""),
        "MAIL_SMTP_TIMEOUT": _env_number("LTI_TOOL_MAIL_SMTP_TIMEOUT", 20),
        # The sender, e.g. "Accreditation portfolio <no-reply@accreditation.example>"; empty: no-reply at the
        # public URL's host.
        "MAIL_FROM": os.environ.get("LTI_TOOL_MAIL_FROM", "").strip(),
        # Mail delivery, as grade delivery: `lti-tool serve` runs the worker in a thread (embedded setup);
        # production runs `lti-tool notifications worker` and sets LTI_TOOL_MAIL_THREAD=0.
        "MAIL_WORKER_THREAD": _env_bool("LTI_TOOL_MAIL_THREAD", True),
        "MAIL_POLL_SECONDS": _env_number("LTI_TOOL_MAIL_POLL_SECONDS", 5),
        # Longer than one batch of messages can take to hand over (each SMTP step waits MAIL_SMTP_TIMEOUT).
        "MAIL_LEASE_SECONDS": _env_number("LTI_TOOL_MAIL_LEASE_SECONDS", 300),
        "MAIL_BACKOFF_SECONDS": _env_number("LTI_TOOL_MAIL_BACKOFF_SECONDS", 60),
        "MAIL_BACKOFF_MAX_SECONDS": _env_number("LTI_TOOL_MAIL_BACKOFF_MAX_SECONDS", 6 * 3600),
        # About three days of retries with the defaults before a message counts as failed.
        "MAIL_MAX_ATTEMPTS": _env_int("LTI_TOOL_MAIL_MAX_ATTEMPTS", 20),
        "MAIL_BATCH_SIZE": _env_int("LTI_TOOL_MAIL_BATCH_SIZE", 20),
        # How often the worker looks for what time alone brings: appeal deadlines coming up, overdue work,
        # daily digests (`lti-tool notifications scan` does one look, for cron).
        "NOTIFY_SCAN_SECONDS": _env_number("LTI_TOOL_NOTIFY_SCAN_SECONDS", 900),
        # Sent e-mails (their words and addresses) are kept this many days, then `lti-tool housekeeping purge`
        # removes them; the notices stay in the tool.
        "MAIL_KEEP_DAYS": _env_int("LTI_TOOL_MAIL_KEEP_DAYS", 90),
        # Learners are reminded this many days before their appeal period ends.
        "NOTIFY_APPEAL_REMINDER_DAYS": _env_int("LTI_TOOL_NOTIFY_APPEAL_REMINDER_DAYS", 7),
    }
    config.update(overrides)
    # Calls to registered platforms on loopback, link-local and other local addresses: the demo platform and
    # test platforms live on this machine. Never in production (metadata services live there too).
    config.setdefault(
        "OUTBOUND_ALLOW_LOCAL",
        _env_bool("LTI_TOOL_OUTBOUND_ALLOW_LOCAL", bool(config["DEMO_PLATFORM"] or config["REGISTRATION_ALLOW_LOCAL"])),
    )
    # The right-to-left pseudo-locale (launch/language.py) in the language switch: a check of layouts and of
    # strings not marked for translation, on with the demo platform, never wanted by real people.
    config.setdefault("PSEUDO_LOCALE", _env_bool("LTI_TOOL_PSEUDO_LOCALE", bool(config["DEMO_PLATFORM"])))
    # The demo platform and the tool sit on different origins (127.0.0.1 vs localhost), as an LMS and
    # a tool do, so the demo shows the tool as a third party in an iframe.
    config.setdefault(
        "DEMO_BASE_URL", (os.environ.get("LTI_TOOL_DEMO_BASE_URL") or f"http://127.0.0.1:{config['PORT']}").rstrip("/")
    )
    config.setdefault("DEMO_TOOL_URL", (config["PUBLIC_URL"] or f"http://localhost:{config['PORT']}").rstrip("/"))
    largest = max(int(config["MAX_UPLOAD_MB"]), int(config["MAX_MEDIA_UPLOAD_MB"]))
    config["MAX_CONTENT_LENGTH"] = (largest + 1) * 1024 * 1024
    if "SECRET_KEY" not in config:
        config["SECRET_KEY"] = os.environ.get("LTI_TOOL_SECRET_KEY") or _persistent_secret(
            Path(config["INSTANCE_DIR"]) / "secret_key", lambda: secrets.token_urlsafe(48)
        )
    if "EVIDENCE_KEY" not in config:
        from cryptography.fernet import Fernet

        key_file = Path(config["INSTANCE_DIR"]) / "evidence_key"
        if (
            config.get("EVIDENCE_STORAGE") == "s3"
            and not os.environ.get("LTI_TOOL_EVIDENCE_KEY")
            and not key_file.exists()
        ):
            # A bucket is shared by every host: a key generated on one of them would make its uploads
            # unreadable on the others.
            raise SystemExit(
                "Configuration error: with LTI_TOOL_EVIDENCE_STORAGE=s3 set LTI_TOOL_EVIDENCE_KEY, "
                "the same on every host (generate one with: python -c 'from cryptography.fernet "
                "import Fernet; print(Fernet.generate_key().decode())')"
            )
        config["EVIDENCE_KEY"] = os.environ.get("LTI_TOOL_EVIDENCE_KEY") or _persistent_secret(
            key_file, lambda: Fernet.generate_key().decode()
        )
    _check_evidence_key(config["EVIDENCE_KEY"])
    if config["EVIDENCE_STORAGE"] not in ("local", "s3"):
        raise SystemExit(
            f"Configuration error: LTI_TOOL_EVIDENCE_STORAGE must be local or s3, got {config['EVIDENCE_STORAGE']!r}"
        )
    if config["MAIL_SMTP_SECURITY"] not in ("starttls", "tls", "none"):
        raise SystemExit(
            "Configuration error: LTI_TOOL_MAIL_SMTP_SECURITY must be starttls, tls or none, "
            f"got {config['MAIL_SMTP_SECURITY']!r}"
        )
    if config["EVIDENCE_STORAGE"] == "s3" and not config["S3_BUCKET"]:
        raise SystemExit("Configuration error: LTI_TOOL_EVIDENCE_STORAGE=s3 needs LTI_TOOL_S3_BUCKET")
    config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(config["SQLALCHEMY_DATABASE_URI"]))
    return config


def engine_options(db_url: str) -> dict[str, Any]:
    """SQLAlchemy engine options: a checked connection always; pool sizes for PostgreSQL.

    Each web or worker process keeps its own pool: at most pool size + overflow connections each, so
    processes x (LTI_TOOL_DB_POOL_SIZE + LTI_TOOL_DB_MAX_OVERFLOW) must stay under PostgreSQL's
    max_connections (or a PgBouncer in front of it).
    """
    # Pre-ping: a connection dropped by the server (restart, failover, idle timeout) is replaced, not
    # handed to a request.
    options: dict[str, Any] = {"pool_pre_ping": True}
    if db_url.startswith("postgresql"):
        options["pool_size"] = _env_int("LTI_TOOL_DB_POOL_SIZE", 5)
        options["max_overflow"] = _env_int("LTI_TOOL_DB_MAX_OVERFLOW", 10)
    return options
