"""Start-up shared by every entry point: database schema, bundled instruments, catalogs, engine."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import Engine as DbEngine
from sqlalchemy.orm import Session, sessionmaker

from bot import catalogue
from bot.clock import Clock, SystemClock
from bot.config import Config
from bot.engine import Engine
from bot.i18n import check_catalogs
from storage.db import make_engine, make_session_factory, transaction, upgrade


@dataclass
class Runtime:
    config: Config
    db: DbEngine
    sessions: sessionmaker[Session]
    engine: Engine
    clock: Clock


def start(config: Config, clock: Clock | None = None, *, migrate: bool = True) -> Runtime:
    clock = clock or SystemClock()
    check_catalogs()
    db = make_engine(config.database_url)
    if migrate:
        upgrade(db)
    sessions = make_session_factory(db)
    with transaction(sessions) as session:
        catalogue.install_bundled(session, clock.now())
    return Runtime(config, db, sessions, Engine(sessions, config=config, clock=clock), clock)


def configure_logging(level: str) -> None:
    logging.basicConfig(level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # httpx logs every request URL at INFO, and Telegram URLs contain the bot token.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
