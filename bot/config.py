"""Configuration from environment variables (all prefixed ASSESSBOT_), with working defaults.

With nothing set, the bot runs in the terminal on an SQLite file in the person's data folder
(`default_database_url`), the same whichever folder a command is started from.
Secrets are kept out of `repr`, so printing or logging a Config never shows a token.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path

import platformdirs


def _secret() -> str | None:
    return field(default=None, repr=False)


def default_database_file() -> Path:
    """assessbot.sqlite3 in the per-user data folder (platformdirs: ~/.local/share/assessbot on
    Linux, ~/Library/Application Support/assessbot on macOS, %LOCALAPPDATA%\\assessbot on Windows)."""
    return Path(platformdirs.user_data_dir("assessbot", appauthor=False)) / "assessbot.sqlite3"


def default_database_url() -> str:
    # A relative file made a second, empty database for a command started in another folder.
    path = default_database_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


@dataclass(frozen=True)
class Config:
    database_url: str = field(default_factory=default_database_url)
    default_locale: str = "en"
    default_timezone: str = "Europe/Stockholm"
    anonymity_threshold: int = 5
    # Where the terminal adapter and `assessbot report` write images and files.
    output_dir: str = "assessbot-output"
    log_level: str = "INFO"
    # What people write (texts, answers, uploads' captions) reaches the log only when this asks for
    # it, at DEBUG; secrets never do (bot/log_redaction.py).
    log_content: bool = False
    # Flood protection per person (bot/intake/flood.py): a burst of this many events, refilled at
    # flood_per_minute. Far above human speed; the terminal is never limited.
    flood_burst: int = 60
    flood_per_minute: int = 600
    # Days after a round's closing date until its individual answers, and who took part, are
    # deleted; only the published unit results remain (bot/follow_up/retention.py).
    retention_days: int = 1095

    # Outbox messages on their way at once, per process (bot/outbox.py). A send mostly waits for the
    # platform's answer, so one at a time would fall far behind Telegram's 30/s; eight keep up.
    # A process killed mid-send may send these again (at most this many, each to someone else).
    outbox_concurrency: int = 8
    # Seconds an event's replies wait for the process that handled it to send them, before any
    # process's outbox dispatcher delivers them instead (bot/reply_outbox.py).
    reply_takeover_seconds: int = 30

    telegram_token: str | None = _secret()
    telegram_api_url: str | None = None  # e.g. a self-hosted telegram-bot-api server
    telegram_webhook_url: str | None = None
    telegram_webhook_secret: str | None = _secret()
    telegram_webhook_listen: str = "0.0.0.0"  # noqa: S104 - a webhook server must be reachable
    telegram_webhook_port: int = 8443
    # The bot's @username (without @), for t.me deep links in join codes; the Telegram adapter sets
    # it from getMe at start when it is not configured.
    telegram_bot_username: str | None = None
    # Messages per second for the whole bot (python-telegram-bot's AIORateLimiter). Telegram allows
    # about 30; raise it only for a server that allows more (a self-hosted or fake Bot API).
    telegram_max_per_second: int = 30

    slack_bot_token: str | None = _secret()
    slack_app_token: str | None = _secret()
    slack_signing_secret: str | None = _secret()
    slack_api_url: str | None = None
    slack_port: int = 3000

    # The public HTTP endpoints (Slack's request URL, the Telegram webhook; adapters/http_server.py):
    # seconds a connection may sit without a complete request (unfinished headers, or idle between
    # requests), and seconds a request's body may take to arrive.
    http_idle_timeout: int = 15
    http_body_timeout: int = 10

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Config:
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        for f in fields(cls):
            raw = env.get("ASSESSBOT_" + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(raw, f.type)
        return cls(**values)  # type: ignore[arg-type]

    @property
    def database_place(self) -> str:
        """Where the database is, for telling the person at start: a file's path, or the URL
        without its password."""
        if self.database_url.startswith("sqlite:///"):
            return str(Path(self.database_url.removeprefix("sqlite:///")).resolve())
        return re.sub(r"://([^:/@]+):[^@]*@", r"://\1:***@", self.database_url)

    @property
    def telegram_enabled(self) -> bool:
        return bool(self.telegram_token)

    @property
    def slack_enabled(self) -> bool:
        return bool(self.slack_bot_token and (self.slack_app_token or self.slack_signing_secret))


def _parse(raw: str, kind: object) -> object:
    if kind in ("int", int):
        return int(raw)
    if kind in ("bool", bool):
        return raw.strip().lower() in ("1", "true", "yes", "on")
    return raw
