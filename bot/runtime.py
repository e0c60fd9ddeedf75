"""Start-up shared by every entry point: database schema, bundled instruments, catalogs, engine."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine as DbEngine
from sqlalchemy.orm import Session, sessionmaker

from bot.administration import admins
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.directory import catalogue
from bot.engine import Engine
from bot.i18n import check_catalogs
from bot.log_redaction import hide_content
from storage.db import make_engine, make_session_factory, schema_ready, setup_lock, transaction, upgrade


@dataclass
class Runtime:
    config: Config
    db: DbEngine
    sessions: sessionmaker[Session]
    engine: Engine
    clock: Clock
    # The one-off code that makes its claimer the first admin; None once there is an admin.
    admin_claim_code: str | None = None

    def ready(self) -> bool:
        """May this process take traffic (`/healthz`)? The database answers and its schema is the
        one this code expects (False while migrations have not run, or the database is away)."""
        return schema_ready(self.db)


def start(
    config: Config, clock: Clock | None = None, *, migrate: bool = True, offer_admin_claim: bool = True
) -> Runtime:
    clock = clock or SystemClock()
    check_catalogs()
    db = make_engine(config.database_url, show_values=config.log_content)
    sessions = make_session_factory(db)
    claim_code = None
    # One process at a time, however many start at once on an empty database.
    with setup_lock(db):
        if migrate:
            upgrade(db)
        with transaction(sessions) as session:
            catalogue.install_bundled(session, clock.now())
            if offer_admin_claim:
                claim_code = admins.ensure_claim_code(session, clock.now())
    if claim_code is not None:
        admins.announce_claim_code(claim_code)
    return Runtime(config, db, sessions, Engine(sessions, config=config, clock=clock), clock, claim_code)


def configure_logging(level: str, *, content: bool = False, filename: str | None = None) -> None:
    """The log at `level` (to stderr, or to `filename`); what people write only if `content`."""
    logging.basicConfig(
        level=level.upper(), filename=filename, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    # httpx logs every request URL at INFO, and Telegram URLs contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    hide_content(content)
